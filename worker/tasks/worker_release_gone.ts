import type { Task } from "graphile-worker";
import type { PoolClient } from "pg";
import { describeSweep, releaseWhatGoneWorkersLeft } from "../../src/worker/gone-workers.ts";

/**
 * Every minute: releases the jobs of worker processes that died (their pool's
 * presence session ended), so another worker runs them at once, and closes a
 * retention run a dead process left marked running. A starting worker does
 * the same; this catches a worker dying while others keep running.
 */
const task: Task = async (_payload, helpers) => {
  const sweep = await helpers.withPgClient((client) => releaseWhatGoneWorkersLeft(client as PoolClient));
  for (const line of describeSweep(sweep)) helpers.logger.warn(`worker_release_gone: ${line}`);
};

export default task;
