import { UserError } from "../../errors.ts";
import { policies } from "./retention/policies.ts";
import { preview } from "./retention/preview.ts";
import { run } from "./retention/run.ts";

const actions: Record<string, (args: string[]) => Promise<void>> = { run, policies, preview };

const usageLine = "Usage: custodian retention run [--policy P] [--dry-run] [--as-of T] [--batch-size N] | retention policies | retention preview [--policy P] [--as-of T]";

/** Retention: apply the policies (archive then delete, anonymize, delete), list them, preview what a run would do. */
export async function retention(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const act = action === undefined ? undefined : actions[action];
  if (!act) throw new UserError(usageLine);
  await act(rest);
}
