import { useEffect, useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { count, instant, percent } from "../../shared/format.ts";
import { Link, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { AsOfField } from "../gdpr/Requests.tsx";
import { asOfOf } from "../gdpr/words.ts";
import { ChangePolicy } from "./ChangePolicy.tsx";
import { StartRun } from "./StartRun.tsx";
import { RetentionOverview } from "./operations.ts";
import { ACTION_WORDS, LEGAL_BASIS_WORDS, periodRaw, periodWords } from "./words.ts";

type Data = ResultOf<typeof RetentionOverview>;
export type Policy = NonNullable<NonNullable<Data["retentionPolicies"]>["nodes"][number]>;
type Preview = NonNullable<NonNullable<Data["retentionPreview"]>["nodes"][number]>;
type Compliance = NonNullable<NonNullable<Data["retentionCompliance"]>["nodes"][number]>;

const policies = (data: Data) => (data.retentionPolicies?.nodes ?? []).filter((one) => one !== null);
const previews = (data: Data) => (data.retentionPreview?.nodes ?? []).filter((one) => one !== null);
const compliance = (data: Data) => (data.retentionCompliance?.nodes ?? []).filter((one) => one !== null);

/**
 * Retention (`/admin/retention`, admins and auditors): every policy, its
 * compliance figure and its dry run at `asOf` (now unless the URL pins it),
 * as retentionCompliance and retentionPreview compute them; admins change a
 * policy's period or switch it off, and queue a run. Runs and archives have
 * their own pages.
 */
export function Retention() {
  const session = useSignedIn();
  const { search, setSearch } = useLocation();
  const { asOf, problem } = asOfOf(search);
  const [version, setVersion] = useState(0);
  const overview = useQuery(RetentionOverview, { asOf }, { version });
  const when = asOf ? instant(asOf) : "now";
  // The policies last read: the change form (and its outcome) stays while the page reads them again after a change.
  const [known, setKnown] = useState<Policy[] | null>(null);
  useEffect(() => {
    if (overview.status === "done") setKnown(policies(overview.data));
  }, [overview]);
  return (
    <>
      <header className="page-header">
        <h1>Retention</h1>
        <AsOfField asOf={asOf} apply={(value) => setSearch({ asOf: value })} label="Preview as of (UTC)" />
      </header>
      {problem && <p className="state error" role="alert">“asOf” must be a day (2026-11-01) or a time (2026-11-01T10:00:00Z), not “{search.get("asOf")}”; the preview is as of now.</p>}
      <nav className="links" aria-label="Retention pages">
        <Link to="/retention/runs" search={{ asOf: null }}>Runs</Link>
        <Link to="/retention/archives" search={{ asOf: null }}>Archives</Link>
        <Link to="/gdpr/holds" search={{ asOf: null }}>Legal holds</Link>
      </nav>
      <Panel title="Policies" state={overview} isEmpty={(data) => policies(data).length === 0} empty="No retention policy: nothing is removed on schedule.">
        {(data) => <PolicyTable rows={policies(data)} />}
      </Panel>
      <Panel title="Compliance" state={overview} isEmpty={(data) => compliance(data).length === 0} empty="No policy to measure.">
        {(data) => (
          <>
            <p className="hint">
              As of {when}: the share of rows under each policy that are within their period; rows past it that a legal hold keeps are counted apart (compliance = within ÷ (under − held)).
            </p>
            <Unappliable rows={compliance(data)} />
            <ComplianceTable rows={compliance(data)} />
          </>
        )}
      </Panel>
      <Panel title="Dry run" state={overview} isEmpty={(data) => previews(data).length === 0} empty="No policy to preview.">
        {(data) => (
          <>
            <p className="hint" data-preview-as-of={asOf ?? "now"}>
              What a run as of {when} would act on, policy by policy, in the order a run applies them; nothing is changed.
            </p>
            <PreviewTable rows={previews(data)} />
          </>
        )}
      </Panel>
      {session.role === "admin" && known && <ChangePolicy policies={known} done={() => setVersion((value) => value + 1)} />}
      {session.role === "admin" && known && <StartRun policies={known} />}
    </>
  );
}

function PolicyTable({ rows }: { rows: Policy[] }) {
  const columns: Column<Policy>[] = [
    {
      id: "name",
      label: "Policy",
      raw: (row) => row.name,
      show: (row) => (
        <>
          <strong>{row.category}</strong> <code>{row.name}</code>
          <span className="policy-description">{row.description}</span>
        </>
      ),
    },
    { id: "category", label: "Category", raw: (row) => row.category, displayed: false },
    { id: "description", label: "Description", raw: (row) => row.description, displayed: false },
    { id: "rows-of", label: "Rows of", csvLabel: "Table", raw: (row) => row.targetTable, show: (row) => <><code>{row.targetTable}</code> by <code>{row.clockColumn}</code></> },
    { id: "clock", label: "Clock", raw: (row) => row.clockColumn, displayed: false },
    { id: "period", label: "Period", csvLabel: "Period (ISO 8601)", raw: (row) => periodRaw(row.period), show: (row) => periodWords(row.period) },
    { id: "action", label: "Action", raw: (row) => row.action, show: (row) => ACTION_WORDS[row.action] ?? row.action },
    { id: "basis", label: "Legal basis", raw: (row) => row.legalBasis, show: (row) => LEGAL_BASIS_WORDS[row.legalBasis] ?? row.legalBasis },
    { id: "enabled", label: "Enabled", raw: (row) => String(row.enabled), show: (row) => (row.enabled ? "yes" : "no (previewed, not run)") },
  ];
  return (
    <>
      <p className="count" data-count="policies">{count(String(rows.length))} polic{rows.length === 1 ? "y" : "ies"}</p>
      <DataTable label="Retention policies" columns={columns} rows={rows} filename="retention-policies" rowKey={(row) => row.name} />
    </>
  );
}

/** Policies that cannot be applied as they stand (their table dropped or renamed since): counted by nothing, so said aloud. */
function Unappliable({ rows }: { rows: Compliance[] }) {
  const broken = rows.filter((row) => row.problem);
  if (broken.length === 0) return null;
  return (
    <div className="state error" role="alert" data-unappliable={broken.length}>
      <p>{broken.length === 1 ? "A policy cannot be applied" : `${broken.length} policies cannot be applied`}: no figures, and a run records {broken.length === 1 ? "it" : "them"} as failed.</p>
      <ul>
        {broken.map((row) => (
          <li key={row.policyName}>{row.problem}</li>
        ))}
      </ul>
    </div>
  );
}

function ComplianceTable({ rows }: { rows: Compliance[] }) {
  const columns: Column<Compliance>[] = [
    { id: "policy", label: "Policy", raw: (row) => row.policyName, show: (row) => row.category },
    { id: "under", label: "Rows under policy", raw: (row) => row.rowsUnderPolicy, show: (row) => count(row.rowsUnderPolicy), numeric: true },
    { id: "within", label: "Within period", raw: (row) => row.rowsWithinPeriod, show: (row) => count(row.rowsWithinPeriod), numeric: true },
    { id: "past", label: "Past period", raw: (row) => row.rowsPastPeriod, show: (row) => count(row.rowsPastPeriod), numeric: true },
    { id: "held", label: "Held", raw: (row) => row.rowsHeld, show: (row) => count(row.rowsHeld), numeric: true },
    {
      id: "compliance",
      label: "Compliance",
      csvLabel: "Compliance (%)",
      raw: (row) => row.compliancePercent,
      show: (row) => (row.compliancePercent === null ? "—" : percent(String(Number(row.compliancePercent) / 100))),
      numeric: true,
    },
  ];
  return <DataTable label="Retention compliance" columns={columns} rows={rows} filename="retention-compliance" rowKey={(row) => row.policyName ?? ""} />;
}

function PreviewTable({ rows }: { rows: Preview[] }) {
  const columns: Column<Preview>[] = [
    { id: "policy", label: "Policy", raw: (row) => row.policyName, show: (row) => <>{row.category}{row.enabled ? "" : <span className="muted"> (disabled)</span>}</> },
    { id: "action", label: "Action", raw: (row) => row.action, show: (row) => (row.action ? ACTION_WORDS[row.action] : "—") },
    { id: "cutoff", label: "Rows older than", raw: (row) => row.cutoff, show: (row) => (row.cutoff ? instant(row.cutoff) : "kept forever") },
    { id: "due", label: "Would act on", raw: (row) => row.rowsDue, show: (row) => count(row.rowsDue), numeric: true },
    { id: "oldest", label: "Oldest", raw: (row) => row.oldestDue, show: (row) => instant(row.oldestDue) },
    { id: "newest", label: "Newest", raw: (row) => row.newestDue, show: (row) => instant(row.newestDue) },
    {
      id: "sample",
      label: "Sample of keys",
      raw: (row) => (row.sampleKeys ?? []).join(" "),
      show: (row) =>
        row.sampleKeys?.length ? (
          <ul className="keys">
            {row.sampleKeys.map((key) => (
              <li key={key} className="hash">{key}</li>
            ))}
          </ul>
        ) : (
          "—"
        ),
    },
    {
      id: "spared",
      label: "Spared by a hold",
      raw: (row) => row.rowsSparedByHold,
      numeric: true,
      show: (row) =>
        Number(row.rowsSparedByHold) > 0 ? (
          <Link to="/gdpr/holds" search={{ asOf: null }}>
            {count(row.rowsSparedByHold)}
            <span className="visually-hidden"> rows kept by a legal hold: see the legal holds</span>
          </Link>
        ) : (
          count(row.rowsSparedByHold)
        ),
    },
  ];
  return <DataTable label="Retention dry run" columns={columns} rows={rows} filename="retention-preview" rowKey={(row) => row.policyName ?? ""} />;
}
