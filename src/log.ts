import { AsyncLocalStorage } from "node:async_hooks";
import { formatWithOptions } from "node:util";
import { pino, type Logger } from "pino";

/** JSON logs on stderr, so stdout stays for what commands print. */
export const log = pino(
  { level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "warn" : "info") },
  pino.destination(2),
);

const consoleLogger = new AsyncLocalStorage<Logger>();
let consolePatched = false;

/**
 * Runs `fn` with the console writing to the JSON log: libraries that print
 * with console.error or console.dir while handling a request (grafserv
 * prints an unexpected error's stack so) then write one JSON line, the
 * stack a field of it, like everything else. Outside `fn` the console is
 * untouched, so a command's own words stay plain.
 */
export function withConsoleAsLog<T>(fn: () => T, logger: Logger = log): T {
  if (!consolePatched) {
    consolePatched = true;
    for (const method of ["error", "warn", "dir", "info", "log"] as const) {
      const original = console[method].bind(console);
      console[method] = (...args: unknown[]) => {
        const target = consoleLogger.getStore();
        if (!target) return original(...(args as []));
        const err = args.find((arg): arg is Error => arg instanceof Error);
        const message = formatWithOptions({ breakLength: Infinity, colors: false }, ...args);
        target[method === "warn" ? "warn" : method === "error" || method === "dir" ? "error" : "info"]({ err, console: method }, message);
      };
    }
  }
  return consoleLogger.run(logger, fn);
}
