/**
 * A request that failed because the database could not be reached (it is
 * restarting, down, or the connection broke) is not the caller's mistake nor
 * an internal error to mask: it is a 503 with Retry-After, in words.
 */

/** SQLSTATEs of a server shutting down or starting up, connection failures, and Node's socket errors. */
const unavailableCodes = new Set([
  "57P01", // admin_shutdown (terminated, or the server stopping)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, recovering)
  "08000", "08001", "08003", "08004", "08006", // connection exceptions
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN",
]);

/** node-postgres's own words for a connection lost or never made (it gives them no code). */
const unavailableMessages = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string" && unavailableCodes.has(code)) return true;
  return typeof message === "string" && unavailableMessages.test(message);
}

export const DATABASE_UNAVAILABLE_CODE = "DATABASE_UNAVAILABLE";
export const DATABASE_RETRY_AFTER_SECONDS = 5;
export const DATABASE_UNAVAILABLE_WORDS =
  "The database cannot be reached right now (it may be restarting); try again in a few seconds. " +
  "A write whose answer this is may or may not have been made: read before you repeat it.";
