import { object, SafeError, sideEffect, type ExecutableStep, type ObjectStep } from "postgraphile/grafast";
import { log, withConsoleAsLog } from "../log.ts";
import type { ConstraintWordsCache } from "./constraint-words.ts";
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_CODE } from "./database-unavailable.ts";

/**
 * Plain answers to a GraphQL caller's mistakes:
 *
 * - An update or delete by key that matches no row the caller may change
 *   (it does not exist, or row-level security hides it) is an error in
 *   words, not `{ client: null }`. PostGraphile 5 answers such a write with
 *   a null row; a side effect after the write refuses it.
 * - A mutation function's argument without a default is required in the
 *   schema (`rowId: UUID!`), so leaving it out is refused by validation in
 *   words, not run with null.
 * - A response whose every error is the caller's (an SQLSTATE or refusal in
 *   words, nothing masked) and that answered nothing is a 4xx, not a 200; a
 *   rate-limited sign-in is a 429 with Retry-After, and an answer the
 *   database could not give (restarting, unreachable) a 503 with Retry-After.
 * - The constraint words are loaded before the first request is answered.
 */
export function plainAnswersPlugin(words: ConstraintWordsCache): GraphileConfig.Plugin {
  return {
    name: "CustodianPlainAnswersPlugin",
    version: "1.0.0",
    gather: {
      hooks: {
        pgProcedures_functionResourceOptions(_info, event) {
          if (isVolatile(event.pgProc)) requireParameters(event.functionResourceOptions.parameters);
        },
        pgProcedures_PgResourceOptions(_info, event) {
          if (isVolatile(event.pgProc)) requireParameters((event.resourceOptions as { parameters?: unknown }).parameters);
        },
      },
    },
    schema: {
      hooks: {
        GraphQLObjectType_fields_field(field, build, context) {
          const { isPgUpdateMutation, isPgDeleteMutation, pgFieldResource } = context.scope as {
            isPgUpdateMutation?: boolean;
            isPgDeleteMutation?: boolean;
            pgFieldResource?: { codec: unknown };
          };
          if (!(isPgUpdateMutation || isPgDeleteMutation) || !pgFieldResource || !field.plan) return field;
          const noun = build.inflection
            .tableType(pgFieldResource.codec as never)
            .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
            .toLowerCase();
          const verb = isPgUpdateMutation ? "update" : "delete";
          const plan = field.plan as (...args: any[]) => ObjectStep<{ result: ExecutableStep }>;
          return {
            ...field,
            plan(this: unknown, $parent: unknown, fieldArgs: any, info: unknown) {
              const $payload = plan.call(this, $parent, fieldArgs, info);
              const $result = $payload.get("result");
              sideEffect([$result, fieldArgs.getRaw("input")], ([row, input]) => {
                if (row == null) throw noRow(noun, verb, input);
                return null;
              });
              // Created after the side effect, so it fails when the side effect does.
              return object({ result: $result });
            },
          };
        },
      },
    },
    grafserv: {
      middleware: {
        async processRequest(next) {
          try {
            await words.ready();
          } catch (error) {
            log.error({ err: error }, "could not read the constraint words; violations are answered in PostgreSQL's words");
          }
          const result = await withConsoleAsLog(next);
          // A GraphQL answer arrives here as its JSON bytes; only one with errors is read again.
          if (
            result?.type === "buffer" &&
            result.statusCode === 200 &&
            /json/.test(result.headers["content-type"] ?? "") &&
            result.buffer.includes('"errors":')
          ) {
            const payload = JSON.parse(result.buffer.toString("utf8")) as GraphQLPayload;
            const status = callerStatus(payload);
            if (status) result.statusCode = status;
            if (status === 429) {
              const seconds = payload.errors!.map((error) => error.extensions?.retryAfterSeconds).find((value) => typeof value === "number");
              if (seconds !== undefined) result.headers["retry-after"] = String(seconds);
            }
            if (status === 503) result.headers["retry-after"] = String(DATABASE_RETRY_AFTER_SECONDS);
          }
          return result;
        },
      },
    },
  };
}

const isVolatile = (pgProc: { provolatile?: string | null }) => pgProc.provolatile !== "i" && pgProc.provolatile !== "s";

function requireParameters(parameters: unknown) {
  if (!Array.isArray(parameters)) return;
  for (const parameter of parameters as Array<{ optional?: boolean; notNull?: boolean }>) {
    if (!parameter.optional) parameter.notNull = true;
  }
}

/** The refusal of an update or delete that matched no row the caller may change. */
function noRow(noun: string, verb: string, input: unknown): SafeError {
  const keys = Object.entries((input ?? {}) as Record<string, unknown>).filter(([key]) => key !== "patch" && key !== "clientMutationId");
  const by = keys.map(([key, value]) => `${key} ${JSON.stringify(value)}`).join(" and ");
  return new SafeError(`No ${noun}${by ? ` with ${by}` : ""} that you may ${verb}: it does not exist or is not yours to ${verb}. Nothing was ${verb}d.`, {
    code: "P0002",
    statusCode: 404,
  });
}

/** Null, or an object of nothing but nulls (a mutation's payload whose one field failed, such as authenticate's jwtToken). */
function answeredNothing(value: unknown): boolean {
  if (value == null) return true;
  if (typeof value !== "object" || Array.isArray(value)) return false;
  return Object.values(value).every(answeredNothing);
}

/** The SQLSTATEs of refusals (as opposed to bad input): 403 for privilege, 404 for nothing found, 429 for too many sign-ins. */
const statusOfCode: Record<string, number> = { "42501": 403, P0002: 404, "28000": 403, CREDS: 401, RATE_LIMITED: 429, [DATABASE_UNAVAILABLE_CODE]: 503 };

/**
 * 4xx when the response answered nothing (every field null) and
 * every error is the caller's: a code in words, nothing masked, no timeout.
 */
interface GraphQLPayload {
  data?: Record<string, unknown> | null;
  errors?: ReadonlyArray<{ extensions?: { code?: unknown; retryAfterSeconds?: unknown } }>;
}

function callerStatus(payload: GraphQLPayload): number | null {
  const errors = payload.errors ?? [];
  if (errors.length === 0) return null;
  if (payload.data && !answeredNothing(payload.data)) return null;
  const codes = errors.map((error) => error.extensions?.code);
  if (!codes.every((code) => typeof code === "string" && code !== "TIMEOUT")) return null;
  const statuses = new Set(codes.map((code) => statusOfCode[code as string] ?? 400));
  return statuses.size === 1 ? [...statuses][0]! : 400;
}
