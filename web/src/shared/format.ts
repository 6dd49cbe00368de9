/** Numbers and money in the reader's locale; money arrives in minor units (cents) as a string. */
const locale = typeof navigator === "undefined" ? "en" : navigator.language;

export function money(minor: string | null | undefined, currency: string | null): string {
  if (minor === null || minor === undefined) return "—";
  const major = Number(minor) / 100;
  return currency
    ? new Intl.NumberFormat(locale, { style: "currency", currency }).format(major)
    : new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(major);
}

export function count(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(locale).format(Number(value));
}

/** A ratio (0.125) as a percentage (12.5 %). */
export function percent(ratio: string | null | undefined): string {
  if (ratio === null || ratio === undefined) return "—";
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(Number(ratio));
}

/** How a figure moved against the previous period, in words a screen reader can read. */
export function change(now: string | null | undefined, before: string | null | undefined): { text: string; direction: "up" | "down" | "same" | "none" } {
  if (now === null || now === undefined || before === null || before === undefined) return { text: "no previous figure", direction: "none" };
  const a = Number(now);
  const b = Number(before);
  if (a === b) return { text: "same as previous period", direction: "same" };
  if (b === 0) return { text: `${a > b ? "up" : "down"} from 0 in previous period`, direction: a > b ? "up" : "down" };
  const ratio = (a - b) / Math.abs(b);
  return {
    text: `${ratio > 0 ? "+" : ""}${new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(ratio)} vs previous period`,
    direction: ratio > 0 ? "up" : "down",
  };
}

/** An instant in the reader's locale, in UTC (as the API reads ranges), saying so. */
export function instant(iso: string | null | undefined): string {
  if (!iso) return "—";
  return `${new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium", timeZone: "UTC" }).format(new Date(iso))} UTC`;
}

/** A month (its first day, 2026-10-01) as the reader reads it: October 2026. */
export function monthName(firstDay: string | null | undefined): string {
  if (!firstDay) return "—";
  return new Intl.DateTimeFormat(locale, { month: "long", year: "numeric", timeZone: "UTC" }).format(new Date(`${firstDay.slice(0, 10)}T00:00:00Z`));
}

const DAY_MS = 86_400_000;

/** A deadline against an instant (now unless pinned), in whole days, in words: "12 days left", "due within a day", "overdue by 3 days"; days is negative when overdue. */
export function deadline(dueAt: string | null | undefined, asOf: Date): { text: string; overdue: boolean; days: number } {
  if (!dueAt) return { text: "—", overdue: false, days: 0 };
  const ms = new Date(dueAt).getTime() - asOf.getTime();
  const plural = (days: number) => `${new Intl.NumberFormat(locale).format(days)} day${days === 1 ? "" : "s"}`;
  if (ms >= 0) {
    const days = Math.floor(ms / DAY_MS);
    return { text: days === 0 ? "due within a day" : `${plural(days)} left`, overdue: false, days };
  }
  const days = Math.floor(-ms / DAY_MS);
  return { text: days === 0 ? "overdue by less than a day" : `overdue by ${plural(days)}`, overdue: true, days: -days };
}
