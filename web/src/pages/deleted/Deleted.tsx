import { useEffect, useRef, useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { instant } from "../../shared/format.ts";
import { navigate, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { useQuery, useRequest } from "../../shared/use-query.ts";
import { DeletedItems, RestoreClient, RestoreCoachingSession, RestoreCoachProfile, RestoreTranscription } from "./operations.ts";

type Item = NonNullable<NonNullable<ResultOf<typeof DeletedItems>["deletedItems"]>["nodes"][number]>;

/** The soft-delete tables, as deleted_items names them, and what one row is called. */
const TABLES = {
  coach_profiles: { one: "coach profile", many: "coach profiles" },
  clients: { one: "client", many: "clients" },
  coaching_sessions: { one: "coaching session", many: "coaching sessions" },
  transcriptions: { one: "transcription", many: "transcriptions" },
} as const;
type Table = keyof typeof TABLES;
const isTable = (value: string | null): value is Table => value !== null && value in TABLES;
const noun = (table: string | null, rows = 1) => (isTable(table) ? (rows === 1 ? TABLES[table].one : TABLES[table].many) : (table ?? "row"));

/** Soft-deleted rows by table, with who deleted them, when, in which cascade; restoring a cascade after saying what comes back. */
export function Deleted() {
  const session = useSignedIn();
  const { search, setSearch } = useLocation();
  const table = isTable(search.get("table")) ? (search.get("table") as Table) : null;
  const [version, setVersion] = useState(0);
  const [restoring, setRestoring] = useState<Item | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const items = useQuery(DeletedItems, { tableName: table, deletionBatchId: null }, { version });
  return (
    <>
      <header className="page-header">
        <h1>Deleted items</h1>
        <label>
          Table{" "}
          <select value={table ?? ""} onChange={(event) => setSearch({ table: event.target.value || null })}>
            <option value="">All tables</option>
            {Object.entries(TABLES).map(([name, words]) => (
              <option key={name} value={name}>
                {words.many[0]!.toUpperCase() + words.many.slice(1)}
              </option>
            ))}
          </select>
        </label>
      </header>
      <p className="explain">
        {session.role === "coach"
          ? "Your own deleted items. Deleting a row deletes what is under it in one cascade; restoring the row the deletion started from brings back exactly that cascade. You can restore within 30 days of the deletion; after that, only an admin can."
          : session.role === "auditor"
            ? "Every coach's deleted items, read-only. Restoring brings back a whole cascade; admins may restore at any time, coaches within 30 days."
            : "Every coach's deleted items. Restoring the row a deletion started from brings back exactly its cascade; as an admin you may restore at any time (coaches within 30 days)."}
      </p>
      {done && (
        <p className="notice" role="status" data-restored>
          {done}
        </p>
      )}
      {restoring && (
        <RestoreConfirm
          item={restoring}
          cancel={() => setRestoring(null)}
          restored={(text) => {
            setRestoring(null);
            setDone(text);
            setVersion((one) => one + 1);
          }}
        />
      )}
      <Panel
        title={table ? `Deleted ${TABLES[table].many}` : "Deleted items"}
        state={items}
        isEmpty={(data) => !data.deletedItems?.nodes.length}
        empty={table ? `No deleted ${TABLES[table].many}.` : "Nothing is deleted."}
      >
        {(data) => (
          <table className="deleted" data-total={data.deletedItems!.totalCount}>
            <thead>
              <tr>
                <th scope="col">What</th>
                <th scope="col">Coach</th>
                <th scope="col">Deleted</th>
                <th scope="col">By</th>
                <th scope="col">Cascade</th>
                <th scope="col">Restore</th>
              </tr>
            </thead>
            <tbody>
              {data.deletedItems!.nodes
                .filter((one): one is Item => one !== null)
                .map((item) => (
                  <tr key={`${item.tableName}/${item.rowId}`} data-row={item.rowId} data-batch={item.deletionBatchId}>
                    <td>
                      <span className="kind">{noun(item.tableName)}</span> {item.label}{" "}
                      <button
                        type="button"
                        className="link"
                        onClick={() => navigate("/audit", new URLSearchParams({ table: item.tableName ?? "", record: item.rowId ?? "" }))}
                      >
                        history
                      </button>
                    </td>
                    <td>{item.coachName}</td>
                    <td>{instant(item.deletedAt)}</td>
                    <td>{item.deletedByName ?? "a writer outside the API"}</td>
                    <td>
                      <span title={item.deletionBatchId ?? ""}>{item.deletionBatchId?.slice(0, 8)}</span>{" "}
                      {item.startsCascade
                        ? `started it (${item.cascadeRows} ${item.cascadeRows === 1 ? "row" : "rows"})`
                        : "deleted with its parent"}
                    </td>
                    <td>
                      <RestoreCell item={item} role={session.role} restore={() => { setDone(null); setRestoring(item); }} />
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        )}
      </Panel>
    </>
  );
}

/** Whether and until when the row may be restored, in words, and the button when the caller may. */
function RestoreCell({ item, role, restore }: { item: Item; role: string; restore: () => void }) {
  if (!item.startsCascade) return <span className="muted">comes back with the row its deletion started from</span>;
  if (item.mayRestore) {
    return (
      <>
        <button type="button" data-action="restore" onClick={restore}>
          Restore…
        </button>
        {item.restorableUntil && <span className="window"> until {instant(item.restorableUntil)}</span>}
      </>
    );
  }
  if (role === "auditor") return <span className="muted">read-only</span>;
  return (
    <span className="window closed" data-window="closed">
      Your 30 days to restore ended {instant(item.restorableUntil)}; ask an admin to restore it.
    </span>
  );
}

/** What a restore brings back (the cascade, from deleted_items), said before it is confirmed. */
function RestoreConfirm({ item, cancel, restored }: { item: Item; cancel: () => void; restored: (text: string) => void }) {
  const cascade = useQuery(DeletedItems, { tableName: null, deletionBatchId: item.deletionBatchId });
  const send = useRequest();
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Keyboard users land on the question; Escape cancels.
  const dialog = useRef<HTMLElement>(null);
  useEffect(() => dialog.current?.focus(), [item]);
  async function confirm(rows: number) {
    setBusy(true);
    setProblem(null);
    try {
      const rowId = item.rowId!;
      switch (item.tableName as Table) {
        case "coach_profiles":
          await send(RestoreCoachProfile, { rowId });
          break;
        case "clients":
          await send(RestoreClient, { rowId });
          break;
        case "coaching_sessions":
          await send(RestoreCoachingSession, { rowId });
          break;
        case "transcriptions":
          await send(RestoreTranscription, { rowId });
          break;
      }
      restored(`Restored the ${noun(item.tableName)} ${item.label} and its cascade: ${rows} ${rows === 1 ? "row is" : "rows are"} back.`);
    } catch (error) {
      setProblem((error as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section
      className="panel confirm"
      role="dialog"
      aria-label="Confirm restore"
      aria-modal="false"
      tabIndex={-1}
      ref={dialog}
      onKeyDown={(event) => event.key === "Escape" && cancel()}
    >
      <h2>
        Restore the {noun(item.tableName)} {item.label}?
      </h2>
      {cascade.status === "loading" && <p className="state loading" role="status">Reading its cascade…</p>}
      {cascade.status === "error" && <p className="state error" role="alert">Could not read its cascade: {cascade.message}</p>}
      {cascade.status === "done" && (
        <CascadeSummary rows={cascade.data.deletedItems?.nodes.filter((one): one is Item => one !== null) ?? []}>
          {(rows) => (
            <div className="confirm-actions">
              <button type="button" data-action="confirm-restore" disabled={busy} onClick={() => void confirm(rows)}>
                {busy ? "Restoring…" : `Restore ${rows} ${rows === 1 ? "row" : "rows"}`}
              </button>
              <button type="button" onClick={cancel}>
                Cancel
              </button>
            </div>
          )}
        </CascadeSummary>
      )}
      {problem && (
        <p className="state error" role="alert">
          Could not restore: {problem}
        </p>
      )}
    </section>
  );
}

function CascadeSummary({ rows, children }: { rows: Item[]; children: (rows: number) => React.ReactNode }) {
  const byTable = new Map<string, Item[]>();
  for (const row of rows) byTable.set(row.tableName ?? "", [...(byTable.get(row.tableName ?? "") ?? []), row]);
  return (
    <>
      <p data-cascade-rows={rows.length}>
        This brings back {rows.length} {rows.length === 1 ? "row" : "rows"}, deleted together:{" "}
        {[...byTable.entries()].map(([table, of]) => `${of.length} ${noun(table, of.length)}`).join(", ")}.
      </p>
      <ul className="cascade">
        {rows.map((row) => (
          <li key={row.rowId} data-cascade-row={row.rowId}>
            {noun(row.tableName)}: {row.label}
          </li>
        ))}
      </ul>
      {children(rows.length)}
    </>
  );
}
