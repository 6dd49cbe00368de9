import { useCallback, useMemo } from "react";
import type { ResultOf } from "../../graphql.ts";
import { TimeChart, type Series } from "../../shared/chart.tsx";
import { change, count, money, percent } from "../../shared/format.ts";
import { bucketRange, previousRange, RangePicker, rangeFromSearch, type DayRange } from "../../shared/range.tsx";
import { Link, navigate, searchWith, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery, type QueryState } from "../../shared/use-query.ts";
import { UsageOverview } from "./operations.ts";

type Figures = ResultOf<typeof UsageOverview>;
const GRANULARITIES = ["day", "week", "month"] as const;
type Granularity = (typeof GRANULARITIES)[number];

/** One figure against the previous period; `value` is the raw figure the API sent, kept for tests and screen readers. */
function Card({ id, title, value, previous, shown, facts }: { id: string; title: string; value: string | null | undefined; previous: string | null | undefined; shown: string; facts?: boolean }) {
  const moved = change(value, previous);
  return (
    <div className="card" data-figure={id} data-value={value ?? ""}>
      <h3>{title}</h3>
      <p className="figure">{shown}</p>
      <p className={`change ${moved.direction}`}>{moved.text}</p>
      {facts && (
        <Link to="/usage-events" search={{ after: null }}>
          The usage events<span className="visually-hidden"> behind {title.toLowerCase()}</span>
        </Link>
      )}
    </div>
  );
}

function Cards({ data, staff }: { data: Figures; staff: boolean }) {
  const now = data.usageOverview?.current;
  const before = data.usageOverview?.previous;
  const currency = data.billingPlans?.nodes[0]?.currency ?? null;
  return (
    <div className="cards">
      <Card id="revenue" title="Revenue" value={now?.revenueMinor} previous={before?.revenueMinor} shown={money(now?.revenueMinor, currency)} facts />
      {staff && (
        <>
          <Card id="provider-cost" title="Provider cost" value={now?.providerCostMinor} previous={before?.providerCostMinor} shown={money(now?.providerCostMinor, currency)} facts />
          <Card id="gross-margin" title="Gross margin" value={now?.grossMarginMinor} previous={before?.grossMarginMinor} shown={`${money(now?.grossMarginMinor, currency)} (${percent(now?.grossMarginRatio)})`} />
        </>
      )}
      <Card id="attempts" title="Attempts" value={now?.attempts} previous={before?.attempts} shown={count(now?.attempts)} />
      <Card id="failure-rate" title="Failure rate" value={now?.failureRate} previous={before?.failureRate} shown={percent(now?.failureRate)} />
      <Card id="retranscription-rate" title="Re-transcription rate" value={now?.retranscriptionRate} previous={before?.retranscriptionRate} shown={percent(now?.retranscriptionRate)} />
      {staff && (
        <Card id="free-retries-cost" title="Cost of free retries" value={now?.failedAttemptsCostMinor} previous={before?.failedAttemptsCostMinor} shown={money(now?.failedAttemptsCostMinor, currency)} />
      )}
    </div>
  );
}

/** The granularity the URL names (`by`), day unless it names another. */
export function granularityFrom(search: URLSearchParams): Granularity {
  return (GRANULARITIES as readonly string[]).includes(search.get("by") ?? "") ? (search.get("by") as Granularity) : "day";
}

/** The overview's figures for a range, of every coach the caller may see or of one coach: one call for the whole page. */
export function useUsageOverview(range: DayRange, coach: string | null) {
  const { search } = useLocation();
  const previous = previousRange(range);
  return useQuery(UsageOverview, {
    from: range.from, to: range.to, previousFrom: previous.from, previousTo: previous.to, granularity: granularityFrom(search), coach,
  });
}

/**
 * Cards, usage over time and usage by provider for a range: of every coach the
 * caller may see, or of one coach (`coach`). The overview and a coach's page show it.
 */
export function UsageDashboard({ overview, range, name }: { overview: QueryState<Figures>; range: DayRange; name: string }) {
  const session = useSignedIn();
  const staff = session.role !== "coach";
  const { search, setSearch } = useLocation();
  const by = granularityFrom(search);
  const currency = overview.status === "done" ? (overview.data.billingPlans?.nodes[0]?.currency ?? null) : null;
  return (
    <>
      <Panel title="Figures" state={overview}>
        {(data) => <Cards data={data} staff={staff} />}
      </Panel>
      <Panel title="Usage over time" state={overview} isEmpty={(data) => !data.usageOverview?.periods?.length} empty="No usage in this range.">
        {(data) => (
          <UsageChart rows={data.usageOverview!.periods!} by={by} setBy={(value) => setSearch({ by: value })} staff={staff} range={range} currency={currency} name={name} />
        )}
      </Panel>
      <Panel title="Usage by provider and model" state={overview} isEmpty={(data) => !data.usageOverview?.providers?.length} empty="No attempts in this range.">
        {(data) => <ProviderTable rows={data.usageOverview!.providers!.filter((row) => row !== null)} staff={staff} currency={currency} name={name} />}
      </Panel>
    </>
  );
}

export function Overview() {
  const session = useSignedIn();
  const staff = session.role !== "coach";
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const overview = useUsageOverview(range, null);
  return (
    <>
      <header className="page-header">
        <h1>Overview</h1>
        <RangePicker key={`${range.from}/${range.to}`} range={range} change={setSearch} />
      </header>
      <UsageDashboard overview={overview} range={range} name="usage" />
      {staff && <TopCoachesPanel overview={overview} />}
    </>
  );
}

type UsageRow = NonNullable<NonNullable<NonNullable<Figures["usageOverview"]>["periods"]>[number]>;

function UsageChart({ rows, by, setBy, staff, range, currency, name }: { rows: Array<UsageRow | null>; by: Granularity; setBy: (value: Granularity) => void; staff: boolean; range: DayRange; currency: string | null; name: string }) {
  const present = rows.filter((row): row is UsageRow => row !== null);
  const days = useMemo(() => present.map((row) => row.periodStart ?? ""), [rows]);
  const series = useMemo<Series[]>(() => {
    const numbers = (pick: (row: UsageRow) => string | null) => present.map((row) => (pick(row) === null ? null : Number(pick(row))));
    const lines: Series[] = [
      { label: "Attempts", values: numbers((row) => row.attempts), color: "#2563eb" },
      { label: "Failed", values: numbers((row) => row.failed), color: "#dc2626" },
      { label: "Re-transcriptions", values: numbers((row) => row.retranscriptions), color: "#9333ea" },
    ];
    const inMajorUnits = (value: number) => money(String(value), null);
    lines.push({ label: "Revenue", values: numbers((row) => row.revenueMinor), color: "#16a34a", right: true, format: inMajorUnits });
    if (staff) lines.push({ label: "Provider cost", values: numbers((row) => row.providerCostMinor), color: "#ea580c", right: true, format: inMajorUnits });
    return lines;
  }, [rows, staff]);
  // A click on the chart opens the events of the bucket under the cursor, as its row's link in the table does.
  const pick = useCallback(
    (index: number) => {
      const start = present[index]?.periodStart;
      if (!start) return;
      const days = bucketRange(start, by, range);
      navigate("/usage-events", searchWith({ range: null, from: days.from, to: days.to, after: null }));
    },
    [rows, by, range.from, range.to],
  );
  // The chart's data as a table: readable without the canvas, downloadable, and each bucket leads to its events.
  const columns: Column<UsageRow>[] = [
    {
      id: "period",
      label: by === "day" ? "Day" : by === "week" ? "Week from" : "Month",
      raw: (row) => row.periodStart,
      show: (row) => {
        const days = bucketRange(row.periodStart!, by, range);
        return (
          <Link to="/usage-events" search={{ range: null, from: days.from, to: days.to, after: null }}>
            {row.periodStart}
          </Link>
        );
      },
    },
    { id: "attempts", label: "Attempts", raw: (row) => row.attempts, show: (row) => count(row.attempts), numeric: true },
    { id: "failed", label: "Failed", raw: (row) => row.failed, show: (row) => count(row.failed), numeric: true },
    { id: "retranscriptions", label: "Re-transcriptions", raw: (row) => row.retranscriptions, show: (row) => count(row.retranscriptions), numeric: true },
    { id: "revenue", label: "Revenue", csvLabel: "Revenue (minor units)", raw: (row) => row.revenueMinor, show: (row) => money(row.revenueMinor, currency), numeric: true },
    ...(staff ? [{ id: "provider-cost", label: "Provider cost", csvLabel: "Provider cost (minor units)", raw: (row: UsageRow) => row.providerCostMinor, show: (row: UsageRow) => money(row.providerCostMinor, currency), numeric: true }] : []),
  ];
  return (
    <>
      <div className="segmented" role="group" aria-label="Bucket">
        {GRANULARITIES.map((value) => (
          <button key={value} type="button" aria-pressed={by === value} onClick={() => setBy(value)}>
            {value === "day" ? "Day" : value === "week" ? "Week" : "Month"}
          </button>
        ))}
      </div>
      <TimeChart days={days} series={series} from={range.from} to={range.to} pick={pick} label={`Usage by ${by}: attempts, failures, re-transcriptions and revenue (click a ${by} for its usage events)`} />
      <p className="buckets" data-buckets={present.length}>
        {present.length} {present.length === 1 ? by : `${by}s`} with usage
      </p>
      <details>
        <summary>The chart's figures, by {by}</summary>
        <DataTable label={`Usage by ${by}`} columns={columns} rows={present} filename={`${name}-by-${by}`} rowKey={(row) => row.periodStart!} />
      </details>
    </>
  );
}

type ProviderRow = NonNullable<NonNullable<NonNullable<Figures["usageOverview"]>["providers"]>[number]>;

function ProviderTable({ rows, staff, currency, name }: { rows: ProviderRow[]; staff: boolean; currency: string | null; name: string }) {
  const columns: Column<ProviderRow>[] = [
    {
      id: "provider",
      label: "Provider",
      raw: (row) => row.provider,
      show: (row) => (
        <Link to="/usage-events" search={{ provider: row.provider, model: row.model, after: null }}>
          {row.provider}
        </Link>
      ),
    },
    { id: "model", label: "Model", raw: (row) => row.model },
    { id: "attempts", label: "Attempts", raw: (row) => row.attempts, show: (row) => count(row.attempts), numeric: true },
    { id: "failure-rate", label: "Failure rate", raw: (row) => row.failureRate, show: (row) => percent(row.failureRate), numeric: true },
    { id: "audio-minutes", label: "Audio minutes", raw: (row) => row.audioMinutes, show: (row) => count(row.audioMinutes), numeric: true },
    { id: "revenue", label: "Revenue", csvLabel: "Revenue (minor units)", raw: (row) => row.revenueMinor, show: (row) => money(row.revenueMinor, currency), numeric: true },
    ...(staff
      ? [
          { id: "provider-cost", label: "Provider cost", csvLabel: "Provider cost (minor units)", raw: (row: ProviderRow) => row.providerCostMinor, show: (row: ProviderRow) => money(row.providerCostMinor, currency), numeric: true },
          { id: "unknown-cost", label: "Attempts without a known cost", raw: (row: ProviderRow) => row.unknownCostAttempts, show: (row: ProviderRow) => count(row.unknownCostAttempts), numeric: true },
        ]
      : []),
  ];
  return <DataTable label="Usage by provider and model" columns={columns} rows={rows} filename={`${name}-by-provider`} rowKey={(row) => `${row.provider}/${row.model}`} />;
}

type CoachRow = NonNullable<NonNullable<NonNullable<Figures["usageOverview"]>["topCoaches"]>[number]>;

/** The coaches who brought the most revenue, each leading to their own page (admins and auditors). */
function TopCoachesPanel({ overview }: { overview: QueryState<Figures> }) {
  return (
    <Panel title="Top coaches" state={overview} isEmpty={(data) => !data.usageOverview?.topCoaches?.length} empty="No coach had usage in this range.">
      {(data) => {
        const currency = data.billingPlans?.nodes[0]?.currency ?? null;
        const columns: Column<CoachRow>[] = [
          {
            id: "coach",
            label: "Coach",
            raw: (row) => row.displayName ?? row.coachProfileId,
            show: (row) => (
              <Link to="/coach" search={{ coach: row.coachProfileId, after: null }}>
                {row.displayName ?? row.coachProfileId}
                {row.isDeleted ? " (deleted)" : ""}
              </Link>
            ),
          },
          { id: "coach-profile-id", label: "Coach profile id", raw: (row) => row.coachProfileId },
          { id: "attempts", label: "Attempts", raw: (row) => row.attempts, show: (row) => count(row.attempts), numeric: true },
          { id: "billable-minutes", label: "Billable minutes", raw: (row) => row.billableMinutes, show: (row) => count(row.billableMinutes), numeric: true },
          { id: "revenue", label: "Revenue", csvLabel: "Revenue (minor units)", raw: (row) => row.revenueMinor, show: (row) => money(row.revenueMinor, currency), numeric: true },
          { id: "provider-cost", label: "Provider cost", csvLabel: "Provider cost (minor units)", raw: (row) => row.providerCostMinor, show: (row) => money(row.providerCostMinor, currency), numeric: true },
          { id: "gross-margin", label: "Gross margin", csvLabel: "Gross margin (minor units)", raw: (row) => row.grossMarginMinor, show: (row) => money(row.grossMarginMinor, currency), numeric: true },
        ];
        return <DataTable label="Top coaches" columns={columns} rows={data.usageOverview!.topCoaches!.filter((row) => row !== null)} filename="top-coaches" rowKey={(row) => row.coachProfileId!} />;
      }}
    </Panel>
  );
}
