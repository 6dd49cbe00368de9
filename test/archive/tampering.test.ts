import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { readArchiveRows, verifyArchive, type ArchiveManifest } from "../../src/archive/archive.ts";
import { localDirectoryStore, scratchDirectory, writeSampleArchive } from "../support/archive.ts";

// A tampered archive (issue 17, point 4, "Done when"): a changed byte, a removed
// line, an edited or missing manifest, a missing or extra file each fail
// verification with the problem named, and no row is read from it.

async function tamperedSample(tamper: (folder: string, manifest: ArchiveManifest) => void) {
  const scratch = scratchDirectory("tamper");
  const store = localDirectoryStore(scratch.dir);
  const { id, manifest } = await writeSampleArchive(store);
  tamper(path.join(scratch.dir, id), manifest);
  const verification = await verifyArchive(store, id);
  let readError: unknown = null;
  try {
    for await (const row of readArchiveRows(store, id, "app_public.notes")) throw new Error(`a row came out: ${JSON.stringify(row)}`);
  } catch (error) {
    readError = error;
  }
  scratch.remove();
  return { id, manifest, verification, readError: readError as Error | null };
}

const notesFile = "app_public.notes.jsonl.gz (app_public.notes)";

function editManifest(folder: string, edit: (manifest: Record<string, any>) => void) {
  const file = path.join(folder, "manifest.json");
  const manifest = JSON.parse(fs.readFileSync(file, "utf8"));
  edit(manifest);
  fs.writeFileSync(file, JSON.stringify(manifest, null, 2));
}

test("one byte changed in a file fails verify naming the file and its checksum, and no row is read", async () => {
  const { id, manifest, verification, readError } = await tamperedSample((folder) => {
    const file = path.join(folder, "app_public.notes.jsonl.gz");
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    fs.writeFileSync(file, bytes);
  });
  const expected = manifest.files[0]!.sha256;
  expect(verification.ok).toBe(false);
  expect(verification.problems[0]).toMatch(new RegExp(`^${escape(notesFile)}: SHA-256 is [0-9a-f]{64}, the manifest says ${expected}$`));
  expect(verification.problems.slice(1)).toEqual([expect.stringMatching(new RegExp(`^${escape(notesFile)}: not a readable gzip file \\(.+\\)$`))]);
  expect(readError?.name).toBe("ArchiveTampered");
  expect(readError?.message).toContain(`Archive ${id} does not verify, so nothing is read from it: ${notesFile}: SHA-256 is`);
});

test("a line removed from a file (recompressed) fails verify naming its checksum, size and row count", async () => {
  const { manifest, verification, readError } = await tamperedSample((folder) => {
    const file = path.join(folder, "app_public.notes.jsonl.gz");
    const lines = zlib.gunzipSync(fs.readFileSync(file)).toString("utf8").split("\n");
    lines.splice(3, 1);
    fs.writeFileSync(file, zlib.gzipSync(lines.join("\n")));
  });
  const file = manifest.files[0]!;
  expect(verification.problems).toEqual([
    expect.stringMatching(new RegExp(`^${escape(notesFile)}: SHA-256 is [0-9a-f]{64}, the manifest says ${file.sha256}$`)),
    expect.stringMatching(new RegExp(`^${escape(notesFile)}: \\d+ bytes, the manifest says ${file.bytes}$`)),
    `${notesFile}: 9 rows, the manifest says 10`,
  ]);
  expect(readError?.name).toBe("ArchiveTampered");
});

test("an edited manifest fails verify: its counts against the files, any field against the recorded copy", async () => {
  const edited = await tamperedSample((folder) => editManifest(folder, (manifest) => (manifest.files[0].rows = 11)));
  expect(edited.verification.problems).toEqual([`${notesFile}: 10 rows, the manifest says 11`]);
  expect(edited.readError?.name).toBe("ArchiveTampered");

  // A field no file can contradict (the policy) is caught against the copy the database keeps.
  const scratch = scratchDirectory("tamper");
  try {
    const store = localDirectoryStore(scratch.dir);
    const { id, manifest } = await writeSampleArchive(store);
    editManifest(path.join(scratch.dir, id), (copy) => {
      copy.policy = "keep_forever";
      copy.timeRange.to = "2030-01-01T00:00:00.000Z";
    });
    expect((await verifyArchive(store, id)).ok).toBe(true);
    const recorded = JSON.parse(JSON.stringify(manifest)); // as read back from jsonb: same fields, any key order
    const verification = await verifyArchive(store, id, { recorded });
    expect(verification.problems).toEqual(["manifest.json differs from the manifest recorded when the archive was written (in policy, timeRange)"]);
    await expect(readArchiveRows(store, id, "app_public.notes", { recorded }).next()).rejects.toThrow("manifest.json differs");
  } finally {
    scratch.remove();
  }
});

test("a manifest that is missing, not JSON or not a manifest fails verify with that named", async () => {
  const missing = await tamperedSample((folder) => fs.rmSync(path.join(folder, "manifest.json")));
  expect(missing.verification).toEqual({ ok: false, problems: ["manifest.json is missing"], manifest: null });
  expect(missing.readError?.message).toBe(`Archive ${missing.id} does not verify, so nothing is read from it: manifest.json is missing.`);
  const notJson = await tamperedSample((folder) => fs.writeFileSync(path.join(folder, "manifest.json"), "{ cut sho"));
  expect(notJson.verification.problems).toEqual([expect.stringMatching(/^manifest.json is not valid JSON \(.+\)$/)]);
  const wrongShape = await tamperedSample((folder) => editManifest(folder, (manifest) => (manifest.files[1].sha256 = "abc")));
  expect(wrongShape.verification.problems).toEqual(["manifest.json is not a custodian archive manifest: its files[1].sha256 is missing or malformed"]);
});

test("a file missing or a file the manifest does not list fails verify with that named", async () => {
  const missing = await tamperedSample((folder) => fs.rmSync(path.join(folder, "app_public.notes.jsonl.gz")));
  expect(missing.verification.problems).toEqual([`${notesFile}: the file is missing`]);
  expect(missing.readError?.name).toBe("ArchiveTampered");
  const extra = await tamperedSample((folder) => fs.writeFileSync(path.join(folder, "app_public.more.jsonl.gz"), zlib.gzipSync('{"id": 99}\n')));
  expect(extra.verification.problems).toEqual(["app_public.more.jsonl.gz: a file the manifest does not list"]);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
