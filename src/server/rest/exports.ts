import express, { type Request, type Response } from "express";
import type { Pool } from "pg";
import { exportFilename, exportFormats, exportNamed, exportNames, exportParams, type ExportDefinition } from "../../exports/catalog.ts";
import { getOnly, readQuery, requireSignIn } from "./query.ts";
import { streamRows } from "./stream-rows.ts";

function route(pool: Pool, definition: ExportDefinition) {
  return async (req: Request, res: Response) => {
    if (!requireSignIn(req, res)) return;
    const { values, format } = readQuery(req.query, definition.parameters, exportFormats);
    await streamRows(pool, req, res, {
      sql: definition.sql,
      params: exportParams(definition, values),
      format,
      filename: exportFilename(definition, values),
      parameterNames: definition.parameterNames,
    });
  };
}

/**
 * GET /api/v1/exports/{usage-events, invoices, analytics/<name>, audit-events}:
 * a whole range in one response, JSON Lines (the default) or CSV, streamed
 * through a cursor as the caller's role (row-level security and the cost
 * columns as in GraphQL: a coach's own rows, every coach's for admins and
 * auditors), in constant memory whatever the range holds. Any other name
 * under /api/v1/exports is a 400 naming the exports there are.
 */
export function exportRoutes(pool: Pool): express.Router {
  const router = express.Router();
  for (const name of exportNames) getOnly(router, `/api/v1/exports/${name}`, route(pool, exportNamed(name)));
  // Any other name: exportNamed refuses it, naming the exports there are.
  router.all(/^\/api\/v1\/exports(\/.*)?$/, (req: Request) => void exportNamed(req.path.replace(/^\/api\/v1\/exports\/?/, "")));
  return router;
}
