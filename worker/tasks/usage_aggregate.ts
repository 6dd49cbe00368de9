import type { Task } from "graphile-worker";
import type { PoolClient } from "pg";
import { rollUpDirtyDays } from "../../src/usage/aggregate.ts";
import { describeUnratable, rateCapturedUsage } from "../../src/usage/rate.ts";

/**
 * Rates what was captured, then rolls new and late usage events up into
 * usage_daily: only the days they touched, each rebuilt whole in one
 * transaction (idempotent, crash-safe). Runs every 10 minutes.
 */
const task: Task = async (_payload, helpers) => {
  const rating = await helpers.withPgClient((client) => rateCapturedUsage(client as PoolClient));
  for (const line of describeUnratable(rating.unratable)) helpers.logger.warn(`usage_aggregate: ${line}`);
  const days = await helpers.withPgClient((client) => rollUpDirtyDays(client as PoolClient));
  if (days > 0) helpers.logger.info(`usage_aggregate: rebuilt ${days} days`);
};

export default task;
