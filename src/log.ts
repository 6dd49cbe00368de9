import { AsyncLocalStorage } from "node:async_hooks";
import { formatWithOptions } from "node:util";
import { pino, type Logger } from "pino";
import { logLevels } from "./config.ts";

/** JSON logs on stderr, so stdout stays for what commands print. */
export const log = pino({ level: logLevel(process.env) }, pino.destination(2));

/** LOG_LEVEL when it is one of pino's (src/config.ts refuses any other in words), else the default. */
function logLevel(env: Record<string, string | undefined>): string {
  if (logLevels.some((level) => level === env.LOG_LEVEL)) return env.LOG_LEVEL as string;
  return env.NODE_ENV === "test" ? "warn" : "info";
}

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
