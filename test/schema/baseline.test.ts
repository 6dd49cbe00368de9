import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { baselineMigration, migrate, squashedMigrations } from "../../src/db/migrate.ts";
import { projectRoot } from "../../src/paths.ts";
import { catalogSnapshot, snapshotDifferences, structureSnapshot, withGeneratedNamesByTable } from "../support/catalog.ts";
import { runCli } from "../support/cli.ts";
import { TEST_AUTHENTICATOR_PASSWORD, testEnvironment } from "../support/environment.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";
import { queryOnce } from "../support/scratch-database.ts";

// The last commit with the eight migrations 000001-baseline.sql replaces;
// the test reads them from git history (CI runs in a full clone).
const squashedAt = "d174dd9";

/** A migrations folder holding the first `count` of the old migrations, as committed then. */
function oldMigrationsFolder(count: number): string {
  const folder = fs.mkdtempSync(path.join(process.env.TEST_TMP_DIR!, "old-migrations-"));
  fs.mkdirSync(path.join(folder, "committed"));
  const git = (...args: string[]) => execFileSync("git", args, { cwd: projectRoot, encoding: "utf8" });
  const files = git("ls-tree", "--name-only", squashedAt, "migrations/committed/").split("\n").filter(Boolean).sort();
  expect(files).toHaveLength(squashedMigrations.length);
  for (const file of files.slice(0, count)) {
    fs.writeFileSync(path.join(folder, "committed", path.basename(file)), git("show", `${squashedAt}:${file}`));
  }
  return folder;
}

/** Everything the migrations make, with the per-table generated functions named by their table. */
async function snapshotOf(databaseUrl: string): Promise<Map<string, string>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const whole = new Map([...(await catalogSnapshot(client)), ...(await structureSnapshot(client))]);
    return await withGeneratedNamesByTable(client, whole);
  } finally {
    await client.end();
  }
}

/** A migrations folder holding only 000001-baseline.sql, as a database that has run no migration since. */
function baselineOnlyFolder(): string {
  const folder = fs.mkdtempSync(path.join(process.env.TEST_TMP_DIR!, "baseline-only-"));
  fs.mkdirSync(path.join(folder, "committed"));
  fs.copyFileSync(path.join(projectRoot, "migrations", "committed", "000001-baseline.sql"), path.join(folder, "committed", "000001-baseline.sql"));
  return folder;
}

async function history(databaseUrl: string): Promise<Array<{ filename: string; hash: string; previous_hash: string | null }>> {
  const { rows } = await queryOnce(databaseUrl, "select filename, hash, previous_hash from graphile_migrate.migrations order by filename");
  return rows;
}

let squashed: ScratchDatabase;
let baseline: ScratchDatabase;

beforeAll(async () => {
  [squashed, baseline] = await Promise.all([openScratchDatabase(), openScratchDatabase()]);
  await migrate(squashed.url, TEST_AUTHENTICATOR_PASSWORD, { migrationsFolder: oldMigrationsFolder(squashedMigrations.length) });
  await migrate(baseline.url, TEST_AUTHENTICATOR_PASSWORD, { migrationsFolder: baselineOnlyFolder() });
}, 180_000);

afterAll(async () => {
  await squashed?.drop();
  await baseline?.drop();
});

describe("000001-baseline.sql replaces migrations 000001 to 000008", () => {
  test("the baseline builds the same database as the eight migrations it replaces", async () => {
    expect((await history(squashed.url)).map((row) => row.hash)).toEqual(squashedMigrations.map((migration) => migration.hash));
    expect(await history(baseline.url)).toEqual([{ ...baselineMigration, previous_hash: null }]);
    const old = await snapshotOf(squashed.url);
    expect(old.size).toBeGreaterThan(1000);
    expect(snapshotDifferences(old, await snapshotOf(baseline.url))).toEqual([]);
  });

  test("a database that ran the eight is recorded as having run the baseline, changes nothing else, and migrates on from there", async () => {
    const before = await snapshotOf(squashed.url);
    for (let run = 1; run <= 2; run++) {
      await migrate(squashed.url, TEST_AUTHENTICATOR_PASSWORD, { migrationsFolder: baselineOnlyFolder() });
      expect(await history(squashed.url)).toEqual([{ ...baselineMigration, previous_hash: null }]);
    }
    expect(snapshotDifferences(before, await snapshotOf(squashed.url))).toEqual([]);

    // Then `custodian migrate` runs every migration written after the baseline on it.
    const migrated = await runCli(["migrate"], testEnvironment({ DATABASE_URL: squashed.url }));
    expect(migrated).toMatchObject({ code: 0, stdout: "Database is up to date.\n", stderr: "" });
    const committed = fs.readdirSync(path.join(projectRoot, "migrations", "committed")).filter((file) => /^\d{6}/.test(file)).sort();
    const after = await history(squashed.url);
    expect(after.map((row) => row.filename)).toEqual(committed.map((file) => `${file.slice(0, 6)}.sql`));
    expect(after[0]).toEqual({ ...baselineMigration, previous_hash: null });
  });

  test("a database part-way through the old migrations, or with a history Custodian does not know, is refused and left as it was", async () => {
    const partway = await openScratchDatabase();
    try {
      await migrate(partway.url, TEST_AUTHENTICATOR_PASSWORD, { migrationsFolder: oldMigrationsFolder(3) });
      const refused = await runCli(["migrate"], testEnvironment({ DATABASE_URL: partway.url }));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/ran migrations only up to 000003\.sql of the ones 000001-baseline\.sql replaces/);
      expect((await history(partway.url)).map((row) => row.hash)).toEqual(squashedMigrations.slice(0, 3).map((m) => m.hash));

      await queryOnce(partway.url, "update graphile_migrate.migrations set hash = 'sha1:unknown' where filename = '000003.sql'");
      const unknown = await runCli(["migrate"], testEnvironment({ DATABASE_URL: partway.url }));
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/migration history .* is not one Custodian knows; nothing was changed/);
      expect((await history(partway.url)).map((row) => row.hash)).toEqual([...squashedMigrations.slice(0, 2).map((m) => m.hash), "sha1:unknown"]);
    } finally {
      await partway.drop();
    }
  });
});
