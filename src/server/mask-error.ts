import { SafeError } from "postgraphile/grafast";
import { defaultMaskError } from "postgraphile/grafserv";
import { GraphQLError } from "postgraphile/graphql";
import type { ApiLimits } from "../config.ts";
import { explainPermissionDenied, type Grants } from "./privilege-errors.ts";

/**
 * PostgreSQL errors a caller can cause and fix are shown with their SQLSTATE;
 * anything else is masked (logged with an id, the caller sees only the id).
 */
const userFacingCodes = new Set([
  "22001", // string too long
  "22007", // invalid datetime format
  "22008", // datetime out of range
  "22023", // invalid parameter value
  "22P02", // invalid text representation
  "23502", // not null violation
  "23503", // foreign key violation
  "23505", // unique violation
  "23514", // check violation
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

/** Whether a PostgreSQL error is one the caller caused and may read. */
export function isUserFacing(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && userFacingCodes.has(code);
}

/** The errors GraphQL callers see; a privilege refusal is explained from the grants. */
export function makeMaskError(grants: Grants, limits: Pick<ApiLimits, "statementTimeoutMs" | "planningTimeoutMs" | "executionTimeoutMs">) {
  return function maskError(error: GraphQLError): GraphQLError {
    const original = error.originalError;
    const timedOut = grafastTimedOut(original, limits);
    if (timedOut) {
      return new GraphQLError(timedOut, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: original, extensions: { code: "TIMEOUT" } });
    }
    if (!isUserFacing(original)) return defaultMaskError(error);
    const field = typeof error.path?.[0] === "string" ? error.path[0] : undefined;
    const explained =
      original.code === "42501" ? explainPermissionDenied(grants, original.message, field)
      : original.code === "57014" ? statementTimedOut(limits.statementTimeoutMs)
      : null;
    return new GraphQLError(explained ?? original.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      originalError: original,
      extensions: { code: original.code },
    });
  };
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
