import type { Task } from "graphile-worker";
import { describeErasure, runErasure } from "../../src/gdpr/erasure.ts";
import { isUuid } from "../../src/uuid.ts";
import { inJobTransaction } from "../job-transaction.ts";

/** The job's payload: a verified erasure request, and the admin's reason when it overrides a legal hold. */
export interface GdprErasePayload {
  requestId: string;
  overrideReason?: string;
}

export function assertGdprErasePayload(payload: unknown): asserts payload is GdprErasePayload {
  const p = payload as Partial<GdprErasePayload> | null;
  if (typeof p !== "object" || p === null || !isUuid(p.requestId)) {
    throw new Error(`gdpr_erase needs {"requestId": "<uuid>"}, got ${JSON.stringify(payload)}`);
  }
  if (p.overrideReason !== undefined && typeof p.overrideReason !== "string") {
    throw new Error("gdpr_erase: overrideReason must be text when given");
  }
}

/**
 * Runs one verified erasure request (app_public.erase_data_subject, in one
 * transaction that the audit trail attributes to this job): a refusal (not verified, under a legal hold, residue found)
 * fails the job with the database's words and changes nothing.
 */
const task: Task = async (payload, helpers) => {
  assertGdprErasePayload(payload);
  const erasure = await inJobTransaction(helpers, (client) => runErasure(client, payload.requestId, payload.overrideReason ?? null));
  helpers.logger.info(`gdpr_erase: ${describeErasure(erasure)}`);
};

export default task;
