import { listArchiveFolders, verifyArchive } from "../../../archive/archive.ts";
import { recordedManifest } from "../../../archive/recorded.ts";
import { archiveStoreFor } from "../../../archive/store.ts";
import { withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { isUuid } from "../../../uuid.ts";
import { parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";

/**
 * `custodian archive verify ID|--all`: re-reads each archive (every file's
 * SHA-256, size and row count against its manifest, and the manifest against
 * the copy the database recorded when it was written); exits 1 naming each
 * problem when one does not verify.
 */
export async function verify(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { all: { type: "boolean" } }, true);
  if ((values.all ? 1 : 0) + positionals.length !== 1) throw new UserError("Usage: custodian archive verify ID | custodian archive verify --all");
  const id = positionals[0];
  if (id !== undefined && !isUuid(id)) throw new UserError(`An archive id is a UUID, as \`custodian archive list\` shows it (got "${id}").`);
  await withSession(async ({ config, database }) => {
    const store = archiveStoreFor(config);
    const ids = id !== undefined ? [id] : (await listArchiveFolders(store)).map((folder) => folder.id);
    if (ids.length === 0) {
      process.stdout.write(`No archives in the ${store.description}.\n`);
      return;
    }
    let failed = 0;
    await withOwnerClient(database.url, async (client) => {
      for (const archiveId of ids) {
        const result = await verifyArchive(store, archiveId, { recorded: await recordedManifest(client, archiveId) });
        if (result.ok) {
          const rows = result.manifest!.files.reduce((sum, file) => sum + file.rows, 0);
          process.stdout.write(`Archive ${archiveId}: verified (${result.manifest!.files.length} files, ${rows} rows).\n`);
        } else {
          failed++;
          process.stdout.write(`Archive ${archiveId}: DOES NOT VERIFY\n${result.problems.map((problem) => `  - ${problem}\n`).join("")}`);
        }
      }
    });
    if (failed > 0) {
      if (ids.length > 1) process.stdout.write(`${failed} of ${ids.length} archives do not verify.\n`);
      process.exitCode = 1;
    }
  });
}
