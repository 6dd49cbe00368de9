import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { UserError } from "../../errors.ts";
import { rebuildDays, usageEventDays } from "../../usage/aggregate.ts";
import { isIsoDate } from "../../usage/dates.ts";
import { parseFlags } from "../args.ts";
import { progressBar } from "../progress.ts";
import { withSession } from "../session.ts";

const usageLine = "Usage: custodian usage aggregate [--from YYYY-MM-DD --to YYYY-MM-DD]";

function day(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isIsoDate(value)) {
    throw new UserError(`${flag} takes a date like 2026-11-01 (got "${value}").`);
  }
  return value;
}

/** `usage aggregate` rebuilds the daily rollups of a range of days (both ends included; default: every day with usage). */
export async function usage(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== "aggregate") throw new UserError(usageLine);
  const { values } = parseFlags(rest, { from: { type: "string" }, to: { type: "string" } });
  let from = day(values.from, "--from");
  let to = day(values.to, "--to");
  if (from !== undefined && to !== undefined && from > to) {
    throw new UserError(`--from (${from}) must not be after --to (${to}).`);
  }
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      if (from === undefined || to === undefined) {
        const days = await usageEventDays(client);
        if (!days) {
          process.stdout.write("No usage events yet; nothing to aggregate.\n");
          return;
        }
        from ??= days.from;
        to ??= days.to;
      }
      const total = Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
      const bar = progressBar("Rebuilding usage days", Math.max(total, 0));
      const rebuilt = await rebuildDays(client, from, to, () => bar.tick());
      bar.finish();
      process.stdout.write(`Rebuilt the usage rollups of ${rebuilt} days (${from} to ${to}).\n`);
    }),
  );
}
