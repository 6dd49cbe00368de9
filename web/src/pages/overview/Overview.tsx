import { useMemo } from "react";
import type { ResultOf } from "../../graphql.ts";
import { TimeChart, type Series } from "../../shared/chart.tsx";
import { change, count, money, percent } from "../../shared/format.ts";
import { previousRange, RangePicker, rangeFromSearch } from "../../shared/range.tsx";
import { useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { OverviewFigures, UsageOverTime } from "./operations.ts";

type Figures = ResultOf<typeof OverviewFigures>;
const GRANULARITIES = ["day", "week", "month"] as const;
type Granularity = (typeof GRANULARITIES)[number];

/** One figure against the previous period; `value` is the raw figure the API sent, kept for tests and screen readers. */
function Card({ id, title, value, previous, shown }: { id: string; title: string; value: string | null | undefined; previous: string | null | undefined; shown: string }) {
  const moved = change(value, previous);
  return (
    <div className="card" data-figure={id} data-value={value ?? ""}>
      <h3>{title}</h3>
      <p className="figure">{shown}</p>
      <p className={`change ${moved.direction}`}>{moved.text}</p>
    </div>
  );
}

function Cards({ data, staff }: { data: Figures; staff: boolean }) {
  const revenue = data.revenue?.nodes[0];
  const before = data.previousRevenue?.nodes[0];
  const failures = data.failures?.nodes[0];
  const failuresBefore = data.previousFailures?.nodes[0];
  const re = data.retranscriptions?.nodes[0];
  const reBefore = data.previousRetranscriptions?.nodes[0];
  const currency = data.billingPlans?.nodes[0]?.currency ?? null;
  return (
    <div className="cards">
      <Card id="revenue" title="Revenue" value={revenue?.revenueMinor} previous={before?.revenueMinor} shown={money(revenue?.revenueMinor, currency)} />
      {staff && (
        <>
          <Card id="provider-cost" title="Provider cost" value={revenue?.providerCostMinor} previous={before?.providerCostMinor} shown={money(revenue?.providerCostMinor, currency)} />
          <Card id="gross-margin" title="Gross margin" value={revenue?.grossMarginMinor} previous={before?.grossMarginMinor} shown={`${money(revenue?.grossMarginMinor, currency)} (${percent(revenue?.grossMarginRatio)})`} />
        </>
      )}
      <Card id="attempts" title="Attempts" value={failures?.attempts} previous={failuresBefore?.attempts} shown={count(failures?.attempts)} />
      <Card id="failure-rate" title="Failure rate" value={failures?.failureRate} previous={failuresBefore?.failureRate} shown={percent(failures?.failureRate)} />
      <Card id="retranscription-rate" title="Re-transcription rate" value={re?.retranscriptionRate} previous={reBefore?.retranscriptionRate} shown={percent(re?.retranscriptionRate)} />
      {staff && (
        <Card id="free-retries-cost" title="Cost of free retries" value={failures?.failedAttemptsCostMinor} previous={failuresBefore?.failedAttemptsCostMinor} shown={money(failures?.failedAttemptsCostMinor, currency)} />
      )}
    </div>
  );
}

export function Overview() {
  const session = useSignedIn();
  const staff = session.role !== "coach";
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const previous = previousRange(range);
  const by = (GRANULARITIES as readonly string[]).includes(search.get("by") ?? "") ? (search.get("by") as Granularity) : "day";
  const figures = useQuery(OverviewFigures, { from: range.from, to: range.to, previousFrom: previous.from, previousTo: previous.to });
  const usage = useQuery(UsageOverTime, { from: range.from, to: range.to, granularity: by });

  return (
    <>
      <header className="page-header">
        <h1>Overview</h1>
        <RangePicker key={`${range.from}/${range.to}`} range={range} change={setSearch} />
      </header>
      <Panel title="Figures" state={figures}>
        {(data) => <Cards data={data} staff={staff} />}
      </Panel>
      <Panel title="Usage over time" state={usage} isEmpty={(data) => !data.usageOverTime?.nodes.length} empty="No usage in this range.">
        {(data) => <UsageChart rows={data.usageOverTime!.nodes} by={by} setBy={(value) => setSearch({ by: value })} staff={staff} from={range.from} to={range.to} />}
      </Panel>
    </>
  );
}

type UsageRow = NonNullable<ResultOf<typeof UsageOverTime>["usageOverTime"]>["nodes"][number];

function UsageChart({ rows, by, setBy, staff, from, to }: { rows: UsageRow[]; by: Granularity; setBy: (value: Granularity) => void; staff: boolean; from: string; to: string }) {
  const present = rows.filter((row): row is NonNullable<UsageRow> => row !== null);
  const days = useMemo(() => present.map((row) => row.periodStart ?? ""), [rows]);
  const series = useMemo<Series[]>(() => {
    const numbers = (pick: (row: NonNullable<UsageRow>) => string | null) => present.map((row) => (pick(row) === null ? null : Number(pick(row))));
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
  return (
    <>
      <div className="segmented" role="group" aria-label="Bucket">
        {GRANULARITIES.map((value) => (
          <button key={value} type="button" aria-pressed={by === value} onClick={() => setBy(value)}>
            {value === "day" ? "Day" : value === "week" ? "Week" : "Month"}
          </button>
        ))}
      </div>
      <TimeChart days={days} series={series} from={from} to={to} label={`Usage by ${by}: attempts, failures, re-transcriptions and revenue`} />
      <p className="buckets" data-buckets={present.length}>
        {present.length} {present.length === 1 ? by : `${by}s`} with usage
      </p>
    </>
  );
}
