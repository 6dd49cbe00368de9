// What the audit trail costs writers, and how fast sealing keeps up. On a
// scratch database (DATABASE_URL's server, else a throwaway embedded
// PostgreSQL), N concurrent clients run one-statement transactions for a
// fixed time under three designs, interleaved round by round so that noise
// from the machine falls on all of them alike: untracked, tracked (the
// statement-level capture of migrations/committed/000004-audit-trail.sql)
// and row_jsonb (a per-row full-row trigger, supa_audit's design). Then one
// 100k-row UPDATE untracked vs tracked, and sealing of every pending event.
// Every figure is a ratio against a baseline from the same run. Prints one
// JSON line last.
//
// BENCH_SECONDS (default 5) per measurement, BENCH_ROUNDS (default 2).
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { sealPendingEvents } from "../src/audit/seal.ts";
import { UserError } from "../src/errors.ts";
import { connectAsOwner, createScratchDatabase, median, progressOf, runBench, type Teardown } from "./scratch-database.ts";
import { measureTps, type Worker } from "./throughput.ts";

const clientCount = 4;
const variants = ["untracked", "tracked", "row_jsonb"] as const;
type Variant = (typeof variants)[number];

interface Settings {
  seconds: number;
  rounds: number;
}

/** A table the workloads write, with the audit configuration it gets when tracked (as its migration has it). */
interface BenchTable {
  table: string;
  ownerColumn: string | null;
  subjectColumn: string | null;
}

const accountsTable: BenchTable = { table: "bench.accounts", ownerColumn: null, subjectColumn: null };
const clientsTable: BenchTable = { table: "app_public.clients", ownerColumn: "coach_profile_id", subjectColumn: "id" };

interface Workload extends BenchTable {
  name: string;
  statement(worker: Worker): pg.QueryConfig;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const seconds = Number(env.BENCH_SECONDS || 5);
  const rounds = Number(env.BENCH_ROUNDS || 2);
  if (!(seconds > 0)) throw new UserError(`BENCH_SECONDS must be a positive number (got "${env.BENCH_SECONDS}").`);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new UserError(`BENCH_ROUNDS must be a whole number from 1 (got "${env.BENCH_ROUNDS}").`);
  }
  return { seconds, rounds };
}

const progress = progressOf("audit");

// Fixtures and workloads -----------------------------------------------------------

interface Fixtures {
  coachProfileId: string;
  clientIds: string[];
}

async function loadFixtures(admin: pg.Client): Promise<Fixtures> {
  progress("setting up bench.accounts (100k rows), row_audit and 10k clients");
  await admin.query(fs.readFileSync(path.join(import.meta.dirname, "audit-setup.sql"), "utf8"));
  await admin.query("vacuum analyze bench.accounts, app_public.clients");
  const profile = await admin.query<{ id: string }>(
    "select id from app_public.coach_profiles where display_name = 'Bench Coach'",
  );
  const clients = await admin.query<{ id: string }>(
    "select id from app_public.clients where coach_profile_id = $1",
    [profile.rows[0]!.id],
  );
  return { coachProfileId: profile.rows[0]!.id, clientIds: clients.rows.map((row) => row.id) };
}

const seededAccounts = 100_000;
/** Inserted accounts get ids per worker far above the seeded ones, so that no two inserts collide. */
const insertedIdsPerWorker = 100_000_000;

function randomOf<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function workloads({ coachProfileId, clientIds }: Fixtures): Workload[] {
  // A note that differs on every write, so that every update changes the row.
  const note = (worker: Worker) => `Session ${worker.index}.${worker.sent}: reviewed goals and agreed next steps.`;
  return [
    {
      name: "accounts_update",
      ...accountsTable,
      statement: () => ({
        name: "accounts_update",
        text: "update bench.accounts set balance = balance + $1 where id = $2",
        values: [1 + Math.floor(Math.random() * 100), 1 + Math.floor(Math.random() * seededAccounts)],
      }),
    },
    {
      name: "accounts_insert",
      ...accountsTable,
      statement: (worker) => ({
        name: "accounts_insert",
        text: "insert into bench.accounts (id, balance, filler) values ($1, 0, $2)",
        values: [1_000_000 + worker.index * insertedIdsPerWorker + worker.sent, note(worker).padEnd(80, ".")],
      }),
    },
    {
      name: "clients_update",
      ...clientsTable,
      statement: (worker) => ({
        name: "clients_update",
        text: "update app_public.clients set notes = $1 where id = $2",
        values: [note(worker), randomOf(clientIds)],
      }),
    },
    {
      name: "clients_insert",
      ...clientsTable,
      statement: (worker) => ({
        name: "clients_insert",
        text: "insert into app_public.clients (coach_profile_id, full_name, email, notes) values ($1, $2, $3, $4)",
        values: [
          coachProfileId,
          `New Client ${worker.index}.${worker.sent}`,
          `new${worker.index}.${worker.sent}@bench.example.net`,
          note(worker),
        ],
      }),
    },
  ];
}

// Measuring ------------------------------------------------------------------------

async function useVariant(admin: pg.Client, { table, ownerColumn, subjectColumn }: BenchTable, variant: Variant) {
  await admin.query("select bench.use_variant($1, $2, $3, $4)", [table, variant, ownerColumn, subjectColumn]);
}

/** Transactions per second of all workers together, each sending its next statement as soon as the last one committed. */
const ratio = (value: number, baseline: number) => +(value / baseline).toFixed(3);

async function benchWorkload(admin: pg.Client, workers: Worker[], workload: Workload, settings: Settings) {
  const tps: Record<Variant, number[]> = { untracked: [], tracked: [], row_jsonb: [] };
  // A short unreported run first: the first measurement would otherwise also
  // pay for cold caches and the workers' first plans.
  await useVariant(admin, workload, "untracked");
  await measureTps(workers, Math.min(1, settings.seconds), workload.statement);
  for (let round = 1; round <= settings.rounds; round++) {
    for (const variant of variants) {
      await useVariant(admin, workload, variant);
      // The same start for every variant: no dead rows left by the one before.
      await admin.query(`vacuum analyze ${workload.table}`);
      const measured = await measureTps(workers, settings.seconds, workload.statement);
      tps[variant].push(measured);
      progress(`${workload.name} round ${round} ${variant}: ${Math.round(measured)} tps`);
    }
  }
  const [untracked, tracked, rowJsonb] = variants.map((variant) => median(tps[variant])) as [number, number, number];
  return {
    untracked_tps: Math.round(untracked),
    tracked_tps: Math.round(tracked),
    row_jsonb_tps: Math.round(rowJsonb),
    tracked_ratio: ratio(tracked, untracked),
    row_jsonb_ratio: ratio(rowJsonb, untracked),
  };
}

/**
 * After each workload its table is as the next part expects: accounts
 * untracked with only the seeded rows, clients tracked as migrated.
 */
async function restoreTable(admin: pg.Client, workload: Workload) {
  if (workload.table === accountsTable.table) {
    await useVariant(admin, workload, "untracked");
    await admin.query("delete from bench.accounts where id > $1", [seededAccounts]);
  } else {
    await useVariant(admin, workload, "tracked");
  }
  await admin.query(`vacuum analyze ${workload.table}`);
}

async function timeBulkUpdate(admin: pg.Client, variant: Variant): Promise<number> {
  await useVariant(admin, accountsTable, variant);
  await admin.query("vacuum analyze bench.accounts");
  const started = performance.now();
  await admin.query("update bench.accounts set balance = balance + 1");
  return performance.now() - started;
}

/** One UPDATE of every seeded account, untracked and tracked alternately, 3 times each. */
async function benchBulkUpdate(admin: pg.Client) {
  const times: Record<"untracked" | "tracked", number[]> = { untracked: [], tracked: [] };
  for (let run = 1; run <= 3; run++) {
    for (const variant of ["untracked", "tracked"] as const) {
      const ms = await timeBulkUpdate(admin, variant);
      times[variant].push(ms);
      progress(`bulk update run ${run} ${variant}: ${Math.round(ms)} ms`);
    }
  }
  const untracked = median(times.untracked);
  const tracked = median(times.tracked);
  return { untracked_ms: Math.round(untracked), tracked_ms: Math.round(tracked), ratio: ratio(tracked, untracked) };
}

async function pendingEvents(admin: pg.Client): Promise<number> {
  const { rows } = await admin.query<{ pending: number }>(
    "select count(*)::int as pending from audit.events where id > coalesce((select max(last_event_id) from audit.seals), 0)",
  );
  return rows[0]!.pending;
}

const minimumPendingEvents = 200_000;

/** Seals every pending event, after topping them up with tracked bulk updates so that the backlog is large. */
async function benchSealing(admin: pg.Client) {
  while ((await pendingEvents(admin)) < minimumPendingEvents) await timeBulkUpdate(admin, "tracked");
  progress(`sealing ${await pendingEvents(admin)} pending events`);
  const started = performance.now();
  const { sealed, horizon } = await sealPendingEvents(admin);
  const seconds = (performance.now() - started) / 1000;
  if (horizon === null) throw new Error("Sealing found transactions still running after 10 seconds.");
  progress(`sealed ${sealed} events in ${seconds.toFixed(1)} s`);
  return { events: sealed, seconds: +seconds.toFixed(3), events_per_second: Math.round(sealed / seconds) };
}

// Main -------------------------------------------------------------------------------

async function main(settings: Settings, teardown: Teardown) {
  const started = performance.now();
  const databaseUrl = await createScratchDatabase(teardown, progress);
  const admin = await connectAsOwner(databaseUrl, teardown);
  const fixtures = await loadFixtures(admin);
  const workers: Worker[] = [];
  for (let index = 0; index < clientCount; index++) {
    workers.push({ client: await connectAsOwner(databaseUrl, teardown), index, sent: 0 });
  }

  const results: Record<string, unknown> = {};
  for (const workload of workloads(fixtures)) {
    results[workload.name] = await benchWorkload(admin, workers, workload, settings);
    await restoreTable(admin, workload);
  }
  results.bulk_update_100k = await benchBulkUpdate(admin);
  results.sealing = await benchSealing(admin);
  const totalSeconds = Math.round((performance.now() - started) / 1000);
  const { seconds, rounds } = settings;
  return { bench: "audit", clients: clientCount, seconds, rounds, ...results, total_seconds: totalSeconds };
}

const settings = readSettings(process.env);
await runBench(progress, (teardown) => main(settings, teardown));
