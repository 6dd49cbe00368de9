import pg from "pg";
import { runCli, type CliResult } from "./cli.ts";
import { testEnvironment } from "./environment.ts";

/**
 * `custodian worker --once` on the shared test database. Test files run side
 * by side, and a worker takes every job that is due, another file's too: had
 * two runs overlapped, one could return while the other still held this
 * file's job. So runs take turns (an advisory lock held while the command
 * runs), and each one ends with every job due at its start done.
 */
export async function runWorkerOnce(extra: Record<string, string> = {}): Promise<CliResult> {
  const turn = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await turn.connect();
  try {
    await turn.query("select pg_advisory_lock(hashtext('custodian tests: worker --once'))");
    return await runCli(["worker", "--once"], testEnvironment(extra));
  } finally {
    await turn.end();
  }
}
