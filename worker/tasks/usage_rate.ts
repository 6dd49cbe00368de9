import type { Task } from "graphile-worker";
import type { PoolClient } from "pg";
import { rollUpDirtyDays } from "../../src/usage/aggregate.ts";
import { describeUnratable, rateCapturedUsage } from "../../src/usage/rate.ts";

/**
 * Prices the usage captured since the last run into usage events (the rating
 * step, exactly once per record), then rolls up the days it touched. Runs
 * every minute, so a charge is rated about a minute after its attempt ends;
 * until then every reader that shows money prices it on the fly. A record
 * that cannot be rated (a coach without a plan) is kept and logged each run.
 */
const task: Task = async (_payload, helpers) => {
  const result = await helpers.withPgClient((client) => rateCapturedUsage(client as PoolClient));
  for (const line of describeUnratable(result.unratable)) helpers.logger.warn(`usage_rate: ${line}`);
  if (result.rated > 0) {
    const days = await helpers.withPgClient((client) => rollUpDirtyDays(client as PoolClient));
    helpers.logger.info(`usage_rate: rated ${result.rated} usage records, rolled up ${days} days`);
  }
};

export default task;
