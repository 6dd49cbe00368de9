import express, { type Request, type Response } from "express";
import type { Pool } from "pg";
import { UserError } from "../../errors.ts";
import { exportBytes } from "../../gdpr/export-chunks.ts";
import { log } from "../../log.ts";
import { getOnly, readQuery, requireSignIn } from "./query.ts";
import { beginAsCaller, write } from "./stream-rows.ts";
import { isUuid } from "../../uuid.ts";

/** Why an export cannot be downloaded now: 404 (no such request or export), 409 (being built), 410 (expired). */
class ExportUnavailable extends Error {
  readonly status: 404 | 409 | 410;

  constructor(status: 404 | 409 | 410, message: string) {
    super(message);
    this.status = status;
  }
}


interface ExportState {
  export_id: string | null;
  state: "building" | "ready" | "expired" | null;
  byte_size: string | null;
  sha256: string | null;
  expires_at: Date | null;
}

/**
 * GET /api/v1/gdpr/requests/:id/export: the zip answering an access or
 * portability request, for an admin or the coach of the client (row-level
 * security decides, as the caller: another coach's request is a 404, as
 * with any record they may not see). Streamed from its chunks a few
 * mebibytes at a time, with its length and hash in the headers; 409 while it
 * is being built, 410 once it has expired.
 */
export function gdprExportRoutes(pool: Pool): express.Router {
  const router = express.Router();
  getOnly(router, "/api/v1/gdpr/requests/:id/export", async (req: Request, res: Response) => {
    if (!requireSignIn(req, res)) return;
    if (req.claims!.role !== "admin" && req.claims!.role !== "coach") {
      res.status(403).json({ error: "An export is downloaded by an admin or by the coach of the client; auditors read its record (GraphQL's dataSubjectExports)." });
      return;
    }
    readQuery(req.query, [], ["zip"] as const);
    const requestId = String(req.params.id);
    if (!isUuid(requestId)) throw new UserError(`The request id must be a UUID, not "${requestId}".`);

    const client = await pool.connect();
    try {
      await beginAsCaller(client, req);
      const { rows } = await client.query<ExportState>(
        `select e.id as export_id, app_public.data_subject_exports_state(e) as state, e.byte_size, e.sha256, e.expires_at
         from app_public.data_subject_requests r left join app_public.data_subject_exports e on e.request_id = r.id
         where r.id = $1`,
        [requestId],
      );
      const found = rows[0];
      if (!found) throw new ExportUnavailable(404, `There is no data-subject request ${requestId} of yours.`);
      if (found.export_id === null) {
        throw new ExportUnavailable(404, `Request ${requestId} has no export; ask for one with GraphQL's requestDataSubjectExport.`);
      }
      if (found.state === "building") {
        res.setHeader("Retry-After", "30");
        throw new ExportUnavailable(409, `The export of request ${requestId} is still being built; try again in a moment.`);
      }
      if (found.state === "expired") {
        throw new ExportUnavailable(410, `The export of request ${requestId} expired at ${found.expires_at!.toISOString()} and its bytes are deleted; a new access request gets a new export.`);
      }

      res.status(200);
      res.setHeader("Content-Type", "application/zip");
      res.setHeader("Content-Disposition", `attachment; filename="gdpr-export-${requestId}.zip"`);
      res.setHeader("Content-Length", found.byte_size!);
      res.setHeader("Repr-Digest", `sha-256=:${Buffer.from(found.sha256!, "hex").toString("base64")}:`);
      res.setHeader("ETag", `"${found.sha256}"`);
      // Personal data: no cache on the way may keep a copy.
      res.setHeader("Cache-Control", "no-store");
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      let sent = 0;
      try {
        for await (const bytes of exportBytes(client, found.export_id)) {
          if (res.destroyed) break;
          await write(res, bytes);
          sent += bytes.length;
        }
        if (sent !== Number(found.byte_size) && !res.destroyed) throw new Error(`export ${found.export_id} sent ${sent} of ${found.byte_size} bytes`);
        res.end();
      } catch (error) {
        // Too late for a status: cut the stream so the download is visibly incomplete.
        log.error({ err: error, requestId: req.id }, "GDPR export download failed while streaming");
        res.destroy(error as Error);
      }
    } finally {
      await client.query("rollback").catch(() => undefined);
      client.release();
    }
  });
  return router;
}
