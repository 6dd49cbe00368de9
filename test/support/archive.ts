import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeVerifiedArchive, type ArchiveRequest } from "../../src/archive/archive.ts";
import { localDirectoryStore, type ArchiveStore } from "../../src/archive/store.ts";

/** A fresh empty directory, removed by the returned cleanup. */
export function scratchDirectory(label: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `custodian-${label}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Every file under a directory, relative, sorted (temp files included: a test sees everything left behind). */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

export async function* linesOf(lines: string[]): AsyncGenerator<string> {
  yield* lines;
}

/** A small archive of made-up rows in two tables, written and verified; the test's clock pins its time range. */
export async function writeSampleArchive(store: ArchiveStore, overrides: Partial<ArchiveRequest> = {}) {
  const notes = Array.from({ length: 10 }, (_, index) => JSON.stringify({ id: index + 1, body: `note ${index + 1}\nwith a newline`, at: "2026-01-02T03:04:05+00:00" }));
  const request: ArchiveRequest = {
    id: randomUUID(),
    kind: "rows",
    policy: "soft_deleted_clients",
    runId: randomUUID(),
    schemaVersion: "000010.sql",
    timeRange: { from: "2026-01-02T03:04:05.000Z", to: "2026-01-09T03:04:05.000Z" },
    tables: [
      { table: "app_public.notes", lines: linesOf(notes) },
      { table: "app_public.empty_things", lines: linesOf([]) },
    ],
    ...overrides,
  };
  const manifest = await writeVerifiedArchive(store, request);
  return { manifest, notes, id: request.id };
}

export { localDirectoryStore };
