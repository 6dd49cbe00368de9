import { migrate as migrateDatabase } from "../../db/migrate.ts";
import { parseFlags } from "../args.ts";
import { withSession } from "../session.ts";

export async function migrate(args: string[]): Promise<void> {
  parseFlags(args, {});
  await withSession(async ({ database, secrets }) => {
    await migrateDatabase(database.url, secrets.authenticatorPassword);
  });
  process.stdout.write("Database is up to date.\n");
}
