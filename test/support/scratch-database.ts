import crypto from "node:crypto";
import pg from "pg";
import { withDatabase } from "../../src/db/connection-strings.ts";

/** A new, empty database on the test server for `work`, dropped afterwards. */
export async function withScratchDatabase<T>(work: (databaseUrl: string) => Promise<T>): Promise<T> {
  const name = `custodian_scratch_${crypto.randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: withDatabase(process.env.TEST_DATABASE_URL!, "postgres") });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
    return await work(withDatabase(process.env.TEST_DATABASE_URL!, name));
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

/** Runs one query on a database and closes the connection. */
export async function queryOnce(databaseUrl: string, sql: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}
