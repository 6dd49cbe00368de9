import fs from "node:fs";
import path from "node:path";
import JSON5 from "json5";
import { Logger as MigrateLogger, migrate as runCommittedMigrations, type Settings } from "graphile-migrate";
// graphile-migrate keeps its pools open for a moment after use and exits the
// process if the server goes away meanwhile; we close them when done.
import migratePools from "graphile-migrate/dist/pgReal.js";
import { runMigrations as installWorkerSchema } from "graphile-worker";
import pg from "pg";
import { UserError } from "../errors.ts";
import { graphileLogger } from "../graphile-logger.ts";
import { projectRoot } from "../paths.ts";
import { ownerUrl } from "./connection-strings.ts";

const defaultMigrationsFolder = path.join(projectRoot, "migrations");

/**
 * Takes a database (empty or not) to the current schema: cluster-level
 * bootstrap (roles, extensions) as the connecting superuser, then every
 * committed migration and graphile-worker's schema as custodian_owner.
 * Idempotent. (Tests give another migrations folder to build a database
 * from an older history.)
 */
export async function migrate(
  databaseUrl: string,
  authenticatorPassword: string,
  { migrationsFolder = defaultMigrationsFolder }: { migrationsFolder?: string } = {},
): Promise<void> {
  await bootstrap(databaseUrl, authenticatorPassword);
  await rebaseSquashedMigrations(ownerUrl(databaseUrl));
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
 * Migrations 000001 to 000008 were squashed into one, 000001-baseline.sql,
 * which builds the same database (test/schema/baseline.test.ts proves it)
 * but brings the rules in from migrations/fixtures/. graphile-migrate
 * remembers what ran by hash, each row naming the one before it, and would
 * take a database that ran the old eight for one already past the baseline
 * (it compares file numbers only), then skip every later migration. So a
 * database holding exactly the old chain is recorded as having run the
 * baseline instead; any other history it does not know is refused.
 */
export const squashedMigrations = [
  { filename: "000001.sql", hash: "sha1:255359cb827da1ac594388ccb734af4df9732c3b" },
  { filename: "000002.sql", hash: "sha1:14e486cbd8d1fa7a97ad16f9f3755b480713ac26" },
  { filename: "000003.sql", hash: "sha1:b0e1c5d3260888be6584b351f31b8e83ab4b4f78" },
  { filename: "000004.sql", hash: "sha1:a861776ccfd452a1e5ffef464dfdf9deeca8e4f3" },
  { filename: "000005.sql", hash: "sha1:b930c22c730e13968c2e82f2592438e86d3dc0d1" },
  { filename: "000006.sql", hash: "sha1:41dea607d36bd613edbc063154c3616a0e2a66da" },
  { filename: "000007.sql", hash: "sha1:382c63103aec8490e406e4a61bf6cef85a693295" },
  { filename: "000008.sql", hash: "sha1:406958d43273c14aeb125f3121f6e535e08e0fa2" },
];
export const baselineMigration = { filename: "000001.sql", hash: "sha1:103bf00b8b20025b32805746d425232a8f991c7e" };

async function rebaseSquashedMigrations(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("begin");
    await rebaseInTransaction(client);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    await client.end();
  }
}

async function rebaseInTransaction(client: pg.Client): Promise<void> {
  const table = await client.query("select pg_catalog.to_regclass('graphile_migrate.migrations') is not null as found");
  if (!table.rows[0].found) return;
  // Two migrations at once: the second waits here, then finds the baseline.
  await client.query("lock table graphile_migrate.migrations in exclusive mode");
  const { rows } = await client.query<{ filename: string; hash: string; previous_hash: string | null; date: Date }>(
    "select filename, hash, previous_hash, date from graphile_migrate.migrations order by filename",
  );
  if (rows.length === 0 || rows[0].hash === baselineMigration.hash) return;
  const last = rows[rows.length - 1];
  const isSquashedChain =
    rows.length === squashedMigrations.length &&
    rows.every(
      (row, i) =>
        row.filename === squashedMigrations[i].filename &&
        row.hash === squashedMigrations[i].hash &&
        row.previous_hash === (i === 0 ? null : squashedMigrations[i - 1].hash),
    );
  if (!isSquashedChain) {
    throw new UserError(
      squashedMigrations.some((migration) => migration.hash === last.hash)
        ? `This database ran migrations only up to ${last.filename} of the ones 000001-baseline.sql replaces; ` +
            "take it to 000008 with a Custodian from before the baseline (commit d174dd9), then migrate again."
        : `This database's migration history (graphile_migrate.migrations, last ${last.filename} ${last.hash}) ` +
            "is not one Custodian knows; nothing was changed.",
    );
  }
  await client.query("delete from graphile_migrate.migrations");
  await client.query("insert into graphile_migrate.migrations (hash, previous_hash, filename, date) values ($1, null, $2, $3)", [
    baselineMigration.hash,
    baselineMigration.filename,
    last.date,
  ]);
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
    const sql = fs.readFileSync(path.join(defaultMigrationsFolder, "bootstrap.sql"), "utf8");
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
