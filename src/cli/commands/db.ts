import pg from "pg";
import { loadConfig } from "../../config.ts";
import { databaseName, withDatabase } from "../../db/connection-strings.ts";
import { migrate } from "../../db/migrate.ts";
import { UserError } from "../../errors.ts";
import { parseFlags } from "../args.ts";
import { withSession } from "../session.ts";

export async function db(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== "reset") throw new UserError("Usage: custodian db reset");
  parseFlags(rest, {});
  if (loadConfig().nodeEnv === "production") throw new UserError("db reset is refused when NODE_ENV=production.");
  await withSession(async ({ database, secrets }) => {
    const name = databaseName(database.url);
    const client = new pg.Client({ connectionString: withDatabase(database.url, "postgres") });
    await client.connect();
    try {
      await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
      await client.query(`create database ${client.escapeIdentifier(name)}`);
    } finally {
      await client.end();
    }
    await migrate(database.url, secrets.authenticatorPassword);
    process.stdout.write(`Database ${name} was dropped and migrated again; it has no data.\n`);
  }, "exclusive");
}
