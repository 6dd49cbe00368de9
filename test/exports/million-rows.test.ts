import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { migrate } from "../../src/db/migrate.ts";
import { runCli, startCli, type RunningCli } from "../support/cli.ts";
import { TEST_AUTHENTICATOR_PASSWORD, testEnvironment } from "../support/environment.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";
import { PASSWORD, createUser, type User } from "../support/fixtures.ts";
import { login } from "../support/http.ts";

// A million audit events, streamed whole through the real HTTP server and
// through `custodian export`, each in bounded memory. The events are made in
// one generate_series statement in a database of this file's own, in a
// pinned month (January 2001), and read back by a server of its own, whose
// memory the test samples from /proc while the download runs.

const ROWS = 1_000_000;
const range = { occurred_from: "2001-01-01T00:00:00Z", occurred_before: "2001-02-01T00:00:00Z" };
/** How much the server's resident memory may grow while a whole export passes through it. */
const MEMORY_BOUND_MB = 150;
/** How much it may grow after the first quarter of the export: constant memory is a plateau, whatever follows. */
const LATE_GROWTH_MB = 60;
/**
 * The server and the command run with a smaller heap than Node's default (gigabytes), so that
 * its garbage is collected long before the export is through: anything the
 * export kept would exhaust it, and what is measured is what the export
 * holds, not how lazily V8 collects.
 */
const SERVER_HEAP_MB = 256;

let scratch: ScratchDatabase;
let server: RunningCli & { match: RegExpMatchArray };
let apiUrl: string;
let token: string;
let admin: User;

/** Resident memory of a process, in MB, from /proc (Linux). */
function residentMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Samples a process's resident memory every 50 ms until stopped, each sample with how far the download was then. */
function sampleMemory(pid: number, progress: () => number): { stop: () => Array<{ progress: number; mb: number }> } {
  const samples = [{ progress: progress(), mb: residentMb(pid) }];
  const timer = setInterval(() => {
    try {
      samples.push({ progress: progress(), mb: residentMb(pid) });
    } catch {
      // the process has exited
    }
  }, 50);
  return { stop: () => (clearInterval(timer), samples) };
}

/** Counts the lines of a streamed body without keeping it. */
async function countLines(body: AsyncIterable<Uint8Array>, onLines?: (lines: number) => void): Promise<{ lines: number; bytes: number; first: string }> {
  let lines = 0;
  let bytes = 0;
  let first = "";
  for await (const chunk of body) {
    bytes += chunk.length;
    if (first.length < 2000) first += Buffer.from(chunk).toString("utf8", 0, Math.min(chunk.length, 2000));
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    onLines?.(lines);
  }
  return { lines, bytes, first };
}

/** The export's backends in the scratch database that still hold its cursor's transaction. */
async function exportBackends(client: pg.Client): Promise<number[]> {
  const { rows } = await client.query(
    `select pid from pg_stat_activity
     where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle' and query ~ 'rows_out'`);
  return rows.map((row) => row.pid);
}

beforeAll(async () => {
  scratch = await openScratchDatabase();
  await migrate(scratch.url, TEST_AUTHENTICATOR_PASSWORD);
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  try {
    await client.query(
      `insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, actor_kind, database_role)
       select timestamptz '2001-01-01' + g * interval '2 seconds', '1'::xid8, 'app_public', 'clients', jsonb_build_object('id', g),
         'INSERT', jsonb_build_object('note', 'bulk, "quoted"'), 'system', 'custodian_owner'
       from generate_series(1, $1::integer) g`, [ROWS]);
    await client.query("analyze audit.events");
    admin = await createUser(client, "admin", "million-rows");
  } finally {
    await client.end();
  }
  server = await startCli(["start"], testEnvironment({ DATABASE_URL: scratch.url, PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!,
    NODE_OPTIONS: `--max-old-space-size=${SERVER_HEAP_MB}` }),
    /GraphQL\s+(http:\S+)\/graphql/);
  apiUrl = server.match[1]!;
  token = await login(admin.email, PASSWORD, apiUrl);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await scratch?.drop();
});

test("a million audit events stream whole through the HTTP server and through custodian export, each process's memory growing by less than the bound, every row there", async () => {
  const started = Date.now();
  const pid = server.child.pid!;
  // Warm the server's code paths first, so that what grows is the export alone.
  const warm = await fetch(`${apiUrl}/api/v1/exports/audit-events?occurred_from=2001-01-01T00:00:00Z&occurred_before=2001-01-01T00:01:00Z`,
    { headers: { authorization: `Bearer ${token}` } });
  expect((await countLines(warm.body! as AsyncIterable<Uint8Array>)).lines).toBe(29);
  const serverBefore = residentMb(pid);
  let linesSoFar = 0;
  const serverMemory = sampleMemory(pid, () => linesSoFar / ROWS);

  const out = path.join(process.env.TEST_TMP_DIR!, `million-${process.pid}.csv`);
  // Both at once: the command reads the database itself, not through the server.
  let commandMemory!: ReturnType<typeof sampleMemory>;
  const command = runCli(["export", "audit-events", "--from", "2001-01-01", "--to", "2001-02-01", "--format", "csv", "--out", out],
    testEnvironment({ DATABASE_URL: scratch.url, DATA_DIR: process.env.TEST_TMP_DIR!, NODE_OPTIONS: `--max-old-space-size=${SERVER_HEAP_MB}` }),
    (child) => {
      // How far the command is, from the decile lines it prints on stderr: its start-up is not its first quarter.
      let done = 0;
      child.stderr!.on("data", (chunk: Buffer) => {
        for (const match of chunk.toString().matchAll(/Exporting audit-events: (\d+)%/g)) done = Number(match[1]) / 100;
      });
      commandMemory = sampleMemory(child.pid!, () => done);
    });
  const response = await fetch(`${apiUrl}/api/v1/exports/audit-events?${new URLSearchParams(range)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-disposition")).toBe(
    'attachment; filename="audit-events_2001-01-01T00-00-00Z_2001-02-01T00-00-00Z.jsonl"');
  const http = await countLines(response.body! as AsyncIterable<Uint8Array>, (lines) => (linesSoFar = lines));
  const httpSeconds = (Date.now() - started) / 1000;
  const samples = serverMemory.stop();
  const serverPeak = Math.max(...samples.map((sample) => sample.mb));
  const firstQuarterPeak = Math.max(...samples.filter((sample) => sample.progress <= 0.25).map((sample) => sample.mb));

  const result = await command;
  const commandSeconds = (Date.now() - started) / 1000;
  // The command's samples carry the last decile it printed: up to its 20% line is under 30% of the rows.
  const commandSamples = commandMemory.stop();
  const commandPeak = Math.max(...commandSamples.map((sample) => sample.mb));
  const commandFirstQuarterPeak = Math.max(...commandSamples.filter((sample) => sample.progress <= 0.2).map((sample) => sample.mb));
  expect({ code: result.code, stderr: result.stderr.split("\n").filter((line) => !/^Exporting audit-events: \d+%/.test(line)).join("\n") })
    .toEqual({ code: 0, stderr: "" });
  expect(result.stdout).toBe(`Wrote ${ROWS} rows of audit-events (csv) to ${out}.\n`);
  const file = await countLines(fs.createReadStream(out));
  fs.rmSync(out);

  const report = {
    rows: ROWS, httpSeconds, commandSeconds, httpMegabytes: Math.round(http.bytes / 1e6), fileMegabytes: Math.round(file.bytes / 1e6),
    serverBeforeMb: Math.round(serverBefore), serverFirstQuarterPeakMb: Math.round(firstQuarterPeak), serverPeakMb: Math.round(serverPeak),
    commandFirstQuarterPeakMb: Math.round(commandFirstQuarterPeak), commandPeakMb: Math.round(commandPeak),
  };
  process.stderr.write(`million-row export: ${JSON.stringify(report)}\n`);
  // Every row, once: JSON Lines one a line; CSV a header, then one a line.
  expect(http.lines).toBe(ROWS);
  expect(JSON.parse(http.first.split("\n")[0]!)).toMatchObject({
    occurredAt: "2001-01-01T00:00:02+00:00", tableName: "clients", recordKey: { id: 1 }, newValues: { note: 'bulk, "quoted"' },
  });
  expect(file.lines).toBe(ROWS + 1);
  expect(file.first.split("\r\n")[1]).toMatch(/^\d+,2001-01-01T00:00:02\+00:00,app_public,clients,"\{""id"": 1\}",INSERT,/);
  // Hundreds of megabytes passed through a server that grew by far less.
  expect(http.bytes).toBeGreaterThan(MEMORY_BOUND_MB * 3 * 1e6);
  expect(serverPeak - serverBefore).toBeLessThan(MEMORY_BOUND_MB);
  expect(serverPeak - firstQuarterPeak).toBeLessThan(LATE_GROWTH_MB);
  // The command holds one batch too, whatever the file's size: a plateau as well.
  expect(commandPeak - commandFirstQuarterPeak).toBeLessThan(LATE_GROWTH_MB);
}, 240_000);

test("EXPLAIN: the queries the exports stream from hold no sort of the whole range (a merge of the audit partitions' id indexes; usage events a day at a time)", async () => {
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'custodian_admin', true), set_config('jwt.claims.user_id', $1, true), set_config('jwt.claims.role', 'admin', true)", [admin.id]);
    const plan = async (sql: string, params: unknown[]) =>
      (await client.query(`explain (format json) ${sql}`, params)).rows[0]["QUERY PLAN"][0].Plan as PlanNode;
    const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];
    const audit = await plan(
      "select * from app_public.audit_events(null, null, null, null, null, $1, $2) order by id", [range.occurred_from, range.occurred_before]);
    expect(nodes(audit).filter((node) => node["Node Type"] === "Sort")).toEqual([]);
    expect(nodes(audit).some((node) => node["Node Type"] === "Merge Join")).toBe(true);
    const usage = await plan("select * from app_private.usage_events_export($1, $2, null)", ["2001-01-01", "2001-02-01"]);
    const loop = nodes(usage).find((node) => node["Node Type"] === "Nested Loop")!;
    // Above the loop over the days, nothing sorts; under it, each day is sorted on its own.
    expect(nodes(usage).slice(0, nodes(usage).indexOf(loop)).map((node) => node["Node Type"])).not.toContain("Sort");
    expect(loop.Plans!.map((node) => [node["Node Type"], node["Function Name"] ?? null])).toEqual([["Function Scan", "generate_series"], ["Sort", null]]);
  } finally {
    await client.query("rollback");
    await client.end();
  }
});

interface PlanNode {
  "Node Type": string;
  "Function Name"?: string;
  Plans?: PlanNode[];
}

test("a client that goes away mid-export frees the server's database connection: its transaction ends", async () => {
  const watcher = new pg.Client({ connectionString: scratch.url });
  await watcher.connect();
  try {
    const abort = new AbortController();
    const response = await fetch(`${apiUrl}/api/v1/exports/audit-events?${new URLSearchParams(range)}`, {
      headers: { authorization: `Bearer ${token}` }, signal: abort.signal,
    });
    const reader = response.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    // The reader stops reading: the server waits on it, its cursor open.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = await exportBackends(watcher);
    expect(during).toHaveLength(1);
    abort.abort();
    await reader.cancel().catch(() => undefined);
    const until = Date.now() + 10_000;
    let after = during;
    while (after.length > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await exportBackends(watcher);
    }
    expect(after).toEqual([]);
    // The connection went back to the pool, and the server still answers.
    const again = await fetch(`${apiUrl}/api/v1/exports/audit-events?occurred_from=2001-01-01T00:00:00Z&occurred_before=2001-01-01T00:00:10Z`,
      { headers: { authorization: `Bearer ${token}` } });
    expect((await countLines(again.body! as AsyncIterable<Uint8Array>)).lines).toBe(4);
  } finally {
    await watcher.end();
  }
}, 60_000);
