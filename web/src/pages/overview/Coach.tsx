import { money, monthName } from "../../shared/format.ts";
import { lastDay, monthStart, RangePicker, rangeFromSearch } from "../../shared/range.tsx";
import { BASE, Link, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { UsageDashboard, useUsageOverview } from "./Overview.tsx";
import { CoachDetail } from "./operations.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One coach (`?coach=<coach profile id>`): their figures for the range, their
 * invoice as it stands for the range's last month, and the ways to the facts:
 * their usage events and their audit events. The API refuses, in words, a
 * coach the caller may not see.
 */
export function CoachPage() {
  const session = useSignedIn();
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const coach = search.get("coach");
  if (!coach || !UUID.test(coach)) {
    return (
      <p className="state error" role="alert">
        Name a coach: this page needs ?coach= and a coach profile id (the top coaches on the overview lead here).
      </p>
    );
  }
  const month = monthStart(lastDay(range));
  return <CoachView key={coach} coach={coach} month={month} staff={session.role !== "coach"} range={range} setSearch={setSearch} />;
}

function CoachView({ coach, month, staff, range, setSearch }: { coach: string; month: string; staff: boolean; range: ReturnType<typeof rangeFromSearch>; setSearch: (change: Record<string, string | null>) => void }) {
  const detail = useQuery(CoachDetail, { coach, month });
  const overview = useUsageOverview(range, coach);
  const profile = detail.status === "done" ? detail.data.coachProfiles?.nodes[0] : undefined;
  const name = profile?.displayName ?? "Coach";
  return (
    <>
      <header className="page-header">
        <h1>{name}</h1>
        <RangePicker key={`${range.from}/${range.to}`} range={range} change={setSearch} />
      </header>
      <Panel title="Coach" state={detail} isEmpty={(data) => !data.coachProfiles?.nodes.length} empty="There is no such coach profile that you can see.">
        {(data) => (
          <div className="links">
            <span>
              Coach profile <code>{coach}</code>
              {data.coachProfiles!.nodes[0]?.isDeleted ? " (deleted)" : ""}
            </span>
            <Link to="/usage-events" search={{ coach, after: null, month: null }}>
              Their usage events in this range
            </Link>
            <Link to="/billing" search={{ coach, month, after: null }}>
              Their invoices on the billing page
            </Link>
            {staff && <a href={`${BASE}/audit?actor=${encodeURIComponent(data.coachProfiles!.nodes[0]!.userId)}`}>Their audit events</a>}
          </div>
        )}
      </Panel>
      <UsageDashboard overview={overview} range={range} name={`coach-${coach}`} />
      <Panel title={`Invoice preview, ${monthName(month)}`} state={detail} isEmpty={(data) => !data.invoicePreview?.nodes.length} empty="No invoice for this month.">
        {(data) => {
          const invoice = data.invoicePreview!.nodes[0]!;
          return (
            <dl className="invoice" data-invoice={invoice.coachProfileId} data-total={invoice.totalMinor}>
              <dt>Plan</dt>
              <dd>{invoice.planName ?? "—"}</dd>
              <dt>Plan fee</dt>
              <dd>{money(invoice.planFeeMinor, invoice.currency)}</dd>
              <dt>Usage</dt>
              <dd>{money(invoice.usageMinor, invoice.currency)}</dd>
              <dt>Credits and voids</dt>
              <dd>{money(invoice.creditsMinor, invoice.currency)}</dd>
              <dt>Total</dt>
              <dd>
                <strong>{money(invoice.totalMinor, invoice.currency)}</strong> {invoice.closedAt ? "(closed)" : "(as it stands; the month is open)"}
              </dd>
            </dl>
          );
        }}
      </Panel>
    </>
  );
}
