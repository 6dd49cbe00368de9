import fs from "node:fs";
import path from "node:path";
import JSON5 from "json5";
import { Logger as MigrateLogger, migrate as runCommittedMigrations, type Settings } from "graphile-migrate";
// graphile-migrate keeps its pools open for a moment after use and exits the
// process if the server goes away meanwhile; we close them when done.
import migratePools from "graphile-migrate/dist/pgReal.js";
import { runMigrations as installWorkerSchema } from "graphile-worker";
import pg from "pg";
import { graphileLogger } from "../graphile-logger.ts";
import { projectRoot } from "../paths.ts";
import { ownerUrl } from "./connection-strings.ts";

const migrationsFolder = path.join(projectRoot, "migrations");

/**
 * Takes a database (empty or not) to the current schema: cluster-level
 * bootstrap (roles, extensions) as the connecting superuser, then every
 * committed migration and graphile-worker's schema as custodian_owner.
 * Idempotent.
 */
export async function migrate(databaseUrl: string, authenticatorPassword: string): Promise<void> {
  await bootstrap(databaseUrl, authenticatorPassword);
  const settings = JSON5.parse(fs.readFileSync(path.join(projectRoot, ".gmrc"), "utf8")) as Settings;
  await runCommittedMigrations({
    ...settings,
    connectionString: ownerUrl(databaseUrl),
    migrationsFolder,
    logger: graphileLogger("migrate", MigrateLogger as never) as never,
  });
  migratePools.clearAllPools();
  await installWorkerSchema({ connectionString: ownerUrl(databaseUrl), logger: graphileLogger("worker") });
}

/**
 * Roles are shared by every database of the server, so two migrations of two
 * databases at once can collide on them ("tuple concurrently updated"). The
 * bootstrap is one transaction and idempotent: it is simply run again.
 */
function isRoleCollision(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return (code === "XX000" && /tuple concurrently (updated|deleted)/.test(message ?? "")) || code === "40P01";
}

async function bootstrap(databaseUrl: string, authenticatorPassword: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("select pg_catalog.set_config('custodian.authenticator_password', $1, false)", [
      authenticatorPassword,
    ]);
    const sql = fs.readFileSync(path.join(migrationsFolder, "bootstrap.sql"), "utf8");
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(sql);
        return;
      } catch (error) {
        if (attempt >= 5 || !isRoleCollision(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100));
      }
    }
  } finally {
    await client.end();
  }
}
