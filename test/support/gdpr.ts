import crypto from "node:crypto";
import type pg from "pg";
import { holdTestLock } from "./db.ts";
import { createCoach, deleteCoach, grantConsents, type Coach } from "./fixtures.ts";

type Queryable = pg.ClientBase | pg.Pool;

/** A person's distinctive values, planted everywhere their data can go, and where they went. */
export interface PlantedClient {
  coach: Coach;
  clientId: string;
  /** Names, email, phone: searched for inside any text. */
  identifiers: string[];
  /** Notes, titles, transcript text, error message: searched for as whole values. */
  contents: string[];
  /** A name the client had before an update: only the audit trail holds it. */
  formerName: string;
}

/**
 * A client of a new coach with distinctive values in every place a client's
 * data can go: their row (renamed once, so the old name is in the trail's
 * history), a live session and a soft-deleted one, a completed and a failed
 * transcription (the failed one soft-deleted with its session). Run as superuser.
 */
export async function plantClient(client: Queryable, label = "erasure"): Promise<PlantedClient> {
  const tag = crypto.randomBytes(4).toString("hex");
  const coach = await createCoach(client, label);
  const formerName = `Zephyrine Oldname-${tag}`;
  const fullName = `Zephyrine Quaglia-${tag}`;
  const email = `zq-${tag}@planted.example`;
  const phone = `+44 20 7946 ${parseInt(tag.slice(0, 4), 16) % 10000}`.padEnd(16, "0");
  const notes = `Planted note ${tag}: afraid of heights, divorced in 2019.`;
  const title = `Planted title ${tag}: the promotion talk`;
  const deletedTitle = `Planted deleted title ${tag}`;
  const transcript = `Planted transcript ${tag}. Coach: what worries you? Client: my manager, Mr ${tag}.`;
  const errorMessage = `Planted provider error ${tag}: could not parse the words of the client`;
  const { rows: [row] } = await client.query(
    "insert into app_public.clients (coach_profile_id, full_name, email, phone, notes) values ($1, $2, $3, $4, $5) returning id",
    [coach.profileId, formerName, email, phone, notes],
  );
  await grantConsents(client, [row.id]);
  await client.query("update app_public.clients set full_name = $2 where id = $1", [row.id, fullName]);
  const session = async (sessionTitle: string) =>
    (await client.query(
      `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
       values ($1, $2, '2026-11-02T10:00:00Z', 'recordings/planted.m4a', 1200) returning id`,
      [row.id, sessionTitle],
    )).rows[0].id as string;
  const liveSession = await session(title);
  const deletedSession = await session(deletedTitle);
  await client.query(
    `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, transcript_text, started_at, finished_at)
     values ($1, 'deepgram', 'nova-2', 'completed', 1200, $2, '2026-11-02T11:00:00Z', '2026-11-02T11:02:00Z')`,
    [liveSession, transcript],
  );
  await client.query(
    `insert into app_public.transcriptions (session_id, provider, model, status, error_message, started_at, finished_at)
     values ($1, 'deepgram', 'nova-2', 'failed', $2, '2026-11-02T11:00:00Z', '2026-11-02T11:01:00Z')`,
    [deletedSession, errorMessage],
  );
  await client.query("delete from app_public.coaching_sessions where id = $1", [deletedSession]);
  return {
    coach,
    clientId: row.id,
    identifiers: [fullName, email, phone, formerName],
    contents: [notes, title, deletedTitle, transcript, errorMessage],
    formerName,
  };
}

/** Files an erasure request for the client and verifies it, as the admin (or the operator when no admin is set). Returns its id. */
export async function verifiedErasureRequest(client: Queryable, clientId: string, verification = "Identity checked by a video call."): Promise<string> {
  const { rows } = await client.query(
    "insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1) returning id", [clientId]);
  await client.query("update app_public.data_subject_requests set state = 'verified', verification = $2 where id = $1", [rows[0].id, verification]);
  return rows[0].id;
}

/** Where the residue scan finds these values, as "table.column" sorted (row keys left out). */
export async function residuePlaces(client: Queryable, identifiers: string[], contents: string[]): Promise<string[]> {
  const { rows } = await client.query(
    "select table_name || '.' || column_name as place, count(*)::int as n from governance.residue_scan($1, $2) group by 1 order by 1",
    [identifiers, contents],
  );
  return rows.map((row) => `${row.place} ×${row.n}`);
}

/**
 * Removes what tests planted and erased: the legal holds on the clients and
 * the erasures that overrode them (holds and erasure records are never
 * deleted through any door; the owner sets the triggers aside), then each
 * client's coach with their requests, runs and records.
 */
export async function deletePlantedClients(client: Queryable, planted: PlantedClient[]): Promise<void> {
  const clients = `'{${planted.map((person) => person.clientId).join(",")}}'::uuid[]`;
  await client.query(`begin; delete from app_public.data_subject_erasure_runs where request_id in
      (select r.id from app_public.data_subject_requests r where r.client_id = any(${clients}));
    alter table app_public.legal_holds disable trigger _200_append_only;
    alter table app_public.data_subject_erasures disable trigger _200_append_only;
    delete from app_public.data_subject_erasures where overridden_hold_id in (select h.id from app_public.legal_holds h where h.client_id = any(${clients}));
    delete from app_public.legal_holds where client_id = any(${clients});
    alter table app_public.data_subject_erasures enable trigger _200_append_only;
    alter table app_public.legal_holds enable trigger _200_append_only; commit;`);
  for (const person of planted) await deleteErasedCoach(client, person.coach);
}

/** Removes committed requests, erasure runs and records, and the coach under them (tests that commit clean up after themselves). */
export async function deleteErasedCoach(client: Queryable, coach: Coach): Promise<void> {
  // Erasure records are never deleted through any door; the test's own are removed with the trigger set aside
  // (one multi-statement query: one connection, the ids are uuids the test made).
  await client.query(`begin; delete from app_public.data_subject_erasure_runs where request_id in (select r.id from app_public.data_subject_requests r
      where r.client_id in (select c.id from app_public.clients c where c.coach_profile_id = '${coach.profileId}'::uuid)
         or r.user_id = '${coach.user.id}'::uuid);
    alter table app_public.data_subject_erasures disable trigger _200_append_only;
    delete from app_public.data_subject_erasures where request_id in (select r.id from app_public.data_subject_requests r
      where r.client_id in (select c.id from app_public.clients c where c.coach_profile_id = '${coach.profileId}'::uuid)
         or r.user_id = '${coach.user.id}'::uuid);
    alter table app_public.data_subject_erasures enable trigger _200_append_only; commit;`);
  await client.query(
    "delete from app_public.data_subject_requests where client_id in (select c.id from app_public.clients c where c.coach_profile_id = $1) or user_id = $2",
    [coach.profileId, coach.user.id]);
  await deleteCoach(client, coach);
}

/**
 * Every usage figure of a coach as an admin reads it, as one text to compare
 * byte for byte: usage events, daily rollups, invoices (November 2026 and the
 * current month), and the analytics over both.
 */
export async function usageFigures(client: pg.ClientBase, coachProfileId: string): Promise<string> {
  const { rows: [figures] } = await client.query(
    `select jsonb_build_object(
       'events', (select jsonb_agg(e order by e.id) from app_public.usage_events e where e.coach_profile_id = $1),
       'rollups', (select jsonb_agg(d order by d) from app_private.usage_rollups_of($1, '-infinity', 'infinity') d),
       'november', (select jsonb_agg(i order by i) from app_public.invoice_preview($1, '2026-11-01') i),
       'this_month', (select jsonb_agg(i order by i) from app_public.invoice_preview($1) i),
       'revenue', (select to_jsonb(r) from app_public.revenue_summary('2026-11-01', (now() + interval '1 day')::date, $1) r),
       'by_provider', (select jsonb_agg(p order by p) from app_public.usage_by_provider('2026-11-01', (now() + interval '1 day')::date, $1) p),
       'failures', (select to_jsonb(f) from app_public.failure_stats('2026-11-01', (now() + interval '1 day')::date, $1) f))::text as text`,
    [coachProfileId]);
  return figures.text;
}

/**
 * Keeps inspection copies (`custodian archive restore --into-schema`) off the
 * shared database while the calling file runs (its own beforeAll and
 * afterAll): a copy holds personal data whose subject nothing names, so an
 * erasure refuses while one exists (as it should), the residue scan searches
 * it and an export reads it. Shared: files that erase run together. Call it
 * at the top of the file, before its own hooks.
 */
export function holdOffInspectionCopiesWhileThisFileRuns(): void {
  let release: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    release = await holdTestLock("inspection copies", "shared");
  }, 300_000); // waits while an inspection test runs
  afterAll(() => release?.());
}

/** Runs `work`, which makes an inspection copy on the shared database and drops it, while no file erases. */
export async function whileNoneErases<T>(work: () => Promise<T>): Promise<T> {
  const release = await holdTestLock("inspection copies");
  try {
    return await work();
  } finally {
    await release();
  }
}
