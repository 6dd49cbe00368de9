import type pg from "pg";
import { listArchiveFolders, verifyArchive } from "../../../archive/archive.ts";
import { recordedManifest } from "../../../archive/recorded.ts";
import { archiveStoreFor, type ArchiveStore } from "../../../archive/store.ts";
import { verifyArchivedPartition } from "../../../audit/partition-archive.ts";
import { withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { isUuid } from "../../../uuid.ts";
import { parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";

/**
 * `custodian archive verify ID|--all`: re-reads each archive (every file's
 * SHA-256, size and row count against its manifest, and the manifest against
 * the copy the database recorded when it was written), and for an audit
 * partition its events against the seals archived with it, as `custodian
 * audit verify --archive` does; exits 1 naming each problem when one does
 * not verify.
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
        const result = await verifyOne(client, store, archiveId);
        if (result.ok) {
          process.stdout.write(`Archive ${archiveId}: verified (${result.files} files, ${result.rows} rows${result.chain ?? ""}).\n`);
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

/**
 * One archive: its files and manifest, and when it is an audit partition (by
 * its manifest or by the database's record of it) its chain, each problem
 * named once (the chain check re-reads the files and would name theirs again).
 */
async function verifyOne(client: pg.ClientBase, store: ArchiveStore, id: string) {
  const recorded = await recordedManifest(client, id);
  const files = await verifyArchive(store, id, { recorded });
  const problems = [...files.problems];
  let chain: string | null = null;
  if (files.manifest?.kind === "audit_partition" || recorded?.kind === "audit_partition") {
    const partition = await verifyArchivedPartition(client, store, id);
    problems.push(...partition.problems.filter((problem) => !problems.includes(problem)));
    if (partition.ok) chain = `; ${partition.eventsVerified} audit events match their digests in ${partition.sealsVerified} archived seals`;
  }
  const manifestFiles = files.manifest?.files ?? [];
  return {
    ok: problems.length === 0,
    problems,
    files: manifestFiles.length,
    rows: manifestFiles.reduce((sum, file) => sum + file.rows, 0),
    chain,
  };
}
