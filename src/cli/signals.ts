/** Why a long-running command stops: a signal, or the npm that launched it went away. */
export type StopReason = NodeJS.Signals | "launcher exited";

export interface StopRequest {
  /** Resolves with the first request to stop. */
  readonly requested: Promise<StopReason>;
  /** The reason once a stop was requested, else null (for checks between the steps of a start). */
  readonly reason: StopReason | null;
}

/** A repeat within this time is the same request arriving by another path. */
const sameRequestMs = 1_000;

/**
 * Listens for SIGINT and SIGTERM from now on: the first asks for an orderly
 * stop. One request often arrives twice at once: a terminal's Ctrl-C reaches
 * npm and Custodian, and npm passes it on; systemd signals every process of
 * the unit. A repeat within a second is therefore the same request; a later
 * one exits at once (130 or 143, as a shell reports it).
 *
 * Run by npm through a shell (`npx`), Custodian never sees a signal sent to
 * npm: the shell keeps SIGINT and dies of SIGTERM. So under npm, the
 * launcher going away (the parent process changes) is a request to stop too.
 */
export function listenForStop(): StopRequest {
  let reason: StopReason | null = null;
  let requestedAt = 0;
  let resolve!: (reason: StopReason) => void;
  const requested = new Promise<StopReason>((r) => (resolve = r));
  const request = (why: StopReason) => {
    if (reason === null) {
      reason = why;
      requestedAt = Date.now();
      clearInterval(watch);
      resolve(why);
    } else if (why !== "launcher exited" && Date.now() - requestedAt > sameRequestMs) {
      process.exit(why === "SIGINT" ? 130 : 143);
    }
  };
  process.on("SIGINT", request);
  process.on("SIGTERM", request);
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) request("launcher exited");
  }, 500);
  watch.unref();
  if (!process.env.npm_lifecycle_event) clearInterval(watch);
  return {
    requested,
    get reason() {
      return reason;
    },
  };
}

/** Resolves on the first request to stop (see listenForStop). */
export function untilSignal(): Promise<StopReason> {
  return listenForStop().requested;
}
