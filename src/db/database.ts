import path from "node:path";
import pg from "pg";
import type { Config } from "../config.ts";
import { UserError } from "../errors.ts";
import { withDatabase } from "./connection-strings.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { startEmbeddedPostgres } from "./embedded.ts";
import type { Secrets } from "./secrets.ts";

export interface Database {
  /** Superuser (or CREATEROLE) connection to Custodian's database. */
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

const EMBEDDED_DATABASE = "custodian";

/**
 * The server named by DATABASE_URL, or an embedded PostgreSQL under
 * `<dataDir>/pg` started for this process (and stopped by `stop()`).
 */
export async function openDatabase(config: Config, secrets: Secrets): Promise<Database> {
  if (config.databaseUrl) {
    await checkReachable(config.databaseUrl);
    return { url: config.databaseUrl, embedded: false, stop: async () => {} };
  }
  const unlock = lockDataDir(config.dataDir);
  try {
    const server = await startEmbeddedPostgres(path.join(config.dataDir, "pg"), secrets.embeddedSuperuserPassword);
    await createDatabaseIfMissing(server.url, EMBEDDED_DATABASE);
    return {
      url: withDatabase(server.url, EMBEDDED_DATABASE),
      embedded: true,
      async stop() {
        await server.stop();
        unlock();
      },
    };
  } catch (error) {
    unlock();
    throw error;
  }
}

export async function createDatabaseIfMissing(serverUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("select from pg_catalog.pg_database where datname = $1", [name]);
    if (rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

async function checkReachable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    const { host, port } = new URL(url);
    throw new UserError(`Cannot reach the database at ${host}${port ? "" : ":5432"}: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}
