import { useState, type ReactNode } from "react";
import type { ResultOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { ExplainCharge } from "../../shared/explain-charge.tsx";
import { count, money, instant, monthName } from "../../shared/format.ts";
import { monthsOf, monthStart, RangePicker, rangeFromSearch } from "../../shared/range.tsx";
import { Link, useLocation } from "../../shared/router.tsx";
import { useSession, useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useLastData, useQuery } from "../../shared/use-query.ts";
import { CloseMonth, Invoices, IssueCredit, MonthlyRevenue, VoidEvent } from "./operations.ts";

type MonthRow = NonNullable<NonNullable<ResultOf<typeof MonthlyRevenue>["monthlyRevenue"]>["nodes"][number]>;
type InvoiceRow = NonNullable<NonNullable<ResultOf<typeof Invoices>["invoicePreview"]>["nodes"][number]>;
type CoachOption = { id: string; displayName: string; isDeleted: boolean };

const isMonth = (value: string | null): value is string => value !== null && /^\d{4}-\d{2}-01$/.test(value);
const thisMonth = () => monthStart(new Date().toISOString().slice(0, 10));

/**
 * Billing (US009): revenue and margin month by month (staff), a month's
 * invoices as they stand or as frozen (`month`; a coach picker, `coach`, for
 * staff; a coach sees their own), any usage event's charge explained
 * (`event`), and for admins the month close, credits and voids, each stated
 * and confirmed before it is done.
 */
export function Billing() {
  const session = useSignedIn();
  const staff = session.role !== "coach";
  const admin = session.role === "admin";
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const month = isMonth(search.get("month")) ? search.get("month")! : thisMonth();
  const coach = staff ? search.get("coach") : null;
  const event = search.get("event");
  // Bumped after an action, so that the figures it changed are read again.
  const [version, setVersion] = useState(0);
  const invoices = useQuery(Invoices, { month, coach }, { version });
  const lastInvoices = useLastData(invoices, { month, coach });
  const coaches: CoachOption[] =
    invoices.status === "done"
      ? (invoices.data.coachProfiles?.nodes ?? []).filter((one) => one !== null).map((one) => ({ id: one.id, displayName: one.displayName, isDeleted: one.isDeleted })).sort((a, b) => a.displayName.localeCompare(b.displayName))
      : [];
  return (
    <>
      <header className="page-header">
        <h1>Billing</h1>
        {staff && <RangePicker key={`${range.from}/${range.to}`} range={range} change={setSearch} />}
      </header>
      {staff && <MonthlyPanel range={range} version={version} />}
      <section className="panel" aria-label="Invoice filters">
        <h2>Which invoices</h2>
        <div className="filters">
          <label>
            Month
            <input type="month" value={month.slice(0, 7)} onChange={(change) => /^\d{4}-\d{2}$/.test(change.target.value) && setSearch({ month: `${change.target.value}-01` })} />
          </label>
          {staff && (
            <label>
              Coach
              <select value={coach ?? ""} onChange={(change) => setSearch({ coach: change.target.value || null })}>
                <option value="">Every coach</option>
                {coaches.map((one) => (
                  <option key={one.id} value={one.id}>
                    {one.displayName}
                    {one.isDeleted ? " (deleted)" : ""}
                  </option>
                ))}
              </select>
            </label>
          )}
        </div>
      </section>
      <Panel title={`Invoices for ${monthName(month)}`} state={invoices} isEmpty={(data) => !data.invoicePreview?.nodes.length} empty="No invoices for this month.">
        {(data) => (
          <>
            {data.invoicePreview!.totalCount > data.invoicePreview!.nodes.length && (
              <p className="state" role="status">
                Showing the first {count(String(data.invoicePreview!.nodes.length))} of {count(String(data.invoicePreview!.totalCount))} invoices; pick a coach to see any other.
              </p>
            )}
            <InvoiceTable rows={data.invoicePreview!.nodes.filter((row) => row !== null)} coaches={coaches} staff={staff} />
          </>
        )}
      </Panel>
      <ExplainForm event={event} setEvent={(id) => setSearch({ event: id })} />
      {event && /^\d+$/.test(event) && <ExplainCharge key={`${event}/${version}`} id={event} staff={staff} />}
      {admin && <AdminActions month={month} coach={coach} coaches={coaches} invoices={(lastInvoices?.invoicePreview?.nodes ?? []).filter((row) => row !== null)} done={() => setVersion((value) => value + 1)} />}
    </>
  );
}

function MonthlyPanel({ range, version }: { range: ReturnType<typeof rangeFromSearch>; version: number }) {
  const months = monthsOf(range);
  const state = useQuery(MonthlyRevenue, { from: months.from, to: months.to }, { version });
  return (
    <Panel title="Revenue and margin by month" state={state} isEmpty={(data) => !data.monthlyRevenue?.nodes.length}>
      {(data) => {
        const currency = data.billingPlans?.nodes[0]?.currency ?? null;
        const closed = new Map<string, string>((data.billingMonths?.nodes ?? []).filter((one) => one !== null).map((one) => [one.month, one.closedAt]));
        const columns: Column<MonthRow>[] = [
          { id: "month", label: "Month", raw: (row) => row.month, show: (row) => monthName(row.month) },
          { id: "plan-fees", label: "Plan fees", csvLabel: "Plan fees (minor units)", raw: (row) => row.planFeeMinor, show: (row) => money(row.planFeeMinor, currency), numeric: true },
          {
            id: "usage",
            label: "Usage", csvLabel: "Usage (minor units)",
            raw: (row) => row.usageRevenueMinor,
            show: (row) => (
              <Link to="/usage-events" search={{ month: row.month, coach: null, provider: null, model: null, after: null, event: null }}>
                {money(row.usageRevenueMinor, currency)}
                <span className="visually-hidden"> (the usage events billed in {monthName(row.month)})</span>
              </Link>
            ),
            numeric: true,
          },
          { id: "total", label: "Revenue", csvLabel: "Revenue (minor units)", raw: (row) => row.totalMinor, show: (row) => money(row.totalMinor, currency), numeric: true },
          { id: "provider-cost", label: "Provider cost", csvLabel: "Provider cost (minor units)", raw: (row) => row.providerCostMinor, show: (row) => money(row.providerCostMinor, currency), numeric: true },
          { id: "gross-margin", label: "Gross margin", csvLabel: "Gross margin (minor units)", raw: (row) => row.grossMarginMinor, show: (row) => money(row.grossMarginMinor, currency), numeric: true },
          { id: "paying-coaches", label: "Paying coaches", raw: (row) => row.payingCoaches, show: (row) => count(row.payingCoaches), numeric: true },
          { id: "closed", label: "Closed", raw: (row) => closed.get(row.month ?? "") ?? null, show: (row) => (closed.get(row.month ?? "") ? instant(closed.get(row.month ?? "")) : "open") },
        ];
        return <DataTable label="Revenue and margin by month" columns={columns} rows={data.monthlyRevenue!.nodes.filter((row) => row !== null)} filename="monthly-revenue" rowKey={(row) => row.month!} />;
      }}
    </Panel>
  );
}

function InvoiceTable({ rows, coaches, staff }: { rows: InvoiceRow[]; coaches: CoachOption[]; staff: boolean }) {
  const name = (id: string) => coaches.find((one) => one.id === id)?.displayName ?? id;
  const events = (row: InvoiceRow, shown: ReactNode, what: string) => (
    <Link to="/usage-events" search={{ month: row.month, coach: row.coachProfileId, provider: null, model: null, after: null, event: null }}>
      {shown}
      <span className="visually-hidden"> ({what} of {name(row.coachProfileId)} billed in {monthName(row.month)})</span>
    </Link>
  );
  const columns: Column<InvoiceRow>[] = [
    {
      id: "coach",
      label: "Coach",
      raw: (row) => name(row.coachProfileId),
      show: (row) => (staff ? <Link to="/coach" search={{ coach: row.coachProfileId, month: null, event: null }}>{name(row.coachProfileId)}</Link> : name(row.coachProfileId)),
    },
    { id: "coach-profile-id", label: "Coach profile id", raw: (row) => row.coachProfileId },
    { id: "plan", label: "Plan", raw: (row) => row.planName },
    { id: "plan-fee", label: "Plan fee", csvLabel: "Plan fee (minor units)", raw: (row) => row.planFeeMinor, show: (row) => money(row.planFeeMinor, row.currency), numeric: true },
    { id: "usage", label: "Usage", csvLabel: "Usage (minor units)", raw: (row) => row.usageMinor, show: (row) => events(row, money(row.usageMinor, row.currency), "the usage events"), numeric: true },
    { id: "credits", label: "Credits and voids", csvLabel: "Credits and voids (minor units)", raw: (row) => row.creditsMinor, show: (row) => events(row, money(row.creditsMinor, row.currency), "the credits and voids among the events"), numeric: true },
    { id: "total", label: "Total", csvLabel: "Total (minor units)", raw: (row) => row.totalMinor, show: (row) => <strong>{money(row.totalMinor, row.currency)}</strong>, numeric: true },
    { id: "late-events", label: "Late events", raw: (row) => String(row.lateEvents), numeric: true },
    { id: "closed-at", label: "Closed", raw: (row) => row.closedAt, show: (row) => (row.closedAt ? instant(row.closedAt) : "open: as it stands") },
  ];
  return <DataTable label="Invoices" columns={columns} rows={rows} filename="invoices" rowKey={(row) => row.coachProfileId} />;
}

function ExplainForm({ event, setEvent }: { event: string | null; setEvent: (id: string | null) => void }) {
  const [id, setId] = useState(event ?? "");
  return (
    <section className="panel" aria-label="Explain a charge">
      <h2>Explain a charge</h2>
      <form
        className="form"
        onSubmit={(submit) => {
          submit.preventDefault();
          setEvent(/^\d+$/.test(id.trim()) ? id.trim() : null);
        }}
      >
        <label>
          Usage event number
          <input inputMode="numeric" pattern="\d+" value={id} onChange={(change) => setId(change.target.value)} required />
        </label>
        <button type="submit">Explain</button>
      </form>
    </section>
  );
}

/** Minor units from what a person types in major units (12.5 is 1250); null when it is not an amount. */
function minorUnits(text: string): string | null {
  const normal = text.trim().replace(",", ".");
  if (!/^\d+(\.\d{1,2})?$/.test(normal)) return null;
  const [whole, fraction = ""] = normal.split(".");
  return String(Number(whole) * 100 + Number(fraction.padEnd(2, "0")));
}

function AdminActions({ month, coach, coaches, invoices, done }: { month: string; coach: string | null; coaches: CoachOption[]; invoices: InvoiceRow[]; done: () => void }) {
  const { session } = useSession();
  const token = session?.token ?? null;
  const [creditCoach, setCreditCoach] = useState(coach ?? "");
  const [amount, setAmount] = useState("");
  const [creditReason, setCreditReason] = useState("");
  const [override, setOverride] = useState("");
  const [voidId, setVoidId] = useState("");
  const [voidReason, setVoidReason] = useState("");
  const currency = invoices[0]?.currency ?? "EUR";
  const closed = invoices.some((row) => row.closedAt);
  const name = (id: string) => coaches.find((one) => one.id === id)?.displayName ?? id;
  return (
    <section className="panel" aria-label="Admin actions">
      <h2>Admin actions</h2>
      <div className="actions">
        <ConfirmedAction
          id="close-month"
          title={`Close ${monthName(month)}`}
          confirmLabel={`Close ${monthName(month)}`}
          effect={() => (
            <p>
              {closed
                ? `${monthName(month)} looks closed already; the API will say so.`
                : `The ${invoices.length} ${coach ? "shown " : ""}invoice${invoices.length === 1 ? "" : "s"} of ${monthName(month)} ${coach ? "(and every other coach's) " : ""}will be frozen as they stand now, and never change again. Usage of ${monthName(month)} recorded later is billed in the next open month, as late events. This cannot be undone.`}
            </p>
          )}
          run={async () => {
            const { closeMonth } = await request(CloseMonth, { month }, token);
            done();
            return `Closed ${monthName(month)}: ${closeMonth?.result ?? 0} invoices frozen.`;
          }}
        >
          <p>Closes the month chosen above ({monthName(month)}).</p>
        </ConfirmedAction>
        <ConfirmedAction
          id="credit"
          title="Issue a credit"
          confirmLabel="Issue the credit"
          effect={() => {
            const minor = minorUnits(amount);
            return (
              <p>
                {creditCoach ? name(creditCoach) : "No coach chosen"} will be credited {minor ? money(minor, currency) : `“${amount}” (not an amount; the API will refuse it)`}: a new, negative usage event in the current
                open month, which lowers their invoice for that month by as much. Reason: “{creditReason}”{override ? `; override: “${override}”` : ""}.
              </p>
            );
          }}
          run={async () => {
            const { issueUsageCredit } = await request(
              IssueCredit,
              { coach: creditCoach, amount: minorUnits(amount) ?? "0", reason: creditReason, override: override.trim() ? override : null },
              token,
            );
            done();
            const event = issueUsageCredit?.result;
            return `Credit issued: usage event ${event?.rowId} of ${money(event?.amountMinor, currency)}, billed in ${monthName(event?.billingMonth)}.`;
          }}
        >
          <label>
            Coach
            <select value={creditCoach} onChange={(change) => setCreditCoach(change.target.value)} required>
              <option value="">Choose…</option>
              {coaches.map((one) => (
                <option key={one.id} value={one.id}>
                  {one.displayName}
                </option>
              ))}
            </select>
          </label>
          <label>
            Amount ({currency})
            <input inputMode="decimal" value={amount} onChange={(change) => setAmount(change.target.value)} required />
          </label>
          <label>
            Reason
            <input value={creditReason} onChange={(change) => setCreditReason(change.target.value)} required />
          </label>
          <label>
            Override reason (optional)
            <input value={override} onChange={(change) => setOverride(change.target.value)} />
          </label>
        </ConfirmedAction>
        <ConfirmedAction
          id="void"
          title="Void a usage event"
          confirmLabel="Void the event"
          effect={() => (
            <p>
              Usage event {voidId} will be voided: a new event of the opposite amount is billed in the current open month, cancelling its charge. An event can be
              voided once. Reason: “{voidReason}”.
            </p>
          )}
          run={async () => {
            const { voidUsageEvent } = await request(VoidEvent, { id: voidId.trim(), reason: voidReason }, token);
            done();
            const event = voidUsageEvent?.result;
            return `Voided usage event ${event?.correctsEventId}: event ${event?.rowId} of ${money(event?.amountMinor, currency)}, billed in ${monthName(event?.billingMonth)}.`;
          }}
        >
          <label>
            Usage event number
            <input inputMode="numeric" pattern="\d+" value={voidId} onChange={(change) => setVoidId(change.target.value)} required />
          </label>
          <label>
            Reason
            <input value={voidReason} onChange={(change) => setVoidReason(change.target.value)} required />
          </label>
        </ConfirmedAction>
      </div>
    </section>
  );
}
