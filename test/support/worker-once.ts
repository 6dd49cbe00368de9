import pg from "pg";
import { runCli, type CliResult } from "./cli.ts";
import { testEnvironment } from "./environment.ts";

/**
 * `custodian worker --once` on the shared test database. Test files run side
 * by side, and a worker takes every job that is due, another file's too: had
 * two runs overlapped, one could return while the other still held this
 * file's job. So runs take turns (an advisory lock held while the command
 * runs), and each one ends with every job due at its start done, by this run
 * or by one before it: what a test checks of its jobs is read from the
 * database, not from this run's output.
 *
 * `queue`, when given, adds jobs during the turn, so this run is the one that
 * runs them: a job meant to fail is never run (and logged) by another file's
 * worker, whose test would read its error as its own.
 */
export async function runWorkerOnce(extra: Record<string, string> = {}, queue?: () => Promise<unknown>): Promise<CliResult> {
  const turn = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await turn.connect();
  try {
    await turn.query("select pg_advisory_lock(hashtext('custodian tests: worker --once'))");
    await queue?.();
    return await runCli(["worker", "--once"], testEnvironment(extra));
  } finally {
    await turn.end();
  }
}
