import { loadConfig } from "../../../config.ts";
import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { exportClientToFile } from "../../../gdpr/operator-export.ts";
import { parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";
import { isUuid } from "../../../uuid.ts";

const usageLine = "Usage: custodian gdpr export --client ID --out FILE";

/**
 * `custodian gdpr export --client ID --out FILE`: an access request for the
 * client, verified by the operator, answered at once: the export is built,
 * written to FILE and its manifest summed up.
 */
export async function exportSubject(args: string[]): Promise<void> {
  const { values } = parseFlags(args, { client: { type: "string" }, out: { type: "string" } });
  if (values.client === undefined || values.out === undefined) throw new UserError(usageLine);
  if (!isUuid(values.client)) throw new UserError(`--client takes a client's id (a UUID), not "${values.client}".`);
  const { gdprExportTtlDays } = loadConfig();
  const built = await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      return exportClientToFile(client, values.client!, values.out!, gdprExportTtlDays);
    }),
  );
  const { manifest } = built;
  const rows = manifest.tables.reduce((sum, table) => sum + table.rows, 0);
  const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const lines = [
    `Export of client ${manifest.subject.id} (access request ${built.requestId}, completed) written to ${values.out}: ${built.byteSize} bytes, SHA-256 ${built.sha256}.`,
    `${count(rows, "row")} from ${count(manifest.tables.filter((table) => table.rows > 0).length, "table")} (soft-deleted rows included):`,
    ...manifest.tables.map((table) => `  ${table.table}: ${count(table.rows, "row")}`),
    `${manifest.files.length + 1} files (manifest.json lists the others with their SHA-256):`,
    ...manifest.files.map((file) => `  ${file.name}: ${count(file.rows, "row")}, ${count(file.bytes, "byte")}, SHA-256 ${file.sha256}`),
    ...(manifest.tablesWithoutPathToSubject.length > 0
      ? [`Not searched (personal data with no path to a person in the map): ${manifest.tablesWithoutPathToSubject.join(", ")}.`]
      : []),
    `Its copy in the database expires ${built.expiresAt.toISOString()} (GDPR_EXPORT_TTL_DAYS=${gdprExportTtlDays}).`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}
