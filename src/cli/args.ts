import { parseArgs, type ParseArgsConfig } from "node:util";
import { UserError } from "../errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses a command's flags; an unknown or malformed flag is a UserError. */
export function parseFlags<T extends Options>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UserError((error as Error).message);
  }
}

export function positiveInteger(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new UserError(`${flag} takes a whole number of at least 1 (got "${value}").`);
  return number;
}

/** An instant flag (`--as-of`): an ISO instant or a day; absent gives `fallback`. */
export function instant(value: string | undefined, flag: string, fallback: Date | null): Date | null {
  if (value === undefined) return fallback;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) {
    throw new UserError(`${flag} takes an instant such as 2026-12-01T00:00:00Z or a day such as 2026-12-01 (got "${value}").`);
  }
  return parsed;
}
