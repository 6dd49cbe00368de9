import { useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { count, deadline, instant } from "../../shared/format.ts";
import { Link, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { CreateRequest, RequestQueue, Subjects } from "./operations.ts";
import { asOfOf, KIND_WORDS, KINDS, STATE_WORDS, STATES, subjectName, type Kind, type State } from "./words.ts";

type QueueRow = NonNullable<NonNullable<ResultOf<typeof RequestQueue>["openDataSubjectRequests"]>["nodes"][number]>;

const LISTS = [
  { key: "overdueDataSubjectRequests", id: "overdue", title: "Overdue requests", empty: "No open request is overdue." },
  { key: "dueSoonDataSubjectRequests", id: "due-soon", title: "Due within 7 days", empty: "No open request is due within 7 days." },
  { key: "openDataSubjectRequests", id: "open", title: "Open requests", empty: "No open requests." },
] as const;

/**
 * The request queue (`/admin/gdpr/requests`): overdue, due-soon and open
 * requests as the request lists give them, deadlines judged at `asOf` (now
 * unless the URL pins it), filtered by `kind` and `state`; admins and coaches
 * file requests (a coach for their own clients). Each leads to its detail.
 */
export function Requests() {
  const session = useSignedIn();
  const { search, setSearch } = useLocation();
  const kind = KINDS.find((one) => one === search.get("kind")) ?? null;
  const state = STATES.find((one) => one === search.get("state")) ?? null;
  const { asOf, problem } = asOfOf(search);
  const [version, setVersion] = useState(0);
  // No filter is an absent one (undefined is not sent): the filter plugin refuses null and {}.
  const filter = kind || state ? { ...(kind ? { kind: { equalTo: kind } } : {}), ...(state ? { state: { equalTo: state } } : {}) } : undefined;
  const queue = useQuery(RequestQueue, { asOf, filter }, { version });
  const judgedAt = asOf ? new Date(asOf) : new Date();
  return (
    <>
      <header className="page-header">
        <h1>Data-subject requests</h1>
      </header>
      <section className="panel" aria-label="Request filters">
        <h2>Which requests</h2>
        <div className="filters">
          <label>
            Kind
            <select value={kind ?? ""} onChange={(change) => setSearch({ kind: change.target.value || null })}>
              <option value="">Every kind</option>
              {KINDS.map((one) => (
                <option key={one} value={one}>
                  {KIND_WORDS[one]}
                </option>
              ))}
            </select>
          </label>
          <label>
            State
            <select value={state ?? ""} onChange={(change) => setSearch({ state: change.target.value || null })}>
              <option value="">Every open state</option>
              {STATES.slice(0, 3).map((one) => (
                <option key={one} value={one}>
                  {STATE_WORDS[one]}
                </option>
              ))}
            </select>
          </label>
          <AsOfField asOf={asOf} apply={(value) => setSearch({ asOf: value })} />
        </div>
        {problem && <p className="state error" role="alert">{problem}</p>}
        <p className="hint">Deadlines are judged at {asOf ? instant(asOf) : "now"}.</p>
      </section>
      {LISTS.map((list) => (
        <Panel key={list.id} title={list.title} state={queue} isEmpty={(data) => !data[list.key]?.nodes.length} empty={list.empty}>
          {(data) => (
            <>
              <p className="count" data-count={list.id}>
                {count(String(data[list.key]!.totalCount))} request{data[list.key]!.totalCount === 1 ? "" : "s"}
              </p>
              <RequestTable id={list.id} label={list.title} rows={data[list.key]!.nodes.filter((row) => row !== null)} asOf={judgedAt} />
            </>
          )}
        </Panel>
      ))}
      {session.role !== "auditor" && <FileRequest staff={session.role === "admin"} done={() => setVersion((value) => value + 1)} />}
    </>
  );
}

/** The instant deadlines are judged at, kept in the URL; empty is now. */
export function AsOfField({ asOf, apply, label = "Judge deadlines at (UTC)" }: { asOf: string | null; apply: (value: string | null) => void; label?: string }) {
  const [draft, setDraft] = useState(asOf ?? "");
  return (
    <form
      className="as-of"
      onSubmit={(submit) => {
        submit.preventDefault();
        apply(draft.trim() || null);
      }}
    >
      <label>
        {label}
        <input value={draft} onChange={(change) => setDraft(change.target.value)} placeholder="now" />
      </label>
      <button type="submit">Apply</button>
    </form>
  );
}

function RequestTable({ id, label, rows, asOf }: { id: string; label: string; rows: QueueRow[]; asOf: Date }) {
  const columns: Column<QueueRow>[] = [
    {
      id: "request",
      label: "Request",
      raw: (row) => row.rowId,
      show: (row) => (
        <Link to="/gdpr/request" search={{ id: row.rowId, kind: null, state: null }}>
          <span className="hash">{row.rowId.slice(0, 8)}…</span>
          <span className="visually-hidden"> (the {row.kind} request about {subjectName(row)})</span>
        </Link>
      ),
    },
    { id: "kind", label: "Kind", raw: (row) => row.kind, show: (row) => KIND_WORDS[row.kind as Kind] },
    { id: "subject", label: "Subject", raw: (row) => row.clientId ?? row.userId, show: (row) => subjectName(row) },
    { id: "state", label: "State", raw: (row) => row.state, show: (row) => STATE_WORDS[row.state as State] },
    { id: "received", label: "Received", raw: (row) => row.receivedAt, show: (row) => instant(row.receivedAt) },
    { id: "due", label: "Due", raw: (row) => row.dueAt, show: (row) => `${instant(row.dueAt)}${row.extensionMonths ? ` (extended ${row.extensionMonths} month${row.extensionMonths === 1 ? "" : "s"})` : ""}` },
    {
      id: "deadline",
      label: "Deadline",
      raw: (row) => String(deadline(row.dueAt, asOf).days),
      show: (row) => {
        const words = deadline(row.dueAt, asOf);
        return <span className={words.overdue ? "overdue" : undefined}>{words.text}</span>;
      },
      csvLabel: "Days left (negative: overdue)",
    },
  ];
  return <DataTable label={label} columns={columns} rows={rows} filename={`requests-${id}`} rowKey={(row) => row.rowId} />;
}

/** Files a request: for a client (a coach: their own), or for admins a user account; received now or earlier (a letter). */
function FileRequest({ staff, done }: { staff: boolean; done: () => void }) {
  const subjects = useQuery(Subjects, { staff });
  const session = useSignedIn();
  const [kind, setKind] = useState<Kind>("access");
  const [subject, setSubject] = useState("");
  const [receivedOn, setReceivedOn] = useState("");
  const clients = subjects.status === "done" ? (subjects.data.clients?.nodes ?? []).filter((one) => one !== null) : [];
  const users = subjects.status === "done" ? (subjects.data.users?.nodes ?? []).filter((one) => one !== null).sort((a, b) => a.displayName.localeCompare(b.displayName)) : [];
  const [subjectKind, subjectId] = subject.split(":") as ["client" | "user" | "", string | undefined];
  const subjectLabel = subjectKind === "client" ? clients.find((one) => one.rowId === subjectId)?.fullName : users.find((one) => one.rowId === subjectId)?.displayName;
  return (
    <section className="panel" aria-label="File a request">
      <h2>File a request</h2>
      <div className="actions">
        <ConfirmedAction
          id="file-request"
          title="File a request"
          confirmLabel="File the request"
          effect={() => (
            <p>
              {KIND_WORDS[kind]} request about {subjectLabel ?? "no one chosen (the API will refuse it)"}, received {receivedOn ? `on ${receivedOn} (UTC midnight)` : "now"}. It is due one month after
              it was received; its identity check comes next, when an admin verifies it.
            </p>
          )}
          run={async () => {
            const input = {
              kind,
              clientId: subjectKind === "client" ? subjectId : null,
              userId: subjectKind === "user" ? subjectId : null,
              receivedAt: receivedOn ? `${receivedOn}T00:00:00Z` : null,
            };
            const { createDataSubjectRequest } = await request(CreateRequest, { input }, session.token);
            done();
            return `Filed request ${createDataSubjectRequest?.dataSubjectRequest?.rowId}, due ${instant(createDataSubjectRequest?.dataSubjectRequest?.dueAt)}.`;
          }}
        >
          <label>
            Kind
            <select value={kind} onChange={(change) => setKind(change.target.value as Kind)}>
              {KINDS.map((one) => (
                <option key={one} value={one}>
                  {KIND_WORDS[one]}
                </option>
              ))}
            </select>
          </label>
          <label>
            Subject
            <select value={subject} onChange={(change) => setSubject(change.target.value)} required>
              <option value="">Choose…</option>
              <optgroup label="Clients">
                {clients.map((one) => (
                  <option key={one.rowId} value={`client:${one.rowId}`}>
                    {one.fullName}
                  </option>
                ))}
              </optgroup>
              {staff && (
                <optgroup label="User accounts">
                  {users.map((one) => (
                    <option key={one.rowId} value={`user:${one.rowId}`}>
                      {one.displayName} ({one.role})
                    </option>
                  ))}
                </optgroup>
              )}
            </select>
          </label>
          <label>
            Received on (optional, a letter)
            <input type="date" value={receivedOn} onChange={(change) => setReceivedOn(change.target.value)} />
          </label>
        </ConfirmedAction>
      </div>
    </section>
  );
}
