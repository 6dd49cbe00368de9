import pg from "pg";
import { UserError } from "../errors.ts";
import { ownerUrl } from "./connection-strings.ts";

/** Runs `work` on one connection acting as custodian_owner, then closes it. */
export async function withOwnerClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ownerUrl(databaseUrl) });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Refuses clearly when the database has not been migrated yet. */
export async function requireSchema(client: pg.Client): Promise<void> {
  const { rows } = await client.query("select to_regclass('app_public.users') is not null as ready");
  if (!rows[0].ready) throw new UserError("The database has no Custodian schema yet; run `custodian migrate` first.");
}
