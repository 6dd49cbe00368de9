import crypto from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";

/**
 * A zip file written as a stream (PKWARE APPNOTE 6.3, the parts every unzip
 * reads): each entry deflated as it comes, its CRC-32 and sizes in a data
 * descriptor after its data, the central directory at the end. Nothing is
 * held but the entry list, so an export of any size goes out in constant
 * memory. No zip64: an archive or entry of 4 GiB or more is refused.
 */

export interface ZipEntry {
  name: string;
  /** Uncompressed size in bytes. */
  bytes: number;
  /** SHA-256 of the uncompressed content, in hexadecimal. */
  sha256: string;
}

interface Written extends ZipEntry {
  crc: number;
  compressedBytes: number;
  offset: number;
}

const limit = 0xffffffff;
const utf8Names = 0x0800;
const dataDescriptor = 0x0008;
const deflated = 8;
const version = 20;

/** MS-DOS date and time (local fields, two-second precision) of an instant, in UTC. */
function dosDateTime(at: Date): { date: number; time: number } {
  const year = Math.max(at.getUTCFullYear(), 1980);
  return {
    date: ((year - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate(),
    time: (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | Math.floor(at.getUTCSeconds() / 2),
  };
}

export class ZipWriter {
  private offset = 0;
  private readonly entries: Written[] = [];
  private readonly stamp: { date: number; time: number };
  private readonly sink: (bytes: Buffer) => Promise<void>;

  /** `sink` receives the archive's bytes in order; the writer waits for it. */
  constructor(sink: (bytes: Buffer) => Promise<void>, modifiedAt: Date) {
    this.sink = sink;
    this.stamp = dosDateTime(modifiedAt);
  }

  /** Adds one file whose content comes piece by piece; returns its size and SHA-256. */
  async add(name: string, content: AsyncIterable<string | Buffer>): Promise<ZipEntry> {
    const nameBytes = Buffer.from(name, "utf8");
    const offset = this.offset;
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(version, 4);
    header.writeUInt16LE(utf8Names | dataDescriptor, 6);
    header.writeUInt16LE(deflated, 8);
    header.writeUInt16LE(this.stamp.time, 10);
    header.writeUInt16LE(this.stamp.date, 12);
    // CRC-32 and sizes (14-25) stay zero: the data descriptor carries them.
    header.writeUInt16LE(nameBytes.length, 26);
    await this.emit(Buffer.concat([header, nameBytes]));

    const hash = crypto.createHash("sha256");
    let crc = 0;
    let bytes = 0;
    let compressedBytes = 0;
    async function* measured() {
      for await (const piece of content) {
        const buffer = typeof piece === "string" ? Buffer.from(piece, "utf8") : piece;
        if (buffer.length === 0) continue;
        crc = zlib.crc32(buffer, crc);
        hash.update(buffer);
        bytes += buffer.length;
        yield buffer;
      }
    }
    await pipeline(Readable.from(measured()), zlib.createDeflateRaw(), async (compressed: AsyncIterable<Buffer>) => {
      for await (const chunk of compressed) {
        compressedBytes += chunk.length;
        await this.emit(chunk);
      }
    });
    if (bytes >= limit || compressedBytes >= limit) throw new Error(`Zip entry ${name} reaches 4 GiB; this writer has no zip64.`);

    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(crc >>> 0, 4);
    descriptor.writeUInt32LE(compressedBytes, 8);
    descriptor.writeUInt32LE(bytes, 12);
    await this.emit(descriptor);
    const entry: Written = { name, bytes, sha256: hash.digest("hex"), crc, compressedBytes, offset };
    this.entries.push(entry);
    return { name, bytes, sha256: entry.sha256 };
  }

  /** Writes the central directory; the archive is complete after it. Returns the archive's size. */
  async finish(): Promise<number> {
    const directoryOffset = this.offset;
    for (const entry of this.entries) {
      const nameBytes = Buffer.from(entry.name, "utf8");
      const record = Buffer.alloc(46);
      record.writeUInt32LE(0x02014b50, 0);
      record.writeUInt16LE(version, 4);
      record.writeUInt16LE(version, 6);
      record.writeUInt16LE(utf8Names | dataDescriptor, 8);
      record.writeUInt16LE(deflated, 10);
      record.writeUInt16LE(this.stamp.time, 12);
      record.writeUInt16LE(this.stamp.date, 14);
      record.writeUInt32LE(entry.crc >>> 0, 16);
      record.writeUInt32LE(entry.compressedBytes, 20);
      record.writeUInt32LE(entry.bytes, 24);
      record.writeUInt16LE(nameBytes.length, 28);
      // Extra field, comment, disk number, attributes (30-41) stay zero.
      record.writeUInt32LE(entry.offset, 42);
      await this.emit(Buffer.concat([record, nameBytes]));
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.entries.length, 8);
    end.writeUInt16LE(this.entries.length, 10);
    end.writeUInt32LE(this.offset - directoryOffset, 12);
    end.writeUInt32LE(directoryOffset, 16);
    await this.emit(end);
    return this.offset;
  }

  private async emit(bytes: Buffer): Promise<void> {
    if (this.offset + bytes.length >= limit) throw new Error("The zip archive reaches 4 GiB; this writer has no zip64.");
    this.offset += bytes.length;
    await this.sink(bytes);
  }
}
