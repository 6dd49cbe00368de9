import express, { type Request, type Response } from "express";
import type { Pool } from "pg";
import { UserError } from "../../errors.ts";
import { isIsoDate } from "../../usage/dates.ts";
import { streamRows, type RowFormat } from "./stream-rows.ts";

/** Reads a route's query string: only the named parameters, each once; dates as YYYY-MM-DD; format json or csv. */
function readQuery(req: Request, allowed: string[]): { values: Record<string, string | null>; format: RowFormat } {
  for (const [name, value] of Object.entries(req.query)) {
    if (name !== "format" && !allowed.includes(name)) {
      throw new UserError(`Unknown parameter "${name}"; use ${[...allowed, "format"].join(", ")}.`);
    }
    if (typeof value !== "string") throw new UserError(`Give "${name}" once, as a plain value.`);
  }
  const text = (name: string) => (req.query[name] as string | undefined) || null;
  const format = text("format") ?? "json";
  if (format !== "json" && format !== "csv") throw new UserError(`format must be json or csv, not "${format}".`);
  const values = Object.fromEntries(allowed.map((name) => [name, text(name)]));
  for (const name of ["from", "to"].filter((name) => allowed.includes(name))) {
    const value = values[name];
    if (value === null) throw new UserError(`"${name}" is required: a date like 2026-11-01 (the range is from inclusive, to exclusive).`);
    if (!isIsoDate(value!)) {
      throw new UserError(`"${name}" must be a date like 2026-11-01, not "${value}".`);
    }
  }
  return { values, format };
}

interface Endpoint {
  /** Query parameters, in the order the SQL function takes them. */
  parameters: string[];
  /** A call of one app_public function with $1, $2, ... for the parameters. */
  sql: string;
  filename: string;
}

function route(pool: Pool, endpoint: Endpoint, staffOnly: boolean) {
  return async (req: Request, res: Response) => {
    if (!req.claims) {
      res.status(401).json({ error: "Sign in: send 'Authorization: Bearer <token>'." });
      return;
    }
    if (staffOnly && req.claims.role !== "admin" && req.claims.role !== "auditor") {
      res.status(403).json({ error: "Billing analytics across coaches are for admins and auditors." });
      return;
    }
    const { values, format } = readQuery(req, endpoint.parameters);
    await streamRows(pool, req, res, {
      sql: endpoint.sql,
      params: endpoint.parameters.map((name) => values[name]),
      format,
      filename: endpoint.filename,
    });
  };
}

const analytics: Record<string, Endpoint> = {
  usage: {
    parameters: ["from", "to", "granularity"],
    sql: "select * from app_public.usage_over_time($1::date, $2::date, coalesce($3, 'day'))",
    filename: "usage",
  },
  revenue: {
    parameters: ["from", "to"],
    sql: "select * from app_public.revenue_summary($1::date, $2::date)",
    filename: "revenue",
  },
  retranscriptions: {
    parameters: ["from", "to"],
    sql: "select * from app_public.retranscription_stats($1::date, $2::date)",
    filename: "retranscriptions",
  },
  "top-coaches": {
    parameters: ["from", "to", "limit"],
    sql: "select * from app_public.top_coaches($1::date, $2::date, coalesce($3::integer, 10))",
    filename: "top-coaches",
  },
};

/**
 * Usage over REST, thin and under the same row-level security as GraphQL:
 * GET /api/v1/usage (a coach's own events, an admin's any: all, or one
 * coach's with coach_profile_id) and
 * GET /api/v1/admin/analytics/{usage,revenue,retranscriptions,top-coaches}.
 */
export function usageRoutes(pool: Pool): express.Router {
  const router = express.Router();
  router.get(
    "/api/v1/usage",
    route(pool, {
      parameters: ["from", "to", "coach_profile_id"],
      sql: "select * from app_public.usage_in_range($1::date, $2::date, $3::uuid)",
      filename: "usage-events",
    }, false),
  );
  for (const [name, endpoint] of Object.entries(analytics)) {
    router.get(`/api/v1/admin/analytics/${name}`, route(pool, endpoint, true));
  }
  return router;
}
