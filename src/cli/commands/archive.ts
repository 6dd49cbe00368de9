import { UserError } from "../../errors.ts";
import { list } from "./archive/list.ts";
import { restore } from "./archive/restore.ts";
import { verify } from "./archive/verify.ts";

const actions: Record<string, (args: string[]) => Promise<void>> = { list, verify, restore };

const usageLine =
  "Usage: custodian archive list | archive verify ID|--all | archive restore ID [--into-schema NAME] [--table SCHEMA.TABLE]";

/** The retention archives in ARCHIVE_DIR: list them, verify them, restore their rows. */
export async function archive(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const run = action === undefined ? undefined : actions[action];
  if (!run) throw new UserError(usageLine);
  await run(rest);
}
