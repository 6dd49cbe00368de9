import { runDueJobs, startWorker } from "../../worker/runner.ts";
import { parseFlags } from "../args.ts";
import { listenForStop } from "../signals.ts";
import { withSession } from "../session.ts";

/**
 * `worker --once` may use a running server's embedded database; a worker that
 * keeps running needs it to itself (it would outlive the server's database).
 */
export async function worker(args: string[]): Promise<void> {
  const { values } = parseFlags(args, { once: { type: "boolean" } });
  if (values.once) {
    await withSession(({ database }) => runDueJobs(database.url));
    return;
  }
  const stopRequest = listenForStop();
  await withSession(async ({ database }) => {
    if (stopRequest.reason !== null) return;
    const running = await startWorker(database.url);
    process.stdout.write(`Worker running (pool ${running.poolId}): jobs and the crontab. Stop with Ctrl-C or SIGTERM.\n`);
    await stopRequest.requested;
    await running.stop();
  }, "exclusive");
}
