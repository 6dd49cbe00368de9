import express, { type Request, type RequestHandler, type Response } from "express";
import { UserError } from "../../errors.ts";
import { isIsoDate } from "../../usage/dates.ts";
import { isUuid } from "../../uuid.ts";

/**
 * The REST routes' conventions, in one place (README, "API conventions"):
 * query parameters in snake_case, each given once; a parameter a route does
 * not know, or a value it cannot read, is a 400 naming it; a range's `to`
 * (or `*_before`) is exclusive; a method other than GET or HEAD is a 405.
 */

/** How a parameter's text is read; a wrong one is refused in words. */
export type Kind =
  | { type: "date"; required?: boolean; firstOfMonth?: boolean }
  | { type: "timestamp"; required?: boolean }
  | { type: "uuid" }
  | { type: "integer"; min: number; max: number }
  | { type: "choice"; values: readonly string[] }
  | { type: "text" };

export interface Parameter {
  name: string;
  kind: Kind;
  /** The name the parameter had before the REST routes took snake_case; still accepted (deprecated). */
  formerName?: string;
}

const timestampPattern = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;

function checked(parameter: Parameter, value: string): string {
  const { name, kind } = parameter;
  switch (kind.type) {
    case "date":
      if (!isIsoDate(value)) throw new UserError(`"${name}" must be a date like 2026-11-01, not "${value}".`);
      if (kind.firstOfMonth && !value.endsWith("-01")) {
        throw new UserError(`"${name}" must be the first day of a month (like 2026-11-01), not "${value}".`);
      }
      return value;
    case "timestamp":
      if (!timestampPattern.test(value) || Number.isNaN(Date.parse(value))) {
        throw new UserError(`"${name}" must be an ISO 8601 timestamp (like 2026-11-25T10:00:00Z), not "${value}".`);
      }
      return value;
    case "uuid":
      if (!isUuid(value)) throw new UserError(`"${name}" must be a UUID, not "${value}".`);
      return value;
    case "integer": {
      if (!/^-?\d+$/.test(value) || Number(value) < kind.min || Number(value) > kind.max) {
        throw new UserError(`"${name}" must be a whole number from ${kind.min} to ${kind.max}, not "${value}".`);
      }
      return String(Number(value));
    }
    case "choice": {
      // In any letter case, as each enum's values differ in case between GraphQL and SQL.
      const given = kind.values.find((allowed) => allowed.toLowerCase() === value.toLowerCase());
      if (given === undefined) {
        throw new UserError(`"${name}" must be one of ${kind.values.join(", ")} (in any letter case), not "${value}".`);
      }
      return given;
    }
    case "text":
      return value;
  }
}

/** "a or b", "a, b or c". */
const inWords = (choices: readonly string[]) =>
  choices.length > 1 ? `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}` : (choices[0] ?? "");

/**
 * Reads a route's query string: only the named parameters (and `format`, one
 * of `formats`, the first the default), each once, each checked. Dates marked
 * required must be there.
 */
export function readQuery<F extends string>(
  query: Request["query"],
  parameters: readonly Parameter[],
  formats: readonly F[],
): { values: Record<string, string | null>; format: F } {
  const byName = new Map<string, Parameter>();
  for (const parameter of parameters) {
    byName.set(parameter.name, parameter);
    if (parameter.formerName) byName.set(parameter.formerName, parameter);
  }
  const known = [...parameters.map((parameter) => parameter.name), "format"];
  const values: Record<string, string | null> = Object.fromEntries(parameters.map((parameter) => [parameter.name, null]));
  let format: F = formats[0]!;
  for (const [name, value] of Object.entries(query)) {
    const parameter = byName.get(name);
    if (!parameter && name !== "format") {
      throw new UserError(`Unknown parameter "${name}"; use ${known.join(", ")}.`);
    }
    if (typeof value !== "string") throw new UserError(`Give "${name}" once, as a plain value.`);
    if (name === "format") {
      if (!(formats as readonly string[]).includes(value)) {
        throw new UserError(`format must be ${inWords(formats)}, not "${value}".`);
      }
      format = value as F;
      continue;
    }
    if (values[parameter!.name] !== null) {
      throw new UserError(`Give "${parameter!.name}" once (${parameter!.formerName} is its former name).`);
    }
    // An empty value is the same as leaving the parameter out.
    values[parameter!.name] = value === "" ? null : checked(parameter!, value);
  }
  for (const parameter of parameters) {
    if (parameter.kind.type === "date" && parameter.kind.required && values[parameter.name] === null) {
      throw new UserError(
        `"${parameter.name}" is required: a date like 2026-11-01 (the range is from inclusive, to exclusive).`,
      );
    }
    if (parameter.kind.type === "timestamp" && parameter.kind.required && values[parameter.name] === null) {
      throw new UserError(
        `"${parameter.name}" is required: an ISO 8601 timestamp like 2026-11-25T10:00:00Z (the range's start inclusive, its end exclusive).`,
      );
    }
  }
  return { values, format };
}

/** The REST routes answer GET (and HEAD); any other method is a 405 naming the ones allowed. */
export function getOnly(router: express.Router, path: string, handler: RequestHandler): void {
  router.get(path, handler);
  router.options(path, (_req: Request, res: Response) => {
    res.setHeader("Allow", "GET, HEAD, OPTIONS");
    res.status(204).end();
  });
  router.all(path, (req: Request, res: Response) => {
    res.setHeader("Allow", "GET, HEAD, OPTIONS");
    res.status(405).json({ error: `${path} answers GET only, not ${req.method}.` });
  });
}

/** A request without a token: 401 with how to sign in. */
export function requireSignIn(req: Request, res: Response): boolean {
  if (req.claims) return true;
  res.status(401).json({ error: "Sign in: send 'Authorization: Bearer <token>'." });
  return false;
}

/**
 * True for a signed-in admin or auditor; otherwise answers 401 or 403 with
 * `refusal` and returns false. The tables' policies refuse the others anyway:
 * this says so in words instead of an empty answer.
 */
export function requireStaff(req: Request, res: Response, refusal: string): boolean {
  if (!requireSignIn(req, res)) return false;
  if (req.claims!.role === "admin" || req.claims!.role === "auditor") return true;
  res.status(403).json({ error: refusal });
  return false;
}
