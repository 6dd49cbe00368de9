import pg from "pg";
import { UserError } from "../errors.ts";
import { ownerUrl } from "./connection-strings.ts";

/** Runs `work` on one connection acting as custodian_owner, then closes it. */
export async function withOwnerClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ownerUrl(databaseUrl) });
  try {
    await client.connect();
  } catch (error) {
    // The owner role is made by the first migration.
    if (/role "custodian_owner" does not exist/.test((error as Error).message)) throw notMigrated();
    throw error;
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Refuses clearly when the database has not been migrated yet. */
export async function requireSchema(client: pg.Client): Promise<void> {
  const { rows } = await client.query("select to_regclass('app_public.users') is not null as ready");
  if (!rows[0].ready) throw notMigrated();
}

const notMigrated = () => new UserError("The database has no Custodian schema yet; run `custodian migrate` first.");
