import { useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { ExportButtons } from "../../shared/export.tsx";
import { count, instant } from "../../shared/format.ts";
import { useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { useQuery, useRequest } from "../../shared/use-query.ts";
import { AuditChainStatus, AuditEvents, AuditRecord, AuditUndoSql, AuditVerifyChain, UndoAuditEvent } from "./operations.ts";

type AuditEvent = NonNullable<NonNullable<ResultOf<typeof AuditEvents>["auditEvents"]>["nodes"][number]>;
type Values = Record<string, unknown> | null;

const PAGE_SIZE = 50;
const OPERATIONS = ["INSERT", "UPDATE", "DELETE", "TRUNCATE", "SOFT_DELETE", "RESTORE", "HARD_DELETE"] as const;
const ACTOR_KINDS = ["user", "worker", "migration", "system", "unknown"] as const;
type Operation = (typeof OPERATIONS)[number];
type ActorKind = (typeof ACTOR_KINDS)[number];
/** Suggestions only: the filter takes any tracked table, by name or schema.name. */
const TABLES = ["users", "coach_profiles", "clients", "coaching_sessions", "transcriptions", "billing_plans", "provider_rates"];

/**
 * The filters as the URL names them (`table`, `record`, `actor`, `actor_kind`,
 * `operation`, `from`, `to`; `to` exclusive, as everywhere in the API), read
 * into the API's arguments. A day (2026-11-01) is its first instant in UTC.
 */
interface Filters {
  table: string | null;
  record: string | null;
  actor: string | null;
  actorKind: ActorKind | null;
  operation: Operation | null;
  from: string | null;
  to: string | null;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i;

function instantOf(value: string | null, name: string): string | null {
  if (!value) return null;
  const text = DAY.test(value) ? `${value}T00:00:00Z` : value;
  if (Number.isNaN(Date.parse(text))) throw new Error(`"${name}" must be a day (2026-11-01) or a time (2026-11-01T10:00:00Z), not "${value}".`);
  return text;
}

/** A record's key as the API takes it: a JSON object as given, else a bare value (a uuid) for the table's one key column. */
export function recordKeyOf(record: string): unknown {
  if (record.trim().startsWith("{")) {
    try {
      return JSON.parse(record);
    } catch {
      throw new Error(`"record" must be a key value (a uuid) or a JSON object of the key's columns, not "${record}".`);
    }
  }
  return record.trim();
}

function filtersOf(search: URLSearchParams): Filters {
  const pick = <T extends string>(name: string, values: readonly T[], upper: boolean) => {
    const value = search.get(name);
    if (!value) return null;
    const wanted = upper ? value.toUpperCase() : value.toLowerCase();
    return (values as readonly string[]).includes(wanted) ? (wanted as T) : null;
  };
  return {
    table: search.get("table") || null,
    record: search.get("record") || null,
    actor: search.get("actor") || null,
    actorKind: pick("actor_kind", ACTOR_KINDS, false),
    operation: pick("operation", OPERATIONS, true),
    from: search.get("from") || null,
    to: search.get("to") || null,
  };
}

/** The API's arguments for the filters, or the first problem with them in words. */
function argumentsOf(filters: Filters) {
  if (filters.actor && !UUID.test(filters.actor)) throw new Error(`"actor" must be a user's id (a uuid), not "${filters.actor}".`);
  if (filters.record && !filters.table) throw new Error("A record is named within its table: choose the table too.");
  return {
    tableName: filters.table,
    recordKey: filters.record ? recordKeyOf(filters.record) : null,
    actorId: filters.actor,
    actorKind: filters.actorKind,
    operation: filters.operation,
    occurredFrom: instantOf(filters.from, "from"),
    occurredBefore: instantOf(filters.to, "to"),
  };
}

const NO_FILTERS: ReturnType<typeof argumentsOf> = {
  tableName: null,
  recordKey: null,
  actorId: null,
  actorKind: null,
  operation: null,
  occurredFrom: null,
  occurredBefore: null,
};

/** The same filters as the REST export's query string. */
function exportSearch(args: ReturnType<typeof argumentsOf>): URLSearchParams {
  const search = new URLSearchParams();
  const put = (name: string, value: unknown) => {
    if (value !== null && value !== undefined) search.set(name, typeof value === "string" ? value : JSON.stringify(value));
  };
  put("table_name", args.tableName);
  put("record_key", args.recordKey);
  put("actor_id", args.actorId);
  put("actor_kind", args.actorKind);
  put("operation", args.operation);
  put("occurred_from", args.occurredFrom);
  put("occurred_before", args.occurredBefore);
  return search;
}

export function Audit() {
  const session = useSignedIn();
  const staff = session.role !== "coach";
  const { search, setSearch } = useLocation();
  const filters = filtersOf(search);
  const after = search.get("after");
  const [version, setVersion] = useState(0);
  const [undone, setUndone] = useState<string | null>(null);
  let args: ReturnType<typeof argumentsOf> | null = null;
  let problem: string | null = null;
  try {
    args = argumentsOf(filters);
  } catch (error) {
    problem = (error as Error).message;
  }
  const events = useQuery(AuditEvents, { ...(args ?? NO_FILTERS), first: PAGE_SIZE, after }, { version, skip: !args });

  return (
    <>
      <header className="page-header">
        <h1>Audit</h1>
      </header>
      <FilterForm key={search.toString()} filters={filters} apply={(change) => setSearch({ ...change, after: null })} />
      {problem && (
        <p className="state error" role="alert">
          {problem}
        </p>
      )}
      {undone && (
        <p className="notice" role="status" data-undone>
          {undone}
        </p>
      )}
      {args && filters.table && filters.record && <RecordPanel table={filters.table} recordKey={args.recordKey} version={version} />}
      {args && (
        <Panel
          title="Events"
          state={events}
          isEmpty={(data) => !data.auditEvents?.nodes.length}
          empty="No events match these filters."
        >
          {(data) => (
            <>
              <p className="summary" data-shown={data.auditEvents!.nodes.length}>
                {data.auditEvents!.nodes.length} {data.auditEvents!.nodes.length === 1 ? "event" : "events"}
                {after ? " after the previous page" : ""}, oldest first{data.auditEvents!.pageInfo.hasNextPage ? "; more on the next page" : ""}.
              </p>
              <EventTable events={data.auditEvents!.nodes.filter((one): one is AuditEvent => one !== null)} admin={session.role === "admin"} changed={(message) => {
                  setUndone(message);
                  setVersion((one) => one + 1);
                }} />
              <div className="pager">
                {after && (
                  <button type="button" onClick={() => setSearch({ after: null })}>
                    First page
                  </button>
                )}
                {data.auditEvents!.pageInfo.hasNextPage && (
                  <button type="button" onClick={() => setSearch({ after: data.auditEvents!.pageInfo.endCursor ?? null })}>
                    Next page
                  </button>
                )}
              </div>
            </>
          )}
        </Panel>
      )}
      {args && (
        <section className="panel" aria-label="Export">
          <h2>Export these events</h2>
          <ExportButtons label="the events" path="/api/v1/audit" search={exportSearch(args)} />
        </section>
      )}
      {staff && <ChainPanel />}
    </>
  );
}

function FilterForm({ filters, apply }: { filters: Filters; apply: (change: Record<string, string | null>) => void }) {
  const [draft, setDraft] = useState(filters);
  const field = (name: keyof Filters) => ({
    value: draft[name] ?? "",
    onChange: (event: { target: { value: string } }) => setDraft({ ...draft, [name]: event.target.value || null }),
  });
  return (
    <form
      className="panel filters"
      aria-label="Filters"
      onSubmit={(event) => {
        event.preventDefault();
        apply({
          table: draft.table,
          record: draft.record,
          actor: draft.actor,
          actor_kind: draft.actorKind,
          operation: draft.operation,
          from: draft.from,
          to: draft.to,
        });
      }}
    >
      <label>
        Table
        <input list="audit-tables" {...field("table")} placeholder="any" />
        <datalist id="audit-tables">
          {TABLES.map((table) => (
            <option key={table} value={table} />
          ))}
        </datalist>
      </label>
      <label>
        Record
        <input {...field("record")} placeholder="its id" />
      </label>
      <label>
        Actor (user id)
        <input {...field("actor")} placeholder="anyone" />
      </label>
      <label>
        Actor kind
        <select {...field("actorKind")}>
          <option value="">any</option>
          {ACTOR_KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {kind}
            </option>
          ))}
        </select>
      </label>
      <label>
        Operation
        <select {...field("operation")}>
          <option value="">any</option>
          {OPERATIONS.map((operation) => (
            <option key={operation} value={operation}>
              {operation}
            </option>
          ))}
        </select>
      </label>
      <label>
        From (UTC)
        <input {...field("from")} placeholder="2026-11-01" />
      </label>
      <label>
        To, excluded (UTC)
        <input {...field("to")} placeholder="2026-12-01T00:00Z" />
      </label>
      <div className="filter-actions">
        <button type="submit">Apply filters</button>
        <button
          type="button"
          onClick={() => apply({ table: null, record: null, actor: null, actor_kind: null, operation: null, from: null, to: null })}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

/** A stored value as the reader may read it: pii they may not read, and erased pii, said in words. */
function Value({ value, present }: { value: unknown; present: boolean }) {
  if (!present) return <span className="absent">—</span>;
  if (value === null) return <span className="null">null</span>;
  if (typeof value === "object" && !Array.isArray(value)) {
    const marker = value as Record<string, unknown>;
    if ("$redacted" in marker) return <span className="pii redacted" data-pii="redacted">redacted (personal data you may not read)</span>;
    if ("$erased" in marker) return <span className="pii erased" data-pii="erased">erased (the person's key was destroyed)</span>;
    if ("$corrupt" in marker) return <span className="pii corrupt">damaged value</span>;
  }
  return <span className="value">{typeof value === "string" ? value : JSON.stringify(value)}</span>;
}

/** Each column's old and new value; the changed ones marked. */
function Diff({ event }: { event: AuditEvent }) {
  const before = (event.oldValues ?? null) as Values;
  const after = (event.newValues ?? null) as Values;
  const changed = new Set((event.changedColumns ?? []).filter((one): one is string => one !== null));
  const columns = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  if (columns.length === 0) return <p className="state empty">This event records no values.</p>;
  return (
    <table className="diff" aria-label={`Change of event ${event.rowId}`}>
      <thead>
        <tr>
          <th scope="col">Column</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {columns.map((column) => {
          return (
            <tr key={column} data-column={column} className={changed.has(column) ? "changed" : undefined}>
              <th scope="row">
                {column}
                {changed.has(column) && <span className="visually-hidden"> (changed)</span>}
              </th>
              <td className={changed.has(column) ? "old" : undefined} data-side="before">
                <Value value={before?.[column]} present={!!before && column in before} />
              </td>
              <td className={changed.has(column) ? "new" : undefined} data-side="after">
                <Value value={after?.[column]} present={!!after && column in after} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function keyText(recordKey: unknown): string {
  if (recordKey && typeof recordKey === "object") {
    const values = Object.values(recordKey as Record<string, unknown>);
    return values.length === 1 ? String(values[0]) : JSON.stringify(recordKey);
  }
  return String(recordKey);
}

/** The record filter's value for an event: its one key value, or the key object. */
function recordParam(recordKey: unknown): string {
  if (recordKey && typeof recordKey === "object" && Object.keys(recordKey).length === 1) return String(Object.values(recordKey)[0]);
  return JSON.stringify(recordKey);
}

function EventTable({ events, admin, changed }: { events: AuditEvent[]; admin: boolean; changed: (message: string) => void }) {
  const [open, setOpen] = useState<string | null>(null);
  const { setSearch } = useLocation();
  return (
    <table className="events">
      <thead>
        <tr>
          <th scope="col">Event</th>
          <th scope="col">When</th>
          <th scope="col">Table</th>
          <th scope="col">Record</th>
          <th scope="col">Operation</th>
          <th scope="col">Who</th>
          <th scope="col">Change</th>
        </tr>
      </thead>
      {events.map((event) => {
        const id = String(event.rowId);
        const expanded = open === id;
        return (
          <tbody key={id} data-event={id} data-operation={event.operation ?? ""}>
            <tr>
              <td>{id}</td>
              <td>{instant(event.occurredAt)}</td>
              <td>{event.tableName}</td>
              <td>
                <button type="button" className="link" title="This record's timeline" onClick={() => setSearch({ table: event.tableName ?? null, record: recordParam(event.recordKey), after: null })}>
                  {keyText(event.recordKey)}
                </button>
              </td>
              <td>
                <span className={`operation ${String(event.operation).toLowerCase()}`}>{event.operation}</span>
              </td>
              <td>
                <Actor event={event} />
              </td>
              <td>
                <button type="button" aria-expanded={expanded} aria-controls={`event-${id}`} onClick={() => setOpen(expanded ? null : id)}>
                  {expanded ? "Hide" : "Show"} change{event.changedColumns?.length ? ` (${event.changedColumns.join(", ")})` : ""}
                </button>
              </td>
            </tr>
            {expanded && (
              <tr className="detail" id={`event-${id}`}>
                <td colSpan={7}>
                  <Diff event={event} />
                  {event.details != null && <p className="details">Details: {JSON.stringify(event.details)}</p>}
                  {(event.operation === "UPDATE" || event.operation === "DELETE") && <Undo event={event} admin={admin} changed={changed} />}
                </td>
              </tr>
            )}
          </tbody>
        );
      })}
    </table>
  );
}

function Actor({ event }: { event: AuditEvent }) {
  const { setSearch } = useLocation();
  if (!event.actorKind) return <span className="absent">not yours to see</span>;
  return (
    <span className="actor">
      {event.actorKind}
      {event.actorUserId && (
        <>
          {" "}
          <button type="button" className="link" title="Everything this user wrote" onClick={() => setSearch({ actor: event.actorUserId ?? null, after: null })}>
            {event.actorRole ?? "user"} {event.actorUserId.slice(0, 8)}
          </button>
        </>
      )}
      {event.task && ` (${event.task})`}
    </span>
  );
}

/** The SQL that would undo the event, to copy; for admins, the undo itself, through the API. */
function Undo({ event, admin, changed }: { event: AuditEvent; admin: boolean; changed: (message: string) => void }) {
  const variables = { tableName: `${event.tableSchema}.${event.tableName}`, recordKey: event.recordKey, eventId: String(event.rowId) };
  const sql = useQuery(AuditUndoSql, variables);
  const send = useRequest();
  const [confirming, setConfirming] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  return (
    <Panel title="Undo" state={sql}>
      {(data) => {
        const statement = data.auditUndoSql?.statement;
        if (!statement) return <p className="state empty" data-undo-problem>{data.auditUndoSql?.problem ?? "This event cannot be undone from here."}</p>;
        return (
          <>
            <p>The SQL that would undo this {event.operation === "UPDATE" ? "update (only while the record still holds its new values)" : "delete (the row comes back under a new key)"}:</p>
            <pre className="sql" data-undo-sql>{statement};</pre>
            <button
              type="button"
              onClick={() =>
                void navigator.clipboard?.writeText(`${statement};`).then(
                  () => setCopied(true),
                  () => setCopied(false),
                )
              }
            >
              Copy SQL
            </button>
            {copied && <span role="status"> Copied.</span>}
            {admin && !confirming && (
              <button type="button" data-action="undo" onClick={() => setConfirming(true)}>
                Undo this {event.operation === "UPDATE" ? "change" : "delete"}…
              </button>
            )}
            {admin && confirming && (
              <div className="confirm" role="group" aria-label="Confirm undo" onKeyDown={(event) => event.key === "Escape" && setConfirming(false)}>
                <p>This runs the statement above as you, through the API; the undo is recorded in the trail as your write.</p>
                <button
                  type="button"
                  data-action="confirm-undo"
                  autoFocus
                  onClick={async () => {
                    setConfirming(false);
                    try {
                      await send(UndoAuditEvent, variables);
                      // The list reloads with the undo in it; the page says what happened.
                      changed(`Undone: event ${event.rowId}'s old values are back, and the undo is a new event in the trail.`);
                    } catch (error) {
                      setFailure(`Could not undo: ${(error as Error).message}`);
                    }
                  }}
                >
                  Confirm undo
                </button>
                <button type="button" onClick={() => setConfirming(false)}>
                  Cancel
                </button>
              </div>
            )}
            {failure && (
              <p className="state error" role="alert">
                {failure}
              </p>
            )}
          </>
        );
      }}
    </Panel>
  );
}

/** One record: its timeline, and its state at a time (`at` in the URL; now unless given). */
function RecordPanel({ table, recordKey, version }: { table: string; recordKey: unknown; version: number }) {
  const { search, setSearch } = useLocation();
  const [now] = useState(() => new Date().toISOString());
  const at = search.get("at");
  let atInstant = now;
  let problem: string | null = null;
  try {
    atInstant = instantOf(at, "at") ?? now;
  } catch (error) {
    problem = (error as Error).message;
  }
  const [draft, setDraft] = useState(at ?? "");
  const record = useQuery(AuditRecord, { tableName: table, recordKey, at: atInstant }, { version });
  return (
    <Panel title="Record" state={record}>
      {(data) => {
        const state = data.auditRecordAsOf as Values;
        const history = data.auditRecordHistory?.nodes.filter((one): one is AuditEvent => one !== null) ?? [];
        return (
          <div className="record">
            <div>
              <h3>Timeline of {table} {keyText(recordKey)}</h3>
              {history.length === 0 ? (
                <p className="state empty">No events of this record that you may read.</p>
              ) : (
                <ol className="timeline" data-timeline={history.length}>
                  {history.map((event) => (
                    <li key={String(event.rowId)}>
                      <button type="button" className="link" onClick={() => { setDraft(event.occurredAt ?? ""); setSearch({ at: event.occurredAt ?? null }); }}>
                        {instant(event.occurredAt)}
                      </button>{" "}
                      <span className={`operation ${String(event.operation).toLowerCase()}`}>{event.operation}</span>{" "}
                      {event.changedColumns?.length ? event.changedColumns.join(", ") : ""} by {event.actorKind ?? "someone you may not see"}
                      {event.actorRole ? ` (${event.actorRole})` : ""}
                    </li>
                  ))}
                </ol>
              )}
            </div>
            <div>
              <form
                className="as-of"
                onSubmit={(event) => {
                  event.preventDefault();
                  setSearch({ at: draft || null });
                }}
              >
                <label>
                  State as of (UTC)
                  <input value={draft} onChange={(event) => setDraft(event.target.value)} placeholder="now" />
                </label>
                <button type="submit">Show</button>
              </form>
              {problem && <p className="state error" role="alert">{problem}</p>}
              <h3>
                As of {at ? instant(atInstant) : "now"}
              </h3>
              {state === null ? (
                <p className="state empty" data-state="none">The record did not exist then (or you may not read it).</p>
              ) : (
                <table className="state-table" data-state="record">
                  <tbody>
                    {Object.entries(state).map(([column, value]) => (
                      <tr key={column} data-column={column}>
                        <th scope="row">{column}</th>
                        <td>
                          <Value value={value} present />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          </div>
        );
      }}
    </Panel>
  );
}

/** The chain's newest seal, and a verification on demand (admins and auditors: it writes nothing). */
function ChainPanel() {
  const status = useQuery(AuditChainStatus, {});
  const send = useRequest();
  const [verify, setVerify] = useState<
    { status: "idle" | "busy" } | { status: "done"; result: NonNullable<ResultOf<typeof AuditVerifyChain>["auditVerifyChain"]> } | { status: "error"; message: string }
  >({ status: "idle" });
  return (
    <Panel title="Hash chain" state={status}>
      {(data) => {
        const seal = data.auditChainStatus;
        return (
          <>
            {seal?.newestSealId ? (
              <dl className="facts" data-newest-seal={seal.newestSealId}>
                <dt>Newest seal</dt>
                <dd>
                  #{seal.newestSealId}, {instant(seal.sealedAt)}
                </dd>
                <dt>Sealed up to event</dt>
                <dd>{seal.lastSealedEventId}</dd>
                <dt>Head hash</dt>
                <dd className="hash">{seal.headHash}</dd>
                <dt>Waiting for a seal</dt>
                <dd>{count(seal.eventsUnsealed)} events</dd>
              </dl>
            ) : (
              <p className="state empty">Nothing is sealed yet: {count(seal?.eventsUnsealed)} events wait for the first seal (the worker seals them).</p>
            )}
            <button
              type="button"
              disabled={verify.status === "busy"}
              onClick={async () => {
                setVerify({ status: "busy" });
                try {
                  const { auditVerifyChain } = await send(AuditVerifyChain, {});
                  setVerify(auditVerifyChain ? { status: "done", result: auditVerifyChain } : { status: "error", message: "no answer" });
                } catch (error) {
                  setVerify({ status: "error", message: (error as Error).message });
                }
              }}
            >
              {verify.status === "busy" ? "Verifying…" : "Verify the chain"}
            </button>
            {verify.status === "done" &&
              (verify.result.intact ? (
                <p className="notice" role="status" data-verified="intact">
                  Intact: {count(verify.result.eventsVerified)} events in {count(verify.result.sealsVerified)} seals verified; {count(verify.result.eventsUnsealed)} newer events are not sealed yet.
                  {verify.result.headHash && ` Head hash ${verify.result.headHash}: compare it with a copy kept outside the database.`}
                </p>
              ) : (
                <p className="state error" role="alert" data-verified="broken">
                  Broken at event {verify.result.firstBadEventId}: {verify.result.problem}.
                </p>
              ))}
            {verify.status === "error" && (
              <p className="state error" role="alert">
                Could not verify the chain: {verify.message}
              </p>
            )}
          </>
        );
      }}
    </Panel>
  );
}
