import v8 from "node:v8";
import vm from "node:vm";

// A full collection on demand, so that what is measured is what the work
// holds, not garbage not yet collected (which alone can pass 40 MB on a busy
// machine, and varies run to run).
v8.setFlagsFromString("--expose-gc");
// V8 frees the memory of collected Buffers on a thread of its own, after the
// collection: without this, memory read just after gc() still counted dead
// Buffers (3 to 56 MB in one probe's runs, more on a loaded machine).
v8.setFlagsFromString("--no-concurrent-array-buffer-sweeping");
const collectGarbage = vm.runInNewContext("gc") as () => void;

/** Memory still in use after a full collection: the heap plus what lives off it (Buffers among it). */
export function liveBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  // `external` already counts every ArrayBuffer and Buffer.
  return usage.heapUsed + usage.external;
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
