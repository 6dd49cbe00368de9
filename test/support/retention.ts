import type pg from "pg";
import { holdTestLock } from "./db.ts";
import { grantConsents, type Coach } from "./fixtures.ts";

type Queryable = pg.ClientBase | pg.Pool;

/** The tables a soft-deleted client's removal reaches, parents first (what its archive holds). */
export const clientCascadeTables = ["app_public.clients", "app_public.coaching_sessions", "app_public.consents", "app_public.transcriptions"];

/**
 * A client of the coach with a session and a completed transcription (and the
 * client's consents), soft-deleted, its deletion moved back to `deletedAt`
 * (every row of the cascade, with no trigger running, as the soft-delete
 * tests move a deletion). Inside the caller's transaction. Returns the client's id.
 */
export async function plantDeletedClient(client: pg.ClientBase, coach: Coach, deletedAt: string, label = "retention"): Promise<string> {
  const { rows: [row] } = await client.query(
    "insert into app_public.clients (coach_profile_id, full_name, email, notes) values ($1, $2, $3, 'Prefers mornings.') returning id",
    [coach.profileId, `Client ${label}`, `${label}-${Math.random().toString(16).slice(2)}@test.example`],
  );
  await grantConsents(client, [row.id]);
  const { rows: [session] } = await client.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'Old session', '1999-12-01T10:00:00Z', 'recordings/old.m4a', 600) returning id`, [row.id]);
  await client.query(
    `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, transcript_text)
     values ($1, 'deepgram', 'nova-2', 'completed', 600, 'An old transcript.')`, [session.id]);
  await client.query("delete from app_public.clients where id = $1", [row.id]);
  await moveDeletion(client, row.id, deletedAt);
  return row.id;
}

/** Runs `work` in a transaction that commits (tests that commit clean up after themselves). */
export async function committed<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

/** Moves the soft deletion of a client (and its cascade, same batch) to `deletedAt`, with no trigger running; inside the caller's transaction. */
export async function moveDeletion(client: pg.ClientBase, clientId: string, deletedAt: string): Promise<void> {
  await client.query("set local session_replication_role = replica");
  for (const table of ["app_public.clients", "app_public.coaching_sessions", "app_public.transcriptions"]) {
    await client.query(
      `update ${table} set deleted_at = $2 where deletion_batch_id = (select deletion_batch_id from app_public.clients where id = $1)`,
      [clientId, deletedAt]);
  }
  await client.query("set local session_replication_role = origin");
}

/** Every row of the client's cascade as to_jsonb gives it, table by table (what an archive of the client must hold). */
export async function cascadeRows(client: Queryable, clientId: string): Promise<Record<string, Record<string, unknown>[]>> {
  const queries: Record<string, string> = {
    "app_public.clients": "select to_jsonb(t) as row from app_public.clients t where id = $1 order by id",
    "app_public.coaching_sessions": "select to_jsonb(t) as row from app_public.coaching_sessions t where client_id = $1 order by id",
    "app_public.consents": "select to_jsonb(t) as row from app_public.consents t where client_id = $1 order by id",
    "app_public.transcriptions":
      "select to_jsonb(t) as row from app_public.transcriptions t where session_id in (select id from app_public.coaching_sessions where client_id = $1) order by id",
  };
  const rows: Record<string, Record<string, unknown>[]> = {};
  for (const [table, sql] of Object.entries(queries)) rows[table] = (await client.query(sql, [clientId])).rows.map((row) => row.row);
  return rows;
}

/** Places a legal hold on a client (as the owner would, from the command line). */
export async function holdClient(client: Queryable, clientId: string, reason = "Litigation 2000-17: keep this client's records"): Promise<string> {
  const { rows } = await client.query("insert into app_public.legal_holds (client_id, reason) values ($1, $2) returning id", [clientId, reason]);
  return rows[0].id;
}

/** Test cleanup only: holds are never deleted by any writer, so it goes around the trigger as superuser. */
export async function removeHolds(pool: pg.Pool, holdIds: string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    await client.query("delete from app_public.legal_holds where id = any($1)", [holdIds]);
    await client.query("commit");
  } finally {
    client.release();
  }
}

/**
 * Keeps retention runs on the shared database to this file until released:
 * the database allows one run at a time and refuses a second (as it should),
 * so the files that run retention there (run.test.ts, request-run.test.ts, the
 * retention console) take turns. A session-level advisory lock of the tests'
 * own (holdTestLock); call it in beforeAll, release in afterAll.
 */
export function holdRetentionRuns(): Promise<() => Promise<void>> {
  return holdTestLock("retention runs");
}
