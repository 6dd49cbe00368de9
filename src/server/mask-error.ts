import crypto from "node:crypto";
import { isSafeError, SafeError } from "postgraphile/grafast";
import { GraphQLError } from "postgraphile/graphql";
import type { ApiLimits } from "../config.ts";
import { log } from "../log.ts";
import type { ConstraintWordsCache } from "./constraint-words.ts";
import { DATABASE_UNAVAILABLE_CODE, DATABASE_UNAVAILABLE_WORDS, isDatabaseUnavailable } from "./database-unavailable.ts";
import { explainPermissionDenied, explainRowSecurity, type Grants } from "./privilege-errors.ts";

/**
 * PostgreSQL errors a caller can cause and fix are shown in words with their
 * SQLSTATE in extensions.code; anything else is masked (logged as one JSON
 * line with an id, the caller sees only the id).
 */
const userFacingCodes = new Set([
  "22001", // string too long
  "22003", // number out of range (an id beyond bigint)
  "22004", // null value not allowed
  "22007", // invalid datetime format
  "22008", // datetime out of range
  "22021", // character not in repertoire (a NUL character in text)
  "22025", // invalid escape sequence (a LIKE pattern ending in a backslash)
  "22P05", // untranslatable character (a NUL character in JSON)
  "2201W", // LIMIT negative
  "2201X", // OFFSET negative
  "22023", // invalid parameter value
  "22P02", // invalid text representation
  "23502", // not null violation
  "23503", // foreign key violation
  "23505", // unique violation
  "23514", // check violation
  "23P01", // exclusion violation
  "0A000", // feature not supported (a tracked table's primary key changing)
  "42501", // insufficient privilege, row-level security
  "57014", // statement timeout (STATEMENT_TIMEOUT_MS)
  "42703", // undefined column
  "42P01", // undefined table (an audit filter naming an untracked table)
  "55000", // object not in prerequisite state (deleting a deleted row, restoring a live one)
  "P0002", // no data found
  "P0001", // raise exception
  "28000", // a disabled account signing in
  "CREDS", // wrong email or password
  "WEAKP", // password too weak
]);

interface PgError extends Error {
  code: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  dataType?: string;
}

/** Whether a PostgreSQL error is one the caller caused and may read. */
export function isUserFacing(error: unknown): error is PgError {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && userFacingCodes.has(code);
}

const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const sentence = (text: string) => (text.charAt(0).toUpperCase() + text.slice(1)).replace(/([^.])$/, "$1.");

const integerRanges: Record<string, string> = {
  smallint: "-32,768 to 32,767",
  integer: "-2,147,483,648 to 2,147,483,647",
  bigint: "-9,223,372,036,854,775,808 to 9,223,372,036,854,775,807 (ids and amounts are bigints)",
};

/** Words for a PostgreSQL error the caller caused, or null to pass its own message on. */
export function explainDatabaseError(error: PgError, words: ConstraintWordsCache | undefined): string | null {
  switch (error.code) {
    case "23505":
    case "23514":
    case "23503":
    case "23P01": {
      const known = error.schema && error.table && error.constraint ? words?.get(error.schema, error.table, error.constraint) : undefined;
      return known ?? null;
    }
    case "23502":
      return error.column && error.table
        ? `${camel(error.column)} is required for ${error.table.replaceAll("_", " ")}; give it a value.`
        : null;
    case "22003": {
      const type = /out of range for type (\w+)/.exec(error.message)?.[1];
      return type && integerRanges[type] ? `${sentence(error.message).slice(0, -1)}: a ${type} is ${integerRanges[type]}.` : sentence(error.message);
    }
    case "22P02":
    case "22007": {
      const match = /^invalid input syntax for type ([\w ]+): "(.*)"$/s.exec(error.message);
      return match ? `"${match[2]}" is not a valid ${match[1]}.` : sentence(error.message);
    }
    case "22008": {
      const value = /: "(.*)"$/s.exec(error.message)?.[1];
      return value ? `"${value}" is not a valid date or time: a field of it is out of range.` : sentence(error.message);
    }
    case "22021":
    case "22P05":
      return "Text may not contain the NUL character (\\u0000); remove it.";
    case "22025":
      return `${sentence(error.message)} Write \\\\ for a backslash itself.`;
    case "2201W":
      return "A page size (first or last) may not be negative.";
    case "2201X":
      return "An offset may not be negative.";
    default:
      return null;
  }
}

/** The errors GraphQL callers see; a privilege refusal is explained from the grants, a constraint from its words. */
export function makeMaskError(
  grants: Grants,
  limits: Pick<ApiLimits, "statementTimeoutMs" | "planningTimeoutMs" | "executionTimeoutMs">,
  words?: ConstraintWordsCache,
) {
  return function maskError(error: GraphQLError): GraphQLError {
    const original = error.originalError;
    const timedOut = grafastTimedOut(original, limits);
    if (timedOut) return withMessage(error, timedOut, { code: "TIMEOUT" });
    if (!original || original instanceof GraphQLError) return error; // GraphQL's own, such as a non-null field returning null
    if (isSafeError(original)) {
      if (original.message.startsWith("Attempted to update a record, but no new values were specified")) {
        return withMessage(error, "The patch names no field to change; give at least one.", { code: "22023" });
      }
      return withMessage(error, original.message, original.extensions ?? {});
    }
    const nothingDeleted = /^No values were deleted in collection '(\w+)' because no values you can delete were found/.exec(original.message);
    if (nothingDeleted) {
      // PostGraphile's own refusal of a delete that matched no row the caller may delete.
      const noun = nothingDeleted[1]!.replace(/s$/, "").replaceAll("_", " ");
      return withMessage(error, `No ${noun} matching this input that you may delete: it does not exist or is not yours to delete. Nothing was deleted.`, { code: "P0002", statusCode: 404 });
    }
    if (isDatabaseUnavailable(original)) {
      log.warn({ err: original, path: error.path?.join(".") }, "the database could not answer");
      return withMessage(error, DATABASE_UNAVAILABLE_WORDS, { code: DATABASE_UNAVAILABLE_CODE });
    }
    if (!isUserFacing(original)) return masked(error);
    const field = typeof error.path?.[0] === "string" ? error.path[0] : undefined;
    const explained =
      original.code === "42501" ? explainPermissionDenied(grants, original.message, field) ?? explainRowSecurity(original.message, field)
      : original.code === "57014" ? statementTimedOut(limits.statementTimeoutMs)
      : explainDatabaseError(original, words);
    return withMessage(error, explained ?? original.message, { code: original.code });
  };
}

function withMessage(error: GraphQLError, message: string, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions,
  });
}

/** A bug or an error the caller may not read: one JSON log line with an id and hash; the caller gets only those. */
function masked(error: GraphQLError): GraphQLError {
  const hash = crypto.createHash("sha1").update(String(error)).digest("base64url");
  const errorId = crypto.randomBytes(6).toString("base64url");
  log.error({ err: error.originalError ?? error, errorId, hash, path: error.path?.join(".") }, "masked GraphQL error");
  return withMessage(error, `An error occurred (logged with hash: '${hash}', id: '${errorId}')`, { errorId });
}

/** A statement cancelled by the request's statement_timeout, in words naming the limit. */
export function statementTimedOut(timeoutMs: number): string {
  return `The request ran longer than ${timeoutMs} ms in the database and was stopped (STATEMENT_TIMEOUT_MS); ask for less.`;
}

/** Grafast's own planning and execution timeouts (grafast.timeouts), in words naming their settings. */
function grafastTimedOut(error: Error | undefined, limits: Pick<ApiLimits, "planningTimeoutMs" | "executionTimeoutMs">): string | null {
  if (!(error instanceof SafeError)) return null;
  if (error.message.startsWith("Operation took too long to plan")) {
    return `The operation took longer than ${limits.planningTimeoutMs} ms to plan and was stopped (GRAPHQL_PLANNING_TIMEOUT_MS); simplify it.`;
  }
  if (error.message.startsWith("Execution timeout exceeded")) {
    return `The operation ran longer than ${limits.executionTimeoutMs} ms and was stopped (GRAPHQL_EXECUTION_TIMEOUT_MS); ask for less.`;
  }
  return null;
}
