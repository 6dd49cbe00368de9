import crypto, { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { ArchiveNotVerified, listArchives, readArchiveRows, verifyArchive, writeVerifiedArchive } from "../../src/archive/archive.ts";
import type { ArchiveStore } from "../../src/archive/store.ts";
import { filesUnder, linesOf, localDirectoryStore, scratchDirectory, writeSampleArchive } from "../support/archive.ts";

// An archive written, read back and verified (issue 17, point 4): the manifest
// says what is in it, every file's checksum, size and row count; the rows come
// back as written.

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

test("an archive is written as gzip JSON Lines per table with a manifest, and reads back exactly", async () => {
  const scratch = scratchDirectory("archive");
  try {
    const store = localDirectoryStore(scratch.dir);
    const { manifest, notes, id } = await writeSampleArchive(store);
    expect(filesUnder(scratch.dir)).toEqual([`${id}/app_public.empty_things.jsonl.gz`, `${id}/app_public.notes.jsonl.gz`, `${id}/manifest.json`].sort());
    const file = fs.readFileSync(path.join(scratch.dir, id, "app_public.notes.jsonl.gz"));
    expect(zlib.gunzipSync(file).toString("utf8")).toBe(notes.map((line) => `${line}\n`).join(""));
    expect(manifest).toMatchObject({
      format: "custodian-archive/1",
      id,
      kind: "rows",
      policy: "soft_deleted_clients",
      schemaVersion: "000010.sql",
      timeRange: { from: "2026-01-02T03:04:05.000Z", to: "2026-01-09T03:04:05.000Z" },
      extra: {},
    });
    expect(manifest.files).toEqual([
      { name: "app_public.notes.jsonl.gz", table: "app_public.notes", rows: 10, bytes: file.length, sha256: crypto.createHash("sha256").update(file).digest("hex") },
      expect.objectContaining({ name: "app_public.empty_things.jsonl.gz", table: "app_public.empty_things", rows: 0 }),
    ]);
    expect(JSON.parse(fs.readFileSync(path.join(scratch.dir, id, "manifest.json"), "utf8"))).toEqual(manifest);

    expect(await verifyArchive(store, id)).toEqual({ ok: true, problems: [], manifest });
    expect(await collect(readArchiveRows(store, id, "app_public.notes"))).toEqual(notes.map((line) => JSON.parse(line)));
    expect(await collect(readArchiveRows(store, id, "app_public.empty_things"))).toEqual([]);
    await expect(collect(readArchiveRows(store, id, "app_public.other"))).rejects.toThrow(
      `Archive ${id} holds no rows of app_public.other; it holds app_public.notes, app_public.empty_things.`,
    );
    expect(await listArchives(store)).toEqual([manifest]);
  } finally {
    scratch.remove();
  }
});

test("an archive id already written is refused, and a failed write leaves no manifest", async () => {
  const scratch = scratchDirectory("archive");
  try {
    const store = localDirectoryStore(scratch.dir);
    const { id } = await writeSampleArchive(store);
    await expect(writeSampleArchive(store, { id })).rejects.toThrow(`Archive ${id} is already written in the directory ${scratch.dir}`);

    // The rows' source fails part way: the writer throws, and nothing looks like a verified archive.
    const failing = randomUUID();
    async function* breaksAfterTwo() {
      yield '{"id": 1}';
      yield '{"id": 2}';
      throw new Error("the cursor went away");
    }
    await expect(
      writeVerifiedArchive(store, { id: failing, kind: "rows", policy: null, runId: null, schemaVersion: "000010.sql", timeRange: { from: null, to: null }, tables: [{ table: "app_public.notes", lines: breaksAfterTwo() }] }),
    ).rejects.toThrow("the cursor went away");
    expect(filesUnder(path.join(scratch.dir, failing))).toEqual([]);
    expect(await verifyArchive(store, failing)).toEqual({ ok: false, problems: [`there is no archive ${failing} in the directory ${scratch.dir}`], manifest: null });

    // A line that is not one JSON object is refused (it would not restore).
    await expect(
      writeVerifiedArchive(store, { id: randomUUID(), kind: "rows", policy: null, runId: null, schemaVersion: "000010.sql", timeRange: { from: null, to: null }, tables: [{ table: "app_public.notes", lines: linesOf(['{"a": 1}', "{\"b\":\n2}"]) }] }),
    ).rejects.toThrow("An archive line must be one JSON object on one line (row 2");
    expect((await listArchives(store)).map((manifest) => manifest.id)).toEqual([id]);
  } finally {
    scratch.remove();
  }
});

test("a file that does not read back as written (a disk returning other bytes) fails the write, and no manifest is written", async () => {
  const scratch = scratchDirectory("archive");
  try {
    const local = localDirectoryStore(scratch.dir);
    // The store writes faithfully but a read returns one byte changed, as a failing disk or a cache gone bad would.
    const flaky: ArchiveStore = {
      ...local,
      async *readFile(name) {
        let first = true;
        for await (const chunk of local.readFile(name)) {
          if (first && name.endsWith(".jsonl.gz")) {
            const copy = Buffer.from(chunk);
            copy[copy.length - 1]! ^= 0xff;
            first = false;
            yield copy;
          } else yield chunk;
        }
      },
    };
    const id = randomUUID();
    const error = await writeSampleArchive(flaky, { id }).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(ArchiveNotVerified);
    expect((error as Error).message).toMatch(
      new RegExp(`^Archive ${id}: app_public\\.notes\\.jsonl\\.gz did not read back as written \\(not a readable gzip file \\(.+\\); SHA-256 read back [0-9a-f]{64}, written [0-9a-f]{64}\\)\\. Nothing may be deleted\\.$`),
    );
    expect(filesUnder(scratch.dir)).toEqual([`${id}/app_public.notes.jsonl.gz`]);
    expect((await verifyArchive(local, id)).problems).toEqual(["manifest.json is missing"]);
  } finally {
    scratch.remove();
  }
});
