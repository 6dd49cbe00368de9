import { UserError } from "../errors.ts";
import { isUuid } from "../uuid.ts";
import { digestStoredFile, writeGzipLines } from "./lines.ts";
import { archiveFormat, assertManifest, isTableName, manifestDifferences, manifestName, tableFileName, type ArchiveFileEntry, type ArchiveKind, type ArchiveManifest } from "./manifest.ts";
import type { ArchiveStore } from "./store.ts";
import { readManifest } from "./verify.ts";

export interface ArchiveTable {
  /** "schema.table" */
  table: string;
  /** One JSON object text per row, in the form `to_jsonb(row)::text` (so jsonb_populate_record restores it exactly). */
  lines: AsyncIterable<string>;
}

export interface ArchiveRequest {
  /** uuid, chosen by the caller (recorded in the database before writing, so a crash can resume) */
  id: string;
  kind: ArchiveKind;
  /** retention policy name */
  policy: string | null;
  /** retention run id */
  runId: string | null;
  /** the newest committed migration's name (currentSchemaVersion(client)) */
  schemaVersion: string;
  /** ISO times of the oldest and newest row's clock */
  timeRange: { from: string | null; to: string | null };
  tables: ArchiveTable[];
  /** e.g. the chain checkpoint of an audit partition */
  extra?: Record<string, unknown>;
}

/** A write whose read-back did not match: nothing may be deleted on its strength. */
export class ArchiveNotVerified extends UserError {
  override name = "ArchiveNotVerified";
}

/**
 * Writes every table's file, reads each back and checks its SHA-256, size and
 * row count, then writes manifest.json and reads that back too. The manifest
 * is the last thing written, so a failure at any step throws and leaves no
 * manifest: nothing that looks like a verified archive. Only after this
 * resolves may the caller delete the rows.
 *
 * An id whose manifest is already in the store is refused: a run resuming
 * after a crash checks it with verifyArchive and uses it, or takes a new id.
 */
export async function writeVerifiedArchive(store: ArchiveStore, request: ArchiveRequest): Promise<ArchiveManifest> {
  assertRequest(request);
  await store.checkWritable();
  const id = request.id;
  if ((await store.list(manifestName(id))).includes(manifestName(id))) {
    throw new Error(`Archive ${id} is already written in the ${store.description}; verify it and use it, or archive under a new id.`);
  }
  const files: ArchiveFileEntry[] = [];
  for (const { table, lines } of request.tables) {
    const name = tableFileName(table);
    const written = await writeGzipLines(store, `${id}/${name}`, lines);
    const readBack = await digestStoredFile(store, `${id}/${name}`);
    const problems = [
      readBack.unreadable,
      readBack.sha256 !== written.sha256 ? `SHA-256 read back ${readBack.sha256}, written ${written.sha256}` : null,
      readBack.bytes !== written.bytes ? `${readBack.bytes} bytes read back, ${written.bytes} written` : null,
      // Rows are counted only in a file that decompresses to its end.
      !readBack.unreadable && readBack.rows !== written.rows ? `${readBack.rows} rows read back, ${written.rows} written` : null,
    ].filter((problem) => problem !== null);
    if (problems.length > 0) {
      throw new ArchiveNotVerified(`Archive ${id}: ${name} did not read back as written (${problems.join("; ")}). Nothing may be deleted.`);
    }
    files.push({ name, table, rows: written.rows, bytes: written.bytes, sha256: written.sha256 });
  }
  const manifest: ArchiveManifest = {
    format: archiveFormat,
    id,
    kind: request.kind,
    policy: request.policy,
    runId: request.runId,
    schemaVersion: request.schemaVersion,
    createdAt: new Date().toISOString(),
    timeRange: { from: request.timeRange.from, to: request.timeRange.to },
    files,
    extra: request.extra ?? {},
  };
  await store.writeFile(manifestName(id), once(Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)));
  const stored = await readManifest(store, id);
  const differences = stored.manifest ? manifestDifferences(stored.manifest, manifest) : null;
  if (differences === null || differences.length > 0) {
    throw new ArchiveNotVerified(
      `Archive ${id}: manifest.json did not read back as written (${stored.problem ?? `differs in ${differences!.join(", ")}`}). Nothing may be deleted.`,
    );
  }
  return manifest;
}

function assertRequest(request: ArchiveRequest): void {
  const fail = (what: string): never => {
    throw new Error(`Not a valid archive request: ${what}`);
  };
  if (!isUuid(request.id)) fail(`id ${JSON.stringify(request.id)} is not a UUID`);
  const tables = request.tables.map((entry) => entry.table);
  for (const table of tables) if (!isTableName(table)) fail(`table ${JSON.stringify(table)} is not "schema.table"`);
  if (new Set(tables).size !== tables.length) fail("a table is named twice");
  if (tables.length === 0) fail("no tables");
  // Checked as the manifest will be read, so a request can never write one that does not read.
  assertManifest({
    format: archiveFormat,
    id: request.id,
    kind: request.kind,
    policy: request.policy,
    runId: request.runId,
    schemaVersion: request.schemaVersion,
    createdAt: new Date().toISOString(),
    timeRange: request.timeRange,
    files: [],
    extra: request.extra ?? {},
  });
}

async function* once(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
