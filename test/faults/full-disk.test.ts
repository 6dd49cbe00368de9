import fs from "node:fs";
import path from "node:path";
import type pg from "pg";
import { filesUnder, scratchDirectory } from "../support/archive.ts";
import { runCli, runConfinedCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { testPool } from "../support/faults.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";
import { createCoach } from "../support/fixtures.ts";
import { cascadeRows, committed, plantDeletedClient } from "../support/retention.ts";

// A disk that fills (simulated by a file-size limit on the command's process:
// its writes fail as writes to a full disk do, with no root-only mount) under
// a retention run, and a folder the process may not write to under a
// retention run and an export.
// What test/retention and test/archive cover already (a missing archive
// directory, an unwritable one before any work, a file that does not read
// back) is not repeated. On a database of this file's own: its retention runs
// meet no other file's.

const AS_OF = "2001-01-01T00:00:00.000Z";
let scratch: ScratchDatabase;
let db: pg.Pool;
let env: (extra?: Record<string, string>) => Record<string, string>;
const folders: Array<{ dir: string; remove: () => void }> = [];

beforeAll(async () => {
  scratch = await openScratchDatabase();
  env = (extra = {}) => testEnvironment({ DATABASE_URL: scratch.url, ...extra });
  expect((await runCli(["migrate"], env())).code).toBe(0);
  db = testPool(scratch.url);
}, 120_000);

afterAll(async () => {
  for (const folder of folders) {
    fs.chmodSync(folder.dir, 0o755);
    folder.remove();
  }
  await db?.end();
  await scratch?.drop();
});

function folder(label: string): string {
  const made = scratchDirectory(label);
  folders.push(made);
  return made.dir;
}

/** The data folder of a command run as nobody: its own (it finds no server there, and uses DATABASE_URL). */
function unprivilegedEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  const dataDir = folder("nobody-data");
  if (process.getuid?.() === 0) fs.chownSync(dataDir, 65534, 65534);
  return env({ DATA_DIR: dataDir, ...extra });
}

/** A folder the confined command may not write to: root's own (the command runs as nobody), or read-only when not root. */
function notWritable(label: string): string {
  const dir = folder(label);
  fs.chmodSync(dir, process.getuid?.() === 0 ? 0o755 : 0o555);
  return dir;
}

const rowCount = async (clientIds: string[]) =>
  (await Promise.all(clientIds.map((id) => cascadeRows(db, id)))).flatMap((tables) => Object.values(tables)).flat().length;

async function latestRun() {
  const { rows: [run] } = await db.query("select id, status, error from app_public.retention_runs order by started_at desc limit 1");
  const { rows: policies } = await db.query("select policy_name, status, error, rows_deleted::int from app_public.retention_run_policies where run_id = $1", [run.id]);
  return { status: run.status, error: run.error, policies };
}

test("a disk that fills while an archive is written, and an archive folder that is not writable, fail the run in words with nothing deleted; the next run with a good folder succeeds", async () => {
  const coach = await createCoach(db, "full-disk");
  const clients: string[] = [];
  for (const month of ["02", "03"]) clients.push(await committed(db, (client) => plantDeletedClient(client, coach, `2000-${month}-01T00:00:00Z`, `full-${month}`)));
  expect(await rowCount(clients)).toBe(10);
  const run = ["retention", "run", "--policy", "soft_deleted_clients", "--as-of", AS_OF];

  // The probe of the folder passes (a few bytes); the archive's first file does not fit.
  const full = folder("full-disk");
  const filled = await runConfinedCli({ fileSizeLimitBytes: 64 }, run, env({ ARCHIVE_DIR: full }));
  const fullWords = `The archive directory ${full} refused to grow a file (EFBIG: a file-size limit of this process or its file system). ` +
    "The archive being written was discarded and none of its rows were deleted.";
  expect(filled).toMatchObject({ code: 1, stderr: expect.stringContaining(`custodian: ${fullWords}\n`) });
  expect(await rowCount(clients)).toBe(10);
  expect(await latestRun()).toEqual({
    status: "failed", error: fullWords, policies: [{ policy_name: "soft_deleted_clients", status: "failed", error: fullWords, rows_deleted: 0 }],
  });
  expect(filesUnder(full)).toEqual([]);

  const readOnly = notWritable("read-only-archive");
  const refused = await runConfinedCli({ unprivileged: true }, run, unprivilegedEnvironment({ ARCHIVE_DIR: readOnly }));
  const readOnlyWords = `The archive directory ${readOnly} is not writable (EACCES); give this process write access or set ARCHIVE_DIR. Nothing was archived or deleted.`;
  expect(refused).toMatchObject({ code: 1, stderr: `custodian: ${readOnlyWords}\n` });
  expect(await rowCount(clients)).toBe(10);
  expect(await latestRun()).toEqual({ status: "failed", error: readOnlyWords, policies: [] });

  const good = folder("good-archive");
  const done = await runCli(run, env({ ARCHIVE_DIR: good }));
  expect(done).toMatchObject({ code: 0 });
  expect(await rowCount(clients)).toBe(0);
  expect(await latestRun()).toEqual({ status: "finished", error: null, policies: [{ policy_name: "soft_deleted_clients", status: "finished", error: null, rows_deleted: 2 }] });
  expect(filesUnder(good).filter((name) => name.endsWith("manifest.json"))).toHaveLength(1);
  expect(await runCli(["archive", "verify", "--all"], env({ ARCHIVE_DIR: good }))).toMatchObject({ code: 0 });
});

test("an export to a folder that is not writable fails in one line and leaves no file", async () => {
  await createCoach(db, "export-full-disk");
  const today = new Date().toISOString().slice(0, 10);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const range = ["--from", today, "--to", tomorrow];

  const readOnly = notWritable("read-only-export");
  const refused = await runConfinedCli({ unprivileged: true }, ["export", "audit-events", ...range, "--out", path.join(readOnly, "audit.jsonl")], unprivilegedEnvironment());
  expect(refused).toMatchObject({ code: 1, stderr: `custodian: --out: the folder ${readOnly} is not writable (EACCES); nothing was written.\n` });
  expect(fs.readdirSync(readOnly)).toEqual([]);

  // The same export to a folder it may write to is whole.
  const out = path.join(folder("good-export"), "audit.jsonl");
  const written = await runCli(["export", "audit-events", ...range, "--out", out], env());
  expect(written).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Wrote \d+ rows of audit-events \(jsonl\) to /) });
  expect(fs.statSync(out).size).toBeGreaterThan(0);
});

test("an export onto a disk that fills fails in one line and leaves no partial file", async () => {
  // Enough audit events today that their export outgrows the limit in its first batch.
  await db.query(`insert into app_public.provider_rates (provider, model, cost_per_minute_minor)
    select 'export-full-disk-' || g, 'm', 1 from generate_series(1, 1000) g`);
  const today = new Date().toISOString().slice(0, 10);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const full = folder("full-export");
  if (process.getuid?.() === 0) fs.chownSync(full, 65534, 65534);
  const out = path.join(full, "audit.jsonl");
  const failed = await runConfinedCli({ fileSizeLimitBytes: 64 * 1024, unprivileged: true },
    ["export", "audit-events", "--from", today, "--to", tomorrow, "--out", out], unprivilegedEnvironment());
  // One line says why (after the progress bar, which never counts the batch that could not be written).
  expect(failed.code).toBe(1);
  const lines = failed.stderr.trimEnd().split("\n");
  expect(lines.at(-1)).toBe(`custodian: --out: the file grew past a file-size limit (EFBIG) of this process or its file system; the part written was removed and ${out} was not written.`);
  expect(lines.slice(0, -1).every((line) => line.startsWith("Exporting audit-events: 0% "))).toBe(true);
  expect(fs.readdirSync(full)).toEqual([]);
}, 60_000);
