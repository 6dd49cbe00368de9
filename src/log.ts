import { pino } from "pino";

/** JSON logs on stderr, so stdout stays for what commands print. */
export const log = pino(
  { level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "warn" : "info") },
  pino.destination(2),
);
