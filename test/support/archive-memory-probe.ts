// Run as a process of its own by test/archive/bounded-memory.test.ts, so that
// what is measured is the archive's memory alone, not what a Jest worker still
// holds or collects from the files it ran before. Writes, verifies and reads
// back ROWS rows in DIR, sampling live memory as the rows flow, and prints
// {"peak": bytes, "rows": read, "bytes": archive file size} on stdout.
import { randomUUID } from "node:crypto";
import { readArchiveRows, verifyArchive, writeVerifiedArchive } from "../../src/archive/archive.ts";
import { localDirectoryStore } from "../../src/archive/store.ts";
import { liveBytes } from "./live-memory.ts";

const [dir, rowsText] = process.argv.slice(2);
const rowCount = Number(rowsText);
const store = localDirectoryStore(dir!);
const baseline = liveBytes();
let peak = 0;
const sample = () => (peak = Math.max(peak, liveBytes() - baseline));

async function* rows() {
  for (let index = 0; index < rowCount; index++) {
    if (index % 5_000 === 0) sample();
    // Random text, so gzip cannot shrink it to nothing: the archive is large on disk too.
    yield JSON.stringify({ id: index, token: randomUUID(), note: `${randomUUID()}${randomUUID()}${randomUUID()}${randomUUID()}${randomUUID()}`, at: "2026-01-02T03:04:05+00:00" });
  }
}

const id = randomUUID();
const manifest = await writeVerifiedArchive(store, {
  id, kind: "rows", policy: null, runId: null, schemaVersion: "000010.sql", timeRange: { from: null, to: null },
  tables: [{ table: "app_public.big", lines: rows() }],
});
sample();
if (!(await verifyArchive(store, id)).ok) throw new Error("The archive just written did not verify.");
sample();
let read = 0;
for await (const row of readArchiveRows(store, id, "app_public.big")) {
  if (row.id !== read) throw new Error(`row ${read} came back as ${String(row.id)}`);
  if (++read % 5_000 === 0) sample();
}
process.stdout.write(JSON.stringify({ peak, rows: read, bytes: manifest.files[0]!.bytes, written: manifest.files[0]!.rows }));
