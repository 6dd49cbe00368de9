import crypto from "node:crypto";
import type pg from "pg";
import { cursorBatches } from "../db/cursor.ts";

/** An export's bytes are stored a mebibyte a row: a download reads a few rows at a time. */
export const chunkBytes = 1024 * 1024;

/**
 * Stores a stream of bytes as an export's chunks (app_private.data_subject_export_chunks),
 * in the caller's transaction, holding at most one chunk in memory.
 */
export class ChunkSink {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextChunk = 0;
  private readonly hash = crypto.createHash("sha256");
  private digest: string | null = null;

  private readonly client: pg.ClientBase;
  private readonly exportId: string;

  constructor(client: pg.ClientBase, exportId: string) {
    this.client = client;
    this.exportId = exportId;
  }

  readonly write = async (bytes: Buffer): Promise<void> => {
    this.hash.update(bytes);
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    while (this.pendingBytes >= chunkBytes) {
      const all = Buffer.concat(this.pending);
      await this.store(all.subarray(0, chunkBytes));
      const rest = all.subarray(chunkBytes);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
  };

  /** Stores what is left; call once, after the last write. */
  async close(): Promise<void> {
    if (this.pendingBytes > 0) await this.store(Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** SHA-256 of every byte written, in hexadecimal; after close(). */
  sha256(): string {
    this.digest ??= this.hash.digest("hex");
    return this.digest;
  }

  private async store(bytes: Buffer): Promise<void> {
    await this.client.query(
      "insert into app_private.data_subject_export_chunks (export_id, chunk_number, bytes) values ($1, $2, $3)",
      [this.exportId, this.nextChunk, Buffer.from(bytes)],
    );
    this.nextChunk += 1;
  }
}

/**
 * An export's bytes in order, two chunks at a time, as the connection's role
 * may read them (row-level security: the caller's exports, unexpired).
 */
export async function* exportBytes(client: pg.ClientBase, exportId: string): AsyncGenerator<Buffer> {
  const batches = cursorBatches<{ bytes: Buffer }>(
    client,
    "select bytes from app_private.data_subject_export_chunks where export_id = $1 order by chunk_number",
    [exportId],
    2,
  );
  for await (const batch of batches) {
    for (const row of batch) yield row.bytes;
  }
}
