import { archiveStoreFor } from "../../archive/store.ts";
import { checkpointProblems, describeChainStart, verifyArchivedPartitionReport } from "../../audit/checkpoints.ts";
import { findSavedHead, sealPendingEvents, verifyChain } from "../../audit/seal.ts";
import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { UserError } from "../../errors.ts";
import { isUuid } from "../../uuid.ts";
import { parseFlags } from "../args.ts";
import { withSession } from "../session.ts";

const usageLine = "Usage: custodian audit seal | custodian audit verify [--head HASH] | custodian audit verify --archive ID";

/**
 * `audit seal` seals pending events now; `audit verify` checks the hash chain
 * (from the newest checkpoint when months were archived and dropped, whose
 * archives must be in the archive store) and exits 1 when it was tampered
 * with, or, given `--head` (a chain head printed by an earlier verify and kept
 * elsewhere), when the chain no longer leads to it. `audit verify --archive ID`
 * checks an archived month on its own: its files, and its events against the
 * seals archived with it.
 */
export async function audit(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== "seal" && action !== "verify") throw new UserError(usageLine);
  const { values } = parseFlags(rest, action === "verify" ? { head: { type: "string" }, archive: { type: "string" } } : {});
  const savedHead = values.head === undefined ? null : String(values.head).toLowerCase();
  if (savedHead !== null && !/^[0-9a-f]{64}$/.test(savedHead)) {
    throw new UserError(`--head takes the 64 hexadecimal digits of a chain head printed by \`custodian audit verify\` (got "${values.head}").`);
  }
  const archiveId = values.archive === undefined ? null : String(values.archive);
  if (archiveId !== null && (!isUuid(archiveId) || savedHead !== null)) {
    throw new UserError(`--archive takes an archive id (a UUID, as \`custodian archive list\` shows), alone (got "${archiveId}").`);
  }
  await withSession(({ config, database }) =>
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
      const store = archiveStoreFor(config);
      if (archiveId !== null) {
        const report = await verifyArchivedPartitionReport(client, store, archiveId);
        process.stdout.write(report.text);
        if (!report.ok) process.exitCode = 1;
        return;
      }
      const report = await verifyChain(client);
      if (!report.intact) {
        process.stdout.write(`Audit trail TAMPERED: ${report.problem}.\n`);
        process.exitCode = 1;
        return;
      }
      const lost = await checkpointProblems(client, store);
      if (lost.length > 0) {
        process.stdout.write(`Audit trail TAMPERED: ${lost[0]}.\n`);
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
      const start = await describeChainStart(client, store);
      process.stdout.write(
        `Audit trail intact: ${report.eventsVerified} events in ${report.sealsVerified} seals verified; ${report.eventsUnsealed} not sealed yet.\n` +
          (start ? `${start}\n` : "") +
          (head ? `Saved head reached at event ${head.eventId} (seal ${head.sealId}); ${head.sealedSince} events sealed after it.\n` : "") +
          (report.headHash
            ? `Chain head: ${report.headHash} (keep it elsewhere; \`custodian audit verify --head <it>\` checks that the chain still leads to it)\n`
            : ""),
      );
    }),
  );
}
