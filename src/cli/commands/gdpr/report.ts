import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { parseFlags } from "../../args.ts";
import { withSession } from "../../session.ts";

interface Part {
  label: string;
  value: string | null;
  unit: string;
  target: string;
  scored: boolean;
  ok: boolean | null;
}

interface Summary {
  readiness_percent: string;
  parts_scored: number;
  parts_ready: number;
}

/** What a part's status column says. */
function status(part: Part): string {
  if (!part.scored) return "for information";
  return part.ok ? "ready" : "NOT READY";
}

/** The report as a table a person reads in a terminal. */
export function formatReport(summary: Summary, parts: Part[], asOf: string): string {
  const rows = parts.map((part) => [part.label, part.value === null ? "—" : `${part.value} ${Number(part.value) === 1 ? part.unit.replace(/s$/, "") : part.unit}`, part.target, status(part)]);
  const header = ["Part", "Value", "Target", "Status"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `  ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ")}`.trimEnd();
  return [
    `GDPR audit readiness: ${summary.readiness_percent}% as of ${asOf}`,
    `(${summary.parts_ready} of ${summary.parts_scored} scored parts meet their target)`,
    "",
    line(header),
    ...rows.map(line),
    "",
  ].join("\n");
}

/**
 * `custodian gdpr report [--as-of INSTANT]`: GDPR audit readiness and its
 * parts, as app_public.gdpr_readiness computes them (deadlines judged at
 * --as-of, now by default).
 */
export async function report(args: string[]): Promise<void> {
  const { values } = parseFlags(args, { "as-of": { type: "string" } });
  const given = values["as-of"];
  const asOf = given === undefined ? new Date() : new Date(given);
  if (Number.isNaN(asOf.getTime())) {
    throw new UserError(`--as-of takes an instant such as 2026-12-01T00:00:00Z or a day such as 2026-12-01 (got "${given}").`);
  }
  await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      const summary = (await client.query<Summary>(
        "select readiness_percent::text, parts_scored, parts_ready from app_public.gdpr_readiness($1)", [asOf.toISOString()])).rows[0]!;
      const parts = (await client.query<Part>(
        "select label, value::text, unit, target, scored, ok from app_public.gdpr_readiness_parts($1)", [asOf.toISOString()])).rows;
      process.stdout.write(formatReport(summary, parts, asOf.toISOString()));
    }),
  );
}
