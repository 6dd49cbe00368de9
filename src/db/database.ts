import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { Config } from "../config.ts";
import { UserError } from "../errors.ts";
import { withDatabase } from "./connection-strings.ts";
import { busy, holderOf, lockDataDir } from "./data-dir-lock.ts";
import { startEmbeddedPostgres } from "./embedded.ts";
import type { Secrets } from "./secrets.ts";

export interface Database {
  /** Superuser (or CREATEROLE) connection to Custodian's database. */
  url: string;
  embedded: boolean;
  /** Stops the embedded PostgreSQL this process started (nothing for DATABASE_URL or a running server's database). */
  stop(): Promise<void>;
}

export interface OpenOptions {
  /** What runs, for the data folder's lock and its refusals: `start`, `audit verify`, ... */
  command: string;
  /**
   * `shared`: a command that finishes may use the database of a Custodian
   * server running on the same data folder. `exclusive`: the command starts
   * the embedded database itself and is refused while anything else has it
   * (a second server; `db reset`, which drops the database a server uses).
   */
  access: "shared" | "exclusive";
}

const EMBEDDED_DATABASE = "custodian";

/**
 * The server named by DATABASE_URL; or the embedded PostgreSQL under
 * `<dataDir>/pg`: a running Custodian server's, when `shared` and one runs,
 * else one started for this process (and stopped by `stop()`).
 */
export async function openDatabase(config: Config, secrets: Secrets, options: OpenOptions): Promise<Database> {
  if (config.databaseUrl) {
    await checkReachable(config.databaseUrl);
    return { url: config.databaseUrl, embedded: false, stop: async () => {} };
  }
  if (options.access === "shared") {
    const running = await runningServerUrl(config.dataDir, secrets, options.command);
    if (running) return { url: withDatabase(running, EMBEDDED_DATABASE), embedded: true, stop: async () => {} };
  }
  const lock = lockDataDir(config.dataDir, options.command);
  try {
    const server = await startEmbeddedPostgres(path.join(config.dataDir, "pg"), secrets.embeddedSuperuserPassword);
    await createDatabaseIfMissing(server.url, EMBEDDED_DATABASE);
    lock.publishPort(Number(new URL(server.url).port));
    return {
      url: withDatabase(server.url, EMBEDDED_DATABASE),
      embedded: true,
      async stop() {
        await server.stop();
        lock.release();
      },
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/**
 * The superuser URL of the embedded PostgreSQL that a running `custodian
 * start` publishes in the data folder; null when none runs. A server still
 * starting is waited for; a one-off command holding the folder is refused.
 */
async function runningServerUrl(dataDir: string, secrets: Secrets, command: string): Promise<string | null> {
  for (let waited = 0; ; waited += 250) {
    const holder = holderOf(dataDir);
    if (holder === null) return null;
    if (holder.command !== "start") throw busy(dataDir, holder, command);
    if (holder.port !== null) {
      const url = `postgres://postgres:${encodeURIComponent(secrets.embeddedSuperuserPassword)}@127.0.0.1:${holder.port}/postgres`;
      await checkReachable(url, `the database of the Custodian running on ${dataDir} (pid ${holder.pid})`);
      return url;
    }
    if (waited >= 120_000) {
      throw new UserError(`Custodian (pid ${holder.pid}) has been starting on ${dataDir} for two minutes; try again when it is running.`);
    }
    await sleep(250);
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

async function checkReachable(url: string, what?: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    const { host, port } = new URL(url);
    throw new UserError(`Cannot reach ${what ?? `the database at ${host}${port ? "" : ":5432"}`}: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}
