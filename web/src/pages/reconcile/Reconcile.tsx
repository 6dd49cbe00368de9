import { useEffect, useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { count, instant } from "../../shared/format.ts";
import { RangePicker, rangeFromSearch } from "../../shared/range.tsx";
import { useLocation } from "../../shared/router.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery, useRequest } from "../../shared/use-query.ts";
import { LatestReconcileCheck, ReconcileCheckState, RequestReconcileCheck } from "./operations.ts";

type Check = NonNullable<ResultOf<typeof LatestReconcileCheck>["latestUsageReconcileCheck"]>;
type Difference = NonNullable<Check["differences"]["nodes"][number]>;

const differenceColumns: Column<Difference>[] = [
  { id: "check", label: "Check", raw: (row) => row.checkName },
  { id: "day", label: "Day", raw: (row) => row.day },
  { id: "subject", label: "Subject", raw: (row) => row.subject },
  { id: "expected", label: "Expected", raw: (row) => row.expected },
  { id: "actual", label: "Actual", raw: (row) => row.actual },
];

/**
 * Whether rollups, usage events and attempts agree over the range: the last
 * check of it (when it ran, what it found) and a new one on demand, run by
 * the worker; for admins and auditors (a check changes no figure).
 */
export function Reconcile() {
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const [version, setVersion] = useState(0);
  const [failure, setFailure] = useState<string | null>(null);
  const latest = useQuery(LatestReconcileCheck, { from: range.from, to: range.to }, { version });
  const ask = useRequest();
  const check = latest.status === "done" ? latest.data.latestUsageReconcileCheck : null;
  const waitingFor = check && !check.finishedAt ? check.rowId : null;
  // While the worker runs it, whether it finished is read every two seconds; the page reads it again once it has.
  useEffect(() => {
    if (!waitingFor) return;
    const timer = setInterval(() => {
      ask(ReconcileCheckState, { id: waitingFor }).then(
        (data) => data.usageReconcileCheck?.finishedAt && setVersion((now) => now + 1),
        () => undefined,
      );
    }, 2000);
    return () => clearInterval(timer);
  }, [waitingFor, ask]);
  const requestCheck = async () => {
    setFailure(null);
    try {
      await ask(RequestReconcileCheck, { from: range.from, to: range.to });
      setVersion((now) => now + 1);
    } catch (error) {
      setFailure(`The check could not be asked for: ${(error as Error).message}`);
    }
  };
  return (
    <>
      <header className="page-header">
        <h1>Reconcile</h1>
        <RangePicker key={`${range.from}/${range.to}`} range={range} change={setSearch} />
      </header>
      <Panel
        title="Differences"
        state={latest}
        isEmpty={(data) => !data.latestUsageReconcileCheck}
        empty="This range has not been checked yet."
      >
        {(data) => <CheckResult check={data.latestUsageReconcileCheck!} />}
      </Panel>
      {latest.status === "done" && (
        <div className="links">
          <button type="button" onClick={requestCheck} disabled={waitingFor !== null}>
            {check ? "Check this range again" : "Check this range"}
          </button>
          {failure && <p className="state error" role="alert">{failure}</p>}
        </div>
      )}
    </>
  );
}

function CheckResult({ check }: { check: Check }) {
  const asked = `asked for ${instant(check.requestedAt)} by ${check.userByRequestedBy?.displayName ?? "an operator"}`;
  if (!check.finishedAt) {
    return (
      <p className="state loading" role="status" data-check-state="waiting">
        Checking ({asked}): the worker runs it, and this page shows what it finds.
      </p>
    );
  }
  if (check.error) {
    return (
      <p className="state error" role="alert" data-check-state="failed">
        The check {asked} could not be done: {check.error}
      </p>
    );
  }
  const found = Number(check.differenceCount ?? 0);
  return (
    <>
      <p data-check-state="finished" data-differences={found}>
        Checked {instant(check.finishedAt)} in {check.seconds} s ({asked}):{" "}
        {found === 0 ? "rollups, usage events and attempts agree over this range." : `${count(String(found))} differences${found > 200 ? " (the first 200 shown)" : ""}.`}
      </p>
      {found > 0 && (
        <DataTable label="Differences" columns={differenceColumns} rows={check.differences.nodes.filter((row) => row !== null)} filename="reconcile-differences" rowKey={(_row, index) => String(index)} />
      )}
    </>
  );
}
