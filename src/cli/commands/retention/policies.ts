import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";
import { formatTable } from "./table.ts";

/** `custodian retention policies`: every policy, in the order a run applies them. */
export async function policies(args: string[]): Promise<void> {
  parseFlags(args, {});
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      const { rows } = await client.query<Record<string, string>>(
        `select name, category, target_table, clock_column::text, coalesce(period::text, 'forever') as period, action::text,
                legal_basis::text, case when enabled then 'yes' else 'no' end as enabled
         from app_private.retention_policies_in_run_order()`);
      process.stdout.write(formatTable(["Policy", "Category", "Table", "Clock", "Period", "Action", "Legal basis", "Enabled"],
        rows.map((row) => [row.name!, row.category!, row.target_table!, row.clock_column!, row.period!, row.action!, row.legal_basis!, row.enabled!])));
    }),
  );
}
