import v8 from "node:v8";
import vm from "node:vm";

// A full collection on demand, so that what is measured is what the work
// holds, not garbage not yet collected (which alone can pass 40 MB on a busy
// machine, and varies run to run).
v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc") as () => void;

/** Memory still in use after a full collection: the heap plus Buffers (off the heap). */
export function liveBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external + usage.arrayBuffers;
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
