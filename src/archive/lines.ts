import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StringDecoder } from "node:string_decoder";
import zlib from "node:zlib";
import type { ArchiveStore } from "./store.ts";

/** Lines are gathered into buffers of about this size before compression. */
const batchBytes = 64 * 1024;

export interface FileDigest {
  sha256: string;
  bytes: number;
  rows: number;
}

/**
 * Writes JSON Lines gzipped to the store, streaming: each stage pulls from the
 * one before only when it has room, so memory stays the same for any number
 * of rows. Resolves with what was handed to the store.
 */
export async function writeGzipLines(store: ArchiveStore, name: string, lines: AsyncIterable<string>): Promise<FileDigest> {
  const counted = { rows: 0 };
  const digest = { hash: createHash("sha256"), bytes: 0 };
  await pipeline(Readable.from(lineBuffers(lines, counted)), zlib.createGzip(), async (gzipped: AsyncIterable<Buffer>) => {
    await store.writeFile(name, measured(gzipped, digest));
  });
  return { sha256: digest.hash.digest("hex"), bytes: digest.bytes, rows: counted.rows };
}

/**
 * Reads a stored file back: the SHA-256 and size of its bytes and the rows
 * (newline-ended lines) inside. `unreadable` says why the rows could not be
 * counted (not gzip, cut short, a last line without its newline).
 */
export async function digestStoredFile(store: ArchiveStore, name: string): Promise<FileDigest & { unreadable: string | null }> {
  const digest = { hash: createHash("sha256"), bytes: 0 };
  let rows = 0;
  let lastByte = 0x0a;
  try {
    await pipeline(Readable.from(measured(store.readFile(name), digest)), zlib.createGunzip(), async (plain: AsyncIterable<Buffer>) => {
      for await (const chunk of plain) {
        for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) rows++;
        if (chunk.length > 0) lastByte = chunk[chunk.length - 1]!;
      }
    });
  } catch (error) {
    if ((error as { name?: string }).name === "ArchiveFileMissing") throw error;
    // Not gzip or cut short: the rows cannot be counted; hash the whole file again to name it.
    const whole = { hash: createHash("sha256"), bytes: 0 };
    for await (const chunk of measured(store.readFile(name), whole)) void chunk;
    return { sha256: whole.hash.digest("hex"), bytes: whole.bytes, rows, unreadable: `not a readable gzip file (${(error as Error).message})` };
  }
  const unreadable = lastByte === 0x0a ? null : "its last line has no newline (cut short)";
  return { sha256: digest.hash.digest("hex"), bytes: digest.bytes, rows, unreadable };
}

/** A stored gzip JSON Lines file's lines, one at a time, as the bytes are read (with their digest at the end). */
export async function* readGzipLines(store: ArchiveStore, name: string, digest: { hash: ReturnType<typeof createHash>; bytes: number }): AsyncGenerator<string> {
  const gunzip = zlib.createGunzip();
  const source = Readable.from(measured(store.readFile(name), digest));
  const piped = pipeline(source, gunzip).catch((error: unknown) => error);
  const decoder = new StringDecoder("utf8");
  let rest = "";
  try {
    for await (const chunk of gunzip) {
      const text = rest + decoder.write(chunk as Buffer);
      const lines = text.split("\n");
      rest = lines.pop()!;
      yield* lines;
    }
  } finally {
    source.destroy();
  }
  const failure = await piped;
  if (failure) throw failure;
  rest += decoder.end();
  if (rest !== "") throw new Error(`${name}: its last line has no newline (cut short)`);
}

async function* lineBuffers(lines: AsyncIterable<string>, counted: { rows: number }): AsyncGenerator<Buffer> {
  let pending: string[] = [];
  let size = 0;
  for await (const line of lines) {
    // A row is to_jsonb(row)::text: one JSON object, which never holds a raw newline.
    if (typeof line !== "string" || !line.startsWith("{") || !line.endsWith("}") || line.includes("\n")) {
      throw new Error(`An archive line must be one JSON object on one line (row ${counted.rows + 1}: ${String(line).slice(0, 80)})`);
    }
    pending.push(line);
    size += line.length + 1;
    counted.rows++;
    if (size >= batchBytes) {
      yield Buffer.from(`${pending.join("\n")}\n`);
      pending = [];
      size = 0;
    }
  }
  if (pending.length > 0) yield Buffer.from(`${pending.join("\n")}\n`);
}

async function* measured(chunks: AsyncIterable<Buffer>, digest: { hash: ReturnType<typeof createHash>; bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    digest.hash.update(chunk);
    digest.bytes += chunk.length;
    yield chunk;
  }
}
