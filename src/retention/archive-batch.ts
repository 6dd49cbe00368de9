import { randomUUID } from "node:crypto";
import type pg from "pg";
import { currentSchemaVersion, verifyArchive, writeVerifiedArchive, type ArchiveManifest } from "../archive/archive.ts";
import type { ArchiveStore } from "../archive/store.ts";
import { cursorBatches } from "../db/cursor.ts";
import type { RetentionPolicy } from "./policy.ts";
import { inRunTransaction, type Attribution } from "./transaction.ts";

export interface ArchivingContext {
  client: pg.ClientBase;
  store: ArchiveStore;
  runId: string;
  asOf: Date;
  attribute?: Attribution;
  /** Called after an archive is recorded as verified and before its rows are removed (tests stop a run there). */
  afterArchiveVerified?: (archiveId: string) => Promise<void>;
}

interface Removal {
  removed: string;
  kept_keys: string[];
}

/**
 * Archives one batch of a policy's rows (and the rows their removal cascades
 * to) and only then removes them: the archive is recorded before it is
 * written, written and read back, recorded as verified, and its exact rows
 * removed, removeBatchSize rows per transaction (a kill between two leaves
 * the archive unmarked, and the next run removes the rest). Returns the keys
 * still in place.
 */
export async function archiveThenRemove(
  context: ArchivingContext, policy: RetentionPolicy, batch: { key: string; clock: Date }[], removeBatchSize: number,
): Promise<string[]> {
  const { client, store, runId, attribute } = context;
  const archiveId = randomUUID();
  await inRunTransaction(client, attribute, () =>
    client.query("select app_private.create_retention_archive($1, $2, $3, $4)", [archiveId, runId, policy.name, store.description]));
  const keys = batch.map((row) => row.key);
  // One snapshot for every table of the archive.
  const manifest = await inRunTransaction(client, attribute, async () => {
    const { rows } = await client.query<{ table_name: string }>("select table_name from app_private.retention_archive_tables($1)", [policy.name]);
    return writeVerifiedArchive(store, {
      id: archiveId,
      kind: "rows",
      policy: policy.name,
      runId,
      schemaVersion: await currentSchemaVersion(client),
      timeRange: { from: batch[0]!.clock.toISOString(), to: batch.at(-1)!.clock.toISOString() },
      tables: rows.map(({ table_name }) => ({ table: table_name, lines: archiveLines(client, policy.name, keys, table_name) })),
      extra: { table: policy.target_table, clockColumn: policy.clock_column, keys },
    });
  }, "repeatable read");
  await recordVerified(context, archiveId, manifest, policy);
  await context.afterArchiveVerified?.(archiveId);
  // One archive, removed in several short transactions: writers never wait long.
  const kept: string[] = [];
  for (let start = 0; start < keys.length; start += removeBatchSize) {
    const part = keys.slice(start, start + removeBatchSize);
    kept.push(...(await removeArchivedRows(context, archiveId, part, start + removeBatchSize >= keys.length)).kept_keys);
  }
  return kept;
}

interface PendingArchive {
  id: string;
  manifest: ArchiveManifest | null;
}

/**
 * What an earlier run left between writing an archive and removing its rows
 * (every row still in place): an archive that verifies has exactly its rows
 * removed now; one whose writing never finished, or that no longer verifies,
 * is forgotten, and its rows are archived afresh. Returns what it found wrong.
 */
export async function resumePendingArchives(context: ArchivingContext, policy: RetentionPolicy): Promise<string[]> {
  const { client, store, attribute } = context;
  const { rows: pending } = await client.query<PendingArchive>(
    `select id, manifest from app_public.retention_archives
     where policy_name = $1 and kind = 'rows' and rows_removed_at is null order by created_at, id`,
    [policy.name],
  );
  const problems: string[] = [];
  for (const archive of pending) {
    const check = await verifyArchive(store, archive.id, { recorded: archive.manifest });
    if (!check.ok || !check.manifest) {
      if (archive.manifest !== null) problems.push(`Archive ${archive.id} no longer verifies (${check.problems.join("; ")}); its rows stayed and are archived afresh.`);
      await inRunTransaction(client, attribute, () => client.query("select app_private.discard_retention_archive($1)", [archive.id]));
      continue;
    }
    // Written completely before the crash, but not yet recorded as verified.
    if (archive.manifest === null) await recordVerified(context, archive.id, check.manifest, policy);
    await removeArchivedRows(context, archive.id);
  }
  return problems;
}

async function recordVerified(context: ArchivingContext, archiveId: string, manifest: ArchiveManifest, policy: RetentionPolicy): Promise<void> {
  const archivedRows = manifest.files.find((file) => file.table === policy.target_table)?.rows ?? 0;
  await inRunTransaction(context.client, context.attribute, () =>
    context.client.query("select app_private.record_retention_archive_verified($1, $2, $3)", [archiveId, JSON.stringify(manifest), archivedRows]));
}

/** Removes an archive's rows (only `part` of them when given; `finish` marks the archive's rows removed). */
function removeArchivedRows(context: ArchivingContext, archiveId: string, part: string[] | null = null, finish = true): Promise<Removal> {
  return inRunTransaction(context.client, context.attribute, async () =>
    (await context.client.query<Removal>("select removed, kept_keys from app_private.remove_archived_rows($1, $2, $3, $4, $5)",
      [context.runId, archiveId, context.asOf, part, finish])).rows[0]!);
}

async function* archiveLines(client: pg.ClientBase, policyName: string, keys: string[], table: string): AsyncGenerator<string> {
  for await (const rows of cursorBatches<{ line: string }>(client,
    "select line from app_private.retention_archive_rows($1, $2, $3) as line", [policyName, keys, table], 500)) {
    for (const row of rows) yield row.line;
  }
}
