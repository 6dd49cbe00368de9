import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { readArchiveRows } from "../../src/archive/archive.ts";
import { localDirectoryStore } from "../../src/archive/store.ts";
import { ownerUrl } from "../../src/db/connection-strings.ts";
import { projectRoot } from "../../src/paths.ts";
import { runRetention } from "../../src/retention/run.ts";
import { scratchDirectory } from "../support/archive.ts";
import { runCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createCoach, createUser, deleteCoach, grantConsents, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";
import { cascadeRows, clientCascadeTables, committed, holdClient, holdRetentionRuns, plantDeletedClient, removeHolds } from "../support/retention.ts";
import { runWorkerOnce } from "../support/worker-once.ts";

// Retention runs through the real doors, committed: the CLI, the worker, the
// runner stopped between an archive and its removal. Every instant is pinned
// in 2000-2001, so only this file's rows are past their periods.

const AS_OF = "2001-01-01T00:00:00.000Z";
const pool = rootPool();
let coach: Coach;
let archive: { dir: string; remove: () => void };
const holds: string[] = [];

let releaseRuns: (() => Promise<void>) | undefined;

beforeAll(async () => {
  releaseRuns = await holdRetentionRuns();
  coach = await createCoach(pool, "retention-run-coach");
  archive = scratchDirectory("retention-run");
}, 300_000); // waits while another file's runs go on

afterAll(async () => {
  await removeHolds(pool, holds);
  await deleteCoach(pool, coach);
  // The run log of this file's runs, and their archive records.
  await pool.query("delete from app_public.retention_archives where run_id in (select id from app_public.retention_runs where as_of = $1 or task = 'test')", [AS_OF]);
  await pool.query("delete from app_public.retention_runs where as_of = $1 or task = 'test'", [AS_OF]);
  archive.remove();
  await closeRootPool();
  await releaseRuns?.();
});

const env = (extra: Record<string, string> = {}) => testEnvironment({ ARCHIVE_DIR: archive.dir, ...extra });
const plant = (deletedAt: string, label: string) => committed(pool, (client) => plantDeletedClient(client, coach, deletedAt, label));

/** This file's newest run: its runs are as of AS_OF (other files run as of their own instants, and may run at the same time). */
async function latestRun() {
  return (await pool.query("select * from app_public.retention_runs where as_of = $1 order by started_at desc limit 1", [AS_OF])).rows[0];
}

async function figures(runId: string, policy: string) {
  const { rows: [row] } = await pool.query(
    `select status, rows_archived::int, rows_deleted::int, cascade_rows_deleted::int, rows_anonymized::int, rows_spared_by_hold::int, errors, error, note
     from app_public.retention_run_policies where run_id = $1 and policy_name = $2`, [runId, policy]);
  return row;
}

async function rowCount(clientId: string): Promise<number> {
  return Object.values(await cascadeRows(pool, clientId)).reduce((sum, rows) => sum + rows.length, 0);
}

const preview = "select * from app_public.retention_preview($1, $2)";

const byId = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => String(a.id).localeCompare(String(b.id)));

describe("the dry run over GraphQL and REST (first: no other rows of 2000 yet)", () => {
  const PREVIEW_AS_OF = "2000-10-01T00:00:00.000Z";
  let admin: User;
  let auditor: User;
  let planted: string[] = [];
  let ownHolds: string[] = [];

  beforeAll(async () => {
    admin = await createUser(rootPool(), "admin", "retention-preview-admin");
    auditor = await createUser(rootPool(), "auditor", "retention-preview-auditor");
    planted = await committed(rootPool(), async (client) => [
      await plantDeletedClient(client, coach, "2000-01-10T00:00:00Z", "rest-due"),
      await plantDeletedClient(client, coach, "2000-02-10T00:00:00Z", "rest-held"),
    ]);
    ownHolds = [await holdClient(rootPool(), planted[1]!)];
  });
  afterAll(async () => {
    await removeHolds(rootPool(), ownHolds);
    for (const id of planted) await rootPool().query("select governance.hard_delete('app_public.clients', $1, 'test cleanup')", [id]);
    await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  });

  test("GraphQL's retentionPreview is the SQL function's, for admins and auditors; a coach is refused", async () => {
    const query = `query ($asOf: Datetime) { retentionPreview(policy: "soft_deleted_clients", asOf: $asOf) { nodes { policyName rowsDue rowsSparedByHold sampleKeys oldestDue } } }`;
    const { rows: [sql] } = await rootPool().query(preview, ["soft_deleted_clients", PREVIEW_AS_OF]);
    for (const reader of [admin, auditor]) {
      const { body } = await graphql(query, { asOf: PREVIEW_AS_OF }, await login(reader.email));
      expect(body.errors).toBeUndefined();
      expect(body.data!.retentionPreview.nodes).toEqual([{
        policyName: "soft_deleted_clients", rowsDue: sql.rows_due, rowsSparedByHold: sql.rows_spared_by_hold, sampleKeys: sql.sample_keys,
        oldestDue: expect.stringMatching(/^2000-01-10T00:00:00/),
      }]);
    }
    expect(sql).toMatchObject({ rows_due: "1", rows_spared_by_hold: "1" });
    const refused = await graphql(query, { asOf: PREVIEW_AS_OF }, await login(coach.user.email));
    expect(refused.body.errors?.[0]?.message).toBe("A coach may not use retentionPreview.");
  });

  test("GraphQL's retentionCompliance is the SQL function's, the held row counted apart", async () => {
    const query = `query ($asOf: Datetime) { retentionCompliance(asOf: $asOf) { nodes { policyName rowsUnderPolicy rowsWithinPeriod rowsPastPeriod rowsHeld compliancePercent } } }`;
    const { body } = await graphql(query, { asOf: PREVIEW_AS_OF }, await login(admin.email));
    expect(body.errors).toBeUndefined();
    const { rows } = await rootPool().query(
      `select policy_name, rows_under_policy, rows_within_period, rows_past_period, rows_held, compliance_percent::text from app_public.retention_compliance($1)`, [PREVIEW_AS_OF]);
    // Rows under a policy now include other tests' rows, written meanwhile; those past their period in 2000 are this file's.
    const stable = (node: Record<string, string>) => ({ policyName: node.policyName, rowsPastPeriod: node.rowsPastPeriod, rowsHeld: node.rowsHeld });
    expect(body.data!.retentionCompliance.nodes.map(stable)).toEqual(rows.map((row) => ({
      policyName: row.policy_name, rowsPastPeriod: row.rows_past_period, rowsHeld: row.rows_held,
    })));
    for (const node of body.data!.retentionCompliance.nodes) {
      expect(Number(node.rowsUnderPolicy)).toBeGreaterThanOrEqual(Number(node.rowsWithinPeriod) + Number(node.rowsPastPeriod) + Number(node.rowsHeld));
    }
    expect(body.data!.retentionCompliance.nodes.find((node: { policyName: string }) => node.policyName === "soft_deleted_clients"))
      .toMatchObject({ rowsPastPeriod: "1", rowsHeld: "1" });
  });

  test("GET /api/v1/retention/preview and /policies answer admins and auditors in JSON, CSV and JSON Lines; a coach gets 403, no token 401, a bad instant 400", async () => {
    const token = await login(auditor.email);
    const get = (path: string, bearer: string | null = token) =>
      fetch(apiUrl(path), { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    const json = await get(`/api/v1/retention/preview?policy=soft_deleted_clients&as_of=${PREVIEW_AS_OF}`);
    expect(json.status).toBe(200);
    const [row] = (await json.json()) as Record<string, unknown>[];
    const { rows: [sql] } = await rootPool().query(preview, ["soft_deleted_clients", PREVIEW_AS_OF]);
    expect(row).toMatchObject({ policyName: "soft_deleted_clients", rowsDue: sql.rows_due, rowsSparedByHold: "1", sampleKeys: sql.sample_keys, period: "90 days" });
    const all = (await (await get(`/api/v1/retention/preview?as_of=${PREVIEW_AS_OF}`)).json()) as { policyName: string }[];
    expect(all.map((item) => item.policyName).sort()).toEqual(
      (await rootPool().query("select name from app_public.retention_policies order by name")).rows.map((item) => item.name));
    const csv = await (await get("/api/v1/retention/policies?format=csv")).text();
    expect(csv.split(/\r?\n/)[0]).toBe("name,category,targetTable,clockColumn,period,action,legalBasis,description,anonymizeColumns,enabled,createdAt,updatedAt");
    expect(csv).toMatch(/^usage_events,Usage events,app_public.usage_events,occurred_at,,keep_forever,legal_obligation,/m);
    const lines = (await (await get("/api/v1/retention/policies?format=jsonl", await login(admin.email))).text()).trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.find((item) => item.name === "transcript_text")).toMatchObject({ action: "anonymize", anonymizeColumns: ["error_message", "transcript_text"], period: "3 years" });
    expect((await get("/api/v1/retention/preview", await login(coach.user.email))).status).toBe(403);
    expect((await get("/api/v1/retention/runs", null)).status).toBe(401);
    const bad = await get("/api/v1/retention/preview?as_of=soon");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: '"as_of" must be an ISO 8601 timestamp (like 2026-11-25T10:00:00Z), not "soon".' });
    const unknown = await get("/api/v1/retention/preview?policy=nothing_like_it");
    expect(unknown.status).toBe(404);
  });
});

test("a dry run counts what the run then does: each due client is archived with its sessions, transcriptions and consents, then exactly those rows go through the governed hard delete; the held client stays", async () => {
  const due = [await plant("2000-01-10T00:00:00Z", "due-a"), await plant("2000-03-01T00:00:00Z", "due-b")];
  const held = await plant("2000-02-01T00:00:00Z", "held");
  holds.push(await holdClient(pool, held));
  const before = await Promise.all(due.map((id) => cascadeRows(pool, id)));
  const heldBefore = await cascadeRows(pool, held);

  const dry = await runCli(["retention", "run", "--dry-run", "--policy", "soft_deleted_clients", "--as-of", AS_OF], env());
  expect(dry.code).toBe(0);
  const dryRun = await latestRun();
  expect(dryRun).toMatchObject({ status: "finished", dry_run: true, policy_name: "soft_deleted_clients" });
  expect(await figures(dryRun.id, "soft_deleted_clients")).toMatchObject({ rows_archived: 2, rows_deleted: 2, rows_spared_by_hold: 1, errors: 0 });
  const { rows: [preview] } = await pool.query("select rows_due::int, rows_spared_by_hold::int from app_public.retention_preview('soft_deleted_clients', $1)", [AS_OF]);
  expect(preview).toEqual({ rows_due: 2, rows_spared_by_hold: 1 });
  for (const id of due) expect(await rowCount(id)).toBe(5); // nothing changed: the client, a session, a transcription, two consents

  const result = await runCli(["retention", "run", "--policy", "soft_deleted_clients", "--as-of", AS_OF], env());
  expect(result.stderr).not.toMatch(/custodian:/);
  expect(result.code).toBe(0);
  const run = await latestRun();
  expect(result.stdout).toContain(`Retention run ${run.id} as of ${AS_OF}: finished`);
  expect(await figures(run.id, "soft_deleted_clients")).toMatchObject({
    status: "finished", rows_archived: 2, rows_deleted: 2, cascade_rows_deleted: 8, rows_spared_by_hold: 1, errors: 0,
  });
  for (const id of due) expect(await rowCount(id)).toBe(0);
  expect(await cascadeRows(pool, held)).toEqual(heldBefore);

  // The archive holds exactly the rows that went, as they were.
  const { rows: archives } = await pool.query("select * from app_public.retention_archives where run_id = $1", [run.id]);
  expect(archives).toHaveLength(1);
  expect(archives[0]).toMatchObject({ kind: "rows", policy_name: "soft_deleted_clients", row_count: "10", store: `directory ${archive.dir}` });
  expect(archives[0].time_from.toISOString()).toBe("2000-01-10T00:00:00.000Z");
  expect(archives[0].rows_removed_at).not.toBeNull();
  const store = localDirectoryStore(archive.dir);
  for (const table of clientCascadeTables) {
    const archived: Record<string, unknown>[] = [];
    for await (const row of readArchiveRows(store, archives[0].id, table)) archived.push(row);
    expect(byId(archived)).toEqual(byId(before.flatMap((rows) => rows[table]!)));
  }
  // Why each row went is in the governed hard delete's record and the audit trail.
  const { rows: deletions } = await pool.query("select row_id, reason from governance.hard_deletions where table_name = 'clients' and row_id = any($1)", [due]);
  expect(deletions).toHaveLength(2);
  for (const deletion of deletions) expect(deletion.reason).toBe(
    `Retention policy soft_deleted_clients: past its period of 90 days after deleted_at; archived first in ${archives[0].id} (run ${run.id}).`);
  const { rows: events } = await pool.query(
    `select table_name, operation::text, count(*)::int as n from audit.events
     where transaction_id in (select transaction_id from governance.hard_deletions where table_name = 'clients' and row_id = any($1))
       and table_name in ('clients', 'coaching_sessions', 'transcriptions', 'consents') and (operation <> 'HARD_DELETE' or details ->> 'reason' like $2)
     group by 1, 2 order by 1`,
    [due, `Retention policy soft_deleted_clients:%(run ${run.id}).`]);
  // Consents have no soft delete: the trail records them as the cascade's plain deletes, in the same transactions.
  expect(events).toEqual([
    { table_name: "clients", operation: "HARD_DELETE", n: 2 },
    { table_name: "coaching_sessions", operation: "HARD_DELETE", n: 2 },
    { table_name: "consents", operation: "DELETE", n: 4 },
    { table_name: "transcriptions", operation: "HARD_DELETE", n: 2 },
  ]);

  // Run again: nothing is left to do, the held client is still spared.
  expect((await runCli(["retention", "run", "--policy", "soft_deleted_clients", "--as-of", AS_OF], env())).code).toBe(0);
  expect(await figures((await latestRun()).id, "soft_deleted_clients")).toMatchObject({ rows_archived: 0, rows_deleted: 0, rows_spared_by_hold: 1 });
});

test("a run killed between writing its archive and removing the rows leaves every row in place; the next run removes exactly that archive's rows", async () => {
  const clientId = await plant("2000-04-01T00:00:00Z", "killed");
  const before = await cascadeRows(pool, clientId);
  const runner = new pg.Client({ connectionString: ownerUrl(process.env.TEST_DATABASE_URL!) });
  await runner.connect();
  runner.on("error", () => undefined); // the backend is terminated on purpose
  const { rows: [{ pid }] } = await runner.query("select pg_backend_pid() as pid");
  let archiveId = "";
  await expect(runRetention(runner, localDirectoryStore(archive.dir), {
    policy: "soft_deleted_clients", dryRun: false, asOf: new Date(AS_OF), task: "test",
    afterArchiveVerified: async (id) => {
      archiveId = id;
      await pool.query("select pg_terminate_backend($1)", [pid]);
    },
  })).rejects.toThrow();
  await runner.end().catch(() => undefined);

  expect(await cascadeRows(pool, clientId)).toEqual(before);
  const { rows: [recorded] } = await pool.query("select * from app_public.retention_archives where id = $1", [archiveId]);
  expect(recorded.verified_at).not.toBeNull();
  expect(recorded.rows_removed_at).toBeNull();
  const killed = await pool.query("select status from app_public.retention_runs where id = $1", [recorded.run_id]);
  expect(killed.rows[0].status).toBe("running");

  const resumed = await runCli(["retention", "run", "--policy", "soft_deleted_clients", "--as-of", AS_OF], env());
  expect(resumed.code).toBe(0);
  const run = await latestRun();
  expect(await rowCount(clientId)).toBe(0);
  expect((await pool.query("select rows_removed_at from app_public.retention_archives where id = $1", [archiveId])).rows[0].rows_removed_at).not.toBeNull();
  expect((await pool.query("select count(*)::int as n from app_public.retention_archives where run_id = $1", [run.id])).rows[0].n).toBe(0);
  expect(await figures(run.id, "soft_deleted_clients")).toMatchObject({ rows_archived: 0, rows_deleted: 1, cascade_rows_deleted: 4, errors: 0 });
  const abandoned = (await pool.query("select status, error from app_public.retention_runs where id = $1", [recorded.run_id])).rows[0];
  expect(abandoned).toEqual({ status: "failed", error: expect.stringMatching(/^Abandoned: the process running it ended before it finished/) });
  const archived: Record<string, unknown>[] = [];
  for await (const row of readArchiveRows(localDirectoryStore(archive.dir), archiveId, "app_public.clients")) archived.push(row);
  expect(archived).toEqual(before["app_public.clients"]);
});

test("many due rows: the batches walk them once, oldest first, each archive's rows are removed a few per transaction, and exactly its rows go", async () => {
  const planted: string[] = [];
  for (let day = 1; day <= 5; day += 1) planted.push(await plant(`2000-05-0${day}T00:00:00Z`, `many-${day}`));
  const runner = new pg.Client({ connectionString: ownerUrl(process.env.TEST_DATABASE_URL!) });
  await runner.connect();
  const summary = await runRetention(runner, localDirectoryStore(archive.dir), {
    policy: "soft_deleted_clients", dryRun: false, asOf: new Date(AS_OF), task: "test", batchSize: 2, archiveBatchSize: 3,
  }).finally(() => runner.end());
  for (const clientId of planted) expect(await rowCount(clientId)).toBe(0);
  expect(await figures(summary.run.id, "soft_deleted_clients")).toMatchObject({ rows_archived: 5, rows_deleted: 5, cascade_rows_deleted: 20, errors: 0 });
  const { rows: archives } = await pool.query(
    "select id, row_count::int, manifest #> '{extra,keys}' as keys, rows_removed_at from app_public.retention_archives where run_id = $1 order by time_from", [summary.run.id]);
  // Oldest first, three clients to an archive (with their cascade), each archive marked once all its rows are gone.
  expect(archives.map((one) => one.keys)).toEqual([planted.slice(0, 3), planted.slice(3)]);
  for (const one of archives) expect(one.rows_removed_at).not.toBeNull();
  // Two rows per transaction: the first archive's three clients went in two transactions.
  const { rows: [transactions] } = await pool.query(
    "select count(distinct transaction_id)::int as n from governance.hard_deletions where table_name = 'clients' and row_id = any($1)", [planted]);
  expect(transactions.n).toBe(3);
});

test("two runs at once: the second is refused, naming the running one; the database holds at most one running row", async () => {
  const holder = new pg.Client({ connectionString: ownerUrl(process.env.TEST_DATABASE_URL!) });
  await holder.connect();
  try {
    const { rows: [first] } = await holder.query("select * from app_private.start_retention_run(null, true, now(), 'test')");
    const second = await runCli(["retention", "run", "--dry-run"], env());
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^custodian: Retention run ${first.id} is running \\(started at .*, by test\\); only one runs at a time: wait for it to finish.`));
    const direct = await pool.query("insert into app_public.retention_runs (as_of, task) values (now(), 'test')").catch((error) => error);
    expect(direct).toMatchObject({ code: "23505", constraint: "retention_runs_one_running" });
    await holder.query("select app_private.finish_retention_run($1)", [first.id]);
  } finally {
    await holder.end();
  }
  const after = await runCli(["retention", "run", "--dry-run", "--policy", "usage_events"], env());
  expect(after.code).toBe(0);
});

test("bad input is refused before anything runs: a missing archive directory, an unknown policy, a future instant", async () => {
  const clientId = await plant("2000-05-01T00:00:00Z", "no-store");
  const missing = path.join(archive.dir, "not-mounted");
  const result = await runCli(["retention", "run", "--policy", "soft_deleted_clients", "--as-of", AS_OF], env({ ARCHIVE_DIR: missing }));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/custodian: The archive directory .*not-mounted does not exist; create it or set ARCHIVE_DIR to one that does/);
  expect(await rowCount(clientId)).toBe(5);
  expect(await latestRun()).toMatchObject({ status: "failed", error: expect.stringMatching(/does not exist/) });
  expect(fs.existsSync(missing)).toBe(false);

  const unknown = await runCli(["retention", "run", "--policy", "no_such_policy"], env());
  expect(unknown.stderr).toBe('custodian: There is no retention policy "no_such_policy".\n');
  const future = await runCli(["retention", "run", "--as-of", "2999-01-01"], env());
  expect(future.code).toBe(1);
  expect(future.stderr).toMatch(/cannot act as of .* that is in the future/);
  const badInstant = await runCli(["retention", "run", "--as-of", "soon"], env());
  expect(badInstant.stderr).toMatch(/--as-of takes an instant/);
});

test("the worker's retention_run task (daily in the crontab) runs the policies, each write attributed to its job", async () => {
  const crontab = fs.readFileSync(path.join(projectRoot, "worker", "crontab"), "utf8");
  expect(crontab).toMatch(/^\d+ \d+ \* \* \* retention_run \?max=1&jobKey=retention_run&queue=retention_run$/m);
  const clientId = (await pool.query("select id from app_public.clients where full_name = 'Client no-store' and coach_profile_id = $1", [coach.profileId])).rows[0].id;
  const { rows: [job] } = await pool.query("select id from graphile_worker.add_job('retention_run', $1::json)",
    [JSON.stringify({ policy: "soft_deleted_clients", asOf: AS_OF })]);
  const result = await runWorkerOnce({ ARCHIVE_DIR: archive.dir });
  expect(result.code).toBe(0);
  expect(await rowCount(clientId)).toBe(0);
  const run = await latestRun();
  expect(run).toMatchObject({ status: "finished", task: `worker retention_run (job ${job.id})` });
  const { rows: [event] } = await pool.query(
    "select actor_kind::text, task, job_id from audit.events where operation = 'HARD_DELETE' and table_name = 'clients' and record_key = $1", [JSON.stringify({ id: clientId })]);
  expect(event).toEqual({ actor_kind: "worker", task: "retention_run", job_id: String(job.id) });
});

test("a run of every policy anonymizes transcript text past its period (not a held client's), and never touches usage events", async () => {
  const { held, old, heldTranscription } = await committed(pool, async (client) => {
    const { rows: [other] } = await client.query("insert into app_public.clients (coach_profile_id, full_name) values ($1, 'Held live client') returning id", [coach.profileId]);
    await grantConsents(client, [other.id]);
    const transcribe = async (clientId: string) => {
      const { rows: [session] } = await client.query(
        "insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds) values ($1, 'Long ago', '1997-05-01T00:00:00Z', 'recordings/1997.m4a', 60) returning id", [clientId]);
      const { rows: [row] } = await client.query(
        `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, transcript_text, started_at, finished_at)
         values ($1, 'deepgram', 'nova-2', 'completed', 60, 'Words spoken in 1997.', '1997-06-01T00:00:00Z', '1997-06-01T00:01:00Z') returning id`, [session.id]);
      return row.id as string;
    };
    return { held: other.id as string, old: await transcribe(coach.clientId), heldTranscription: await transcribe(other.id) };
  });
  holds.push(await holdClient(pool, held));
  // The usage captured from the 1997 attempts and priced from them: kept forever, however old. Rated
  // first, as the worker does every minute, so that no record becomes an event between the two looks.
  await pool.query("select * from app_private.rate_usage_records()");
  const usage = async () => ({
    records: (await pool.query("select to_jsonb(u) as row from app_private.usage_records u where coach_profile_id = $1 order by id", [coach.profileId])).rows,
    events: (await pool.query("select to_jsonb(u) as row from app_public.usage_events u where coach_profile_id = $1 order by id", [coach.profileId])).rows,
  });
  const usageBefore = await usage();
  expect(usageBefore.events.filter((event) => String(event.row.occurred_at).startsWith("1997"))).toHaveLength(2);

  const result = await runCli(["retention", "run", "--as-of", AS_OF], env());
  expect(result.code).toBe(0);
  const run = await latestRun();
  expect(await figures(run.id, "transcript_text")).toMatchObject({ status: "finished", rows_anonymized: 1, rows_spared_by_hold: 1 });
  const text = async (id: string) => (await pool.query("select transcript_text, error_message from app_public.transcriptions where id = $1", [id])).rows[0];
  expect(await text(old)).toEqual({ transcript_text: null, error_message: null });
  expect(await text(heldTranscription)).toEqual({ transcript_text: "Words spoken in 1997.", error_message: null });
  expect(await usage()).toEqual(usageBefore);
  for (const policy of ["usage_events", "usage_records"]) {
    expect(await figures(run.id, policy)).toMatchObject({ status: "finished", rows_deleted: 0, rows_archived: 0, note: "Kept forever: nothing to do." });
  }
  // Audit events leave by whole archived months (src/retention/audit-partitions.ts): none of the shared database's is past 7 years.
  expect(await figures(run.id, "audit_events")).toMatchObject({ status: "finished", rows_deleted: 0, note: expect.stringMatching(/^0 partition\(s\) archived \(0 events\), 0 dropped \(0 events\)/) });

  // The run log over REST: admins and auditors; a coach is refused.
  const admin = await createUser(pool, "admin", "retention-run-admin");
  try {
    const response = await fetch(apiUrl(`/api/v1/retention/runs?run_id=${run.id}`), { headers: { authorization: `Bearer ${await login(admin.email)}` } });
    expect(response.status).toBe(200);
    const rows = (await response.json()) as Record<string, unknown>[];
    expect(rows.find((row) => row.policyName === "transcript_text")).toMatchObject({ runId: run.id, runStatus: "finished", dryRun: false, rowsAnonymized: "1", rowsSparedByHold: "1" });
    expect(rows.map((row) => row.policyName).sort()).toEqual(
      (await pool.query("select name from app_public.retention_policies order by name")).rows.map((row) => row.name));
    const coachAnswer = await fetch(apiUrl("/api/v1/retention/runs"), { headers: { authorization: `Bearer ${await login(coach.user.email)}` } });
    expect(coachAnswer.status).toBe(403);
  } finally {
    await pool.query("delete from app_public.users where id = $1", [admin.id]);
  }
});

test("a delete policy removes old rows without an archive and spares a held person's: sign-in attempts", async () => {
  const other = await createUser(pool, "coach", "retention-attempts");
  try {
    const attempt = async (userId: string) => (await pool.query(
      `insert into app_private.sign_in_attempts (attempted_at, email, user_id, subject_id, outcome)
       values ('1999-06-01T00:00:00Z', 'someone@test.example', $1, $1, 'wrong_password') returning id`, [userId])).rows[0].id as string;
    const [heldAttempt, goneAttempt] = [await attempt(coach.user.id), await attempt(other.id)];
    holds.push((await pool.query("insert into app_public.legal_holds (user_id, reason) values ($1, 'Account dispute 2000') returning id", [coach.user.id])).rows[0].id);
    const result = await runCli(["retention", "run", "--policy", "sign_in_attempts", "--as-of", AS_OF], env());
    expect(result.code).toBe(0);
    expect(await figures((await latestRun()).id, "sign_in_attempts")).toMatchObject({ status: "finished", rows_deleted: 1, rows_archived: 0, rows_spared_by_hold: 1 });
    const { rows } = await pool.query("select id from app_private.sign_in_attempts where id = any($1)", [[heldAttempt, goneAttempt]]);
    expect(rows).toEqual([{ id: heldAttempt }]);
    expect((await pool.query("select count(*)::int as n from audit.events where table_name = 'sign_in_attempts' and operation = 'DELETE' and record_key = $1",
      [JSON.stringify({ id: goneAttempt })])).rows[0].n).toBe(1);
  } finally {
    await pool.query("delete from app_private.sign_in_attempts where user_id = $1", [other.id]);
    await pool.query("delete from app_public.users where id = $1", [other.id]);
  }
});

test("an archive whose writing never finished is forgotten by the next run, and its rows are archived afresh", async () => {
  const clientId = await plant("2000-06-01T00:00:00Z", "unwritten");
  // A run that recorded an archive and died before writing a byte of it: its session ends, and the lock with it.
  const crashed = new pg.Client({ connectionString: ownerUrl(process.env.TEST_DATABASE_URL!) });
  await crashed.connect();
  const { rows: [stale] } = await crashed.query("select * from app_private.start_retention_run('soft_deleted_clients', false, $1, 'test')", [AS_OF]);
  const unwritten = "00000000-0000-4000-8000-000000000017";
  await crashed.query("select app_private.create_retention_archive($1, $2, 'soft_deleted_clients', 'a store that crashed')", [unwritten, stale.id]);
  await crashed.end();
  const result = await runCli(["retention", "run", "--policy", "soft_deleted_clients", "--as-of", AS_OF], env());
  expect(result.code).toBe(0);
  const run = await latestRun();
  expect(await rowCount(clientId)).toBe(0);
  expect((await pool.query("select count(*)::int as n from app_public.retention_archives where id = $1", [unwritten])).rows[0].n).toBe(0);
  expect(await figures(run.id, "soft_deleted_clients")).toMatchObject({ rows_archived: 1, rows_deleted: 1, errors: 0 });
  expect((await pool.query("select status from app_public.retention_runs where id = $1", [stale.id])).rows[0].status).toBe("failed");
});

test("a policy that fails is recorded with its error, and the other policies go on", async () => {
  await pool.query(`create table public.retention_probe (id uuid primary key default gen_random_uuid(), note text, done_at timestamptz);
    alter table public.retention_probe owner to custodian_owner;
    create function public.retention_probe_refuse() returns trigger language plpgsql as $$ begin raise exception 'the probe refuses every change'; end $$;
    create trigger refuse before update on public.retention_probe for each row execute function public.retention_probe_refuse();
    insert into public.retention_probe (note, done_at) values ('old', '1990-01-01T00:00:00Z');
    insert into app_public.retention_policies (name, category, target_table, clock_column, period, action, legal_basis, description, anonymize_columns)
      values ('probe_notes', 'A probe', 'public.retention_probe', 'done_at', '1 year', 'anonymize', 'contract', 'A policy that cannot work.', '{note}')`);
  try {
    const clientId = await plant("2000-06-15T00:00:00Z", "beside-the-probe");
    const result = await runCli(["retention", "run", "--as-of", AS_OF], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("custodian: 1 policy failed: probe_notes (see above; the run log has the errors).");
    const run = await latestRun();
    expect(run.status).toBe("finished");
    expect(await figures(run.id, "probe_notes")).toMatchObject({ status: "failed", rows_anonymized: 0, errors: 1, error: "the probe refuses every change" });
    expect(await figures(run.id, "soft_deleted_clients")).toMatchObject({ status: "finished", rows_deleted: 1 });
    expect(await rowCount(clientId)).toBe(0);
  } finally {
    await pool.query("delete from app_public.retention_run_policies where policy_name = 'probe_notes'");
    await pool.query(`delete from app_public.retention_policies where name = 'probe_notes';
      drop table public.retention_probe; drop function public.retention_probe_refuse()`);
  }
});
