import { becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach, createUser } from "../support/fixtures.ts";

afterAll(closeRootPool);

describe("integrity enforced by the database, whoever writes", () => {
  test("a session cannot name another coach than its client's, even for a superuser", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const b = await createCoach(client, "coach-b");
      const error = await errorOf(
        client,
        `insert into app_public.coaching_sessions (coach_profile_id, client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
         values ($1, $2, 'Mismatch', now(), 'k', 1)`,
        [b.profileId, a.clientId],
      );
      expect(error?.code).toBe("23503");
    }));

  test("a retry must retry an attempt of the same session", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const other = await client.query(
        `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
         values ($1, 'Other', now(), 'k', 60) returning id`,
        [a.clientId],
      );
      const error = await errorOf(
        client,
        "insert into app_public.transcriptions (session_id, provider, model, retry_of) values ($1, 'deepgram', 'nova-2', $2)",
        [other.rows[0].id, a.transcriptionId],
      );
      expect(error?.code).toBe("23503");
    }));

  test("the coach, the re-transcription flag, the requester and the timestamps are set by the database", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      await becomeUser(client, a.user);
      const { rows } = await client.query(
        `insert into app_public.transcriptions (session_id, provider, model) values ($1, 'openai', 'whisper-1')
         returning coach_profile_id, is_retranscription, requested_by, created_at = now() as created_now`,
        [a.sessionId],
      );
      expect(rows[0]).toEqual({ coach_profile_id: a.profileId, is_retranscription: true, requested_by: a.user.id, created_now: true });
    }));

  test("created_at cannot be forged and updated_at moves forward", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const { rows } = await client.query(
        `update app_public.clients set created_at = '2000-01-01', notes = 'x' where id = $1
         returning created_at > '2001-01-01' as kept, updated_at >= created_at as moved`,
        [a.clientId],
      );
      expect(rows[0]).toEqual({ kept: true, moved: true });
    }));

  test("status changes stamp started_at and finished_at, and a completed attempt needs a billed duration", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const admin = await createUser(client, "admin");
      await becomeUser(client, admin);
      const attempt = await client.query(
        "insert into app_public.transcriptions (session_id, provider, model) values ($1, 'deepgram', 'nova-2') returning id",
        [a.sessionId],
      );
      const id = attempt.rows[0].id;
      const processing = await client.query(
        "update app_public.transcriptions set status = 'processing' where id = $1 returning started_at is not null as started",
        [id],
      );
      expect(processing.rows[0].started).toBe(true);
      const incomplete = await errorOf(client, "update app_public.transcriptions set status = 'completed' where id = $1", [id]);
      expect(incomplete?.code).toBe("23514");
      expect(incomplete).toMatchObject({ constraint: "transcriptions_completed_has_billed_duration", message: expect.stringMatching(/needs its billed duration/) });
      const done = await client.query(
        `update app_public.transcriptions set status = 'completed', billed_duration_seconds = 1795 where id = $1
         returning finished_at >= started_at as ordered`,
        [id],
      );
      expect(done.rows[0].ordered).toBe(true);
    }));

  test("check constraints refuse bad time zones, emails, durations and currencies", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const cases: Array<[string, unknown[]]> = [
        ["update app_public.coach_profiles set timezone = 'Mars/Olympus' where id = $1", [a.profileId]],
        ["update app_public.clients set email = 'not-an-email' where id = $1", [a.clientId]],
        ["update app_public.coaching_sessions set audio_duration_seconds = -1 where id = $1", [a.sessionId]],
        ["update app_public.transcriptions set billed_duration_seconds = -5 where id = $1", [a.transcriptionId]],
        ["insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency) values ('Bad', 1, 1, 1, 'euro')", []],
      ];
      for (const [sql, values] of cases) expect((await errorOf(client, sql, values))?.code).toBe("23514");
    }));

  test("a coach profile belongs to a coach account, and a coach with a profile cannot become an admin", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const auditor = await createUser(client, "auditor");
      const profileForAuditor = await errorOf(
        client,
        "insert into app_public.coach_profiles (user_id, user_role, display_name, plan_id) select $1, 'auditor', 'X', plan_id from app_public.coach_profiles limit 1",
        [auditor.id],
      );
      expect(profileForAuditor?.code).toBe("23514");
      const promote = await errorOf(client, "update app_public.users set role = 'admin' where id = $1", [a.user.id]);
      expect(promote?.code).toBe("23503");
    }));

  test("coach-owned row-level security refuses a table without coach_profile_id, naming it", () =>
    withRootDb(async (client) => {
      const error = await errorOf(client, "select app_private.enable_coach_owned_rls('app_public.billing_plans')");
      expect(error?.message).toBe("Table app_public.billing_plans has no coach_profile_id column; it cannot be coach-owned.");
    }));
});
