import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.ts";

/**
 * Who runs the embedded PostgreSQL of a data folder: the process that started
 * it, the command it runs, and the port once the database accepts connections.
 * Kept in `<dataDir>/custodian.pid` as JSON while that process runs.
 */
export interface Holder {
  pid: number;
  /** `start`, or the command of a CLI process that started the database for itself (`seed`, `migrate`, ...). */
  command: string;
  /** Where the database listens (on 127.0.0.1); null until it is ready. */
  port: number | null;
}

export interface DataDirLock {
  /** Publishes the port, so that other commands can use the database while this process runs. */
  publishPort(port: number): void;
  release(): void;
}

const lockFileName = "custodian.pid";

/**
 * One process starts the embedded PostgreSQL of a data folder: a second one is
 * refused before it touches anything. `command` says who holds it (a running
 * server is `start`), so that others can join a running server's database
 * (`holderOf`) and the refusal names what to stop or wait for.
 */
export function lockDataDir(dataDir: string, command: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const lockFile = path.join(dataDir, lockFileName);
  const write = (holder: Holder) => fs.writeFileSync(`${lockFile}.${process.pid}`, JSON.stringify(holder) + "\n");
  // Created atomically (a link fails when the file exists), so that two
  // processes starting at once cannot both take the folder.
  write({ pid: process.pid, command, port: null });
  try {
    for (;;) {
      try {
        fs.linkSync(`${lockFile}.${process.pid}`, lockFile);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        const holder = holderOf(dataDir);
        if (holder !== null && holder.pid !== process.pid) throw busy(dataDir, holder, command);
        fs.rmSync(lockFile, { force: true }); // left by a process that is gone
      }
    }
  } finally {
    fs.rmSync(`${lockFile}.${process.pid}`, { force: true });
  }
  const release = () => {
    if (readHolder(lockFile)?.pid === process.pid) fs.rmSync(lockFile, { force: true });
  };
  // A forced exit (a second Ctrl-C) still lets go of the folder.
  process.once("exit", release);
  return {
    publishPort(port) {
      const next = `${lockFile}.${process.pid}`;
      fs.writeFileSync(next, JSON.stringify({ pid: process.pid, command, port } satisfies Holder) + "\n");
      fs.renameSync(next, lockFile);
    },
    release() {
      process.removeListener("exit", release);
      release();
    },
  };
}

/** The live process that holds the data folder, if any. */
export function holderOf(dataDir: string): Holder | null {
  const holder = readHolder(path.join(dataDir, lockFileName));
  return holder !== null && isAlive(holder.pid) ? holder : null;
}

/** The refusal when `command` needs the data folder that `holder` has. */
export function busy(dataDir: string, holder: Holder, command: string): UserError {
  if (holder.command !== "start") {
    return new UserError(`custodian ${holder.command} (pid ${holder.pid}) is using ${dataDir}; try again when it has finished.`);
  }
  if (command === "start") {
    return new UserError(`Custodian is already running on ${dataDir} (pid ${holder.pid}); stop it first.`);
  }
  const hint = command === "worker" ? " (it runs the worker itself unless WORKER=off; `custodian worker --once` runs beside it)" : "";
  return new UserError(
    `custodian ${command} needs ${dataDir} to itself, and Custodian is running on it (pid ${holder.pid})${hint}; stop it first.`,
  );
}

function readHolder(file: string): Holder | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
  try {
    const { pid, command, port } = JSON.parse(text) as Partial<Holder>;
    if (Number.isInteger(pid) && pid! > 0) {
      return { pid: pid!, command: typeof command === "string" ? command : "start", port: Number.isInteger(port) ? port! : null };
    }
  } catch {
    // an older Custodian wrote the pid alone
  }
  const pid = readPid(file);
  return pid === null ? null : { pid, command: "start", port: null };
}

/** The pid on a file's first line (as in PostgreSQL's postmaster.pid). */
export function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, "utf8").split("\n")[0]!, 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
