import type { Task } from "graphile-worker";
import { inJobTransaction } from "../job-transaction.ts";

/**
 * Makes the audit tables' month partitions ahead of time and moves any rows
 * that landed in a default partition into the month they belong to.
 */
const task: Task = async (_payload, helpers) => {
  const moved = await inJobTransaction(helpers, async (client) => {
    const { rows } = await client.query<{ moved: number }>("select audit.maintain_partitions(2) as moved");
    return rows[0]!.moved;
  });
  if (moved > 0) helpers.logger.info(`audit_maintain_partitions: moved ${moved} rows out of default partitions`);
};

export default task;
