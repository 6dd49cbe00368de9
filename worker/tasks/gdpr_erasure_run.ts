import type { Task } from "graphile-worker";
import { isUuid } from "../../src/uuid.ts";
import { inJobTransaction } from "../job-transaction.ts";

/**
 * Runs an erasure an admin asked for (requestDataSubjectErasure): the
 * erasure, in one transaction, with its outcome kept on the run (the
 * erasure's record, or the refusal in words, nothing erased then).
 */
const task: Task = async (payload, helpers) => {
  const runId = (payload as { runId?: unknown } | null)?.runId;
  if (!isUuid(runId)) throw new Error(`gdpr_erasure_run needs {"runId": "<uuid>"}, got ${JSON.stringify(payload)}`);
  const run = await inJobTransaction(helpers, async (client) =>
    (await client.query<{ request_id: string; erasure_id: string | null; error: string | null }>(
      "select request_id, erasure_id, error from app_private.run_data_subject_erasure($1)", [runId])).rows[0]!);
  helpers.logger.info(`gdpr_erasure_run: run ${runId} of request ${run.request_id} ` +
    (run.erasure_id ? `erased (record ${run.erasure_id})` : `did not erase (kept with the run): ${run.error}`));
};

export default task;
