import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { instant, parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";
import { formatTable } from "./table.ts";

/** `custodian retention preview [--policy P] [--as-of T]`: the dry run, app_public.retention_preview, as a table. */
export async function preview(args: string[]): Promise<void> {
  const { values } = parseFlags(args, { policy: { type: "string" }, "as-of": { type: "string" } });
  const asOf = instant(values["as-of"], "--as-of", new Date())!;
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      const { rows } = await client.query<Record<string, string | null>>(
        `select policy_name, action::text, rows_due::text, rows_spared_by_hold::text, oldest_due, newest_due, problem
         from app_public.retention_preview($1, $2)`, [values.policy ?? null, asOf]).catch((error: { code?: string; message: string }) => {
        if (error.code === "P0002") throw new UserError(error.message);
        throw error;
      });
      const table = formatTable(["Policy", "Action", "Rows due", "Spared (hold)", "Oldest", "Newest"],
        rows.map((row) => [row.policy_name!, row.action!, row.rows_due ?? "—", row.rows_spared_by_hold ?? "—",
          row.oldest_due ? new Date(row.oldest_due).toISOString() : "—", row.newest_due ? new Date(row.newest_due).toISOString() : "—"]));
      // A policy that cannot be applied as it stands has no figures: say why.
      const problems = rows.flatMap((row) => (row.problem ? [`Cannot be applied: ${row.problem}\n`] : []));
      process.stdout.write(`Retention preview as of ${asOf.toISOString()}\n\n${table}${problems.length > 0 ? `\n${problems.join("")}` : ""}`);
    }),
  );
}
