// Retention at volume. On a scratch database (DATABASE_URL's server, else a
// throwaway embedded PostgreSQL) with the demo data of `custodian seed --demo
// --scale 1`: BENCH_ROWS soft-deleted transcriptions past the 90-day period of
// the shipped soft_deleted_transcriptions policy (written in bulk with the
// triggers off, as a history would have left them), and one month of old
// audit events (BENCH_AUDIT_EVENTS), sealed. Then:
//   - a concurrent single-row writer (a transcription inserted, then its
//     language changed, each its own transaction, through every trigger) runs
//     alone for BENCH_WRITER_SECONDS, then again while the retention run
//     archives and removes the expired rows: the p99 of its transactions
//     during the run against before (the ratio);
//   - the run's rows per second (archived, verified by reading back, then
//     removed through the governed hard delete) and the archive's size per
//     million rows;
//   - removing the month of audit events by partition (archived with its
//     seals, then detached and dropped) against deleting the same rows from
//     a copy of the partition with the same indexes (the trail itself refuses
//     DELETE), timed on their own and the ratio.
// Prints one JSON line last.
//
// BENCH_ROWS (1,000,000), BENCH_AUDIT_EVENTS (500,000), BENCH_WRITER_SECONDS
// (10), BENCH_BATCH (the runner's default). BENCH_QUICK=1 runs a small size
// (50,000 rows, 50,000 events, 3 s) in about a minute.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { localDirectoryStore } from "../src/archive/store.ts";
import { sealPendingEvents } from "../src/audit/seal.ts";
import { UserError } from "../src/errors.ts";
import { archiveAndDropAuditPartition } from "../src/retention/audit-partitions.ts";
import { runRetention, type RunSummary } from "../src/retention/run.ts";
import { seedDemo } from "../src/seed/seed-demo.ts";
import { connectAsOwner, createScratchDatabase, progressOf, runBench, timed, type Teardown } from "./scratch-database.ts";

const progress = progressOf("retention");

interface Settings {
  rows: number;
  auditEvents: number;
  writerSeconds: number;
  batch: number | undefined;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const quick = env.BENCH_QUICK === "1";
  const number = (name: string, fallback: number) => {
    const value = Number(env[name] || fallback);
    if (!(Number.isInteger(value) && value > 0)) throw new UserError(`${name} must be a positive whole number (got "${env[name]}").`);
    return value;
  };
  return {
    rows: number("BENCH_ROWS", quick ? 50_000 : 1_000_000),
    auditEvents: number("BENCH_AUDIT_EVENTS", quick ? 50_000 : 500_000),
    writerSeconds: number("BENCH_WRITER_SECONDS", quick ? 3 : 10),
    batch: env.BENCH_BATCH ? number("BENCH_BATCH", 2000) : undefined,
  };
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

function percentile(values: number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] ?? 0;
}

// The month of old audit events: long past the shipped 7-year period.
const oldMonth = "2018-01-01";

/** Old audit events with ids below every other (as if the trail had existed then), so that they are sealed first. */
async function writeOldAuditMonth(owner: pg.Client, count: number): Promise<void> {
  await owner.query("select audit.create_month_partition('audit.events', $1::date)", [oldMonth]);
  for (let written = 0; written < count; written += 100_000) {
    await owner.query(
      `insert into audit.events (id, occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, actor_kind)
       overriding system value
       select -$1::bigint + g, $2::timestamptz + (g * interval '1 second' * 2592000 / $1::bigint), '1'::xid8, 'app_public', 'clients',
              jsonb_build_object('id', g), 'INSERT', jsonb_build_object('id', g, 'notes', pg_catalog.md5(g::text)), 'system'
       from generate_series($3::bigint + 1, $4::bigint) g`,
      [count, `${oldMonth} 00:00:00+00`, written, Math.min(count, written + 100_000)],
    );
  }
}

/** Expired soft-deleted transcriptions spread over the demo's sessions, with a transcript each, written with the triggers off. */
async function writeExpiredTranscriptions(root: pg.Client, count: number): Promise<void> {
  await root.query("set session_replication_role = replica");
  try {
    for (let written = 0; written < count; written += 100_000) {
      await root.query(
        `with sessions as (select s.id, s.coach_profile_id, pg_catalog.row_number() over (order by s.id) - 1 as n from app_public.coaching_sessions s),
              total as (select pg_catalog.count(*) as n from sessions)
         insert into app_public.transcriptions (session_id, coach_profile_id, status, provider, model, language, billed_duration_seconds,
           transcript_text, started_at, finished_at, created_at, updated_at, is_deleted, deleted_at, deletion_batch_id)
         select s.id, s.coach_profile_id, 'completed', 'openai', 'whisper-1', 'en', 600 + g % 1800,
           pg_catalog.repeat(pg_catalog.md5(g::text) || ' ', 8), t - interval '1 hour', t, t - interval '1 hour', t, true, t + interval '1 day', public.gen_random_uuid()
         from generate_series($1::bigint + 1, $2::bigint) g
         cross join total
         join sessions s on s.n = g % total.n
         cross join lateral (select timestamptz '2025-01-01 00:00:00+00' + g * interval '13 seconds' as t) times`,
        [written, Math.min(count, written + 100_000)],
      );
    }
  } finally {
    await root.query("set session_replication_role = origin");
  }
  await root.query("vacuum analyze app_public.transcriptions");
}

/**
 * The concurrent writer: a transcription of a live session inserted, then its
 * language changed, each in its own transaction through every trigger (consent,
 * audit capture); the milliseconds of each, until `stop` says so.
 */
async function runWriter(url: string, sessionId: string, stop: () => boolean): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const latencies: number[] = [];
  try {
    while (!stop()) {
      let started = performance.now();
      const { rows } = await client.query<{ id: string }>(
        "insert into app_public.transcriptions (session_id, provider, model, language) values ($1, 'openai', 'whisper-1', 'en') returning id",
        [sessionId],
      );
      latencies.push(performance.now() - started);
      started = performance.now();
      await client.query("update app_public.transcriptions set language = 'pt-BR' where id = $1", [rows[0]!.id]);
      latencies.push(performance.now() - started);
    }
  } finally {
    await client.end();
  }
  return latencies;
}

/** A live session whose client consented to transcription: the writer's. */
async function writableSession(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>("select id from app_public.coaching_sessions where deleted_at is null order by id");
    for (const { id } of rows) {
      try {
        await client.query("begin");
        await client.query("insert into app_public.transcriptions (session_id, provider, model, language) values ($1, 'openai', 'whisper-1', 'en')", [id]);
        return id;
      } catch {
        // no consent for this session's client: try the next
      } finally {
        await client.query("rollback");
      }
    }
    throw new Error("no demo session accepts a transcription");
  } finally {
    await client.end();
  }
}

/** Times the calls of `client.query` whose text matches `pattern` (the drop inside archiveAndDropAuditPartition) while `work` runs. */
async function timingStatements(client: pg.Client, pattern: RegExp, work: () => Promise<void>): Promise<number> {
  let total = 0;
  const original = client.query;
  const query = original.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args: unknown[]) => {
    const text = typeof args[0] === "string" ? args[0] : "";
    if (!pattern.test(text)) return query(...args);
    const started = performance.now();
    try {
      return await query(...args);
    } finally {
      total += performance.now() - started;
    }
  };
  try {
    await work();
  } finally {
    client.query = original;
  }
  return total;
}

async function main(settings: Settings, teardown: Teardown) {
  const started = performance.now();
  const databaseUrl = await createScratchDatabase(teardown, progress);
  const owner = await connectAsOwner(databaseUrl, teardown);
  const root = new pg.Client({ connectionString: databaseUrl });
  await root.connect();
  teardown.defer(() => root.end());
  if (process.env.BENCH_LOG_SLOW) {
    await root.query(`alter system set log_min_duration_statement = ${Number(process.env.BENCH_LOG_SLOW)}`);
    await root.query("select pg_catalog.pg_reload_conf()");
  }
  const archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-bench-archive-"));
  teardown.defer(async () => fs.rmSync(archiveDir, { recursive: true, force: true }));
  const store = localDirectoryStore(archiveDir);

  progress(`writing ${settings.auditEvents} audit events of ${oldMonth.slice(0, 7)}`);
  await writeOldAuditMonth(owner, settings.auditEvents);
  progress("seeding the demo");
  await seedDemo(databaseUrl, 1, false);
  progress("sealing the trail");
  await sealPendingEvents(owner, 30);
  progress(`writing ${settings.rows} expired soft-deleted transcriptions`);
  await writeExpiredTranscriptions(root, settings.rows);
  const { rows: [size] } = await root.query<{ size: string }>("select pg_catalog.pg_size_pretty(pg_catalog.pg_database_size(current_database())) as size");

  // The writer alone, then during the run.
  const session = await writableSession(databaseUrl);
  progress(`the writer alone for ${settings.writerSeconds} s`);
  const until = Date.now() + settings.writerSeconds * 1000;
  const before = await runWriter(databaseUrl, session, () => Date.now() >= until);
  progress("the retention run, with the writer");
  let running = true;
  const during = runWriter(databaseUrl, session, () => !running);
  let summary: RunSummary | undefined;
  const runMs = await timed(async () => {
    try {
      summary = await runRetention(owner, store, {
        policy: "soft_deleted_transcriptions",
        dryRun: false,
        asOf: null,
        task: "bench:retention",
        batchSize: settings.batch,
      });
    } finally {
      running = false;
    }
  });
  const duringLatencies = await during;
  const result = summary!.policies.find((one) => one.policy_name === "soft_deleted_transcriptions")!;
  const archived = Number(result.rows_archived);
  const removed = Number(result.rows_deleted);
  const { rows: [archive] } = await owner.query<{ archives: string; bytes: string | null }>(
    `select pg_catalog.count(distinct a.id) as archives, pg_catalog.sum((f ->> 'bytes')::bigint) as bytes
     from app_public.retention_archives a cross join lateral pg_catalog.jsonb_array_elements(a.manifest -> 'files') f
     where a.run_id = $1`,
    [summary!.run.id],
  );
  const { rows: [left] } = await owner.query<{ n: string }>(
    "select pg_catalog.count(*) as n from app_public.transcriptions where deleted_at is not null");

  // A month of the trail: by partition, and by deleting the same rows from a copy.
  progress("copying the old month for the row-by-row comparison");
  await root.query("create table bench_audit_month (like audit.events including defaults including indexes)");
  await root.query(`insert into bench_audit_month select * from audit.${"events_" + oldMonth.slice(0, 7).replace("-", "_")}`);
  await root.query("vacuum analyze bench_audit_month");
  progress("removing the month by partition");
  let outcome: Awaited<ReturnType<typeof archiveAndDropAuditPartition>> | undefined;
  let dropMs = 0;
  const partitionMs = await timed(async () => {
    dropMs = await timingStatements(owner, /drop_archived_partition/, async () => {
      outcome = await archiveAndDropAuditPartition(owner, store, oldMonth, null);
    });
  });
  if (outcome!.spared) throw new Error(`the old month was not dropped: ${outcome!.spared}`);
  progress("deleting the same rows one statement");
  const deleteMs = await timed(() => root.query("delete from bench_audit_month"));
  await root.query("drop table bench_audit_month");

  const writer = (latencies: number[]) => ({
    transactions: latencies.length,
    p50_ms: round(percentile(latencies, 0.5)),
    p99_ms: round(percentile(latencies, 0.99)),
  });
  const writerBefore = writer(before);
  const writerDuring = writer(duringLatencies);
  return {
    bench: "retention",
    database: { expired_rows: settings.rows, audit_month_events: settings.auditEvents, size: size!.size },
    run: {
      seconds: round(runMs / 1000),
      rows_archived: archived,
      rows_removed: removed,
      rows_left_soft_deleted: Number(left!.n),
      rows_per_second: round(removed / (runMs / 1000), 0),
      archives: Number(archive!.archives),
      archive_bytes: Number(archive!.bytes ?? 0),
      archive_bytes_per_million_rows: archived ? Math.round((Number(archive!.bytes ?? 0) / archived) * 1_000_000) : null,
    },
    writer: {
      before: writerBefore,
      during: writerDuring,
      p99_ratio: writerBefore.p99_ms ? round(writerDuring.p99_ms / writerBefore.p99_ms) : null,
    },
    audit_month: {
      events: outcome!.eventCount,
      by_partition_seconds: round(partitionMs / 1000),
      drop_seconds: round(dropMs / 1000, 3),
      archive_seconds: round((partitionMs - dropMs) / 1000),
      delete_rows_seconds: round(deleteMs / 1000),
      drop_over_delete: round(dropMs / deleteMs, 4),
      by_partition_over_delete: round(partitionMs / deleteMs, 2),
    },
    total_seconds: Math.round((performance.now() - started) / 1000),
  };
}

const settings = readSettings(process.env);
await runBench(progress, (teardown) => main(settings, teardown));
