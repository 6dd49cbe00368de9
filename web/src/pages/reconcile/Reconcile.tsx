import { RangePicker, rangeFromSearch } from "../../shared/range.tsx";
import { useLocation } from "../../shared/router.tsx";
import { Panel } from "../../shared/states.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { UsageReconcile } from "./operations.ts";

/** Whether rollups, usage events and attempts agree over the range; for admins and auditors. */
export function Reconcile() {
  const { search, setSearch } = useLocation();
  const range = rangeFromSearch(search);
  const differences = useQuery(UsageReconcile, { from: range.from, to: range.to });
  return (
    <>
      <header className="page-header">
        <h1>Reconcile</h1>
        <RangePicker key={`${range.from}/${range.to}`} range={range} change={setSearch} />
      </header>
      <Panel
        title="Differences"
        state={differences}
        isEmpty={(data) => !data.usageReconcile?.totalCount}
        empty="Rollups, usage events and attempts agree over this range."
      >
        {(data) => (
          <>
            <p data-differences={data.usageReconcile!.totalCount}>
              {data.usageReconcile!.totalCount} differences{data.usageReconcile!.totalCount > 200 ? " (the first 200 shown)" : ""}.
            </p>
            <table>
              <thead>
                <tr>
                  <th scope="col">Check</th>
                  <th scope="col">Day</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Expected</th>
                  <th scope="col">Actual</th>
                </tr>
              </thead>
              <tbody>
                {data.usageReconcile!.nodes.map((row, index) => (
                  <tr key={index}>
                    <td>{row?.checkName}</td>
                    <td>{row?.day}</td>
                    <td>{row?.subject}</td>
                    <td>{row?.expected}</td>
                    <td>{row?.actual}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Panel>
    </>
  );
}
