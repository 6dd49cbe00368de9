import type { Task } from "graphile-worker";
import type { PoolClient } from "pg";
import { rollUpDirtyDays } from "../../src/usage/aggregate.ts";
import { describeUnratable, rateCapturedUsage } from "../../src/usage/rate.ts";

/**
 * A run started by the crontab (every minute) comes back this long after it
 * ends, and so does each run after it: a charge is rated seconds after its
 * attempt, and readers price only those seconds of captures on the fly (their
 * cost grows with the queue). The crontab's next minute takes the same job
 * key, so there is never more than one run waiting.
 */
const RATE_AGAIN_AFTER_MS = 5_000;

/**
 * Prices the usage captured since the last run into usage events (the rating
 * step, exactly once per record), then rolls up the days it touched. A record
 * that cannot be rated (a coach without a plan) is kept and logged each run.
 * A job added by hand (`custodian worker --once` in tests) runs once.
 */
const task: Task = async (payload, helpers) => {
  const scheduled = typeof payload === "object" && payload !== null && ("_cron" in payload || "again" in payload);
  try {
    const result = await helpers.withPgClient((client) => rateCapturedUsage(client as PoolClient));
    for (const line of describeUnratable(result.unratable)) helpers.logger.warn(`usage_rate: ${line}`);
    if (result.rated > 0) {
      const days = await helpers.withPgClient((client) => rollUpDirtyDays(client as PoolClient));
      helpers.logger.info(`usage_rate: rated ${result.rated} usage records, rolled up ${days} days`);
    }
  } finally {
    if (scheduled) {
      await helpers.addJob("usage_rate", { again: true }, { jobKey: "usage_rate", runAt: new Date(Date.now() + RATE_AGAIN_AFTER_MS), maxAttempts: 1 });
    }
  }
};

export default task;
