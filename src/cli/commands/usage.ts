import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { UserError } from "../../errors.ts";
import { rebuildDays, usageEventDays } from "../../usage/aggregate.ts";
import { describeUnratable, rateCapturedUsage } from "../../usage/rate.ts";
import { dayBefore, isIsoDate } from "../../usage/dates.ts";
import { parseFlags } from "../args.ts";
import { progressBar } from "../progress.ts";
import { withSession } from "../session.ts";

const usageLine =
  "Usage: custodian usage rate | custodian usage aggregate [--from YYYY-MM-DD --to YYYY-MM-DD] (--to excluded, like every range's end)";

function day(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isIsoDate(value)) {
    throw new UserError(`${flag} takes a date like 2026-11-01 (got "${value}").`);
  }
  return value;
}

/** Rates what was captured (the rating step) and says what it did (unless nothing, when `quiet`), and what it could not rate. */
async function rateAndReport(client: Parameters<typeof rateCapturedUsage>[0], quiet = false): Promise<void> {
  const { rated, unratable } = await rateCapturedUsage(client);
  if (rated > 0 || !quiet) process.stdout.write(`Rated ${rated} usage record${rated === 1 ? "" : "s"}.\n`);
  for (const line of describeUnratable(unratable)) process.stdout.write(`${line}.\n`);
}

/**
 * `usage rate` prices the usage captured and not rated yet (what the usage_rate
 * job does every minute). `usage aggregate` rates first, then rebuilds the
 * daily rollups of a range of days (--from included, --to excluded, as every
 * door reads a range; default: every day with usage).
 */
export async function usage(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action === "rate") {
    parseFlags(rest, {});
    await withSession(({ database }) =>
      withOwnerClient(database.url, async (client) => {
        await requireSchema(client);
        await rateAndReport(client);
      }),
    );
    return;
  }
  if (action !== "aggregate") throw new UserError(usageLine);
  const { values } = parseFlags(rest, { from: { type: "string" }, to: { type: "string" } });
  let from = day(values.from, "--from");
  const to = day(values.to, "--to");
  if (from !== undefined && to !== undefined && from >= to) {
    throw new UserError(`--from (${from}) must be before --to (${to}): --to is excluded, so --to ${to} ends the range on ${dayBefore(to)}.`);
  }
  // The last day rebuilt.
  let last = to === undefined ? undefined : dayBefore(to);
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      await rateAndReport(client, true);
      if (from === undefined || last === undefined) {
        const days = await usageEventDays(client);
        if (!days) {
          process.stdout.write("No usage events yet; nothing to aggregate.\n");
          return;
        }
        from ??= days.from;
        last ??= days.to;
      }
      const total = Math.round((Date.parse(`${last}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
      const bar = progressBar("Rebuilding usage days", Math.max(total, 0));
      const rebuilt = await rebuildDays(client, from, last, () => bar.tick());
      bar.finish();
      process.stdout.write(`Rebuilt the usage rollups of ${rebuilt} day${rebuilt === 1 ? "" : "s"} (${from} through ${last}).\n`);
    }),
  );
}
