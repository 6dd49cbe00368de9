import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.ts";
import { isAlive, readPid } from "../../src/db/data-dir-lock.ts";
import { runCli, startCli, type RunningCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { PASSWORD as USER_PASSWORD } from "../support/fixtures.ts";
import { login } from "../support/http.ts";
import { addCrontabJob, reconcileDifferences, startWorkerProcess, testPool, waitFor, waitUntilJobDone, type RunningWorker } from "../support/faults.ts";
import { createBillingCoach, createPlan, createRates, type BillingCoach, type Rate } from "../usage/helpers.ts";

// kill -9 of PostgreSQL itself (an embedded cluster of this file's own, in a
// folder of its own) while writers work through the API server and plain SQL.
// Every write whose commit a client saw acknowledged must be there whole, with
// its audit events and usage; writes that got no answer are in doubt and may
// be there or not, but never in part. The server and the worker outlive the
// database's death and carry on once it is back.

const PASSWORD = "fault-test-postgres-password";
let folder: string;
let cluster: EmbeddedDatabase;
let port: number;
let env: Record<string, string>;
let db: pg.Pool;
let server: RunningCli & { match: RegExpMatchArray };
let worker: RunningWorker;

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-pg-kill-"));
  // As root PostgreSQL runs as "postgres", which must reach its folder.
  fs.chmodSync(folder, 0o755);
  cluster = await startEmbeddedPostgres(path.join(folder, "pg"), PASSWORD);
  port = Number(new URL(cluster.url).port);
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query("create database custodian");
  await admin.end();
  const url = cluster.url.replace(/\/postgres$/, "/custodian");
  env = testEnvironment({ DATABASE_URL: url, DATA_DIR: folder, PORT: "0" });
  expect((await runCli(["migrate"], env)).code).toBe(0);
  db = testPool(url);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await worker?.stop();
  await db?.end();
  await cluster?.stop();
  if (folder) fs.rmSync(folder, { recursive: true, force: true });
});

/** kill -9 of the postmaster; resolves once it and every backend it had are gone, so the folder can be started again. */
async function killPostgres(): Promise<void> {
  const pid = readPid(path.join(folder, "pg", "postmaster.pid"))!;
  const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  process.kill(pid, "SIGKILL");
  await waitFor("the killed postmaster and its backends are gone", async () => [pid, ...children].every((p) => !isAlive(p)));
}

interface Ledger {
  /** Acknowledged writes: record (table/id) and the audit operations it must have, in order. */
  records: Map<string, string[]>;
  /** Terminal attempts acknowledged. */
  terminalAttempts: Set<string>;
  /** Acknowledged writes of each writer, before the kill and since the restart. */
  beforeKill: number[];
  sinceRestart: number[];
  inDoubt: number;
}

const ledger: Ledger = { records: new Map(), terminalAttempts: new Set(), beforeKill: [], sinceRestart: [], inDoubt: 0 };
let restarted = false;
let stopping = false;

function acknowledge(writer: number, records: Array<[string, string[]]>, terminal: string[] = []): void {
  for (const [key, operations] of records) ledger.records.set(key, [...(ledger.records.get(key) ?? []), ...operations]);
  for (const id of terminal) ledger.terminalAttempts.add(id);
  const counts = restarted ? ledger.sinceRestart : ledger.beforeKill;
  counts[writer] = (counts[writer] ?? 0) + 1;
}

/** A writer through GraphQL: creates sessions as a coach; an answer with data is an acknowledged commit. */
async function graphqlWriter(writer: number, coach: BillingCoach, apiUrl: string): Promise<void> {
  let token: string | null = null;
  for (let i = 0; !stopping; i++) {
    try {
      token ??= await login(coach.user.email, USER_PASSWORD, apiUrl);
      const response = await fetch(`${apiUrl}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: `mutation ($input: CoachingSessionInput!) { createCoachingSession(input: { coachingSession: $input }) { coachingSession { rowId } } }`,
          variables: { input: { clientId: coach.clientId, title: `api ${writer}-${i}`, recordedAt: "2026-11-02T10:00:00Z", audioObjectKey: "recordings/fault.m4a", audioDurationSeconds: 600 } },
        }),
      });
      const body = (await response.json()) as { data?: { createCoachingSession?: { coachingSession: { rowId: string } } } };
      const id = body.data?.createCoachingSession?.coachingSession.rowId;
      if (id) acknowledge(writer, [[`coaching_sessions/${id}`, ["INSERT"]]]);
      else ledger.inDoubt++;
    } catch {
      ledger.inDoubt++;
    }
    await waitForLife();
  }
}


/**
 * A writer in plain SQL: per transaction a session with a failed attempt and
 * its retry that completed; every third transaction soft-deletes the session
 * the previous one wrote. The COMMIT that returned is the acknowledgement.
 */
async function sqlWriter(writer: number, coach: BillingCoach, rate: Rate): Promise<void> {
  // The session the previous transaction wrote, and its attempts (a soft delete of a session soft-deletes its attempts).
  let previous: string[] | null = null;
  for (let i = 0; !stopping; i++) {
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("begin");
      const { rows: [session] } = await client.query(
        `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
         values ($1, $2, '2026-11-02T10:00:00Z', 'recordings/fault.m4a', 900) returning id`, [coach.clientId, `sql ${writer}-${i}`]);
      const attempt = (status: string, seconds: number | null, retryOf: string | null) => client.query(
        `insert into app_public.transcriptions (session_id, provider, model, language, status, billed_duration_seconds, started_at, finished_at, retry_of)
         values ($1, $2, $3, 'en', $4, $5, '2026-11-02T11:00:00Z', '2026-11-02T11:05:00Z', $6) returning id`,
        [session.id, rate.provider, rate.model, status, seconds, retryOf]).then((result) => result.rows[0].id as string);
      const failed = await attempt("failed", null, null);
      const retried = await attempt("completed", 840, failed);
      const softDeleted: string[] | null = i % 3 === 2 && previous ? previous : null;
      if (softDeleted) await client.query("delete from app_public.coaching_sessions where id = $1", [softDeleted[0]]);
      await client.query("commit");
      acknowledge(writer, [
        [`coaching_sessions/${session.id}`, ["INSERT"]],
        [`transcriptions/${failed}`, ["INSERT"]],
        [`transcriptions/${retried}`, ["INSERT"]],
        ...(softDeleted ?? []).map((id, n): [string, string[]] => [`${n === 0 ? "coaching_sessions" : "transcriptions"}/${id}`, ["SOFT_DELETE"]]),
      ], [failed, retried]);
      previous = softDeleted ? null : [session.id, failed, retried];
    } catch {
      ledger.inDoubt++;
    } finally {
      await client.end().catch(() => undefined);
    }
    await waitForLife();
  }
}

/** Between writes, while the database is down, a writer waits until it answers again (without spinning). */
let databaseBack: Promise<void> = Promise.resolve();
const waitForLife = () => databaseBack;

test("kill -9 of PostgreSQL under a write load: every acknowledged write is there whole with its audit events and usage, nothing half-done, the server and worker carry on", async () => {
  const plan = await createPlan(db);
  const rate = await createRates(db, [{ costPerMinuteMinor: "0.5" }]);
  const coaches = await Promise.all([0, 1].map((i) => createBillingCoach(db, plan.id, `pg-kill-${i}`)));

  server = await startCli(["start"], env, /GraphQL\s+(http:\S+)\/graphql/);
  const apiUrl = server.match[1]!;
  worker = await startWorkerProcess(env);

  const writers = [
    graphqlWriter(0, coaches[0]!, apiUrl),
    graphqlWriter(1, coaches[1]!, apiUrl),
    sqlWriter(2, coaches[0]!, rate),
    sqlWriter(3, coaches[1]!, rate),
  ];
  await waitFor("each writer has writes acknowledged", async () => [0, 1, 2, 3].every((w) => (ledger.beforeKill[w] ?? 0) >= 5));
  // A transaction open as the database dies: it never committed, so none of it may be there after.
  const inFlight = new pg.Client({ connectionString: env.DATABASE_URL });
  inFlight.on("error", () => undefined);
  await inFlight.connect();
  await inFlight.query("begin");
  const { rows: [uncommitted] } = await inFlight.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'in flight', '2026-11-02T10:00:00Z', 'recordings/fault.m4a', 900) returning id`, [coaches[0]!.clientId]);

  // Writes tried while it is down get no acknowledgement; after one, a writer waits until the database is back.
  let back!: () => void;
  databaseBack = new Promise((resolve) => (back = resolve));
  const token = await login(coaches[0]!.user.email, USER_PASSWORD, apiUrl);
  await killPostgres();
  // Meanwhile the API says so: a 503 with Retry-After in words, through GraphQL and REST, nothing of its internals.
  for (const [route, init] of [
    ["/graphql", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query: "{ currentUser { role } }" }) }],
    ["/api/v1/usage", { headers: { authorization: `Bearer ${token}` } }],
  ] as const) {
    const response = await fetch(`${apiUrl}${route}`, init);
    const body = await response.text();
    expect({ route, status: response.status, retryAfter: response.headers.get("retry-after") }).toEqual({ route, status: 503, retryAfter: "5" });
    expect(body).toContain("The database cannot be reached right now (it may be restarting); try again in a few seconds.");
    expect(body).not.toMatch(/ECONNREFUSED|at \/|node_modules|\.ts:/);
  }
  const acknowledgedBefore = ledger.records.size;
  await cluster.stop();
  cluster = await startEmbeddedPostgres(path.join(folder, "pg"), PASSWORD, port);
  restarted = true;
  back();
  await inFlight.end().catch(() => undefined);

  // The same server and worker processes: neither exited, and both serve again.
  await waitFor("every writer has a write acknowledged after the restart", async () => [0, 1, 2, 3].every((w) => (ledger.sinceRestart[w] ?? 0) >= 3));
  stopping = true;
  await Promise.all(writers);
  expect({ server: server.child.exitCode, worker: worker.child.exitCode }).toEqual({ server: null, worker: null });
  expect(ledger.records.size).toBeGreaterThan(acknowledgedBefore);
  // The worker's presence session came back by itself: the pool is registered and alive, so none of its jobs is taken for a dead pool's.
  await waitFor("the worker's pool registered again", async () => (await db.query(
    `select 1 from app_private.worker_pools p join pg_stat_activity a on a.application_name = app_private.worker_presence_name(p.pool_id)
     where p.pool_id = $1`, [worker.poolId])).rowCount === 1);
  expect((await db.query("select count(*)::int as n from app_public.coaching_sessions where id = $1", [uncommitted.id])).rows[0].n).toBe(0);
  expect((await db.query("select count(*)::int as n from audit.events where record_key ->> 'id' = $1", [uncommitted.id])).rows[0].n).toBe(0);

  // Every acknowledged record is there, with exactly its audit events.
  const keys = [...ledger.records.keys()];
  const { rows: present } = await db.query<{ key: string; operations: string[] }>(
    `select k.key, coalesce((select array_agg(e.operation::text order by e.id) from audit.events e
              where e.table_schema = 'app_public' and e.table_name = split_part(k.key, '/', 1) and e.record_key ->> 'id' = split_part(k.key, '/', 2)), '{}') as operations
     from unnest($1::text[]) k(key)
     where exists (select 1 from app_public.coaching_sessions s where 'coaching_sessions/' || s.id = k.key)
        or exists (select 1 from app_public.transcriptions t where 'transcriptions/' || t.id = k.key)`, [keys]);
  const found = new Map(present.map((row) => [row.key, row.operations]));
  const missing = keys.filter((key) => !found.has(key));
  expect(missing).toEqual([]);
  for (const key of keys) expect({ key, operations: found.get(key) }).toEqual({ key, operations: ledger.records.get(key) });

  // Nothing half-done: every SQL writer's session (acknowledged or in doubt) has both its attempts, or is not there.
  const { rows: partial } = await db.query(
    `select s.title, count(t.id)::int as attempts from app_public.coaching_sessions s
     left join app_public.transcriptions t on t.session_id = s.id
     where s.title like 'sql %' group by s.id, s.title having count(t.id) <> 2`);
  expect(partial).toEqual([]);

  // Every terminal attempt has exactly one usage record; the worker's rating job resumes, and each becomes one charge.
  const terminal = [...ledger.terminalAttempts];
  // Attempts without exactly one usage record, queued or already rated (the worker's crontab may have rated some).
  const notOnce = async (from: string) => (await db.query(
    `select a.id from unnest($1::uuid[]) a(id) where (select count(*) from (${from}) u where u.transcription_id = a.id) <> 1`, [terminal])).rows;
  expect(await notOnce("select transcription_id from app_private.usage_records union all select transcription_id from app_public.usage_events")).toEqual([]);
  await waitUntilJobDone(db, await addCrontabJob(db, "usage_rate"));
  expect(await notOnce("select transcription_id from app_public.usage_events")).toEqual([]);
  expect((await db.query("select count(*)::int as n from app_private.usage_records where transcription_id = any ($1)", [terminal])).rows[0].n).toBe(0);
  expect(await reconcileDifferences(db)).toEqual([]);

  await waitUntilJobDone(db, await addCrontabJob(db, "audit_seal"));
  expect(await runCli(["audit", "verify"], env)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Audit trail intact: /) });
}, 90_000);
