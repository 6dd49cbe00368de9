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
