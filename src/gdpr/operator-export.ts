import fs from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { UserError } from "../errors.ts";
import { buildDataSubjectExport, type BuiltExport } from "./data-subject-export.ts";
import { exportBytes } from "./export-chunks.ts";

export const operatorVerification = "Verified by the operator who ran `custodian gdpr export` on the command line.";

/**
 * What `custodian gdpr export --client ID --out FILE` does, on an owner
 * connection (also the entry point bench:gdpr times): files an access request
 * for the client with the operator's verification, asks for its export and
 * builds it at once (one transaction: a failure files nothing), writes the
 * zip to `out` (created, never overwritten, readable by its owner only) and
 * completes the request.
 */
export async function exportClientToFile(client: pg.ClientBase, clientId: string, out: string, timeToLiveDays: number): Promise<BuiltExport> {
  // Created first, so that a path that cannot be written fails before anything is filed.
  const file = await fs.promises.open(out, "wx", 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new UserError(error.code === "EEXIST" ? `${out} exists already; name a new file.` : `Cannot create ${out}: ${error.message}`);
  });
  let built: BuiltExport | null = null;
  try {
    await client.query("begin isolation level repeatable read");
    try {
      const known = await client.query("select 1 from app_public.clients where id = $1", [clientId]);
      if (known.rowCount === 0) throw new UserError(`There is no client ${clientId}.`);
      const filed = await client.query<{ id: string }>(
        "insert into app_public.data_subject_requests (kind, client_id) values ('access', $1) returning id", [clientId]);
      const requestId = filed.rows[0]!.id;
      await client.query("update app_public.data_subject_requests set state = 'verified', verification = $2 where id = $1", [requestId, operatorVerification]);
      await client.query("update app_public.data_subject_requests set state = 'in_progress' where id = $1", [requestId]);
      const asked = await client.query<{ id: string }>("select id from app_public.request_data_subject_export($1)", [requestId]);
      const exportId = asked.rows[0]!.id;
      built = await buildDataSubjectExport(client, exportId, timeToLiveDays);
      // Built here, so the job the request queued has nothing left to do.
      await client.query("select graphile_worker.remove_job($1)", [`gdpr_export:${exportId}`]);
      await client.query("commit");
    } catch (error) {
      await client.query("rollback");
      throw error;
    }
    await client.query("begin read only");
    try {
      await pipeline(Readable.from(exportBytes(client, built!.exportId)), file.createWriteStream());
    } finally {
      await client.query("rollback");
    }
    await client.query("update app_public.data_subject_requests set state = 'completed' where id = $1", [built!.requestId]);
    return built!;
  } catch (error) {
    await file.close().catch(() => undefined);
    await fs.promises.rm(out, { force: true });
    throw error;
  }
}
