import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";

const usageLine = "Usage: custodian archive drop-inspection NAME";

/**
 * `custodian archive drop-inspection NAME`: drops an inspection schema that
 * `archive restore --into-schema NAME` made, and takes its copies out of the
 * map of personal data (governance.drop_inspection_schema, which refuses any
 * other schema). An erasure cannot reach such copies, so it asks for this.
 */
export async function dropInspection(args: string[]): Promise<void> {
  const { positionals } = parseFlags(args, {}, true);
  if (positionals.length !== 1) throw new UserError(usageLine);
  const schema = positionals[0]!;
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      const { rows: [known] } = await client.query<{ exists: boolean }>(
        "select exists (select from pg_catalog.pg_namespace where nspname = $1) as exists", [schema]);
      if (!known!.exists) throw new UserError(`There is no schema ${schema}; \`custodian archive restore --into-schema\` names the ones it makes.`);
      try {
        const { rows: [dropped] } = await client.query<{ unmapped: number }>(
          "select governance.drop_inspection_schema($1) as unmapped", [schema]);
        process.stdout.write(
          `Dropped inspection schema ${schema}: its copies are gone, and ${dropped!.unmapped} classified column${dropped!.unmapped === 1 ? "" : "s"} left the map of personal data.\n`);
      } catch (error) {
        if ((error as { code?: string }).code === "42501") throw new UserError((error as Error).message);
        throw error;
      }
    }),
  );
}
