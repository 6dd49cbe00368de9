import type { Request, Response } from "express";
import type { Pool, PoolClient } from "pg";
import { UserError } from "../../errors.ts";
import { log } from "../../log.ts";
import { pgSettingsFor } from "../auth.ts";
import { isUserFacing } from "../mask-error.ts";

/** The columns of app_public.audit_event, in order, with their JSON names. */
const columns = [
  ["id", "id"], ["occurred_at", "occurredAt"], ["table_schema", "tableSchema"], ["table_name", "tableName"],
  ["record_key", "recordKey"], ["operation", "operation"], ["old_values", "oldValues"], ["new_values", "newValues"],
  ["changed_columns", "changedColumns"], ["transaction_id", "transactionId"], ["actor_kind", "actorKind"],
  ["actor_user_id", "actorUserId"], ["actor_role", "actorRole"], ["request_id", "requestId"],
  ["client_ip", "clientIp"], ["user_agent", "userAgent"], ["task", "task"], ["job_id", "jobId"],
  ["database_role", "databaseRole"], ["session_user_name", "sessionUserName"],
  ["application_name", "applicationName"], ["client_addr", "clientAddr"], ["details", "details"],
] as const;

// occurred_at as JSON text: ISO 8601 to the microsecond, as GraphQL gives it
// (a JavaScript Date would keep milliseconds only).
const selectList = columns
  .map(([column]) => (column === "occurred_at" ? `to_json(e.occurred_at) #>> '{}' as occurred_at` : `e.${column}`))
  .join(", ");

const filterNames = ["tableName", "recordKey", "actorId", "actorKind", "operation", "occurredFrom", "occurredBefore"] as const;
type Filters = Record<(typeof filterNames)[number], string | null>;
type Format = "csv" | "jsonl";

const uuidPattern = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i;
const fetchSize = 500;

/** Reads and checks the query string; anything odd is a UserError (400). */
function parseQuery(query: Request["query"]): { filters: Filters; format: Format } {
  for (const [name, value] of Object.entries(query)) {
    if (name !== "format" && !(filterNames as readonly string[]).includes(name)) {
      throw new UserError(`Unknown parameter "${name}"; use ${filterNames.join(", ")} or format.`);
    }
    if (typeof value !== "string") throw new UserError(`Give "${name}" once, as a plain value.`);
  }
  const text = (name: string) => (query[name] as string | undefined) || null;
  const format = text("format") ?? "jsonl";
  if (format !== "csv" && format !== "jsonl") throw new UserError(`format must be csv or jsonl, not "${format}".`);
  const filters = Object.fromEntries(filterNames.map((name) => [name, text(name)])) as Filters;
  for (const name of ["occurredFrom", "occurredBefore"] as const) {
    const value = filters[name];
    if (value !== null && Number.isNaN(Date.parse(value))) {
      throw new UserError(`${name} must be an ISO 8601 timestamp (like 2026-11-25T10:00:00Z), not "${value}".`);
    }
  }
  if (filters.actorId !== null && !uuidPattern.test(filters.actorId)) {
    throw new UserError(`actorId must be a UUID, not "${filters.actorId}".`);
  }
  if (filters.recordKey !== null) filters.recordKey = recordKeyJson(filters.recordKey);
  return { filters, format };
}

/** A record key as JSON: a JSON object or number as given, anything else (a uuid) as a string. */
function recordKeyJson(value: string): string {
  try {
    const parsed: unknown = JSON.parse(value);
    if ((parsed !== null && typeof parsed === "object") || typeof parsed === "number") return value;
  } catch {
    // not JSON: a bare key value such as a uuid
  }
  return JSON.stringify(value);
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = value instanceof Date ? value.toISOString() : typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function formatRow(row: Record<string, unknown>, format: Format): string {
  if (format === "csv") return columns.map(([column]) => csvField(row[column])).join(",") + "\r\n";
  return JSON.stringify(Object.fromEntries(columns.map(([column, name]) => [name, row[column] ?? null]))) + "\n";
}

/**
 * Writes, waiting while the client is slow, so a large export never piles up
 * in memory; a client that goes away ends the wait, so the connection and its
 * transaction are given back.
 */
function write(res: Response, chunk: string): Promise<void> {
  if (res.write(chunk) || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

async function openCursor(client: PoolClient, req: Request, filters: Filters): Promise<void> {
  await client.query("begin read only");
  await client.query("select pg_catalog.set_config(key, value, true) from json_each_text($1::json)", [
    JSON.stringify(pgSettingsFor(req)),
  ]);
  await client.query(
    `declare audit_export no scroll cursor for
       select ${selectList}
       from app_public.audit_events($1, $2::jsonb, $3::uuid, $4, $5, $6::timestamptz, $7::timestamptz) e`,
    filterNames.map((name) => filters[name]),
  );
}

/**
 * GET /api/v1/audit: the audit trail as CSV or JSON Lines, streamed. The same
 * SQL function as GraphQL's auditEvents, as the caller's role, so the same
 * row-level security and pii rules apply.
 */
export function auditExport(pool: Pool) {
  return async (req: Request, res: Response) => {
    if (!req.claims) {
      res.status(401).json({ error: "Sign in: send 'Authorization: Bearer <token>'." });
      return;
    }
    const { filters, format } = parseQuery(req.query);
    const client = await pool.connect();
    let closed = false;
    res.on("close", () => (closed = true));
    try {
      let batch;
      try {
        await openCursor(client, req, filters);
        batch = await client.query(`fetch ${fetchSize} from audit_export`);
      } catch (error) {
        // The filters are checked in SQL: a bad one is the caller's to fix.
        if (isUserFacing(error)) throw new UserError(error.message);
        throw error;
      }
      const extension = format === "csv" ? "csv" : "jsonl";
      res.status(200);
      res.setHeader("Content-Type", format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8");
      res.setHeader("Content-Disposition", `attachment; filename="audit-export.${extension}"`);
      if (format === "csv") await write(res, columns.map(([, name]) => name).join(",") + "\r\n");
      while (batch.rows.length > 0 && !closed) {
        await write(res, batch.rows.map((row) => formatRow(row, format)).join(""));
        if (batch.rows.length < fetchSize) break;
        batch = await client.query(`fetch ${fetchSize} from audit_export`);
      }
      res.end();
    } catch (error) {
      if (res.headersSent) {
        // Too late for a status: cut the stream so the export is visibly incomplete.
        log.error({ err: error, requestId: req.id }, "audit export failed while streaming");
        res.destroy(error as Error);
        return;
      }
      throw error;
    } finally {
      await client.query("rollback").catch(() => undefined);
      client.release();
    }
  };
}
