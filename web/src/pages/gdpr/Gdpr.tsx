import type { ResultOf } from "../../graphql.ts";
import { instant, percent } from "../../shared/format.ts";
import { Link, useLocation } from "../../shared/router.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { Readiness } from "./operations.ts";
import { AsOfField } from "./Requests.tsx";
import { asOfOf } from "./words.ts";

type Part = NonNullable<NonNullable<ResultOf<typeof Readiness>["gdprReadinessParts"]>["nodes"][number]>;

function status(part: Part): string {
  if (!part.scored) return "for information";
  return part.ok ? "ready" : "not ready";
}

/**
 * The GDPR overview (`/admin/gdpr`, admins and auditors): the readiness
 * report as gdprReadiness and gdprReadinessParts give it at `asOf` (now
 * unless the URL pins it), and the way to the requests and holds.
 */
export function Gdpr() {
  const { search, setSearch } = useLocation();
  const { asOf, problem } = asOfOf(search);
  const readiness = useQuery(Readiness, { asOf });
  const columns: Column<Part>[] = [
    { id: "part", label: "Part", raw: (row) => row.part, show: (row) => row.label },
    { id: "value", label: "Value", raw: (row) => row.value, show: (row) => (row.value === null ? "—" : `${row.value} ${Number(row.value) === 1 ? row.unit?.replace(/s$/, "") : row.unit}`), numeric: true },
    { id: "target", label: "Target", raw: (row) => row.target },
    { id: "status", label: "Status", raw: (row) => status(row), show: (row) => <span className={`readiness ${status(row).replace(/ /g, "-")}`}>{status(row)}</span> },
  ];
  return (
    <>
      <header className="page-header">
        <h1>GDPR</h1>
        <AsOfField asOf={asOf} apply={(value) => setSearch({ asOf: value })} />
      </header>
      {problem && <p className="state error" role="alert">{problem}</p>}
      <Panel title="Audit readiness" state={readiness}>
        {(data) => {
          const summary = data.gdprReadiness!;
          return (
            <>
              <p className="readiness-figure" data-readiness={summary.readinessPercent}>
                <strong>{percent(String(Number(summary.readinessPercent) / 100))}</strong> ready as of {asOf ? instant(asOf) : "now"}: {summary.partsReady} of {summary.partsScored} scored parts meet their target.
              </p>
              <DataTable label="Readiness parts" columns={columns} rows={(data.gdprReadinessParts?.nodes ?? []).filter((row) => row !== null)} filename="gdpr-readiness" rowKey={(row) => row.part ?? String(row.ordinal)} />
              <p className="hint">How each part is measured and the percentage computed: README, GDPR, “Readiness report”.</p>
            </>
          );
        }}
      </Panel>
      <section className="panel" aria-label="GDPR pages">
        <h2>Requests and holds</h2>
        <ul>
          <li>
            <Link to="/gdpr/requests" search={{}}>Data-subject requests</Link>: overdue, due within 7 days and open, with their deadlines.
          </li>
          <li>
            <Link to="/gdpr/holds" search={{ asOf: null }}>Legal holds</Link>: active and released.
          </li>
        </ul>
      </section>
    </>
  );
}
