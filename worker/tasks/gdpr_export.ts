import type { Task } from "graphile-worker";
import { loadConfig } from "../../src/config.ts";
import { buildDataSubjectExport } from "../../src/gdpr/data-subject-export.ts";
import { inJobTransaction } from "../job-transaction.ts";
import { isUuid } from "../../src/uuid.ts";

export interface GdprExportPayload {
  exportId: string;
}


export function assertGdprExportPayload(payload: unknown): asserts payload is GdprExportPayload {
  const exportId = (payload as { exportId?: unknown } | null)?.exportId;
  if (typeof exportId !== "string" || !isUuid(exportId)) {
    throw new Error(`gdpr_export needs {"exportId": "<uuid>"}, not ${JSON.stringify(payload)}.`);
  }
}

/**
 * Builds the export an admin or coach asked for (requestDataSubjectExport
 * queues this job): the zip in its chunks, then built with its manifest and
 * expiry, in one repeatable-read transaction, so a failed or killed run
 * leaves nothing and the retry starts clean. A second run finds it built.
 */
const task: Task = async (payload, helpers) => {
  assertGdprExportPayload(payload);
  const { gdprExportTtlDays } = loadConfig();
  const built = await inJobTransaction(helpers, (client) => buildDataSubjectExport(client, payload.exportId, gdprExportTtlDays), "repeatable read");
  if (built === null) {
    helpers.logger.info(`gdpr_export: export ${payload.exportId} is built already`);
    return;
  }
  const rows = built.manifest.tables.reduce((sum, table) => sum + table.rows, 0);
  helpers.logger.info(
    `gdpr_export: built export ${built.exportId} of request ${built.requestId}: ${rows} rows, ${built.byteSize} bytes, expires ${built.expiresAt.toISOString()}`,
  );
};

export default task;
