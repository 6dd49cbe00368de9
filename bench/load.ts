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
import { ownerUrl } from "../src/db/connection-strings.ts";
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
import { ReconnectingClient } from "./load/reconnecting-client.ts";
import { setUpLoad } from "./load/setup.ts";
import { runAdmin, runCoach, runJobKicker, runReader } from "./load/workloads.ts";
import { connectAsOwner, createScratchDatabaseOnServer, progressOf, runBench, timed, type EmbeddedServer, type Teardown } from "./scratch-database.ts";
import { historyDays, writeHistory } from "./usage-history.ts";

const progress = progressOf("load");

interface Settings {
  /** "postgres": kill -9 of the bench's embedded PostgreSQL in the middle of the load, then a restart. */
  fault: "none" | "postgres";
  faultDownSeconds: number;
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
  const fault = env.LOAD_FAULT || "none";
  if (fault !== "none" && fault !== "postgres") throw new UserError(`LOAD_FAULT must be none or postgres (got "${fault}").`);
  const settings = {
    fault: fault as Settings["fault"],
    faultDownSeconds: whole("LOAD_FAULT_DOWN_SECONDS", 2, 0),
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
  const { databaseUrl, embedded } = await createScratchDatabaseOnServer(teardown, progress);
  if (settings.fault === "postgres" && !embedded) throw new UserError("LOAD_FAULT=postgres kills the bench's own embedded PostgreSQL: leave DATABASE_URL unset.");
  let owner = await connectAsOwner(databaseUrl, teardown);
  // Under LOAD_FAULT this connection dies with the server; that is expected, not a crash of the bench.
  owner.on("error", (error) => progress(`the set-up connection ended: ${error.message}`));
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
  // Connections that connect again after a crash, acting as their user each time.
  const reconnecting = (setUp: (client: pg.Client) => Promise<void>) => {
    const client = new ReconnectingClient(async () => {
      const connection = new pg.Client({ connectionString: ownerUrl(databaseUrl) });
      await connection.connect();
      await setUp(connection);
      return connection;
    });
    teardown.defer(() => client.end());
    return client;
  };
  const sqlClients = writers.slice(settings.graphqlWriters).map((coach) => ({
    coach: reconnecting((client) => actAs(client, "coach", coach.userId)),
    pipeline: reconnecting((client) => actAs(client, "admin", world.pipeline.userId)),
  }));
  const kicker = reconnecting(async () => undefined);
  const { rows: [today] } = await owner.query(
    `select (now() at time zone 'UTC')::date::text as day, date_trunc('month', now() at time zone 'UTC')::date::text as month`);
  // The console's default range (the last 30 days) and months, and the reading coach.
  const { rows: [range] } = await owner.query(
    `select (current_date - 30)::text as "from", (current_date + 1)::text as "to", (current_date - 61)::text as "previousFrom",
            (current_date - 30)::text as "previousTo", date_trunc('month', current_date - 30)::date::text as "fromMonth",
            (date_trunc('month', current_date) + interval '1 month')::date::text as "toMonth", date_trunc('month', current_date)::date::text as month`);
  const context: PageContext = { ...range, coachProfileId: reader.profileId };
  // Before the load: what the worker has written so far, to count what it writes during it.
  const { rows: [before] } = await owner.query(
    "select (select count(*) from app_public.usage_events where kind = 'attempt')::int as charges, (select count(*) from audit.seals)::int as seals");
  const postgresPid = await findPostmaster(databaseUrl);

  progress(`load for ${settings.seconds} s: ${settings.graphqlWriters} GraphQL coaches, ${settings.sqlWriters} SQL coaches, an admin, the worker, two readers`);
  const ledger = new Ledger();
  const readFailures: string[] = [];
  const serverCpuBefore = processCpuSeconds(server.pid);
  const postgresCpu = new PostgresCpu(postgresPid);
  const loadStarted = performance.now();
  const deadline = loadStarted + settings.seconds * 1000;
  const fault = settings.fault === "postgres"
    ? crashMidway(embedded!, postgresCpu, databaseUrl, loadStarted, settings.seconds * 0.4, settings.faultDownSeconds)
    : Promise.resolve(null);
  const [faultReport, jobsQueued] = await Promise.all([
    fault,
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
  const postgresCpuSeconds = postgresCpu.seconds();
  // The owner's connection did not survive a crash: the rest reads through a new one.
  if (faultReport) owner = await connectAsOwner(databaseUrl, teardown);
  const { rows: [after] } = await owner.query(
    "select (select count(*) from app_public.usage_events where kind = 'attempt')::int as charges, (select count(*) from audit.seals)::int as seals");
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
    fault: faultReport ?? "none",
    usage_events: (await owner.query("select count(*)::int as n from app_public.usage_events")).rows[0].n as number,
    history_usage_events: settings.usageEvents,
    coaches: settings.coaches,
    load_seconds: round(loadSeconds),
    writers: { graphql_coach: settings.graphqlWriters, graphql_admin: 1, sql_coach: settings.sqlWriters, readers: 2 },
    refusals: Object.fromEntries(ledger.refusals),
    in_doubt: ledger.inDoubt.length + [...ledger.otherInDoubt.values()].reduce((sum, n) => sum + n, 0),
    read_failures: readFailures.length,
    read_failure_examples: [...new Set(readFailures)].slice(0, 3),
    worker: {
      jobs_queued: jobsQueued,
      charges_rated_during_load: after.charges - before.charges,
      seals_during_load: after.seals - before.seals,
      drained,
      drain_seconds: round(drainMs / 1000),
    },
    accounting,
    throughput_writes_per_second: {
      overall: round(acknowledged / loadSeconds),
      ...Object.fromEntries(Object.entries(byDoor).map(([door, n]) => [door, round(n / loadSeconds)])),
      worker_rated_charges: round((after.charges - before.charges) / loadSeconds),
    },
    latency_ms: { graphql: api.graphqlLatencies.summary(), rest: api.restLatencies.summary() },
    cpu: {
      cores: os.availableParallelism(),
      server_and_worker_share: cpuShare(serverCpu, loadSeconds),
      postgres_share: postgresCpuSeconds === null ? null : cpuShare(postgresCpuSeconds, loadSeconds),
    },
    history_generation_seconds: round(historyMs / 1000),
    total_seconds: Math.round((performance.now() - started) / 1000),
    lost_audit_events: accounting.lost_audit_events,
    lost_usage_events: accounting.lost_usage_events,
    reconcile_differences: accounting.reconcile_differences,
    acknowledged_writes: acknowledged,
  };
}

/**
 * CPU seconds of PostgreSQL (the server and its backends) since the load
 * began, across a crash: what the crashed server used is added when it is
 * killed, and the restarted one counts from its start.
 */
class PostgresCpu {
  #pid: number | null;
  #baseline: number;
  #used = 0;

  constructor(pid: number | null) {
    this.#pid = pid;
    this.#baseline = pid ? processTreeCpuSeconds(pid) : 0;
  }

  /** Just before a crash: what this server used so far. */
  beforeCrash(): void {
    if (this.#pid) this.#used += processTreeCpuSeconds(this.#pid) - this.#baseline;
  }

  /** The restarted server, counted from zero. */
  restarted(pid: number | null): void {
    this.#pid = pid;
    this.#baseline = 0;
  }

  seconds(): number | null {
    return this.#pid === null ? null : this.#used + processTreeCpuSeconds(this.#pid) - this.#baseline;
  }
}

/** At `at`: kill -9 of PostgreSQL, `downSeconds` without it, then a restart (crash recovery); resolves to what happened when. */
async function crashMidway(embedded: EmbeddedServer, cpu: PostgresCpu, databaseUrl: string, loadStarted: number, atSeconds: number, downSeconds: number) {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, loadStarted + atSeconds * 1000 - performance.now())));
  const crashedAt = performance.now();
  progress("kill -9 of PostgreSQL");
  cpu.beforeCrash();
  await embedded.crash();
  await new Promise((resolve) => setTimeout(resolve, downSeconds * 1000));
  progress("restarting PostgreSQL");
  const restartMs = await timed(() => embedded.restart());
  cpu.restarted(await findPostmaster(databaseUrl));
  progress(`PostgreSQL is back after ${((performance.now() - crashedAt) / 1000).toFixed(1)} s`);
  return {
    kind: "kill -9 of PostgreSQL, then a restart",
    at_seconds_into_load: round((crashedAt - loadStarted) / 1000),
    down_seconds: downSeconds,
    restart_seconds: round(restartMs / 1000),
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
