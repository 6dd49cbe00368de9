import { UserError } from "../../../errors.ts";

/** `custodian gdpr erase`: not built yet (issue 16). */
export async function erase(_args: string[]): Promise<void> {
  throw new UserError("custodian gdpr erase is not available yet.");
}
