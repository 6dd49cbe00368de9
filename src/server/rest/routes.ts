import type express from "express";
import type { Pool } from "pg";
import { auditRoutes } from "./audit-export.ts";
import { exportRoutes } from "./exports.ts";
import { gdprExportRoutes } from "./gdpr-export.ts";
import { retentionRoutes } from "./retention.ts";
import { usageRoutes } from "./usage.ts";

/** Every REST router of the API under /api/v1, in the order the app mounts them (the injection tests walk these). */
export function restRoutes(pool: Pool): express.Router[] {
  return [auditRoutes(pool), usageRoutes(pool), gdprExportRoutes(pool), retentionRoutes(pool), exportRoutes(pool)];
}
