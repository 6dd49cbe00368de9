import { UserError } from "../../../errors.ts";

/** `custodian gdpr report`: not built yet (issue 16). */
export async function report(_args: string[]): Promise<void> {
  throw new UserError("custodian gdpr report is not available yet.");
}
