import { ExportButtons } from "../../shared/export.tsx";
import { describe, RangePicker, rangeFromSearch } from "../../shared/range.tsx";
import { useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";

/** The analytics REST routes (/api/v1/admin/analytics/<name>), each the GraphQL field of the same figures. */
const ANALYTICS = [
  { name: "usage", title: "Usage over time (by day)", months: false },
  { name: "providers", title: "Usage by provider and model", months: false },
  { name: "revenue", title: "Revenue, cost and margin", months: false },
  { name: "monthly-revenue", title: "Monthly revenue", months: true },
  { name: "retranscriptions", title: "Re-transcriptions", months: false },
  { name: "failures", title: "Failures and free retries", months: false },
  { name: "top-coaches", title: "Top coaches", months: false },
] as const;

const firstOfMonth = (day: string) => `${day.slice(0, 7)}-01`;
function nextMonth(day: string): string {
  const date = new Date(`${firstOfMonth(day)}T00:00:00Z`);
  date.setUTCMonth(date.getUTCMonth() + 1);
  return date.toISOString().slice(0, 10);
}

/** The whole months a range touches: monthly revenue reads whole months only. */
function wholeMonths(range: { from: string; to: string }) {
  return { from: firstOfMonth(range.from), to: range.to.endsWith("-01") ? range.to : nextMonth(range.to) };
}

/** Usage, analytics and audit exports for a range, as CSV or JSON Lines, from the REST routes. */
export function Exports() {
  const session = useSignedIn();
  const staff = session.role !== "coach";
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const days = new URLSearchParams({ from: range.from, to: range.to });
  const months = wholeMonths(range);
  return (
    <>
      <header className="page-header">
        <h1>Exports</h1>
        <RangePicker key={`${range.from}/${range.to}`} range={range} change={setSearch} />
      </header>
      <p className="explain">
        Each file holds what the API returns for {describe(range)} (UTC, the last day included){staff ? "" : ", for your own coaching only"}, every page of it.
      </p>
      <section className="panel" aria-label="Usage events">
        <h2>Usage events</h2>
        <p>Every usage event of the range, oldest first{staff ? ", of every coach" : ""} (GET /api/v1/usage).</p>
        <ExportButtons label="usage events" path="/api/v1/usage" search={days} />
      </section>
      {staff && (
        <section className="panel" aria-label="Analytics">
          <h2>Analytics</h2>
          <ul className="exports">
            {ANALYTICS.map((one) => (
              <li key={one.name} data-export={one.name}>
                <h3>{one.title}</h3>
                {one.months && (months.from !== range.from || months.to !== range.to) && (
                  <p className="muted">Monthly revenue reads whole months: {describe(months)}.</p>
                )}
                <ExportButtons
                  label={one.title.toLowerCase()}
                  path={`/api/v1/admin/analytics/${one.name}`}
                  search={new URLSearchParams(one.months ? months : { from: range.from, to: range.to })}
                />
              </li>
            ))}
          </ul>
        </section>
      )}
      <section className="panel" aria-label="Audit trail">
        <h2>Audit trail</h2>
        <p>
          The audit events of the range, oldest first (GET /api/v1/audit){staff ? "" : ": those of your own records"}; personal data you may not read stays redacted.
        </p>
        <ExportButtons label="audit events" path="/api/v1/audit" search={new URLSearchParams({ occurred_from: range.from, occurred_before: range.to })} />
      </section>
    </>
  );
}
