import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { withDatabase } from "../../src/db/connection-strings.ts";
import { createDatabaseIfMissing } from "../../src/db/database.ts";
import { startEmbeddedPostgres } from "../../src/db/embedded.ts";
import pg from "pg";
import { startCli } from "./cli.ts";
import { testPlanId } from "./fixtures.ts";
import { testEnvironment } from "./environment.ts";

/**
 * Before the suite: a throwaway embedded PostgreSQL (or TEST_DATABASE_URL)
 * and the real API server (`custodian start`, which migrates it) as a child
 * process. The test files find both through the environment.
 */
export default async function globalSetup(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-test-"));
  fs.chmodSync(dir, 0o755); // the postgres system user must reach the cluster inside
  let databaseUrl = process.env.TEST_DATABASE_URL;
  let embedded = null;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(path.join(dir, "pg"), "test-superuser-password");
    await createDatabaseIfMissing(embedded.url, "custodian_test");
    databaseUrl = withDatabase(embedded.url, "custodian_test");
  }
  process.env.TEST_DATABASE_URL = databaseUrl;
  process.env.TEST_TMP_DIR = dir;
  const api = await startCli(["start"], testEnvironment({ PORT: "0", DATA_DIR: dir }), /GraphQL\s+(http:\S+)\/graphql/);
  process.env.TEST_API_URL = api.match[1];
  await commitTestPlan(databaseUrl);
  (globalThis as Record<string, unknown>).__custodianTest = { api, embedded, dir };
}

/** The plan every fixture coach is on, committed once so that tests only read it. */
async function commitTestPlan(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await testPlanId(client);
  } finally {
    await client.end();
  }
}
