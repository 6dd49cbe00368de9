import { count } from "../../shared/format.ts";

/** Words for the retention pages: actions, legal bases, periods and statuses as a person reads them. */

export const ACTION_WORDS: Record<string, string> = {
  archive_then_delete: "Archive, then delete",
  anonymize: "Anonymize",
  delete: "Delete",
  keep_forever: "Keep forever",
};

export const LEGAL_BASIS_WORDS: Record<string, string> = {
  consent: "Consent (Art. 6(1)(a))",
  contract: "Contract (Art. 6(1)(b))",
  legal_obligation: "Legal obligation (Art. 6(1)(c))",
  legitimate_interests: "Legitimate interests (Art. 6(1)(f))",
  not_applicable: "Not applicable",
};

export const RUN_STATUS_WORDS: Record<string, string> = {
  running: "Running",
  finished: "Finished",
  failed: "Failed",
  skipped: "Skipped",
};

/** An interval as the API sends it (PostGraphile's Interval). */
export interface Interval {
  years?: number | null;
  months?: number | null;
  days?: number | null;
  hours?: number | null;
  minutes?: number | null;
  seconds?: number | null;
}

const UNITS = ["years", "months", "days", "hours", "minutes", "seconds"] as const;
export type Unit = "years" | "months" | "days";

/** A period in words ("3 years", "1 year 6 months", "90 days"); null is kept forever. */
export function periodWords(period: Interval | null | undefined): string {
  if (!period) return "forever";
  const parts = UNITS.filter((unit) => period[unit]).map((unit) => {
    const value = period[unit]!;
    return `${count(String(value))} ${value === 1 ? unit.slice(0, -1) : unit}`;
  });
  return parts.length ? parts.join(" ") : "0 days";
}

/** The period as an ISO 8601 duration (P90D, P3Y, P1Y6M): what a cell's raw value and the CSV carry; null is kept forever. */
export function periodRaw(period: Interval | null | undefined): string | null {
  if (!period) return null;
  const part = (value: number | null | undefined, letter: string) => (value ? `${value}${letter}` : "");
  const date = part(period.years, "Y") + part(period.months, "M") + part(period.days, "D");
  const time = part(period.hours, "H") + part(period.minutes, "M") + part(period.seconds, "S");
  return date || time ? `P${date}${time ? `T${time}` : ""}` : "PT0S";
}

/** A period as one amount and one unit for the change form: its largest unit when the rest are zero, else days. */
export function periodParts(period: Interval | null | undefined): { amount: string; unit: Unit } {
  if (!period) return { amount: "", unit: "days" };
  const { years = 0, months = 0, days = 0 } = period;
  if (years && !months && !days) return { amount: String(years), unit: "years" };
  if (months && !days) return { amount: String((years ?? 0) * 12 + months), unit: "months" };
  if (!years && !months) return { amount: String(days ?? 0), unit: "days" };
  return { amount: "", unit: "days" };
}
