import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config.ts";
import { UserError } from "../errors.ts";

/**
 * Where archive files live. A name is a relative path with "/" between its
 * parts ("<archive id>/manifest.json"), as an object key is. The local
 * directory below is the one implementation; an S3-compatible store is a
 * second one with the same four calls (README, "Archive storage").
 */
export interface ArchiveStore {
  /** Human description for messages, e.g. "directory /data/archive". */
  readonly description: string;
  /** Fails with a clear UserError when the store is missing or not writable (checked BEFORE any work). */
  checkWritable(): Promise<void>;
  /** Writes a file durably (temp name, fsync file, rename, fsync directory); resolves only when it is on disk. */
  writeFile(name: string, chunks: AsyncIterable<Buffer>): Promise<void>;
  /** Reads a file back as a stream; a missing file fails with ArchiveFileMissing. */
  readFile(name: string): AsyncIterable<Buffer>;
  /** Every file name that starts with `prefix` ("" for all), sorted; files being written are never listed. */
  list(prefix: string): Promise<string[]>;
}

/** A file the store does not hold (the S3 store throws it on NoSuchKey). */
export class ArchiveFileMissing extends UserError {
  override name = "ArchiveFileMissing";
}

const namePart = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const tempPrefix = ".writing-";

/** Refuses names that could leave the store or clash with files being written. */
export function assertArchiveName(name: string): void {
  const parts = name.split("/");
  if (!parts.every((part) => namePart.test(part) && part !== "." && part !== "..")) {
    throw new Error(`Not an archive file name: ${JSON.stringify(name)}`);
  }
}

export interface LocalDirectoryOptions {
  /** Create the directory (not its parents) when missing; only for the default under the data directory. */
  createIfMissing?: boolean;
}

/** Archive files in a local directory, each written to a temp name, fsynced, renamed, and its directory fsynced. */
export function localDirectoryStore(dir: string, { createIfMissing = false }: LocalDirectoryOptions = {}): ArchiveStore {
  const root = path.resolve(dir);
  const description = `directory ${root}`;
  const fullPath = (name: string) => {
    assertArchiveName(name);
    return path.join(root, ...name.split("/"));
  };
  return {
    description,

    async checkWritable() {
      if (createIfMissing) await fsp.mkdir(root).catch((error: NodeJS.ErrnoException) => (error.code === "EEXIST" ? undefined : rethrowAsUserError(error, root, beforeWork)));
      const stat = await fsp.stat(root).catch((error: NodeJS.ErrnoException) => rethrowAsUserError(error, root, beforeWork));
      if (!stat.isDirectory()) throw new UserError(`The archive directory ${root} is not a directory; set ARCHIVE_DIR to a directory.`);
      // A probe file says more than access(): it also catches read-only mounts and full disks. It is removed at once.
      const probe = path.join(root, `${tempPrefix}probe-${randomBytes(6).toString("hex")}`);
      try {
        const handle = await fsp.open(probe, "wx", 0o600);
        try {
          await handle.writeFile("probe");
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (error) {
        await fsp.rm(probe, { force: true }).catch(() => undefined);
        rethrowAsUserError(error as NodeJS.ErrnoException, root, beforeWork);
      }
      await fsp.rm(probe, { force: true });
    },

    async writeFile(name, chunks) {
      const target = fullPath(name);
      const folder = path.dirname(target);
      await fsp.mkdir(folder, { recursive: true });
      const temp = path.join(folder, `${tempPrefix}${path.basename(target)}-${randomBytes(6).toString("hex")}`);
      const handle = await fsp.open(temp, "wx", 0o640).catch((error: NodeJS.ErrnoException) => rethrowAsUserError(error, root, whileWriting));
      try {
        // One write at a time: the producer is pulled only as fast as the disk takes it.
        for await (const chunk of chunks) await writeWhole(handle, chunk);
        await handle.sync();
        await handle.close();
      } catch (error) {
        await handle.close().catch(() => undefined);
        await fsp.rm(temp, { force: true });
        // A disk that fills (or a file-size limit) mid-way is said in words; anything else is a bug.
        rethrowAsUserError(error as NodeJS.ErrnoException, root, whileWriting);
      }
      await fsp.rename(temp, target);
      await syncDirectory(folder);
    },

    async *readFile(name) {
      const file = fullPath(name);
      let stream: fs.ReadStream;
      try {
        const handle = await fsp.open(file, "r");
        stream = handle.createReadStream();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          throw new ArchiveFileMissing(`${name} is missing from the archive ${description}.`);
        }
        throw error;
      }
      for await (const chunk of stream) yield chunk as Buffer;
    },

    async list(prefix) {
      const names: string[] = [];
      const walk = async (folder: string, relative: string): Promise<void> => {
        const entries = await fsp.readdir(folder, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT" && folder !== root) return [];
          return rethrowAsUserError(error, root);
        });
        for (const entry of entries) {
          if (entry.name.startsWith(".")) continue; // files being written, probes
          const name = relative ? `${relative}/${entry.name}` : entry.name;
          // Descend only where names can still start with the prefix.
          if (entry.isDirectory()) {
            if (prefix.startsWith(`${name}/`) || name.startsWith(prefix) || `${name}/`.startsWith(prefix)) {
              await walk(path.join(folder, entry.name), name);
            }
          } else if (entry.isFile() && name.startsWith(prefix)) {
            names.push(name);
          }
        }
      };
      await walk(root, "");
      return names.sort();
    },
  };
}

/** The store from the configuration: ARCHIVE_DIR, default <DATA_DIR>/archive (config.archiveDir). */
export function archiveStoreFor(config: Config): ArchiveStore {
  // The default folder is made on first use under the data directory. A folder named
  // in ARCHIVE_DIR must exist: a missing one is usually a volume that is not mounted.
  const isDefault = path.resolve(config.archiveDir) === path.join(config.dataDir, "archive");
  return localDirectoryStore(config.archiveDir, { createIfMissing: isDefault && fs.existsSync(config.dataDir) });
}

/**
 * Writes all of a chunk. A write may take only part of it (a disk filling up,
 * a file-size limit), and only the next one fails with the reason: taking the
 * part for the whole would leave the file short.
 */
async function writeWhole(handle: fsp.FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    if (bytesWritten === 0) throw new Error(`A write to an archive file took none of ${chunk.length - offset} bytes.`);
    offset += bytesWritten;
  }
}

async function syncDirectory(folder: string): Promise<void> {
  const handle = await fsp.open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const beforeWork = " Nothing was archived or deleted.";
const whileWriting = " The archive being written was discarded and none of its rows were deleted.";

function rethrowAsUserError(error: NodeJS.ErrnoException, root: string, after = ""): never {
  switch (error.code) {
    case "ENOENT":
      throw new UserError(`The archive directory ${root} does not exist; create it or set ARCHIVE_DIR to one that does.${after}`);
    case "ENOTDIR":
      throw new UserError(`The archive directory ${root} is not a directory; set ARCHIVE_DIR to a directory.`);
    case "EACCES":
    case "EPERM":
    case "EROFS":
      throw new UserError(`The archive directory ${root} is not writable (${error.code}); give this process write access or set ARCHIVE_DIR.${after}`);
    case "ENOSPC":
    case "EDQUOT":
      throw new UserError(`The archive directory ${root} is full (${error.code}).${after}`);
    case "EFBIG":
      throw new UserError(`The archive directory ${root} refused to grow a file (EFBIG: a file-size limit of this process or its file system).${after}`);
    default:
      throw error;
  }
}
