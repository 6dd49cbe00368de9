import { sealPendingEvents, verifyChain } from "../../audit/seal.ts";
import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { UserError } from "../../errors.ts";
import { withSession } from "../session.ts";

const usageLine = "Usage: custodian audit seal | custodian audit verify";

/** `audit seal` seals pending events now; `audit verify` checks the hash chain and exits 1 when it was tampered with. */
export async function audit(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (rest.length > 0 || (action !== "seal" && action !== "verify")) throw new UserError(usageLine);
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      if (action === "seal") {
        const result = await sealPendingEvents(client, 30);
        if (result.horizon === null) {
          throw new UserError("Transactions that may hold unsealed events are still running after 30 s; try again.");
        }
        process.stdout.write(`Sealed ${result.sealed} events (up to event ${result.horizon}).\n`);
        return;
      }
      const report = await verifyChain(client);
      if (report.intact) {
        process.stdout.write(
          `Audit trail intact: ${report.eventsVerified} events in ${report.sealsVerified} seals verified; ${report.eventsUnsealed} not sealed yet.\n` +
            (report.headHash ? `Chain head: ${report.headHash} (keep it elsewhere: a later verify must reach it)\n` : ""),
        );
      } else {
        process.stdout.write(`Audit trail TAMPERED: ${report.problem}.\n`);
        process.exitCode = 1;
      }
    }),
  );
}
