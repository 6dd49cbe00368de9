import express, { type Request, type Response } from "express";
import type { Pool } from "pg";
import { getOnly, readQuery, requireSignIn, requireStaff, type Parameter } from "./query.ts";
import { streamRows } from "./stream-rows.ts";

export interface Endpoint {
  /** Query parameters, in the order the SQL function takes them. */
  parameters: Parameter[];
  /** A call of one app_public function with $1, $2, ... for the parameters. */
  sql: string;
  filename: string;
}

function route(pool: Pool, endpoint: Endpoint, staffOnly: boolean) {
  return async (req: Request, res: Response) => {
    const allowed = staffOnly
      ? requireStaff(req, res, "Billing analytics across coaches are for admins and auditors.")
      : requireSignIn(req, res);
    if (!allowed) return;
    const { values, format } = readQuery(req.query, endpoint.parameters, ["json", "csv", "jsonl"] as const);
    await streamRows(pool, req, res, {
      sql: endpoint.sql,
      params: endpoint.parameters.map((parameter) => values[parameter.name]),
      format,
      filename: endpoint.filename,
    });
  };
}

/** A range of days: from inclusive, to exclusive, as every door reads a range. */
export const range: Parameter[] = [
  { name: "from", kind: { type: "date", required: true } },
  { name: "to", kind: { type: "date", required: true } },
];
export const monthRange: Parameter[] = [
  { name: "from", kind: { type: "date", required: true, firstOfMonth: true } },
  { name: "to", kind: { type: "date", required: true, firstOfMonth: true } },
];

/** One coach's figures instead of every coach's (GraphQL's coachProfileId). */
export const coach: Parameter = { name: "coach_profile_id", kind: { type: "uuid" } };

/** The analytics GraphQL offers, one route each, named after the GraphQL field (the exports serve them too). */
export const analytics: Record<string, Endpoint> = {
  usage: {
    parameters: [...range, { name: "granularity", kind: { type: "choice", values: ["day", "week", "month"] } }, coach],
    sql: "select * from app_public.usage_over_time($1::date, $2::date, coalesce($3::app_public.usage_granularity, 'day'), $4::uuid)",
    filename: "usage",
  },
  providers: {
    parameters: [...range, coach],
    sql: "select * from app_public.usage_by_provider($1::date, $2::date, $3::uuid)",
    filename: "providers",
  },
  revenue: {
    parameters: [...range, coach],
    sql: "select * from app_public.revenue_summary($1::date, $2::date, $3::uuid)",
    filename: "revenue",
  },
  "monthly-revenue": {
    parameters: monthRange,
    sql: "select * from app_public.monthly_revenue($1::date, $2::date)",
    filename: "monthly-revenue",
  },
  retranscriptions: {
    parameters: [...range, coach],
    sql: "select * from app_public.retranscription_stats($1::date, $2::date, $3::uuid)",
    filename: "retranscriptions",
  },
  failures: {
    parameters: [...range, coach],
    sql: "select * from app_public.failure_stats($1::date, $2::date, $3::uuid)",
    filename: "failures",
  },
  "top-coaches": {
    parameters: [...range, { name: "limit", kind: { type: "integer", min: 1, max: 1000 } }],
    sql: "select * from app_public.top_coaches($1::date, $2::date, coalesce($3::integer, 10))",
    filename: "top-coaches",
  },
};

/** The analytics routes' names, for the README and tests. */
export const analyticsRoutes = Object.keys(analytics);

/**
 * Usage over REST, thin and under the same row-level security as GraphQL:
 * GET /api/v1/usage (a coach's own events, an admin's any: all, or one
 * coach's with coach_profile_id; a coach profile the caller may not see is a
 * 404; billing_month, provider and model narrow them) and GET /api/v1/admin/analytics/{usage,providers,revenue,
 * monthly-revenue,retranscriptions,failures,top-coaches}; each as JSON (one
 * array, the default), CSV or JSON Lines (format=jsonl).
 */
export function usageRoutes(pool: Pool): express.Router {
  const router = express.Router();
  getOnly(
    router,
    "/api/v1/usage",
    route(pool, {
      parameters: [
        ...range,
        coach,
        { name: "billing_month", kind: { type: "date", firstOfMonth: true } },
        { name: "provider", kind: { type: "text" } },
        { name: "model", kind: { type: "text" } },
      ],
      sql: "select * from app_public.usage_in_range($1::date, $2::date, $3::uuid, $4::date, $5, $6)",
      filename: "usage-events",
    }, false),
  );
  for (const [name, endpoint] of Object.entries(analytics)) {
    getOnly(router, `/api/v1/admin/analytics/${name}`, route(pool, endpoint, true));
  }
  return router;
}
