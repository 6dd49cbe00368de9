import { Logger } from "graphile-worker";
import { log } from "./log.ts";

const levels = { error: "error", warning: "warn", info: "info", debug: "debug" } as const;

type LoggerClass = new (factory: ConstructorParameters<typeof Logger>[0]) => Logger;

/**
 * A @graphile/logger Logger writing to our JSON log. graphile-migrate checks
 * for its own copy of the class, so callers may pass theirs.
 */
export function graphileLogger(component: string, LoggerType: LoggerClass = Logger): Logger {
  const child = log.child({ component });
  return new LoggerType(() => (level, message, meta) => {
    child[levels[level as keyof typeof levels] ?? "info"](meta ?? {}, message);
  });
}
