import { randomUUID } from "node:crypto";
import { readArchiveRows, verifyArchive, writeVerifiedArchive } from "../../src/archive/archive.ts";
import { localDirectoryStore, scratchDirectory } from "../support/archive.ts";
import { liveBytes, mb } from "../support/live-memory.ts";

// Archives stream (issue 17, point 4): writing, verifying and reading 200,000
// rows (about 60 MB of JSON) keeps memory flat; what is checked is the growth
// of memory over its level before, sampled as the rows flow, never the time.

const rowCount = 200_000;
/**
 * Far below the ~60 MB of text the archive holds (a writer that kept its rows
 * would hold several times that, parsed); live memory is sampled after a full
 * collection, so garbage not yet collected does not count.
 */
const boundBytes = 24 * 1024 * 1024;

test("writing, verifying and reading back 200,000 rows keeps memory under a bound", async () => {
  const scratch = scratchDirectory("memory");
  try {
    const store = localDirectoryStore(scratch.dir);
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
      id,
      kind: "rows",
      policy: null,
      runId: null,
      schemaVersion: "000010.sql",
      timeRange: { from: null, to: null },
      tables: [{ table: "app_public.big", lines: rows() }],
    });
    sample();
    expect(manifest.files[0]).toMatchObject({ rows: rowCount });
    expect(manifest.files[0]!.bytes).toBeGreaterThan(20 * 1024 * 1024);

    expect((await verifyArchive(store, id)).ok).toBe(true);
    sample();
    let read = 0;
    for await (const row of readArchiveRows(store, id, "app_public.big")) {
      if (row.id !== read) throw new Error(`row ${read} came back as ${String(row.id)}`);
      if (++read % 5_000 === 0) sample();
    }
    expect(read).toBe(rowCount);
    console.log(`live memory growth: ${mb(peak)}`);
    expect(peak).toBeLessThan(boundBytes);
  } finally {
    scratch.remove();
  }
});
