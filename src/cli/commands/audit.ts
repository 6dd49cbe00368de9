import { findSavedHead, sealPendingEvents, verifyChain } from "../../audit/seal.ts";
import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { UserError } from "../../errors.ts";
import { parseFlags } from "../args.ts";
import { withSession } from "../session.ts";

const usageLine = "Usage: custodian audit seal | custodian audit verify [--head HASH]";

/**
 * `audit seal` seals pending events now; `audit verify` checks the hash chain
 * and exits 1 when it was tampered with, or, given `--head` (a chain head
 * printed by an earlier verify and kept elsewhere), when the chain no longer
 * leads to it.
 */
export async function audit(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== "seal" && action !== "verify") throw new UserError(usageLine);
  const { values } = parseFlags(rest, action === "verify" ? { head: { type: "string" } } : {});
  const savedHead = values.head === undefined ? null : String(values.head).toLowerCase();
  if (savedHead !== null && !/^[0-9a-f]{64}$/.test(savedHead)) {
    throw new UserError(`--head takes the 64 hexadecimal digits of a chain head printed by \`custodian audit verify\` (got "${values.head}").`);
  }
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
      if (!report.intact) {
        process.stdout.write(`Audit trail TAMPERED: ${report.problem}.\n`);
        process.exitCode = 1;
        return;
      }
      const head = savedHead === null ? null : await findSavedHead(client, savedHead);
      if (head !== null && head.eventId === null) {
        process.stdout.write(
          `Audit trail TAMPERED: the chain no longer leads to the saved head ${savedHead}: seals were removed from its end, or the chain was rewritten.\n`,
        );
        process.exitCode = 1;
        return;
      }
      process.stdout.write(
        `Audit trail intact: ${report.eventsVerified} events in ${report.sealsVerified} seals verified; ${report.eventsUnsealed} not sealed yet.\n` +
          (head ? `Saved head reached at event ${head.eventId} (seal ${head.sealId}); ${head.sealedSince} events sealed after it.\n` : "") +
          (report.headHash
            ? `Chain head: ${report.headHash} (keep it elsewhere; \`custodian audit verify --head <it>\` checks that the chain still leads to it)\n`
            : ""),
      );
    }),
  );
}
