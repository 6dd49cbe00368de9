import fs from "node:fs";
import path from "node:path";
import { authenticatorUrl } from "../../db/connection-strings.ts";
import { migrate } from "../../db/migrate.ts";
import { UserError } from "../../errors.ts";
import { projectRoot } from "../../paths.ts";
import { schemaSdl } from "../../server/schema-sdl.ts";
import { parseFlags } from "../args.ts";
import { withSession } from "../session.ts";

export const schemaFile = path.join(projectRoot, "schema.graphql");

export async function schema(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== "export") throw new UserError("Usage: custodian schema export");
  parseFlags(rest, {});
  // A development command: the schema is the migrated one.
  const sdl = await withSession(async ({ database, secrets }) => {
    await migrate(database.url, secrets.authenticatorPassword);
    return schemaSdl(authenticatorUrl(database.url, secrets.authenticatorPassword));
  });
  fs.writeFileSync(schemaFile, sdl);
  process.stdout.write(`Wrote ${path.relative(process.cwd(), schemaFile) || schemaFile}.\n`);
}
