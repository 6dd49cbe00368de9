// Billing at volume. On a scratch database (DATABASE_URL's server, else a
// throwaway embedded PostgreSQL): the demo data of `custodian seed --demo
// --scale N` for BENCH_COACHES coaches (N = coaches / 3; their attempts go
// through the capture), then a usage history of BENCH_EVENTS events
// (default 10 million) over two years for those coaches, written in bulk
// and timed; a full rebuild of the daily rollups (events/s); the p95 of
// each analytics query and of the invoice preview, as an admin and as a
// coach; an incremental rollup after 100,000 new events; and attempt
// completions per second with usage capture against without it (the
// capture triggers disabled), interleaved round by round, 4 writers, the
// audit trail on in both; and, as a floor, with a capture that only writes a
// constant event row (bench.capture_floor). The analytics and the invoice
// preview are timed with BENCH_PENDING captured records not rated yet present
// (they price those on the fly), and so is opening each page of the console
// (its operations through the real server, bench/console-pages.ts). The rating step: records rated per second
// over 100,000 captured records plus those pending, and the largest lag from
// a completion to its rated charge while a rater runs every
// BENCH_RATE_INTERVAL seconds beside the completions with capture (the
// worker's job runs every minute). Prints one JSON line last.
//
// BENCH_EVENTS, BENCH_COACHES (1000), BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_QUERY_RUNS (30),
// BENCH_PENDING (2000), BENCH_RATE_INTERVAL (5).
import fs from "node:fs";
import path from "node:path";
import type pg from "pg";
import { UserError } from "../src/errors.ts";
import { demoLogins, seedDemo } from "../src/seed/seed-demo.ts";
import { rebuildDays, rollUpDirtyDays, usageEventDays } from "../src/usage/aggregate.ts";
import { rateCapturedUsage } from "../src/usage/rate.ts";
import { benchConsolePages } from "./console-pages.ts";
import { connectAsOwner, createScratchDatabase, median, progressOf, runBench, timed, type Teardown } from "./scratch-database.ts";
import { measureTps, type Worker } from "./throughput.ts";
import { historyDays, writeHistory } from "./usage-history.ts";

const progress = progressOf("usage");
const writerCount = 4;

interface Settings {
  events: number;
  coaches: number;
  seconds: number;
  rounds: number;
  queryRuns: number;
  pending: number;
  rateInterval: number;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const number = (name: string, fallback: number) => {
    const value = Number(env[name] || fallback);
    if (!(value > 0)) throw new UserError(`${name} must be a positive number (got "${env[name]}").`);
    return value;
  };
  return {
    events: Math.round(number("BENCH_EVENTS", 10_000_000)),
    coaches: Math.round(number("BENCH_COACHES", 1000)),
    seconds: number("BENCH_SECONDS", 5),
    rounds: Math.round(number("BENCH_ROUNDS", 3)),
    queryRuns: Math.round(number("BENCH_QUERY_RUNS", 30)),
    pending: Math.round(number("BENCH_PENDING", 2000)),
    rateInterval: number("BENCH_RATE_INTERVAL", 5),
  };
}

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * 0.95) - 1)]!;
}

/** Acts as a user of a role, as the API does, for the rest of the session. */
async function actAs(client: pg.Client, role: "admin" | "coach", userId: string): Promise<void> {
  await client.query(
    "select set_config('role', $1, false), set_config('jwt.claims.user_id', $2, false), set_config('jwt.claims.role', $3, false)",
    [`custodian_${role}`, userId, role],
  );
}

/** The p95 (ms) of each analytics query, run `runs` times each, interleaved. */
async function benchQueries(client: pg.Client, runs: number, profileId: string): Promise<Record<string, number>> {
  const queries: Record<string, pg.QueryConfig> = {
    usage_by_day_30d: { text: "select * from app_public.usage_over_time(current_date - 30, current_date, 'day')" },
    usage_by_week_90d: { text: "select * from app_public.usage_over_time(current_date - 90, current_date, 'week')" },
    usage_by_month_12m: { text: "select * from app_public.usage_over_time(current_date - 365, current_date, 'month')" },
    by_provider_90d: { text: "select * from app_public.usage_by_provider(current_date - 90, current_date)" },
    top_coaches_30d: { text: "select * from app_public.top_coaches(current_date - 30, current_date, 10)" },
    revenue_12m: { text: "select * from app_public.revenue_summary(current_date - 365, current_date)" },
    retranscriptions_12m: { text: "select * from app_public.retranscription_stats(current_date - 365, current_date)" },
    failures_12m: { text: "select * from app_public.failure_stats(current_date - 365, current_date)" },
    monthly_revenue_12m: {
      text: "select * from app_public.monthly_revenue((date_trunc('month', current_date) - interval '12 months')::date, date_trunc('month', current_date)::date)",
    },
    invoice_preview_last_month: {
      text: "select * from app_public.invoice_preview($1, (date_trunc('month', current_date) - interval '1 month')::date)",
      values: [profileId],
    },
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(queries).map((name) => [name, []]));
  for (let run = 0; run < runs + 2; run++) {
    for (const [name, query] of Object.entries(queries)) {
      const ms = await timed(() => client.query(query));
      if (run >= 2) times[name]!.push(ms); // two warm-up runs
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, values]) => [name, Number(p95(values).toFixed(2))]));
}

/**
 * Rates what was captured every `interval` seconds until stopped, as the
 * worker's job does every minute; the largest lag seen is from the oldest
 * record a run found waiting to the run's commit.
 */
function startRater(rater: pg.Client, interval: number) {
  let stopped = false;
  let largestLagSeconds = 0;
  let runs = 0;
  const done = (async () => {
    while (!stopped) {
      const { rows: [{ age }] } = await rater.query(
        "select coalesce(extract(epoch from clock_timestamp() - min(recorded_at)), 0)::float8 as age from app_private.usage_records");
      const ms = await timed(() => rateCapturedUsage(rater));
      runs++;
      largestLagSeconds = Math.max(largestLagSeconds, age + ms / 1000);
      const until = performance.now() + interval * 1000 - ms;
      while (!stopped && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return async () => {
    stopped = true;
    await done;
    return { runs, largestLagSeconds };
  };
}

async function benchCompletions(admin: pg.Client, rater: pg.Client, workers: Worker[], settings: Settings) {
  // Up to 1,300 completions a second per writer, for each of the three variants.
  const perWriter = Math.ceil(1300 * 3 * settings.seconds * settings.rounds);
  progress(`queueing ${perWriter * writerCount} attempts to complete`);
  await admin.query("select bench.queue_attempts($1, $2)", [writerCount, perWriter]);
  await admin.query("vacuum analyze app_public.transcriptions");
  for (const worker of workers) {
    const { rows } = await admin.query(
      `select t.id from app_public.transcriptions t
       join app_public.coach_profiles cp on cp.id = t.coach_profile_id join app_public.users u on u.id = cp.user_id
       where u.email = $1 and t.status = 'processing' and t.session_id in (
         select s.id from app_public.coaching_sessions s where s.title = 'Workload session') order by t.id`,
      [`coach${worker.index + 1}@example.com`],
    );
    (worker as Worker & { queue: string[] }).queue = rows.map((row) => row.id);
  }
  const complete = (worker: Worker) => {
    const id = (worker as Worker & { queue: string[] }).queue.pop();
    if (!id) throw new Error("The queue of attempts to complete ran out: raise perWriter.");
    return {
      name: "complete",
      text: "update app_public.transcriptions set status = 'completed', billed_duration_seconds = 600 where id = $1",
      values: [id],
    };
  };
  // Which capture trigger each variant enables (the other is disabled).
  const variants = {
    with_capture: "_600_capture_usage_on_finish",
    without_capture: null,
    floor: "_600_bench_capture_floor",
  } as const;
  const useCapture = async (enabled: string | null) => {
    for (const trigger of Object.values(variants).filter((name) => name !== null)) {
      await admin.query(`alter table app_public.transcriptions ${trigger === enabled ? "enable" : "disable"} trigger ${trigger}`);
    }
  };
  const tps: Record<keyof typeof variants, number[]> = { with_capture: [], without_capture: [], floor: [] };
  let largestLagSeconds = 0;
  for (let round = 1; round <= settings.rounds; round++) {
    for (const [variant, enabled] of Object.entries(variants) as Array<[keyof typeof variants, string | null]>) {
      await useCapture(enabled);
      // Rating runs beside the completions it rates (its cost is the capture's).
      const stopRater = variant === "with_capture" ? startRater(rater, settings.rateInterval) : null;
      const measured = await measureTps(workers, settings.seconds, complete);
      if (stopRater) largestLagSeconds = Math.max(largestLagSeconds, (await stopRater()).largestLagSeconds);
      tps[variant].push(measured);
      progress(`completions round ${round} ${variant}: ${Math.round(measured)}/s`);
    }
  }
  await useCapture(variants.with_capture);
  // What the last round captured is rated too: its lag counts.
  const { rows: [{ age }] } = await rater.query(
    "select coalesce(extract(epoch from clock_timestamp() - min(recorded_at)), 0)::float8 as age from app_private.usage_records");
  const lastMs = await timed(() => rateCapturedUsage(rater));
  largestLagSeconds = Math.max(largestLagSeconds, age + lastMs / 1000);
  const withCapture = median(tps.with_capture);
  const withoutCapture = median(tps.without_capture);
  return {
    with_capture_per_second: Math.round(withCapture),
    without_capture_per_second: Math.round(withoutCapture),
    ratio: Number((withCapture / withoutCapture).toFixed(3)),
    // The same for a capture that only writes a constant event row (bench.capture_floor).
    floor_per_second: Math.round(median(tps.floor)),
    floor_ratio: Number((median(tps.floor) / withoutCapture).toFixed(3)),
    largestLagSeconds,
  };
}

async function main(settings: Settings, teardown: Teardown) {
  const started = performance.now();
  const databaseUrl = await createScratchDatabase(teardown, progress);
  const scale = Math.ceil(settings.coaches / 3);
  progress(`custodian seed --demo --scale ${scale}: ${scale * 3} coaches, their clients, sessions and attempts`);
  const seedMs = await timed(() => seedDemo(databaseUrl, scale, false));
  const admin = await connectAsOwner(databaseUrl, teardown);
  const seededEvents = (await admin.query("select count(*)::int as n from app_public.usage_events")).rows[0].n as number;
  await admin.query(fs.readFileSync(path.join(import.meta.dirname, "usage-setup.sql"), "utf8"));

  progress(`writing ${settings.events} usage events over ${historyDays} days`);
  const generationMs = await writeHistory(admin, settings.events, progress);
  await admin.query("vacuum analyze app_public.usage_events");

  const days = (await usageEventDays(admin))!;
  progress(`full rebuild of the rollups, ${days.from} to ${days.to}`);
  const rebuildMs = await timed(() => rebuildDays(admin, days.from, days.to, () => undefined));
  await admin.query("vacuum analyze app_public.usage_daily");

  progress(`analytics queries, with ${settings.pending} captured records not rated yet`);
  await admin.query("select bench.write_pending($1)", [settings.pending]);
  await admin.query("analyze app_private.usage_records");
  const { rows: [someone] } = await admin.query(
    "select u.id as user_id, cp.id as profile_id from app_public.coach_profiles cp join app_public.users u on u.id = cp.user_id where u.email = 'coach7@example.com'",
  );
  const adminUser = (await admin.query("select id from app_private.create_user('bench-admin@example.com', 'password123', 'admin')")).rows[0].id;
  const asAdmin = await connectAsOwner(databaseUrl, teardown);
  await actAs(asAdmin, "admin", adminUser);
  const adminP95 = await benchQueries(asAdmin, settings.queryRuns, someone.profile_id);
  const asCoach = await connectAsOwner(databaseUrl, teardown);
  await actAs(asCoach, "coach", someone.user_id);
  const coachP95 = await benchQueries(asCoach, settings.queryRuns, someone.profile_id);
  progress("the console's pages through the real server");
  const { rows: [days30] } = await admin.query(
    `select (current_date - 30)::text as "from", (current_date + 1)::text as "to", (current_date - 61)::text as "previousFrom",
            (current_date - 30)::text as "previousTo", date_trunc('month', current_date - 30)::date::text as "fromMonth",
            (date_trunc('month', current_date) + interval '1 month')::date::text as "toMonth", date_trunc('month', current_date)::date::text as month`);
  const consoleP95 = await benchConsolePages(
    databaseUrl,
    teardown,
    { admin: { email: "bench-admin@example.com", password: "password123" }, coach: { email: "coach7@example.com", password: demoLogins.password } },
    { ...days30, coachProfileId: someone.profile_id },
    settings.queryRuns,
  );

  progress("incremental rollup after 100,000 new events");
  await rollUpDirtyDays(admin);
  await admin.query("select bench.write_history(100000, 10, 0.01)");
  await admin.query("select bench.keep_ledgers(date_trunc('month', now() - interval '11 days')::date)");
  let daysRebuilt = 0;
  const incrementalMs = await timed(async () => (daysRebuilt = await rollUpDirtyDays(admin)));
  // Differences by check; the demo's "-large" models have no provider rate, so
  // their attempts are listed as unknown_provider_cost, by design.
  const { rows: differences } = await admin.query(
    "select check_name, count(*)::int as n from app_public.usage_reconcile(current_date - 12, current_date + 1) group by 1 order by 1");
  const reconcile = Object.fromEntries(differences.map((row) => [row.check_name as string, row.n as number]));

  progress("rating 100,000 captured records and those pending");
  await admin.query("select bench.write_pending(100000)");
  await admin.query("analyze app_private.usage_records");
  const toRate = (await admin.query("select count(*)::int as n from app_private.usage_records")).rows[0].n as number;
  let rated = 0;
  const ratingMs = await timed(async () => (rated = (await rateCapturedUsage(admin)).rated));
  await admin.query("vacuum analyze app_private.usage_records");

  const workers: Worker[] = [];
  for (let index = 0; index < writerCount; index++) {
    workers.push({ client: await connectAsOwner(databaseUrl, teardown), index, sent: 0 });
  }
  const rater = await connectAsOwner(databaseUrl, teardown);
  const { largestLagSeconds, ...completions } = await benchCompletions(admin, rater, workers, settings);

  const slowest = (p95s: Record<string, number>) => Math.max(...Object.values(p95s));
  return {
    bench: "usage",
    events: settings.events + seededEvents,
    coaches: scale * 3,
    seed: { scale, seconds: Number((seedMs / 1000).toFixed(1)), events: seededEvents },
    history_events: settings.events,
    history_generation_seconds: Number((generationMs / 1000).toFixed(1)),
    full_rebuild: { seconds: Number((rebuildMs / 1000).toFixed(1)), events_per_second: Math.round((settings.events + seededEvents) / (rebuildMs / 1000)) },
    analytics_p95_ms_admin: adminP95,
    analytics_p95_ms_coach: coachP95,
    slowest_p95_ms: Math.max(slowest(adminP95), slowest(coachP95)),
    console_page_p95_ms: consoleP95,
    incremental_rollup: { new_events: 100_000, days_rebuilt: daysRebuilt, seconds: Number((incrementalMs / 1000).toFixed(2)), reconcile_differences: reconcile },
    completions,
    rating: {
      records: toRate,
      rated,
      seconds: Number((ratingMs / 1000).toFixed(2)),
      events_per_second: Math.round(rated / (ratingMs / 1000)),
      interval_seconds: settings.rateInterval,
      largest_lag_seconds: Number(largestLagSeconds.toFixed(2)),
    },
    total_seconds: Math.round((performance.now() - started) / 1000),
  };
}

const settings = readSettings(process.env);
await runBench(progress, (teardown) => main(settings, teardown));
