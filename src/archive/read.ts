import { createHash } from "node:crypto";
import { UserError } from "../errors.ts";
import { readGzipLines } from "./lines.ts";
import type { ArchiveManifest } from "./manifest.ts";
import type { ArchiveStore } from "./store.ts";
import { ArchiveTampered, verifyArchive, type VerifyOptions } from "./verify.ts";

/**
 * The archive's rows of one table as parsed JSON objects. The whole archive
 * is verified first (a tampered one is refused before a row comes out), and
 * the file is checked again as it streams: a change made meanwhile throws at
 * the end, so a caller inside a transaction rolls back.
 */
export async function* readArchiveRows(store: ArchiveStore, id: string, table: string, options: VerifyOptions = {}): AsyncGenerator<Record<string, unknown>> {
  for await (const line of readArchiveLines(store, id, table, options)) yield JSON.parse(line) as Record<string, unknown>;
}

/**
 * The same rows as their archived JSON text, untouched: what a restore hands
 * to jsonb_populate_record (JSON.parse would round big integers and numerics).
 */
export async function* readArchiveLines(store: ArchiveStore, id: string, table: string, options: VerifyOptions = {}): AsyncGenerator<string> {
  const verification = await verifyArchive(store, id, options);
  if (!verification.ok) throw new ArchiveTampered(`Archive ${id} does not verify, so nothing is read from it: ${verification.problems.join("; ")}.`);
  yield* linesCheckedAgainst(store, verification.manifest!, table);
}

/**
 * A table's lines from an archive verified a moment ago, checked again as they
 * stream (the SHA-256, size and count at the end): a change made meanwhile
 * throws after the last line, before the caller commits anything.
 */
export async function* linesCheckedAgainst(store: ArchiveStore, manifest: ArchiveManifest, table: string): AsyncGenerator<string> {
  const id = manifest.id;
  const file = manifest.files.find((entry) => entry.table === table);
  if (!file) {
    const held = manifest.files.map((entry) => entry.table).join(", ");
    throw new UserError(`Archive ${id} holds no rows of ${table}; it holds ${held || "no tables"}.`);
  }
  const digest = { hash: createHash("sha256"), bytes: 0 };
  let rows = 0;
  for await (const line of readGzipLines(store, `${id}/${file.name}`, digest)) {
    rows++;
    yield line;
  }
  const sha256 = digest.hash.digest("hex");
  if (sha256 !== file.sha256 || digest.bytes !== file.bytes || rows !== file.rows) {
    throw new ArchiveTampered(`Archive ${id}: ${file.name} changed while it was read (SHA-256 ${sha256}, ${rows} rows); nothing from it may be kept.`);
  }
}
