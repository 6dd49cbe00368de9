import express, { type Request, type Response } from "express";
import type { Pool } from "pg";
import { getOnly, readQuery, requireSignIn, type Parameter } from "./query.ts";
import { streamRows } from "./stream-rows.ts";

// The columns of app_public.audit_event, in order; the export names them in camelCase.
export const selectList = [
  "id", "occurred_at", "table_schema", "table_name", "record_key", "operation", "old_values", "new_values",
  "to_jsonb(changed_columns) as changed_columns", "transaction_id", "actor_kind", "actor_user_id", "actor_role",
  "request_id", "client_ip", "user_agent", "task", "job_id", "database_role", "session_user_name",
  "application_name", "client_addr", "details",
].join(", ");

/** A page of the export holds this many events unless `limit` says fewer; never more than `maxPage`. */
export const defaultPage = 1000;
export const maxPage = 10_000;

// The values of audit.operation and audit.actor_kind (GraphQL's AuditOperation and AuditActorKind).
const operations = ["INSERT", "UPDATE", "DELETE", "TRUNCATE", "SOFT_DELETE", "RESTORE", "HARD_DELETE"] as const;
const actorKinds = ["user", "worker", "migration", "system", "unknown"] as const;

/** The filters, in the order app_public.audit_events takes them; camelCase names still accepted (deprecated). */
export const filters: Parameter[] = [
  { name: "table_name", formerName: "tableName", kind: { type: "text" } },
  { name: "record_key", formerName: "recordKey", kind: { type: "text" } },
  { name: "actor_id", formerName: "actorId", kind: { type: "uuid" } },
  { name: "actor_kind", formerName: "actorKind", kind: { type: "choice", values: actorKinds } },
  { name: "operation", kind: { type: "choice", values: operations } },
  { name: "occurred_from", formerName: "occurredFrom", kind: { type: "timestamp" } },
  { name: "occurred_before", formerName: "occurredBefore", kind: { type: "timestamp" } },
];
const paging: Parameter[] = [
  { name: "limit", kind: { type: "integer", min: 1, max: maxPage } },
  { name: "after", kind: { type: "integer", min: 0, max: Number.MAX_SAFE_INTEGER } },
];

/** A record key as JSON: a JSON object or number as given, anything else (a uuid) as a string. */
export function recordKeyJson(value: string): string {
  try {
    const parsed: unknown = JSON.parse(value);
    if ((parsed !== null && typeof parsed === "object") || typeof parsed === "number") return value;
  } catch {
    // not JSON: a bare key value such as a uuid
  }
  return JSON.stringify(value);
}

/** The same request with `after` set to the last event sent: the next page. */
function nextPage(req: Request, lastId: string): string {
  const url = new URL(req.originalUrl, "http://localhost");
  url.searchParams.set("after", lastId);
  return `${url.pathname}?${url.searchParams.toString()}`;
}

/**
 * GET /api/v1/audit: the audit trail as JSON Lines or CSV, oldest first, a
 * page at a time (limit, at most 10,000; after: the last event id of the
 * previous page); a `Link: <...>; rel="next"` header names the next page
 * while there is one. The same SQL function as GraphQL's auditEvents, as the
 * caller's role, so the same row-level security and pii rules apply.
 */
export function auditRoutes(pool: Pool): express.Router {
  const router = express.Router();
  getOnly(router, "/api/v1/audit", async (req: Request, res: Response) => {
    if (!requireSignIn(req, res)) return;
    const { values, format } = readQuery(req.query, [...filters, ...paging], ["jsonl", "csv"] as const);
    if (values.record_key !== null) values.record_key = recordKeyJson(values.record_key);
    const limit = Number(values.limit ?? defaultPage);
    await streamRows(pool, req, res, {
      sql: `select ${selectList}
            from app_public.audit_events($1, $2::jsonb, $3::uuid, $4::audit.actor_kind, $5::audit.operation, $6::timestamptz, $7::timestamptz)
            where $8::bigint is null or id > $8::bigint
            order by id
            limit $9::integer + 1`,
      params: [...filters.map((parameter) => values[parameter.name]), values.after, limit],
      format,
      filename: "audit-export",
      page: { size: limit, next: (lastRow) => nextPage(req, lastRow["id"]!) },
      parameterNames: { tableName: "table_name", recordKey: "record_key", occurredFrom: "occurred_from", occurredBefore: "occurred_before" },
    });
  });
  return router;
}
