import { verifyArchive } from "../../../archive/archive.ts";
import { recordedManifest } from "../../../archive/recorded.ts";
import { restoreArchive, type RestoreReport } from "../../../archive/restore.ts";
import { archiveStoreFor } from "../../../archive/store.ts";
import { isTableName } from "../../../archive/manifest.ts";
import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { isUuid } from "../../../uuid.ts";
import { parseFlags } from "../../args.ts";
import { progressBar } from "../../progress.ts";
import { withSession } from "../../session.ts";

const usageLine = "Usage: custodian archive restore ID [--into-schema NAME] [--table SCHEMA.TABLE]";

/**
 * `custodian archive restore ID`: the archive's rows back into their tables
 * (or, with --into-schema, into new tables for inspection), after verifying
 * it; prints what went back, what was already there, and each row that
 * could not go back with the reason, and exits 1 when there is one.
 */
export async function restore(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { "into-schema": { type: "string" }, table: { type: "string" } }, true);
  if (positionals.length !== 1) throw new UserError(usageLine);
  const id = positionals[0]!;
  if (!isUuid(id)) throw new UserError(`An archive id is a UUID, as \`custodian archive list\` shows it (got "${id}").`);
  const table = values.table ?? null;
  if (table !== null && !isTableName(table)) throw new UserError(`--table takes a table as schema.table, e.g. app_public.clients (got "${table}").`);
  const intoSchema = values["into-schema"] ?? null;
  await withSession(({ config, database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      const store = archiveStoreFor(config);
      const recorded = await recordedManifest(client, id);
      // Verified here to list every problem; restoreArchive verifies again, as anything must before it writes.
      const verification = await verifyArchive(store, id, { recorded });
      if (!verification.ok) {
        process.stdout.write(`Archive ${id}: DOES NOT VERIFY, nothing restored\n${verification.problems.map((problem) => `  - ${problem}\n`).join("")}`);
        process.exitCode = 1;
        return;
      }
      let progress: ReturnType<typeof progressBar> | null = null;
      const report = await restoreArchive(client, store, id, {
        table,
        intoSchema,
        recorded,
        onStart: (rows) => (progress = progressBar("Restoring", rows)),
        onRows: (count) => progress?.tick(count),
      });
      progress!.finish();
      process.stdout.write(formatRestoreReport(report));
      if (report.tables.some((entry) => entry.notRestored.length > 0)) process.exitCode = 1;
    }),
  );
}

export function formatRestoreReport(report: RestoreReport): string {
  const where = report.intoSchema === null ? "into its original tables" : `into schema ${report.intoSchema} for inspection`;
  const lines = [`Archive ${report.manifest.id} restored ${where}:`];
  for (const table of report.tables) {
    lines.push(
      `  ${table.table}${report.intoSchema === null ? "" : ` → ${table.target.replaceAll('"', "")}`}: ${table.restored} restored, ` +
        `${table.skipped} already there (skipped), ${table.notRestored.length} not restored, of ${table.rows}`,
    );
  }
  const failures = report.tables.flatMap((table) => table.notRestored.map((row) => `  ${table.table} ${row.key}: ${row.reason}`));
  if (failures.length > 0) lines.push("Not restored:", ...failures);
  for (const note of report.notes) lines.push(`Note: ${note}`);
  return `${lines.join("\n")}\n`;
}
