import { runDueJobs, startWorker } from "../../worker/runner.ts";
import { parseFlags } from "../args.ts";
import { untilSignal } from "../signals.ts";
import { withSession } from "../session.ts";

export async function worker(args: string[]): Promise<void> {
  const { values } = parseFlags(args, { once: { type: "boolean" } });
  await withSession(async ({ database }) => {
    if (values.once) {
      await runDueJobs(database.url);
      return;
    }
    const running = await startWorker(database.url);
    await untilSignal();
    await running.stop();
  });
}
