import type { ResultOf } from "../../graphql.ts";
import { ExplainCharge } from "../../shared/explain-charge.tsx";
import { count, money, instant, monthName } from "../../shared/format.ts";
import { RangePicker, rangeFromSearch } from "../../shared/range.tsx";
import { BASE, Link, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { UsageEvents as UsageEventsQuery } from "./operations.ts";

/** How many events match: counted with the totals (from the rollups), not by counting the list. */
function eventCount(data: ResultOf<typeof UsageEventsQuery>): number {
  return Number(data.totals?.events ?? 0);
}

type EventRow = NonNullable<NonNullable<ResultOf<typeof UsageEventsQuery>["usageInRange"]>["nodes"][number]>;

/** Events a page: `size` in the URL (1 to 500), 50 unless given. */
function pageSize(size: string | null): number {
  const value = Number(size);
  return Number.isInteger(value) && value >= 1 && value <= 500 ? value : 50;
}

const isMonth = (value: string | null): value is string => value !== null && /^\d{4}-\d{2}-01$/.test(value);

/**
 * The facts behind a money figure: the usage events it sums, by the filters in
 * the URL (a range, or `month` for a billing month; `coach`, `provider`,
 * `model`), 50 at a time (`size`; `after` is the cursor). Each event leads to its
 * explanation (`event`) and its attempt's audit history.
 */
export function UsageEvents() {
  const session = useSignedIn();
  const staff = session.role !== "coach";
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const month = isMonth(search.get("month")) ? search.get("month") : null;
  const coach = search.get("coach");
  const provider = search.get("provider");
  const model = search.get("model");
  const event = search.get("event");
  const events = useQuery(UsageEventsQuery, {
    from: month ? null : range.from,
    to: month ? null : range.to,
    month,
    coach,
    provider,
    model,
    after: search.get("after"),
    first: pageSize(search.get("size")),
  });
  const filters: Array<{ key: string; text: string }> = [
    ...(month ? [{ key: "month", text: `Billed in ${monthName(month)}` }] : []),
    ...(coach ? [{ key: "coach", text: `Coach profile ${coach}` }] : []),
    ...(provider ? [{ key: "provider", text: `Provider ${provider}` }] : []),
    ...(model ? [{ key: "model", text: `Model ${model}` }] : []),
  ];
  return (
    <>
      <header className="page-header">
        <h1>Usage events</h1>
        {month ? <span className="range-label">Every event billed in {monthName(month)}, whenever it occurred</span> : <RangePicker key={`${range.from}/${range.to}`} range={range} change={(change) => setSearch({ ...change, after: null })} />}
      </header>
      {filters.length > 0 && (
        <ul className="links" aria-label="Filters">
          {filters.map((filter) => (
            <li key={filter.key} className="filter" data-filter={filter.key}>
              {filter.text}{" "}
              <button type="button" onClick={() => setSearch({ [filter.key]: null, after: null })}>
                Remove<span className="visually-hidden"> the filter {filter.text}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {event && /^\d+$/.test(event) && <ExplainCharge key={event} id={event} staff={staff} />}
      <Panel title="Events" state={events} isEmpty={(data) => eventCount(data) === 0} empty="No usage events match these filters.">
        {(data) => {
          const connection = data.usageInRange!;
          const currency = data.billingPlans?.nodes[0]?.currency ?? null;
          const rows = connection.nodes.filter((row): row is EventRow => row !== null);
          const total = eventCount(data);
          const columns: Column<EventRow>[] = [
            { id: "id", label: "Event", raw: (row) => row.rowId },
            { id: "occurred-at", label: "Occurred (UTC)", raw: (row) => row.occurredAt, show: (row) => instant(row.occurredAt) },
            { id: "kind", label: "Kind", raw: (row) => row.kind },
            {
              id: "coach",
              label: "Coach profile",
              raw: (row) => row.coachProfileId,
              show: (row) => (staff ? <Link to="/coach" search={{ coach: row.coachProfileId, after: null, event: null, month: null, provider: null, model: null }}>{row.coachProfileId.slice(0, 8)}</Link> : row.coachProfileId.slice(0, 8)),
            },
            { id: "provider", label: "Provider", raw: (row) => row.provider },
            { id: "model", label: "Model", raw: (row) => row.model },
            { id: "outcome", label: "Outcome", raw: (row) => row.outcome },
            { id: "reason", label: "Billing reason", raw: (row) => row.billingReason },
            { id: "audio-seconds", label: "Audio seconds", raw: (row) => String(row.audioSeconds), show: (row) => count(String(row.audioSeconds)), numeric: true },
            { id: "amount", label: "Amount", csvLabel: "Amount (minor units)", raw: (row) => row.amountMinor, show: (row) => money(row.amountMinor, currency), numeric: true },
            ...(staff ? [{ id: "provider-cost", label: "Provider cost", csvLabel: "Provider cost (minor units)", raw: (row: EventRow) => row.providerCostMinor, show: (row: EventRow) => money(row.providerCostMinor, currency), numeric: true }] : []),
            { id: "billing-month", label: "Billed in", raw: (row) => row.billingMonth },
            {
              id: "facts",
              label: "Facts",
              raw: () => null,
              csv: false,
              show: (row) => (
                <span className="links">
                  <button type="button" aria-pressed={event === row.rowId} onClick={() => setSearch({ event: row.rowId })}>
                    Explain<span className="visually-hidden"> event {row.rowId}</span>
                  </button>
                  {staff && row.transcriptionId && (
                    <a href={`${BASE}/audit?table=transcriptions&record=${encodeURIComponent(row.transcriptionId)}`}>
                      Audit history<span className="visually-hidden"> of the attempt of event {row.rowId}</span>
                    </a>
                  )}
                </span>
              ),
            },
          ];
          return (
            <>
              <p data-total={total} data-amount={data.totals?.amountMinor ?? ""} data-provider-cost={data.totals?.providerCostMinor ?? ""}>
                {count(String(total))} {total === 1 ? "event" : "events"}
                {total > rows.length ? ` (${rows.length} on this page)` : ""}, amounting to <strong>{money(data.totals?.amountMinor, currency)}</strong>
                {staff ? <> at a provider cost of <strong>{money(data.totals?.providerCostMinor, currency)}</strong></> : null}.
              </p>
              <DataTable label="Usage events" columns={columns} rows={rows} filename="usage-events" rowKey={(row) => row.rowId} />
              <nav className="pager" aria-label="Pages of events">
                {search.get("after") && (
                  <button type="button" onClick={() => setSearch({ after: null })}>
                    First page
                  </button>
                )}
                {connection.pageInfo.hasNextPage && (
                  <button type="button" onClick={() => setSearch({ after: connection.pageInfo.endCursor ?? null })}>
                    Next page
                  </button>
                )}
              </nav>
            </>
          );
        }}
      </Panel>
    </>
  );
}
