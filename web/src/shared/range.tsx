import { useState } from "react";

/**
 * A range of days, from included to `to` excluded, as every door of the API
 * reads one. It lives in the URL: `?range=30d` (a preset, relative to today)
 * or `?from=2026-11-01&to=2026-12-01` (custom), so a view can be shared.
 */
export interface DayRange {
  from: string;
  to: string;
  preset: PresetId | null;
}

export const PRESETS = {
  "7d": "Last 7 days",
  "30d": "Last 30 days",
  "90d": "Last 90 days",
  "this-month": "This month",
  "last-month": "Last month",
  "12m": "Last 12 months",
} as const;
export type PresetId = keyof typeof PRESETS;
export const DEFAULT_PRESET: PresetId = "30d";

const DAY = 86_400_000;
const iso = (time: number) => new Date(time).toISOString().slice(0, 10);
const parse = (day: string) => Date.parse(`${day}T00:00:00Z`);
const isDay = (value: string | null): value is string => value !== null && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(parse(value));

/** A preset's days, with today (UTC) included. */
export function presetRange(preset: PresetId, today = iso(Date.now())): DayRange {
  const tomorrow = iso(parse(today) + DAY);
  const monthStart = `${today.slice(0, 7)}-01`;
  switch (preset) {
    case "7d":
      return { from: iso(parse(tomorrow) - 7 * DAY), to: tomorrow, preset };
    case "30d":
      return { from: iso(parse(tomorrow) - 30 * DAY), to: tomorrow, preset };
    case "90d":
      return { from: iso(parse(tomorrow) - 90 * DAY), to: tomorrow, preset };
    case "12m":
      return { from: iso(parse(tomorrow) - 365 * DAY), to: tomorrow, preset };
    case "this-month":
      return { from: monthStart, to: tomorrow, preset };
    case "last-month": {
      const start = new Date(parse(monthStart));
      start.setUTCMonth(start.getUTCMonth() - 1);
      return { from: iso(start.getTime()), to: monthStart, preset };
    }
  }
}

/** The range a URL names; a missing or unreadable one is the default preset. */
export function rangeFromSearch(search: URLSearchParams): DayRange {
  const preset = search.get("range");
  if (preset && preset in PRESETS) return presetRange(preset as PresetId);
  const from = search.get("from");
  const to = search.get("to");
  if (isDay(from) && isDay(to) && parse(from) < parse(to)) return { from, to, preset: null };
  return presetRange(DEFAULT_PRESET);
}

/** The period of the same length just before. */
export function previousRange(range: DayRange): { from: string; to: string } {
  const length = parse(range.to) - parse(range.from);
  return { from: iso(parse(range.from) - length), to: range.from };
}

/** The last day a range includes. */
export function lastDay(range: { to: string }): string {
  return iso(parse(range.to) - DAY);
}

export function describe(range: { from: string; to: string }): string {
  const format = new Intl.DateTimeFormat(navigator.language, { dateStyle: "medium", timeZone: "UTC" });
  return `${format.format(parse(range.from))} – ${format.format(parse(lastDay(range)))}`;
}

/** Presets and a custom range; `change` receives the query-string change. */
export function RangePicker({ range, change }: { range: DayRange; change: (search: Record<string, string | null>) => void }) {
  const [from, setFrom] = useState(range.from);
  const [through, setThrough] = useState(lastDay(range));
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <div className="range" data-from={range.from} data-to={range.to}>
      <label>
        Range{" "}
        <select
          value={range.preset ?? "custom"}
          onChange={(event) => {
            const value = event.target.value;
            if (value === "custom") {
              change({ range: null, from: range.from, to: range.to });
            } else {
              const next = presetRange(value as PresetId);
              setFrom(next.from);
              setThrough(lastDay(next));
              change({ range: value, from: null, to: null });
            }
          }}
        >
          {Object.entries(PRESETS).map(([id, label]) => (
            <option key={id} value={id}>
              {label}
            </option>
          ))}
          <option value="custom">Custom…</option>
        </select>
      </label>
      {range.preset === null && (
        <form
          className="custom-range"
          onSubmit={(event) => {
            event.preventDefault();
            if (!isDay(from) || !isDay(through)) return setProblem("Give both days.");
            if (parse(through) < parse(from)) return setProblem("The last day comes before the first.");
            setProblem(null);
            change({ range: null, from, to: iso(parse(through) + DAY) });
          }}
        >
          <label>
            From <input type="date" value={from} onChange={(event) => setFrom(event.target.value)} />
          </label>
          <label>
            Through <input type="date" value={through} onChange={(event) => setThrough(event.target.value)} />
          </label>
          <button type="submit">Apply</button>
          {problem && <span role="alert">{problem}</span>}
        </form>
      )}
      <span className="range-label">{describe(range)}</span>
    </div>
  );
}

/** The first day of the month `months` after the month of `day`. */
export function monthStart(day: string, months = 0): string {
  const start = new Date(parse(`${day.slice(0, 7)}-01`));
  start.setUTCMonth(start.getUTCMonth() + months);
  return iso(start.getTime());
}

/** The whole months a range touches, as the API reads months: first day of the first, first day after the last. */
export function monthsOf(range: { from: string; to: string }): { from: string; to: string } {
  return { from: monthStart(range.from), to: monthStart(lastDay(range), 1) };
}

/**
 * The days a bucket of a chart stands for: [its start, the next bucket's start)
 * (a day, an ISO week, a month), within the range the figures were asked for,
 * since a bucket's figure only counts the days of the range.
 */
export function bucketRange(start: string, by: "day" | "week" | "month", range: { from: string; to: string }): { from: string; to: string } {
  const next = by === "day" ? iso(parse(start) + DAY) : by === "week" ? iso(parse(start) + 7 * DAY) : monthStart(start, 1);
  return { from: parse(start) < parse(range.from) ? range.from : start, to: parse(next) > parse(range.to) ? range.to : next };
}
