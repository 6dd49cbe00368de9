import { jest } from "@jest/globals";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { loadConfig } from "../../src/config.ts";
import { archiveStoreFor, localDirectoryStore, type ArchiveStore } from "../../src/archive/store.ts";
import { projectRoot } from "../../src/paths.ts";
import { filesUnder, scratchDirectory, writeSampleArchive } from "../support/archive.ts";

// The local directory store (issue 17, point 4): a file is on disk, whole,
// before writeFile resolves, or not there at all; a missing or unwritable
// archive directory is a clear error before anything is written.

async function* chunksOf(...texts: string[]): AsyncGenerator<Buffer> {
  for (const text of texts) yield Buffer.from(text);
}

async function readAll(store: ArchiveStore, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.readFile(name)) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

test("a file is written to a temp name, fsynced, renamed into place, and its directory fsynced", async () => {
  const scratch = scratchDirectory("store");
  const steps: string[] = [];
  // FileHandle is not exported; its prototype is reached through a handle.
  const probe = await fsp.open(path.join(projectRoot, "package.json"), "r");
  await probe.close();
  const sync = jest.spyOn(Object.getPrototypeOf(probe), "sync").mockImplementation(function (this: { fd: number }) {
    steps.push(`fsync ${fs.fstatSync(this.fd).isDirectory() ? "directory" : "file"}`);
    fs.fsyncSync(this.fd);
    return Promise.resolve();
  });
  const rename = jest.spyOn(fsp, "rename").mockImplementation(async (from, to) => {
    steps.push(`rename ${path.basename(String(from)).replace(/-[0-9a-f]{12}$/, "-…")} → ${path.relative(scratch.dir, String(to))}`);
    fs.renameSync(from, to);
  });
  try {
    const store = localDirectoryStore(scratch.dir);
    await store.writeFile("a1/notes.jsonl.gz", chunksOf("first ", "second"));
    expect(steps).toEqual(["fsync file", "rename .writing-notes.jsonl.gz-… → a1/notes.jsonl.gz", "fsync directory"]);
    expect(await readAll(store, "a1/notes.jsonl.gz")).toBe("first second");
    expect(filesUnder(scratch.dir)).toEqual(["a1/notes.jsonl.gz"]);
  } finally {
    sync.mockRestore();
    rename.mockRestore();
    scratch.remove();
  }
});

test("a write that fails part way leaves the file as it was and no temp file", async () => {
  const scratch = scratchDirectory("store");
  try {
    const store = localDirectoryStore(scratch.dir);
    await store.writeFile("a1/notes.jsonl.gz", chunksOf("the first version"));
    async function* breaks() {
      yield Buffer.from("half of the second");
      throw new Error("the source failed");
    }
    await expect(store.writeFile("a1/notes.jsonl.gz", breaks())).rejects.toThrow("the source failed");
    expect(await readAll(store, "a1/notes.jsonl.gz")).toBe("the first version");
    expect(filesUnder(scratch.dir)).toEqual(["a1/notes.jsonl.gz"]);
  } finally {
    scratch.remove();
  }
});

test("list names the files under a prefix, never files being written; names that leave the store are refused", async () => {
  const scratch = scratchDirectory("store");
  try {
    const store = localDirectoryStore(scratch.dir);
    await store.writeFile("a1/manifest.json", chunksOf("{}"));
    await store.writeFile("a1/x.jsonl.gz", chunksOf(""));
    await store.writeFile("a2/manifest.json", chunksOf("{}"));
    fs.writeFileSync(path.join(scratch.dir, "a2", ".writing-y.jsonl.gz-0123456789ab"), "half");
    expect(await store.list("")).toEqual(["a1/manifest.json", "a1/x.jsonl.gz", "a2/manifest.json"]);
    expect(await store.list("a1/")).toEqual(["a1/manifest.json", "a1/x.jsonl.gz"]);
    expect(await store.list("a2/m")).toEqual(["a2/manifest.json"]);
    expect(await store.list("a3/")).toEqual([]);
    await expect(store.writeFile("../outside", chunksOf("x"))).rejects.toThrow('Not an archive file name: "../outside"');
    await expect(store.writeFile("/etc/outside", chunksOf("x"))).rejects.toThrow("Not an archive file name");
    await expect(readAll(store, "a1/absent.json")).rejects.toThrow(`a1/absent.json is missing from the archive directory ${scratch.dir}.`);
    expect(fs.existsSync(path.join(scratch.dir, "..", "outside"))).toBe(false);
  } finally {
    scratch.remove();
  }
});

test("a missing archive directory is a clear error, and nothing is written or created", async () => {
  const scratch = scratchDirectory("store");
  try {
    const missing = path.join(scratch.dir, "not-mounted");
    const store = localDirectoryStore(missing);
    await expect(store.checkWritable()).rejects.toThrow(
      `The archive directory ${missing} does not exist; create it or set ARCHIVE_DIR to one that does. Nothing was archived or deleted.`,
    );
    await expect(writeSampleArchive(store)).rejects.toThrow(`The archive directory ${missing} does not exist`);
    expect(fs.existsSync(missing)).toBe(false);
    const aFile = path.join(scratch.dir, "a-file");
    fs.writeFileSync(aFile, "");
    await expect(localDirectoryStore(aFile).checkWritable()).rejects.toThrow(`The archive directory ${aFile} is not a directory`);
  } finally {
    scratch.remove();
  }
});

test("an archive directory this process may not write to is a clear error, and nothing is written", async () => {
  const scratch = scratchDirectory("store");
  try {
    const readOnly = path.join(scratch.dir, "read-only");
    fs.mkdirSync(readOnly, { mode: 0o755 });
    // As root every directory is writable, so the check runs as `nobody`, as a service account would.
    const result = writeSampleArchiveAs(readOnly);
    expect(result).toBe(`UserError: The archive directory ${readOnly} is not writable (EACCES); give this process write access or set ARCHIVE_DIR. Nothing was archived or deleted.`);
    expect(filesUnder(readOnly)).toEqual([]);
  } finally {
    scratch.remove();
  }
});

test("ARCHIVE_DIR defaults to the data directory's archive folder, made on first use; a named one must exist", async () => {
  const scratch = scratchDirectory("store");
  try {
    const config = loadConfig({ DATA_DIR: scratch.dir });
    expect(config.archiveDir).toBe(path.join(scratch.dir, "archive"));
    const store = archiveStoreFor(config);
    expect(store.description).toBe(`directory ${path.join(scratch.dir, "archive")}`);
    await store.checkWritable();
    expect(fs.statSync(path.join(scratch.dir, "archive")).isDirectory()).toBe(true);
    expect(filesUnder(scratch.dir)).toEqual([]);

    const named = loadConfig({ DATA_DIR: scratch.dir, ARCHIVE_DIR: path.join(scratch.dir, "elsewhere") });
    await expect(archiveStoreFor(named).checkWritable()).rejects.toThrow(`The archive directory ${path.join(scratch.dir, "elsewhere")} does not exist`);
    expect(() => loadConfig({ DATA_DIR: scratch.dir, ARCHIVE_DIR: scratch.dir })).toThrow(
      `ARCHIVE_DIR may not be the data directory or its database folder (got "${scratch.dir}")`,
    );
    expect(() => loadConfig({ DATA_DIR: scratch.dir, ARCHIVE_DIR: "  " })).toThrow("ARCHIVE_DIR is blank");
  } finally {
    scratch.remove();
  }
});

/** Writes a sample archive into `dir` in a process running as `nobody` when this one is root; returns its error as "Name: message". */
function writeSampleArchiveAs(dir: string): string {
  const script = `
    import { localDirectoryStore } from ${JSON.stringify(pathToFileURL(path.join(projectRoot, "src/archive/store.ts")).href)};
    import { writeSampleArchive } from ${JSON.stringify(pathToFileURL(path.join(projectRoot, "test/support/archive.ts")).href)};
    try { await writeSampleArchive(localDirectoryStore(process.argv[1])); console.log("written"); }
    catch (error) { console.log(error.name + ": " + error.message); }`;
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  if (!asNobody.uid) fs.chmodSync(dir, 0o555);
  const child = spawnSync(process.execPath, ["--no-warnings", "--input-type=module", "-e", script, dir], { ...asNobody, encoding: "utf8" });
  return (child.stdout || child.stderr).trim();
}
