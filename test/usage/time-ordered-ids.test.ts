import { becomeUser, closeRootPool, withRootDb } from "../support/db.ts";
import { createCoach } from "../support/fixtures.ts";

// Sessions and transcriptions get UUID version 7 ids (48 bits of Unix
// milliseconds first), so that the usage events' indexes on them grow at one
// end instead of taking a random page of a large index for every attempt.

afterAll(closeRootPool);

const version7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const millisecondsOf = (id: string) => parseInt(id.replace(/-/g, "").slice(0, 12), 16);

test("app_private.time_ordered_uuid gives a version 7 id of the instant asked for; later instants sort later", () =>
  withRootDb(async (client) => {
    const { rows: [ids] } = await client.query(
      `select app_private.time_ordered_uuid('2026-03-04T05:06:07.089Z')::text as first,
              app_private.time_ordered_uuid('2026-03-04T05:06:07.089Z')::text as same_instant,
              app_private.time_ordered_uuid('2026-03-04T05:06:07.090Z')::text as later,
              app_private.time_ordered_uuid('2026-03-04T05:06:07.090Z') > app_private.time_ordered_uuid('2026-03-04T05:06:07.089Z') as sorts_later`);
    expect(ids.first).toMatch(version7);
    expect(millisecondsOf(ids.first)).toBe(Date.parse("2026-03-04T05:06:07.089Z"));
    expect(millisecondsOf(ids.later)).toBe(Date.parse("2026-03-04T05:06:07.090Z"));
    expect(ids.same_instant).not.toBe(ids.first); // the rest is random
    expect(ids.sorts_later).toBe(true);
  }));

test("a session and a transcription a coach records get time-ordered ids of the moment they were written", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "time-ordered-ids");
    const before = (await client.query("select floor(extract(epoch from clock_timestamp()) * 1000)::bigint as ms")).rows[0].ms;
    await becomeUser(client, coach.user);
    const { rows: [session] } = await client.query(
      `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
       values ($1, 'Ids', '2026-03-04T05:00:00Z', 'recordings/ids.m4a', 600) returning id::text`, [coach.clientId]);
    const { rows: [attempt] } = await client.query(
      "insert into app_public.transcriptions (session_id, provider, model) values ($1, 'deepgram', 'nova-2') returning id::text",
      [session.id]);
    const after = (await client.query("select floor(extract(epoch from clock_timestamp()) * 1000)::bigint as ms")).rows[0].ms;
    for (const id of [session.id, attempt.id]) {
      expect(id).toMatch(version7);
      expect(millisecondsOf(id)).toBeGreaterThanOrEqual(Number(before));
      expect(millisecondsOf(id)).toBeLessThanOrEqual(Number(after));
    }
    expect(millisecondsOf(attempt.id)).toBeGreaterThanOrEqual(millisecondsOf(session.id));
  }));
