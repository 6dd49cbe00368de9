import { UserError } from "../../../errors.ts";

/** `custodian gdpr export`: not built yet (issue 16). */
export async function exportSubject(_args: string[]): Promise<void> {
  throw new UserError("custodian gdpr export is not available yet.");
}
