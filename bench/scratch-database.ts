// What every database bench shares: a server (DATABASE_URL's, else a
// throwaway embedded PostgreSQL), a migrated scratch database dropped at the
// end, owner connections, and cleanups that run once however the bench ends.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { untilSignal } from "../src/cli/signals.ts";
import { loadConfig } from "../src/config.ts";
import { ownerUrl, withDatabase } from "../src/db/connection-strings.ts";
import { createDatabaseIfMissing } from "../src/db/database.ts";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { migrate as migrateDatabase } from "../src/db/migrate.ts";

/** Progress on stderr, so that stdout carries only the final JSON line. */
export function progressOf(bench: string): (message: string) => void {
  return (message) => process.stderr.write(`[bench:${bench}] ${message}\n`);
}

/** Cleanups run last-in first-out, once, on success, failure or Ctrl-C. */
export class Teardown {
  #steps: Array<() => Promise<void>> = [];
  #running: Promise<void> | null = null;

  defer(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  run(): Promise<void> {
    this.#running ??= (async () => {
      for (const step of this.#steps.reverse()) {
        await step().catch((error: unknown) => process.stderr.write(`cleanup failed: ${(error as Error).message}\n`));
      }
    })();
    return this.#running;
  }
}

/** The bench's own embedded PostgreSQL, which a fault mode may crash and start again. */
export interface EmbeddedServer {
  /** kill -9 of the server and every backend (its process group), as a crash or the OOM killer would; resolves once all are gone. */
  crash(): Promise<void>;
  /** Starts it again on the same folder and port: crash recovery, then ready. */
  restart(): Promise<void>;
}

/** A superuser URL: DATABASE_URL's server, else an embedded PostgreSQL in a temporary folder (with its handle). */
async function startServer(teardown: Teardown, progress: (message: string) => void): Promise<{ url: string; embedded: EmbeddedServer | null }> {
  const configured = loadConfig().databaseUrl;
  if (configured) return { url: configured, embedded: null };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-bench-"));
  fs.chmodSync(dir, 0o755); // the postgres system user must reach the cluster inside
  teardown.defer(async () => fs.rmSync(dir, { recursive: true, force: true }));
  progress("starting an embedded PostgreSQL");
  const pgDir = path.join(dir, "pg");
  const password = crypto.randomBytes(16).toString("hex");
  let server = await startEmbeddedPostgres(pgDir, password);
  teardown.defer(() => server.stop());
  const port = Number(new URL(server.url).port);
  const embedded: EmbeddedServer = {
    async crash() {
      const pid = Number(fs.readFileSync(path.join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
      // The server runs in a process group of its own: the group is the server.
      process.kill(-pid, "SIGKILL");
      for (;;) {
        try {
          process.kill(-pid, 0);
        } catch {
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await server.stop(); // it has exited; this only settles the handle
    },
    async restart() {
      server = await startEmbeddedPostgres(pgDir, password, port);
    },
  };
  return { url: server.url, embedded };
}

/** A new database with every migration on a server of its own or DATABASE_URL's; dropped at the end. */
export async function createScratchDatabase(teardown: Teardown, progress: (message: string) => void): Promise<string> {
  return (await createScratchDatabaseOnServer(teardown, progress)).databaseUrl;
}

/** As createScratchDatabase, with the handle of the embedded server when the bench started one (null on DATABASE_URL's). */
export async function createScratchDatabaseOnServer(
  teardown: Teardown,
  progress: (message: string) => void,
): Promise<{ databaseUrl: string; embedded: EmbeddedServer | null }> {
  const { url: serverUrl, embedded } = await startServer(teardown, progress);
  const name = `custodian_bench_${crypto.randomBytes(4).toString("hex")}`;
  await createDatabaseIfMissing(serverUrl, name);
  teardown.defer(async () => {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    try {
      await admin.query(`drop database if exists ${admin.escapeIdentifier(name)} with (force)`);
    } finally {
      await admin.end();
    }
  });
  const databaseUrl = withDatabase(serverUrl, name);
  progress(`migrating ${name}`);
  // An empty authenticator password leaves that cluster-wide role as it is:
  // DATABASE_URL may name a server that other databases share.
  await migrateDatabase(databaseUrl, "");
  return { databaseUrl, embedded };
}

export async function connectAsOwner(databaseUrl: string, teardown: Teardown): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: ownerUrl(databaseUrl) });
  await client.connect();
  teardown.defer(() => client.end());
  return client;
}

/** Runs a bench to its JSON report, cleaning up on success, failure or Ctrl-C, and prints the report last. */
export async function runBench(
  progress: (message: string) => void,
  main: (teardown: Teardown) => Promise<Record<string, unknown>>,
): Promise<void> {
  const teardown = new Teardown();
  void untilSignal().then(async () => {
    progress("interrupted; cleaning up");
    await teardown.run();
    process.exit(130);
  });
  let report;
  try {
    report = await main(teardown);
  } finally {
    await teardown.run();
  }
  console.log(JSON.stringify(report));
}

/** The middle value (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** How long `work` takes, in milliseconds. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}
