import type { Request, Response } from "express";
import type { Pool } from "pg";
import { UserError } from "../../errors.ts";
import { streamRows } from "./stream-rows.ts";

// The columns of app_public.audit_event, in order; the export names them in camelCase.
const selectList = [
  "id", "occurred_at", "table_schema", "table_name", "record_key", "operation", "old_values", "new_values",
  "to_jsonb(changed_columns) as changed_columns", "transaction_id", "actor_kind", "actor_user_id", "actor_role",
  "request_id", "client_ip", "user_agent", "task", "job_id", "database_role", "session_user_name",
  "application_name", "client_addr", "details",
].join(", ");

const filterNames = ["tableName", "recordKey", "actorId", "actorKind", "operation", "occurredFrom", "occurredBefore"] as const;
type Filters = Record<(typeof filterNames)[number], string | null>;
type Format = "csv" | "jsonl";

const uuidPattern = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i;

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
    await streamRows(pool, req, res, {
      sql: `select ${selectList}
            from app_public.audit_events($1, $2::jsonb, $3::uuid, $4, $5, $6::timestamptz, $7::timestamptz)`,
      params: filterNames.map((name) => filters[name]),
      format,
      filename: "audit-export",
    });
  };
}
