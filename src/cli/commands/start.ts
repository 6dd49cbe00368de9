import net from "node:net";
import { loadConfig } from "../../config.ts";
import { authenticatorUrl } from "../../db/connection-strings.ts";
import { busy, holderOf } from "../../db/data-dir-lock.ts";
import { openDatabase } from "../../db/database.ts";
import { migrate } from "../../db/migrate.ts";
import { loadSecrets } from "../../db/secrets.ts";
import { storeSignInLimits } from "../../db/sign-in-limits.ts";
import { UserError } from "../../errors.ts";
import { log } from "../../log.ts";
import { demoDataState, demoLogins, seedDemo } from "../../seed/seed-demo.ts";
import { createApiServer, type ApiServer } from "../../server/app.ts";
import { ensureConsoleBuilt } from "../../server/console.ts";
import { startWorker, type RunningWorker } from "../../worker/runner.ts";
import { parseFlags } from "../args.ts";
import { listenForStop } from "../signals.ts";

/** Database, migrations, API and worker in one process, until SIGINT or SIGTERM. */
export async function start(args: string[]): Promise<void> {
  parseFlags(args, {});
  const startedAt = Date.now();
  // From the first moment: a stop requested while starting waits for the
  // step under way, then stops what was started, database last.
  const stopRequest = listenForStop();
  const config = loadConfig();
  if (!config.databaseUrl) {
    const holder = holderOf(config.dataDir);
    if (holder) throw busy(config.dataDir, holder, "start");
  }
  await checkPortIsFree(config.port, config.host);
  const secrets = loadSecrets(config);
  const database = await openDatabase(config, secrets, { command: "start", access: "exclusive" });
  let api: ApiServer | null = null;
  let worker: RunningWorker | null = null;
  const stop = async () => {
    await api?.close();
    await worker?.stop();
    await database.stop();
  };
  const stopRequested = async () => {
    if (stopRequest.reason === null) return false;
    log.info({ reason: stopRequest.reason }, "stop requested while starting");
    await stop();
    process.stdout.write("Custodian stopped.\n");
    return true;
  };
  try {
    if (await stopRequested()) return;
    await migrate(database.url, secrets.authenticatorPassword);
    await storeSignInLimits(database.url, config.signInLimits);
    if (await stopRequested()) return;
    const demo = await demoDataState(database.url);
    if (config.seedDemo && demo.empty) {
      log.info("empty database: seeding demo data");
      await seedDemo(database.url, 1, false);
      demo.demoLogins = true;
    }
    if (await stopRequested()) return;
    await ensureConsoleBuilt();
    if (await stopRequested()) return;
    api = await createApiServer({
      authenticatorUrl: authenticatorUrl(database.url, secrets.authenticatorPassword),
      jwtSecret: secrets.jwtSecret,
      jwtTtlSeconds: config.jwtTtlSeconds,
      surface: config.surface,
      limits: config.limits,
      corsOrigins: config.corsOrigins,
    });
    const port = await api.listen(config.port, config.host);
    if (config.runWorker) worker = await startWorker(database.url);
    if (await stopRequested()) return;

    const base = `http://${config.host === "0.0.0.0" ? "localhost" : config.host}:${port}`;
    const lines = [
      `Custodian is running (${database.embedded ? "embedded PostgreSQL" : "DATABASE_URL"}; ready in ${((Date.now() - startedAt) / 1000).toFixed(1)}s).`,
      `  GraphQL   ${base}/graphql`,
      `  GraphiQL  ${config.surface.graphiql ? `${base}/graphiql` : "off (GRAPHIQL=off)"}`,
      `  Console   ${base}/admin/`,
      `  Health    ${base}/healthz`,
      `  Worker    ${worker ? "running" : "off (WORKER=off)"}`,
      `  Operations ${config.surface.persistedOnly ? "the console's persisted ones only (GRAPHQL_PERSISTED_ONLY=on)" : "any (GRAPHQL_PERSISTED_ONLY=off)"}`,
    ];
    if (config.nodeEnv !== "production" && demo.demoLogins) {
      lines.push(
        `Demo logins (password "${demoLogins.password}"):`,
        `  admin     ${demoLogins.admin}`,
        `  auditor   ${demoLogins.auditor}`,
        `  coaches   ${demoLogins.coaches.join(", ")}`,
      );
    }
    process.stdout.write(lines.join("\n") + "\nPress Ctrl-C to stop.\n");
  } catch (error) {
    await stop();
    throw error;
  }
  const reason = await stopRequest.requested;
  log.info({ reason }, "stopping: API, then worker, then database");
  await stop();
  process.stdout.write("Custodian stopped.\n");
}

/**
 * A busy port is refused before the database is started, migrated or seeded.
 * (Something may still take it before the API listens; that is refused in
 * the same words.)
 */
async function checkPortIsFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen({ port, host, exclusive: true }, resolve);
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`Port ${port} on ${host} is already in use; set PORT to another.`);
    if (code === "EACCES") throw new UserError(`Port ${port} on ${host} needs privileges this user does not have; set PORT to 1024 or above.`);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
      throw new UserError(`HOST ${host} is not an address of this machine; set HOST to one (127.0.0.1, or 0.0.0.0 for all).`);
    }
    throw error;
  } finally {
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
  }
}
