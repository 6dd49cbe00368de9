import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { currentSchemaVersion, writeVerifiedArchive, type ArchiveTable } from "../../src/archive/archive.ts";
import { localDirectoryStore } from "../../src/archive/store.ts";
import { linesOf } from "../support/archive.ts";
import { runCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createCoach, deleteCoach, type Coach } from "../support/fixtures.ts";
import { deleteErasedCoach, verifiedErasureRequest, whileNoneErases } from "../support/gdpr.ts";

// `custodian archive restore` (issue 17, point 4): a soft-deleted client with
// its cascade, archived and then removed by the governed hard delete, comes
// back column for column through the normal write path (the audit trail
// records each insert); a key already there is skipped; a row that cannot
// go back is named with its reason; into an inspection schema instead; a
// tampered archive is refused before anything is written.

const archiveDir = () => {
  const dir = path.join(process.env.TEST_TMP_DIR!, `archive-restore-${randomUUID().slice(0, 8)}`);
  fs.mkdirSync(dir);
  return dir;
};

/** The tables a client's hard delete removes, parents first, and how to find the client's rows in each. */
const cascade = [
  { table: "app_public.clients", where: "t.id = $1", order: "t.created_at, t.id" },
  { table: "app_public.consents", where: "t.client_id = $1", order: "t.recorded_at, t.id" },
  { table: "app_public.coaching_sessions", where: "t.client_id = $1", order: "t.created_at, t.id" },
  { table: "app_public.transcriptions", where: "t.session_id in (select id from app_public.coaching_sessions where client_id = $1)", order: "t.created_at, t.id" },
] as const;

/** Each table's rows of the client as to_jsonb(row)::text, in a stable order: what the retention runner archives. */
async function rowsOfClient(clientId: string): Promise<Record<string, string[]>> {
  const rows: Record<string, string[]> = {};
  for (const { table, where, order } of cascade) {
    const result = await rootPool().query<{ line: string }>(`select to_jsonb(t)::text as line from ${table} t where ${where} order by ${order}`, [clientId]);
    rows[table] = result.rows.map((row) => row.line);
  }
  return rows;
}

async function archiveClient(dir: string, clientId: string, rows: Record<string, string[]>): Promise<string> {
  const id = randomUUID();
  const tables: ArchiveTable[] = cascade.map(({ table }) => ({ table, lines: linesOf(rows[table]!) }));
  const client = await rootPool().connect();
  try {
    await writeVerifiedArchive(localDirectoryStore(dir), {
      id, kind: "rows", policy: "soft_deleted_clients", runId: null, schemaVersion: await currentSchemaVersion(client),
      timeRange: { from: "2026-11-01T00:00:00.000Z", to: "2026-11-01T00:00:00.000Z" }, tables,
    });
  } finally {
    client.release();
  }
  return id;
}

/** A coach whose client has a second session with a re-transcription, then is soft-deleted with all of it. */
async function softDeletedClientWithHistory(label: string): Promise<Coach> {
  const coach = await createCoach(rootPool(), label);
  const session = await rootPool().query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'Follow-up', '2026-10-02T09:30:00Z', 'recordings/follow-up.m4a', 1200) returning id`, [coach.clientId]);
  for (const text of ["First pass.", "Second pass."]) {
    await rootPool().query(
      `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, transcript_text, started_at, finished_at)
       values ($1, 'deepgram', 'nova-2', 'completed', 1200, $2, '2026-10-02T10:00:00Z', '2026-10-02T10:05:00.123456Z')`, [session.rows[0].id, text]);
  }
  await rootPool().query("delete from app_public.clients where id = $1", [coach.clientId]);
  return coach;
}

const coaches: Coach[] = [];
afterAll(async () => {
  for (const coach of coaches) await deleteCoach(rootPool(), coach);
  await closeRootPool();
});

test("a soft-deleted client and its cascade, archived and hard-deleted, come back column for column, recorded in the audit trail", async () => {
  const coach = await softDeletedClientWithHistory("archive-restore");
  coaches.push(coach);
  const archived = await rowsOfClient(coach.clientId);
  expect(Object.values(archived).map((lines) => lines.length)).toEqual([1, 2, 2, 3]);
  expect(archived["app_public.transcriptions"]!.map((line) => JSON.parse(line).is_retranscription)).toEqual([false, false, true]);
  expect(JSON.parse(archived["app_public.clients"]![0]!)).toMatchObject({ is_deleted: true });
  const dir = archiveDir();
  const id = await archiveClient(dir, coach.clientId, archived);
  await rootPool().query("select governance.hard_delete('app_public.clients', $1, 'retention test: archived first')", [coach.clientId]);
  expect(Object.values(await rowsOfClient(coach.clientId)).flat()).toEqual([]);

  const result = await runCli(["archive", "restore", id], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(result.stderr).toMatch(/^Restoring: 0% \(0\/8\)\n(.|\n)*Restoring: 100% \(8\/8\)\n$/);
  expect(result.stdout).toBe(
    `Archive ${id} restored into its original tables:\n` +
      "  app_public.clients: 1 restored, 0 already there (skipped), 0 not restored, of 1\n" +
      "  app_public.consents: 2 restored, 0 already there (skipped), 0 not restored, of 2\n" +
      "  app_public.coaching_sessions: 2 restored, 0 already there (skipped), 0 not restored, of 2\n" +
      "  app_public.transcriptions: 3 restored, 0 already there (skipped), 0 not restored, of 3\n",
  );
  expect(result.code).toBe(0);
  // Every column as archived: times, deletion marks, the re-transcription flag, the derived coach.
  expect(await rowsOfClient(coach.clientId)).toEqual(archived);
  const events = await rootPool().query(
    `select table_name, count(*)::int as inserts from audit.events
      where task = $1 and operation = 'INSERT' and actor_kind = 'system' group by table_name order by table_name`, [`archive restore ${id}`]);
  expect(events.rows).toEqual([
    { table_name: "archive_restorations", inserts: 4 }, { table_name: "clients", inserts: 1 }, { table_name: "coaching_sessions", inserts: 2 }, { table_name: "consents", inserts: 2 }, { table_name: "transcriptions", inserts: 3 },
  ]);
  const restorations = await rootPool().query("select table_name from governance.archive_restorations where archive_id = $1 order by id", [id]);
  expect(restorations.rows.map((row) => row.table_name)).toEqual(cascade.map(({ table }) => table));

  // Again: every key is there already, so every row is skipped and counted, none changed.
  const again = await runCli(["archive", "restore", id], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(again.stdout).toContain("  app_public.clients: 0 restored, 1 already there (skipped), 0 not restored, of 1\n");
  expect(again.stdout).toContain("  app_public.transcriptions: 0 restored, 3 already there (skipped), 0 not restored, of 3\n");
  expect(again.code).toBe(0);
  expect(await rowsOfClient(coach.clientId)).toEqual(archived);
});

test("a row that cannot go back is named with its reason and left out; the rows that can are restored", async () => {
  const coach = await softDeletedClientWithHistory("archive-partial");
  coaches.push(coach);
  const archived = await rowsOfClient(coach.clientId);
  const dir = archiveDir();
  const id = await archiveClient(dir, coach.clientId, archived);
  await rootPool().query("select governance.hard_delete('app_public.clients', $1, 'retention test: archived first')", [coach.clientId]);
  // Only the sessions and transcriptions: their client is gone, so the sessions' foreign key refuses them,
  // and the transcriptions have no session to go under.
  const sessions = await runCli(["archive", "restore", id, "--table", "app_public.coaching_sessions"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(sessions.code).toBe(1);
  const sessionIds = archived["app_public.coaching_sessions"]!.map((line) => JSON.parse(line).id as string);
  expect(sessions.stdout).toContain("  app_public.coaching_sessions: 0 restored, 0 already there (skipped), 2 not restored, of 2\nNot restored:\n");
  for (const sessionId of sessionIds) {
    expect(sessions.stdout).toContain(
      `  app_public.coaching_sessions id=${sessionId}: A coaching session's clientId must name an existing client of the same coach. ` +
        'insert or update on table "coaching_sessions" violates foreign key constraint "coaching_sessions_client_id_coach_profile_id_fkey" ' +
        `Key (client_id, coach_profile_id)=(${coach.clientId}, ${coach.profileId}) is not present in table "clients". (23503)\n`,
    );
  }
  expect(Object.values(await rowsOfClient(coach.clientId)).flat()).toEqual([]);

  // The client back first (deleted, as archived), one of its sessions already re-created by hand: that one is skipped, the rest restored.
  expect((await runCli(["archive", "restore", id, "--table", "app_public.clients"], testEnvironment({ ARCHIVE_DIR: dir }))).code).toBe(0);
  await rootPool().query(
    `insert into app_public.coaching_sessions (id, client_id, title, recorded_at, audio_object_key, audio_duration_seconds, is_deleted)
     values ($1, $2, 'Re-created by hand', now(), 'recordings/again.m4a', 60, true)`, [sessionIds[0], coach.clientId]);
  const rest = await runCli(["archive", "restore", id, "--table", "app_public.coaching_sessions"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(rest.stdout).toContain("  app_public.coaching_sessions: 1 restored, 1 already there (skipped), 0 not restored, of 2\n");
  expect(rest.code).toBe(0);
  const kept = await rootPool().query("select title from app_public.coaching_sessions where id = $1", [sessionIds[0]]);
  expect(kept.rows).toEqual([{ title: "Re-created by hand" }]);
});

test("restore into an inspection schema makes plain copies of the tables, classified as their originals, with every row as archived", () => whileNoneErases(async () => {
  const coach = await softDeletedClientWithHistory("archive-inspect");
  coaches.push(coach);
  const archived = await rowsOfClient(coach.clientId);
  const dir = archiveDir();
  const id = await archiveClient(dir, coach.clientId, archived);
  const schema = `inspect_${randomUUID().slice(0, 8)}`;
  try {
    // The originals are still there: the copies go beside them, and nothing is skipped.
    const result = await runCli(["archive", "restore", id, "--into-schema", schema], testEnvironment({ ARCHIVE_DIR: dir }));
    expect(result.stdout).toContain(`Archive ${id} restored into schema ${schema} for inspection:\n`);
    expect(result.stdout).toContain(`  app_public.transcriptions → ${schema}.transcriptions: 3 restored, 0 already there (skipped), 0 not restored, of 3\n`);
    expect(result.code).toBe(0);
    for (const { table, order } of cascade) {
      const copy = `${schema}.${table.split(".")[1]}`;
      const rows = await rootPool().query<{ line: Record<string, unknown> }>(`select to_jsonb(t) as line from ${copy} t order by ${order}`);
      expect(rows.rows.map((row) => row.line)).toEqual(archived[table]!.map((line) => JSON.parse(line)));
      const triggers = await rootPool().query("select count(*)::int as n from pg_trigger where tgrelid = $1::regclass", [copy]);
      const constraints = await rootPool().query("select count(*)::int as n from pg_constraint where conrelid = $1::regclass and contype <> 'n'", [copy]);
      expect([table, triggers.rows[0].n, constraints.rows[0].n]).toEqual([table, 0, 0]);
    }
    const map = await rootPool().query(
      `select column_name, category from governance.personal_data_map where table_schema = $1 and table_name = 'clients' and is_free_text order by 1`, [schema]);
    expect(map.rows).toContainEqual({ column_name: "email", category: "contact" });
    expect(map.rows.filter((row) => row.category === null)).toEqual([]);

    // Into the same schema again: refused, as the copies are there.
    const twice = await runCli(["archive", "restore", id, "--into-schema", schema], testEnvironment({ ARCHIVE_DIR: dir }));
    expect(twice.stderr).toBe(`custodian: ${schema}.clients already exists; restore into another schema with --into-schema.\n`);
    expect(twice.stdout).toBe("");
    // Nor into a schema of someone else's making; nor may the drop helper take one.
    const foreign = await runCli(["archive", "restore", id, "--into-schema", "graphile_worker"], testEnvironment({ ARCHIVE_DIR: dir }));
    expect(foreign.stderr).toMatch(/^custodian: --into-schema takes a new schema's name/);
    await expect(rootPool().query("select governance.drop_inspection_schema('app_public')")).rejects.toThrow(
      "Schema app_public is not an inspection schema made by `custodian archive restore --into-schema`; nothing dropped.");
    const unmapped = await rootPool().query("select governance.drop_inspection_schema($1) as n", [schema]);
    expect(unmapped.rows[0].n).toBeGreaterThan(10);
    const left = await rootPool().query("select count(*)::int as n from governance.personal_data_map where table_schema = $1", [schema]);
    expect(left.rows[0].n).toBe(0);
    expect(twice.code).toBe(1);
  } finally {
    await rootPool().query("select governance.drop_inspection_schema($1) from pg_namespace where nspname = $1", [schema]);
  }
}), 180_000); // waits while files that erase run

// An inspection copy keeps its original's personal data. The erasure reaches a
// copy whose rows say whose they are (a client's own row); one that reaches
// its person only through another table (a transcription, through its
// session) it cannot, so it refuses while that copy exists, naming the copy
// and `custodian archive drop-inspection`, and erases nothing.
test("an erasure reaches an inspection copy of a client's row, and refuses one it cannot tie to a person until archive drop-inspection drops it", () => whileNoneErases(async () => {
  const coach = await softDeletedClientWithHistory("archive-inspect-erase"); // removed by deleteErasedCoach below
  const archived = await rowsOfClient(coach.clientId);
  const dir = archiveDir();
  const id = await archiveClient(dir, coach.clientId, archived);
  const [whole, clientsOnly] = [`inspect_${randomUUID().slice(0, 8)}`, `inspect_${randomUUID().slice(0, 8)}`];
  const environment = testEnvironment({ ARCHIVE_DIR: dir });
  const nameOf = async (table: string) =>
    (await rootPool().query(`select full_name from ${table} where id = $1`, [coach.clientId])).rows[0].full_name as string;
  try {
    expect((await runCli(["archive", "restore", id, "--into-schema", whole], environment)).code).toBe(0);
    const request = await verifiedErasureRequest(rootPool(), coach.clientId);
    const before = await nameOf("app_public.clients");

    const refused = await runCli(["gdpr", "erase", "--request", request], testEnvironment());
    expect(refused.stderr).toBe(
      `custodian: Table ${whole}.transcriptions is an inspection copy of archived rows (custodian archive restore --into-schema) and holds ` +
      `personal data (error_message, transcript_text) that nothing ties to a person, so this erasure cannot reach it: drop the copy with ` +
      `custodian archive drop-inspection ${whole}, then erase again.\n`);
    expect(refused.code).toBe(1);
    // Nothing erased, the request still waiting.
    expect([await nameOf("app_public.clients"), await nameOf(`${whole}.clients`)]).toEqual([before, before]);
    expect((await rootPool().query("select state from app_public.data_subject_requests where id = $1", [request])).rows[0].state).toBe("verified");

    // The command drops only what restore made, and says what it did.
    const notMine = await runCli(["archive", "drop-inspection", "app_public"], testEnvironment());
    expect([notMine.code, notMine.stderr]).toEqual([1,
      "custodian: Schema app_public is not an inspection schema made by `custodian archive restore --into-schema`; nothing dropped.\n"]);
    const missing = await runCli(["archive", "drop-inspection", "inspect_nosuch"], testEnvironment());
    expect([missing.code, missing.stderr]).toEqual([1,
      "custodian: There is no schema inspect_nosuch; `custodian archive restore --into-schema` names the ones it makes.\n"]);
    const dropped = await runCli(["archive", "drop-inspection", whole], testEnvironment());
    expect(dropped.stdout).toMatch(new RegExp(`^Dropped inspection schema ${whole}: its copies are gone, and \\d+ classified columns left the map of personal data\\.\\n$`));
    expect(dropped.code).toBe(0);
    expect((await rootPool().query("select count(*)::int as n from pg_namespace where nspname = $1", [whole])).rows[0].n).toBe(0);

    // A copy of the client's own row only: the erasure reaches it with the original.
    expect((await runCli(["archive", "restore", id, "--into-schema", clientsOnly, "--table", "app_public.clients"], environment)).code).toBe(0);
    const erased = await runCli(["gdpr", "erase", "--request", request], testEnvironment());
    expect(erased.stderr).toBe("");
    expect(erased.code).toBe(0);
    const after = await nameOf("app_public.clients");
    expect(after).not.toBe(before);
    expect(await nameOf(`${clientsOnly}.clients`)).toBe(after);
  } finally {
    for (const schema of [whole, clientsOnly]) {
      await rootPool().query("select governance.drop_inspection_schema($1) from pg_namespace where nspname = $1", [schema]);
    }
    await deleteErasedCoach(rootPool(), coach);
  }
}), 180_000); // waits while files that erase run
