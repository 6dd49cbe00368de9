import type pg from "pg";
import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { describeErasure, erasureRefusals, runErasure } from "../../../gdpr/erasure.ts";
import { isUuid } from "../../../uuid.ts";
import { parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";

const usageLine =
  "Usage: custodian gdpr erase --client ID --reason TEXT [--override-reason TEXT] | custodian gdpr erase --request ID [--override-reason TEXT]";

/**
 * `custodian gdpr erase --client ID --reason TEXT` files an erasure request
 * for the client, records the operator's verification (the reason) and runs
 * it; `--request ID` runs an existing verified request. Prints the erasure's
 * record, with the residue scan's count. `--override-reason` erases under a
 * legal hold, and is recorded.
 */
export async function erase(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    client: { type: "string" },
    reason: { type: "string" },
    request: { type: "string" },
    "override-reason": { type: "string" },
  });
  if ((values.client === undefined) === (values.request === undefined)) throw new UserError(usageLine);
  if (values.client !== undefined && values.reason === undefined) throw new UserError("--reason is required with --client: say how the person's identity was verified.");
  if (values.request !== undefined && values.reason !== undefined) throw new UserError("--reason goes with --client; a request given with --request was verified already.");
  for (const [flag, value] of [["--client", values.client], ["--request", values.request]] as const) {
    if (value !== undefined && !isUuid(value)) {
      throw new UserError(`${flag} takes an id (a UUID), got "${value}".`);
    }
  }
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      const requestId = values.request ?? (await fileVerifiedRequest(client, values.client!, values.reason!));
      try {
        const erasure = await runErasure(client, requestId, values["override-reason"] ?? null);
        process.stdout.write(`${describeErasure(erasure)}\nResidue count: ${erasure.residueCount}\n`);
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        if (code && erasureRefusals.has(code)) {
          throw new UserError(values.client === undefined ? message : `${message} (Request ${requestId} stays filed and verified; run it with --request ${requestId}.)`);
        }
        throw error;
      }
    }),
  );
}

async function fileVerifiedRequest(client: pg.Client, clientId: string, reason: string): Promise<string> {
  const { rows: [known] } = await client.query("select exists (select from app_public.clients where id = $1) as known", [clientId]);
  if (!known.known) throw new UserError(`There is no client ${clientId}.`);
  await client.query("begin");
  try {
    const { rows: [filed] } = await client.query("insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1) returning id", [clientId]);
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = $2 where id = $1", [filed.id, reason]);
    await client.query("commit");
    return filed.id;
  } catch (error) {
    await client.query("rollback");
    const { code, constraint } = error as { code?: string; constraint?: string };
    if (code === "23514" && constraint) {
      const { rows } = await client.query<{ words: string }>(
        "select words from app_private.constraint_words() where table_name = 'app_public.data_subject_requests' and constraint_name = $1", [constraint]);
      throw new UserError((rows[0]?.words ?? (error as Error).message).replace("verification", "verification (--reason)"));
    }
    throw error;
  }
}
