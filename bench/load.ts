// Load with accounting. On a scratch database (DATABASE_URL's server, else a
// throwaway embedded PostgreSQL): LOAD_COACHES coaches on one plan, a usage
// history of LOAD_USAGE_EVENTS events built as bench:usage builds its 10
// million (bench/usage-history.ts), its rollups; then `custodian start` with
// its worker, and for LOAD_SECONDS every door at once: coaches over GraphQL
// (sessions, attempts that complete, fail, are retried and transcribed again,
// soft deletes and restores, consent withdrawn and granted), coaches in plain
// SQL as their role (the same work), an admin over GraphQL (clients and their
// consents, deletes and restores, usage credits, one erasure, one retention
// run), the worker (its crontab, and its jobs queued every few seconds), and
// two console users reading every page's GraphQL operations and the REST
// routes. Every write whose answer came back is recorded; afterwards the
// worker finishes rating, rolling up and sealing, and bench/load/accounting.ts
// checks every acknowledged write against the database. Prints one JSON line
// last: what was lost (0 wanted), throughput per door, latency per GraphQL
// operation and REST route, and the CPU share of the server and of PostgreSQL.
//
// LOAD_SECONDS (60), LOAD_USAGE_EVENTS (100000; 10000000 for the planning
// document's volume), LOAD_COACHES (40), LOAD_GRAPHQL_WRITERS (4), LOAD_SQL_WRITERS (2).
import os from "node:os";
import pg from "pg";
import { UserError } from "../src/errors.ts";
import { rebuildDays, usageEventDays } from "../src/usage/aggregate.ts";
import type { PageContext } from "./console-pages.ts";
import { startCustodian } from "./custodian-server.ts";
import { account } from "./load/accounting.ts";
import { signIn, type Api } from "./load/api.ts";
import { actAs, graphqlCoachDoor, sqlCoachDoor } from "./load/coach-doors.ts";
import { cpuShare, postmasterPid, processCpuSeconds, processTreeCpuSeconds } from "./load/cpu.ts";
import { drainWorker } from "./load/drain.ts";
import { Latencies } from "./load/latencies.ts";
import { Ledger } from "./load/ledger.ts";
import { setUpLoad } from "./load/setup.ts";
import { runAdmin, runCoach, runJobKicker, runReader } from "./load/workloads.ts";
import { connectAsOwner, createScratchDatabase, progressOf, runBench, timed, type Teardown } from "./scratch-database.ts";
import { historyDays, writeHistory } from "./usage-history.ts";

const progress = progressOf("load");

interface Settings {
  seconds: number;
  usageEvents: number;
  coaches: number;
  graphqlWriters: number;
  sqlWriters: number;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const whole = (name: string, fallback: number, min: number) => {
    const raw = env[name] || String(fallback);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new UserError(`${name} must be a whole number of at least ${min} (got "${env[name]}").`);
    return value;
  };
  const settings = {
    seconds: whole("LOAD_SECONDS", 60, 1),
    usageEvents: whole("LOAD_USAGE_EVENTS", 100_000, 0),
    coaches: whole("LOAD_COACHES", 40, 1),
    graphqlWriters: whole("LOAD_GRAPHQL_WRITERS", 4, 0),
    sqlWriters: whole("LOAD_SQL_WRITERS", 2, 0),
  };
  // Each writer is a coach of its own, and one more reads the console.
  if (settings.coaches < settings.graphqlWriters + settings.sqlWriters + 1) {
    throw new UserError(`LOAD_COACHES must be at least LOAD_GRAPHQL_WRITERS + LOAD_SQL_WRITERS + 1 (${settings.graphqlWriters + settings.sqlWriters + 1}).`);
  }
  return settings;
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

async function main(settings: Settings, teardown: Teardown) {
  const started = performance.now();
  const databaseUrl = await createScratchDatabase(teardown, progress);
  const owner = await connectAsOwner(databaseUrl, teardown);
  progress(`${settings.coaches} coaches on one plan`);
  const world = await setUpLoad(owner, settings.coaches, settings.graphqlWriters + settings.sqlWriters + 1);

  progress(`writing ${settings.usageEvents} usage events of history over ${historyDays} days`);
  const historyMs = settings.usageEvents > 0 ? await writeHistory(owner, settings.usageEvents, progress) : 0;
  await owner.query("vacuum analyze app_public.usage_events");
  const days = await usageEventDays(owner);
  if (days) {
    progress(`rolling the history up, ${days.from} to ${days.to}`);
    await rebuildDays(owner, days.from, days.to, () => undefined);
    await owner.query("vacuum analyze app_public.usage_daily");
  }

  progress("custodian start, with its worker");
  const server = await startCustodian(databaseUrl, teardown, { worker: true });
  const api: Api = { base: server.base, graphqlLatencies: new Latencies(), restLatencies: new Latencies() };
  const adminToken = await signIn(api, world.admin.email, world.password);
  const pipelineToken = await signIn(api, world.pipeline.email, world.password);
  const writers = world.activeCoaches.slice(0, settings.graphqlWriters + settings.sqlWriters);
  const reader = world.activeCoaches[settings.graphqlWriters + settings.sqlWriters]!;
  const coachTokens = await Promise.all([...writers.slice(0, settings.graphqlWriters), reader].map((coach) => signIn(api, coach.email, world.password)));
  const sqlClients: Array<{ coach: pg.Client; pipeline: pg.Client }> = [];
  for (const coach of writers.slice(settings.graphqlWriters)) {
    const clients = { coach: await connectAsOwner(databaseUrl, teardown), pipeline: await connectAsOwner(databaseUrl, teardown) };
    await actAs(clients.coach, "coach", coach.userId);
    await actAs(clients.pipeline, "admin", world.pipeline.userId);
    sqlClients.push(clients);
  }
  const kicker = await connectAsOwner(databaseUrl, teardown);
  const { rows: [today] } = await owner.query(
    `select (now() at time zone 'UTC')::date::text as day, date_trunc('month', now() at time zone 'UTC')::date::text as month`);
  const context: PageContext = await (async () => {
    const { rows: [c] } = await owner.query(
      `select (current_date - 30)::text as "from", (current_date + 1)::text as "to", (current_date - 61)::text as "previousFrom",
              (current_date - 30)::text as "previousTo", date_trunc('month', current_date - 30)::date::text as "fromMonth",
              (date_trunc('month', current_date) + interval '1 month')::date::text as "toMonth", date_trunc('month', current_date)::date::text as month`);
    return { ...c, coachProfileId: reader.profileId };
  })();
  // Before the load: what the worker has written so far, to count what it writes during it.
  const { rows: [before] } = await owner.query(
    "select (select count(*) from app_public.usage_events)::int as events, (select count(*) from audit.seals)::int as seals");
  const postgresPid = await findPostmaster(databaseUrl);

  progress(`load for ${settings.seconds} s: ${settings.graphqlWriters} GraphQL coaches, ${settings.sqlWriters} SQL coaches, an admin, the worker, two readers`);
  const ledger = new Ledger();
  const readFailures: string[] = [];
  const serverCpuBefore = processCpuSeconds(server.pid);
  const postgresCpuBefore = postgresPid ? processTreeCpuSeconds(postgresPid) : null;
  const loadStarted = performance.now();
  const deadline = loadStarted + settings.seconds * 1000;
  const [jobsQueued] = await Promise.all([
    runJobKicker(kicker, deadline),
    ...writers.slice(0, settings.graphqlWriters).map((coach, index) =>
      runCoach(graphqlCoachDoor(api, coachTokens[index]!, pipelineToken), ledger, coach.clients, deadline)),
    ...writers.slice(settings.graphqlWriters).map((coach, index) => runCoach(sqlCoachDoor(sqlClients[index]!.coach, sqlClients[index]!.pipeline), ledger, coach.clients, deadline)),
    runAdmin(api, adminToken, ledger, world.activeCoaches.map((coach) => coach.profileId), loadStarted, deadline),
    runReader(api, adminToken, "admin", context, deadline, readFailures),
    runReader(api, coachTokens[settings.graphqlWriters]!, "coach", context, deadline, readFailures),
  ]);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const serverCpu = processCpuSeconds(server.pid) - serverCpuBefore;
  const postgresCpu = postgresPid && postgresCpuBefore !== null ? processTreeCpuSeconds(postgresPid) - postgresCpuBefore : null;
  const { rows: [after] } = await owner.query(
    "select (select count(*) from app_public.usage_events)::int as events, (select count(*) from audit.seals)::int as seals");
  progress(`load done: ${ledger.acknowledged.length} writes acknowledged, ${ledger.inDoubt.length} in doubt`);

  progress("the worker rates, rolls up and seals what is left");
  let drained = false;
  const drainMs = await timed(async () => (drained = await drainWorker(owner, progress)));

  progress("accounting");
  const accounting = await account(owner, ledger, {
    from: today.day,
    to: (await owner.query("select ((now() at time zone 'UTC')::date + 1)::text as day")).rows[0].day,
    month: today.month,
    coachProfileIds: world.activeCoaches.map((coach) => coach.profileId),
    adminUserId: world.admin.userId,
  });
  const byDoor = ledger.byDoor();
  const acknowledged = ledger.acknowledged.length;
  return {
    bench: "load",
    usage_events: (await owner.query("select count(*)::int as n from app_public.usage_events")).rows[0].n as number,
    history_usage_events: settings.usageEvents,
    coaches: settings.coaches,
    load_seconds: round(loadSeconds),
    writers: { graphql_coach: settings.graphqlWriters, graphql_admin: 1, sql_coach: settings.sqlWriters, readers: 2 },
    refusals: Object.fromEntries(ledger.refusals),
    in_doubt: ledger.inDoubt.length,
    read_failures: readFailures.length,
    read_failure_examples: [...new Set(readFailures)].slice(0, 3),
    worker: {
      jobs_queued: jobsQueued,
      usage_events_rated_during_load: after.events - before.events,
      seals_during_load: after.seals - before.seals,
      drained,
      drain_seconds: round(drainMs / 1000),
    },
    accounting,
    throughput_writes_per_second: {
      overall: round(acknowledged / loadSeconds),
      ...Object.fromEntries(Object.entries(byDoor).map(([door, n]) => [door, round(n / loadSeconds)])),
      worker_rated_charges: round((after.events - before.events) / loadSeconds),
    },
    latency_ms: { graphql: api.graphqlLatencies.summary(), rest: api.restLatencies.summary() },
    cpu: {
      cores: os.availableParallelism(),
      server_and_worker_share: cpuShare(serverCpu, loadSeconds),
      postgres_share: postgresCpu === null ? null : cpuShare(postgresCpu, loadSeconds),
    },
    history_generation_seconds: round(historyMs / 1000),
    total_seconds: Math.round((performance.now() - started) / 1000),
    lost_audit_events: accounting.lost_audit_events,
    lost_usage_events: accounting.lost_usage_events,
    reconcile_differences: accounting.reconcile_differences,
    acknowledged_writes: acknowledged,
  };
}

/** The PostgreSQL server's process id when it runs here and the bench's URL may read its data directory (a superuser's). */
async function findPostmaster(databaseUrl: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query("select current_setting('data_directory') as dir");
    return postmasterPid(rows[0].dir);
  } catch {
    return null;
  } finally {
    await client.end();
  }
}

const settings = readSettings(process.env);
await runBench(progress, (teardown) => main(settings, teardown));
