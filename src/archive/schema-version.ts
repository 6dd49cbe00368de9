import type pg from "pg";
import { UserError } from "../errors.ts";

/** The newest committed migration graphile-migrate recorded in this database (e.g. "000010.sql"): what archived rows were shaped by. */
export async function currentSchemaVersion(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ filename: string }>(
    "select filename from graphile_migrate.migrations order by filename desc limit 1",
  ).catch((error: { code?: string }) => {
    if (error.code === "42P01") return { rows: [] };
    throw error;
  });
  if (!rows[0]) throw new UserError("The database has no Custodian schema yet; run `custodian migrate` first.");
  return rows[0].filename;
}
