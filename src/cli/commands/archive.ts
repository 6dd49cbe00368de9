import { UserError } from "../../errors.ts";
import { dropInspection } from "./archive/drop-inspection.ts";
import { list } from "./archive/list.ts";
import { restore } from "./archive/restore.ts";
import { verify } from "./archive/verify.ts";

const actions: Record<string, (args: string[]) => Promise<void>> = { list, verify, restore, "drop-inspection": dropInspection };

const usageLine =
  "Usage: custodian archive list | archive verify ID|--all | archive restore ID [--into-schema NAME] [--table SCHEMA.TABLE] | archive drop-inspection NAME";

/** The retention archives in ARCHIVE_DIR: list them, verify them, restore their rows (into an inspection schema too, dropped after). */
export async function archive(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const run = action === undefined ? undefined : actions[action];
  if (!run) throw new UserError(usageLine);
  await run(rest);
}
