import { UserError } from "../../errors.ts";
import { erase } from "./gdpr/erase.ts";
import { exportSubject } from "./gdpr/export.ts";
import { report } from "./gdpr/report.ts";

const actions: Record<string, (args: string[]) => Promise<void>> = { erase, export: exportSubject, report };

const usageLine = "Usage: custodian gdpr erase --client ID --reason TEXT | gdpr export --client ID --out FILE | gdpr report [--as-of INSTANT]";

/** The privacy operator's commands: erase a person, export what we hold about them, the readiness report. */
export async function gdpr(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const run = action === undefined ? undefined : actions[action];
  if (!run) throw new UserError(usageLine);
  await run(rest);
}
