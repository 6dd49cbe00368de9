import type { Task } from "graphile-worker";
import { inJobTransaction } from "../job-transaction.ts";

/**
 * Runs a reconcile check an admin or an auditor asked for
 * (requestUsageReconcileCheck): usage_reconcile over its range, its
 * differences kept with it, in one transaction.
 */
const task: Task = async (payload, helpers) => {
  const checkId = (payload as { checkId?: unknown } | null)?.checkId;
  if (typeof checkId !== "string") throw new Error('usage_reconcile_check needs a payload of { "checkId": "<uuid>" }.');
  const differences = await inJobTransaction(helpers, async (client) =>
    (await client.query<{ n: number | null }>("select app_private.run_usage_reconcile_check($1) as n", [checkId])).rows[0]!.n);
  helpers.logger.info(`usage_reconcile_check: check ${checkId} ${differences === null ? "failed (its error is kept with it)" : `found ${differences} differences`}`);
};

export default task;
