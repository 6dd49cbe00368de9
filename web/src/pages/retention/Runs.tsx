import type { ResultOf } from "../../graphql.ts";
import { count, instant } from "../../shared/format.ts";
import { Link, useLocation } from "../../shared/router.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { RetentionRunLog } from "./operations.ts";
import { ACTION_WORDS, RUN_STATUS_WORDS } from "./words.ts";

type Data = ResultOf<typeof RetentionRunLog>;
type Run = NonNullable<NonNullable<Data["retentionRuns"]>["nodes"][number]>;
type Result = NonNullable<Run["retentionRunPoliciesByRunId"]["nodes"][number]>;

const runs = (data: Data) => (data.retentionRuns?.nodes ?? []).filter((one) => one !== null);

/** Who or what started a run, in words. */
function starter(run: Run): string {
  if (run.userByStartedBy) return `${run.userByStartedBy.displayName}${run.task ? ` (${run.task})` : ""}`;
  return run.task ?? "—";
}

/**
 * Retention runs (`/admin/retention/runs`, admins and auditors): the run log
 * newest first, and what the run chosen in the URL (`run`, the newest
 * otherwise) did under each policy, with a failed policy's error in words.
 */
export function Runs() {
  const { search } = useLocation();
  const log = useQuery(RetentionRunLog, {});
  const chosen = search.get("run");
  return (
    <>
      <header className="page-header">
        <h1>Retention runs</h1>
      </header>
      <nav className="links" aria-label="Retention pages">
        <Link to="/retention" search={{ run: null }}>Policies and dry run</Link>
        <Link to="/retention/archives" search={{ run: null }}>Archives</Link>
      </nav>
      <Panel title="Runs" state={log} isEmpty={(data) => runs(data).length === 0} empty="No retention run yet: the daily job or custodian retention run starts one.">
        {(data) => <RunTable rows={runs(data)} total={data.retentionRuns?.totalCount ?? 0} chosen={chosen ?? runs(data)[0]?.rowId ?? null} />}
      </Panel>
      <Panel title="Per policy" state={log} isEmpty={(data) => runs(data).length === 0} empty="No run to show.">
        {(data) => {
          const run = runs(data).find((one) => one.rowId === (chosen ?? runs(data)[0]?.rowId));
          if (!run) return <p className="state error" role="alert">There is no run {chosen} in the log.</p>;
          return <ResultTable run={run} />;
        }}
      </Panel>
    </>
  );
}

function RunTable({ rows, total, chosen }: { rows: Run[]; total: number; chosen: string | null }) {
  const columns: Column<Run>[] = [
    {
      id: "run",
      label: "Run",
      raw: (row) => row.rowId,
      show: (row) => (
        <Link to="/retention/runs" search={{ run: row.rowId }} current={row.rowId === chosen}>
          <span className="hash">{row.rowId.slice(0, 8)}…</span>
          <span className="visually-hidden"> (show what it did per policy)</span>
        </Link>
      ),
    },
    { id: "started", label: "Started", raw: (row) => row.startedAt, show: (row) => instant(row.startedAt) },
    { id: "finished", label: "Ended", raw: (row) => row.finishedAt, show: (row) => (row.finishedAt ? instant(row.finishedAt) : "still running") },
    { id: "status", label: "Status", raw: (row) => row.status, show: (row) => <span className={`run-status ${row.status}`}>{RUN_STATUS_WORDS[row.status] ?? row.status}</span> },
    { id: "dry-run", label: "Dry run", raw: (row) => String(row.dryRun), show: (row) => (row.dryRun ? "yes (counted, changed nothing)" : "no") },
    { id: "as-of", label: "As of", raw: (row) => row.asOf, show: (row) => instant(row.asOf) },
    { id: "scope", label: "Policies", raw: (row) => row.policyName, show: (row) => (row.policyName ? <code>{row.policyName}</code> : "all enabled") },
    { id: "started-by", label: "Started by", raw: (row) => row.userByStartedBy?.displayName ?? row.task, show: starter },
    { id: "error", label: "Error", raw: (row) => row.error, show: (row) => row.error ?? "—" },
  ];
  return (
    <>
      <p className="count" data-count="runs">
        {count(String(total))} run{total === 1 ? "" : "s"}{total > rows.length ? `, the newest ${count(String(rows.length))} shown` : ""}
      </p>
      <DataTable label="Retention runs" columns={columns} rows={rows} filename="retention-runs" rowKey={(row) => row.rowId} />
    </>
  );
}

function ResultTable({ run }: { run: Run }) {
  const rows = run.retentionRunPoliciesByRunId.nodes.filter((one) => one !== null);
  const number = (id: string, label: string, value: (row: Result) => string | number) => ({ id, label, raw: (row: Result) => String(value(row)), show: (row: Result) => count(String(value(row))), numeric: true });
  const columns: Column<Result>[] = [
    { id: "policy", label: "Policy", raw: (row) => row.policyName, show: (row) => <code>{row.policyName}</code> },
    { id: "action", label: "Action", raw: (row) => row.action, show: (row) => ACTION_WORDS[row.action] ?? row.action },
    { id: "status", label: "Status", raw: (row) => row.status, show: (row) => <span className={`run-status ${row.status}`}>{RUN_STATUS_WORDS[row.status] ?? row.status}</span> },
    number("archived", "Archived", (row) => row.rowsArchived),
    number("deleted", "Removed", (row) => row.rowsDeleted),
    number("cascade", "Removed with them", (row) => row.cascadeRowsDeleted),
    number("anonymized", "Anonymized", (row) => row.rowsAnonymized),
    number("spared", "Spared by a hold", (row) => row.rowsSparedByHold),
    number("archives", "Archives", (row) => row.archivesWritten),
    number("errors", "Errors", (row) => row.errors),
    { id: "error", label: "Error or note", raw: (row) => row.error ?? row.note, show: (row) => (row.error ? <span className="run-error">{row.error}</span> : (row.note ?? "—")) },
  ];
  return (
    <>
      <p className="hint" data-run={run.rowId}>
        Run <span className="hash">{run.rowId}</span>, {run.dryRun ? "a dry run" : "a real run"} as of {instant(run.asOf)}, started {instant(run.startedAt)} by {starter(run)}: {RUN_STATUS_WORDS[run.status]?.toLowerCase() ?? run.status}.
        {run.dryRun ? " Its figures say what it would have done." : ""}
      </p>
      {rows.length === 0 ? (
        <p className="state empty">This run has no policy results{run.error ? `: ${run.error}` : "."}</p>
      ) : (
        <DataTable label="Retention run per policy" columns={columns} rows={rows} filename={`retention-run-${run.rowId.slice(0, 8)}`} rowKey={(row) => row.policyName} />
      )}
    </>
  );
}
