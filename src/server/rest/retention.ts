import express, { type Request, type Response } from "express";
import type { Pool } from "pg";
import { getOnly, readQuery, requireStaff, type Parameter } from "./query.ts";
import { streamRows } from "./stream-rows.ts";

interface Endpoint {
  parameters: Parameter[];
  /** One statement, run as the caller's role; $1, $2, ... are the parameters. */
  sql: string;
  filename: string;
}

/** The planning document's API group /api/v1/retention/, one route each, for admins and auditors. */
const endpoints: Record<string, Endpoint> = {
  policies: {
    parameters: [],
    sql: `select name, category, target_table, clock_column::text as clock_column, period::text as period, action, legal_basis,
                 description, pg_catalog.to_jsonb(anonymize_columns) as anonymize_columns, enabled, created_at, updated_at
          from app_public.retention_policies order by name`,
    filename: "retention-policies",
  },
  preview: {
    parameters: [
      { name: "policy", kind: { type: "text" } },
      { name: "as_of", kind: { type: "timestamp" } },
    ],
    sql: `select policy_name, category, target_table, action, period::text as period, enabled, cutoff, rows_due, oldest_due, newest_due,
                 pg_catalog.to_jsonb(sample_keys) as sample_keys, rows_spared_by_hold, problem
          from app_public.retention_preview($1, coalesce($2::timestamptz, pg_catalog.now()))`,
    filename: "retention-preview",
  },
  runs: {
    parameters: [
      { name: "run_id", kind: { type: "uuid" } },
      { name: "limit", kind: { type: "integer", min: 1, max: 1000 } },
    ],
    // One row per policy per run, the newest runs first.
    sql: `select r.id as run_id, r.status as run_status, r.dry_run, r.as_of, r.policy_name as run_policy, r.task, r.started_at, r.finished_at,
                 r.error as run_error, p.policy_name, p.action, p.status, p.rows_archived, p.rows_deleted, p.cascade_rows_deleted,
                 p.rows_anonymized, p.rows_spared_by_hold, p.archives_written, p.errors, p.error, p.note
          from (select * from app_public.retention_runs where $1::uuid is null or id = $1::uuid
                order by started_at desc, id limit coalesce($2::integer, 100)) r
          left join app_public.retention_run_policies p on p.run_id = r.id
          order by r.started_at desc, r.id, p.started_at, p.policy_name`,
    filename: "retention-runs",
  },
};

/** The retention routes' names, for the README and tests. */
export const retentionRoutesNames = Object.keys(endpoints);

/**
 * GET /api/v1/retention/{policies,preview,runs}: the policies, the dry run
 * (policy, as_of) and the run log (run_id, limit), as JSON (one array, the
 * default), CSV or JSON Lines (format=jsonl), under the caller's role.
 * Admins and auditors; a coach is refused (403).
 */
export function retentionRoutes(pool: Pool): express.Router {
  const router = express.Router();
  for (const [name, endpoint] of Object.entries(endpoints)) {
    getOnly(router, `/api/v1/retention/${name}`, async (req: Request, res: Response) => {
      if (!requireStaff(req, res, "Retention policies, previews and runs are for admins and auditors.")) return;
      const { values, format } = readQuery(req.query, endpoint.parameters, ["json", "csv", "jsonl"] as const);
      await streamRows(pool, req, res, {
        sql: endpoint.sql,
        params: endpoint.parameters.map((parameter) => values[parameter.name]),
        format,
        filename: endpoint.filename,
      });
    });
  }
  return router;
}
