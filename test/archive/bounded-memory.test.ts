import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { scratchDirectory } from "../support/archive.ts";
import { mb } from "../support/live-memory.ts";

// Archives stream (issue 17, point 4): writing, verifying and reading 200,000
// rows (about 60 MB of JSON) keeps memory flat; what is checked is the growth
// of memory over its level before, sampled as the rows flow, never the time.
// The work runs in a process of its own (test/support/archive-memory-probe.ts):
// in a Jest worker, what the files run before it still hold or release moved
// the figure from 2-9 MB to 80 on a loaded machine.

const rowCount = 200_000;
/**
 * Far below the ~60 MB of text the archive holds (a writer that kept its rows
 * would hold several times that, parsed); live memory is sampled after a full
 * collection, so garbage not yet collected does not count. Measured: about 1 MB.
 */
const boundBytes = 8 * 1024 * 1024;

test("writing, verifying and reading back 200,000 rows keeps memory under a bound", async () => {
  const scratch = scratchDirectory("memory");
  try {
    const probe = path.join(import.meta.dirname, "../support/archive-memory-probe.ts");
    const { stdout } = await promisify(execFile)(process.execPath, [probe, scratch.dir, String(rowCount)], { maxBuffer: 1024 * 1024 });
    const { peak, rows, bytes, written } = JSON.parse(stdout) as { peak: number; rows: number; bytes: number; written: number };
    expect(written).toBe(rowCount);
    expect(bytes).toBeGreaterThan(20 * 1024 * 1024);
    expect(rows).toBe(rowCount);
    console.log(`live memory growth: ${mb(peak)}`);
    expect(peak).toBeLessThan(boundBytes);
  } finally {
    scratch.remove();
  }
}, 120_000);
