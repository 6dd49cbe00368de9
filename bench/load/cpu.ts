// CPU time of a process (and of PostgreSQL's server with its backends) from
// /proc, so that the load reports how much of the machine the server used.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** utime, stime, cutime, cstime of a process, in seconds (cutime/cstime: its children already reaped). */
function times(pid: number): { own: number; reaped: number; parent: number } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const field = (n: number) => Number(fields[n - 3]);
  return { own: (field(14) + field(15)) / ticksPerSecond, reaped: (field(16) + field(17)) / ticksPerSecond, parent: field(4) };
}

/** CPU seconds a process has used so far. */
export function processCpuSeconds(pid: number): number {
  return times(pid)?.own ?? 0;
}

/** CPU seconds a server and every process it started have used so far (its backends, live and exited). */
export function processTreeCpuSeconds(pid: number): number {
  const root = times(pid);
  if (!root) return 0;
  let total = root.own + root.reaped;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const child = times(Number(entry));
    if (child && child.parent === pid) total += child.own;
  }
  return total;
}

/** The PostgreSQL server's process id, when it runs on this machine and the connection may read its data directory. */
export function postmasterPid(dataDirectory: string | null): number | null {
  if (!dataDirectory) return null;
  try {
    return Number(fs.readFileSync(`${dataDirectory}/postmaster.pid`, "utf8").split("\n")[0]) || null;
  } catch {
    return null;
  }
}

/** CPU seconds over wall seconds, per core: 1 is every core busy the whole time. */
export function cpuShare(cpuSeconds: number, wallSeconds: number): number {
  return Number((cpuSeconds / wallSeconds / os.availableParallelism()).toFixed(3));
}
