import type { SignInLimits } from "../config.ts";
import { withOwnerClient } from "./owner-client.ts";

/**
 * Copies SIGN_IN_MAX_PER_ACCOUNT, SIGN_IN_MAX_PER_ADDRESS and
 * SIGN_IN_WINDOW_SECONDS into app_private.sign_in_limits, the one row
 * app_public.authenticate reads: every API server on the database then
 * applies the same limits, and no session can raise them for itself.
 */
export async function storeSignInLimits(databaseUrl: string, limits: SignInLimits): Promise<void> {
  await withOwnerClient(databaseUrl, (client) =>
    client.query(
      `update app_private.sign_in_limits set max_per_account = $1, max_per_address = $2, window_seconds = $3
       where (max_per_account, max_per_address, window_seconds) is distinct from ($1, $2, $3)`,
      [limits.maxPerAccount, limits.maxPerAddress, limits.windowSeconds],
    ),
  );
}
