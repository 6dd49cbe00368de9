import { loadConfig } from "../../config.ts";
import { authenticatorUrl } from "../../db/connection-strings.ts";
import { openDatabase } from "../../db/database.ts";
import { migrate } from "../../db/migrate.ts";
import { loadSecrets } from "../../db/secrets.ts";
import { log } from "../../log.ts";
import { demoDataState, demoLogins, seedDemo } from "../../seed/seed-demo.ts";
import { createApiServer, type ApiServer } from "../../server/app.ts";
import { startWorker, type RunningWorker } from "../../worker/runner.ts";
import { parseFlags } from "../args.ts";
import { untilSignal } from "../signals.ts";

/** Database, migrations, API and worker in one process, until SIGINT or SIGTERM. */
export async function start(args: string[]): Promise<void> {
  parseFlags(args, {});
  const startedAt = Date.now();
  const config = loadConfig();
  const secrets = loadSecrets(config);
  const database = await openDatabase(config, secrets);
  let api: ApiServer | null = null;
  let worker: RunningWorker | null = null;
  const stop = async () => {
    await api?.close();
    await worker?.stop();
    await database.stop();
  };
  try {
    await migrate(database.url, secrets.authenticatorPassword);
    const demo = await demoDataState(database.url);
    if (config.seedDemo && demo.empty) {
      log.info("empty database: seeding demo data");
      await seedDemo(database.url, 1, false);
      demo.demoLogins = true;
    }
    api = await createApiServer({
      authenticatorUrl: authenticatorUrl(database.url, secrets.authenticatorPassword),
      jwtSecret: secrets.jwtSecret,
      jwtTtlSeconds: config.jwtTtlSeconds,
      graphiql: config.nodeEnv !== "production",
      limits: config.limits,
    });
    const port = await api.listen(config.port, config.host);
    if (config.runWorker) worker = await startWorker(database.url);

    const base = `http://${config.host === "0.0.0.0" ? "localhost" : config.host}:${port}`;
    const lines = [
      `Custodian is running (${database.embedded ? "embedded PostgreSQL" : "DATABASE_URL"}; ready in ${((Date.now() - startedAt) / 1000).toFixed(1)}s).`,
      `  GraphQL   ${base}/graphql`,
      ...(config.nodeEnv !== "production" ? [`  GraphiQL  ${base}/graphiql`] : []),
      `  Health    ${base}/healthz`,
      `  Worker    ${worker ? "running" : "off (WORKER=off)"}`,
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
  const signal = await untilSignal();
  log.info({ signal }, "stopping: API, then worker, then database");
  await stop();
  process.stdout.write("Custodian stopped.\n");
}
