import { useCallback, useState, type ReactNode } from "react";
import type { ResultOf, VariablesOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { deadline, instant } from "../../shared/format.ts";
import { Link, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { AuditRecord } from "../audit/operations.ts";
import { RectifyPanel, RestrictionsPanel } from "./CorrectionPanels.tsx";
import { ErasurePanel } from "./ErasurePanel.tsx";
import { ExportPanel } from "./ExportPanel.tsx";
import { RequestDetail, UpdateRequest } from "./operations.ts";
import { asOfOf, KIND_WORDS, STATE_WORDS, subjectName, type Kind, type State } from "./words.ts";

type Detail = NonNullable<ResultOf<typeof RequestDetail>["dataSubjectRequest"]>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One request (`/admin/gdpr/request?id=`): its facts, its deadline (judged at
 * `asOf`, now unless pinned), its state history from the audit trail, what
 * its kind brings (the export, the erasure and its residue scan, the
 * corrections and restrictions), and for admins the next steps, each
 * confirmed; the database refuses a step it does not allow.
 */
export function RequestPage() {
  const session = useSignedIn();
  const { search } = useLocation();
  const id = search.get("id") ?? "";
  const [version, setVersion] = useState(0);
  // What the last step did: its form is gone once the request moved on, so it is said here.
  const [lastStep, setLastStep] = useState<string | null>(null);
  const valid = UUID.test(id);
  const step = useCallback((said: string) => {
    setLastStep(said);
    setVersion((value) => value + 1);
  }, []);
  const detail = useQuery(RequestDetail, { id, staff: session.role !== "coach" }, { version, skip: !valid });
  const { asOf } = asOfOf(search);
  if (!valid) {
    return (
      <p className="state error" role="alert">
        {id ? `"${id}" is not a request id.` : "No request chosen."} <Link to="/gdpr/requests" search={{ id: null }}>Back to the request queue</Link>
      </p>
    );
  }
  return (
    <>
      <header className="page-header">
        <h1>Data-subject request</h1>
        <Link to="/gdpr/requests" search={{ id: null }}>Back to the request queue</Link>
      </header>
      <Panel title="Request" state={detail} isEmpty={(data) => !data.dataSubjectRequest} empty="There is no such request, or you may not read it.">
        {(data) => <Facts row={data.dataSubjectRequest!} asOf={asOf ? new Date(asOf) : new Date()} />}
      </Panel>
      {detail.status === "done" && detail.data.dataSubjectRequest && (
        <>
          {lastStep && (
            <p className="state done" role="status" data-outcome="step">
              {lastStep}
            </p>
          )}
          {session.role === "admin" && (
            <Steps
              row={detail.data.dataSubjectRequest}
              done={step}
            />
          )}
          <Parts row={detail.data.dataSubjectRequest} done={step} />
          <History id={id} version={version} />
        </>
      )}
    </>
  );
}

/** What the request's kind brings: its export, its erasure, or its corrections and restrictions. */
function Parts({ row, done }: { row: Detail; done: (said: string) => void }) {
  switch (row.kind) {
    case "access":
    case "portability":
      return <ExportPanel row={row} done={done} />;
    case "erasure":
      return <ErasurePanel row={row} done={done} />;
    case "rectification":
      return (
        <>
          <RectifyPanel row={row} done={done} />
          <RestrictionsPanel row={row} done={done} />
        </>
      );
    case "restriction":
      return <RestrictionsPanel row={row} done={done} />;
  }
}

function Facts({ row, asOf }: { row: Detail; asOf: Date }) {
  const open = row.state !== "completed" && row.state !== "rejected";
  const words = deadline(row.dueAt, asOf);
  const facts: Array<[string, string, ReactNode]> = [
    ["kind", "Kind", KIND_WORDS[row.kind as Kind]],
    ["subject", "Subject", subjectName(row)],
    ["state", "State", `${STATE_WORDS[row.state as State]} since ${instant(row.stateChangedAt)}`],
    ["received", "Received", instant(row.receivedAt)],
    ["due", "Due", instant(row.dueAt)],
    ["deadline", "Deadline", open ? <span className={words.overdue ? "overdue" : undefined}>{words.text}</span> : `closed ${instant(row.closedAt)}`],
    ["extension", "Extension", row.extensionMonths ? `${row.extensionMonths} month${row.extensionMonths === 1 ? "" : "s"}: ${row.extensionReason ?? "reason redacted"}` : "none"],
    ["filed-by", "Filed by", row.userByFiledBy?.displayName ?? "an operator, or someone you may not see"],
    ["verification", "Identity verified", row.verifiedAt ? `${instant(row.verifiedAt)} by ${row.userByVerifiedBy?.displayName ?? "an operator"}: ${row.verification ?? "how is redacted"}` : "not yet"],
    ["rejection", "Rejection reason", row.rejectionReason ?? "—"],
  ];
  return (
    <dl className="facts" data-request={row.rowId}>
      {facts.map(([id, label, value]) => (
        <div key={id} data-fact={id}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** The admin's next steps: the ones the state machine allows from here, each confirmed. */
function Steps({ row, done }: { row: Detail; done: (said: string) => void }) {
  const session = useSignedIn();
  const [verification, setVerification] = useState("");
  const [rejection, setRejection] = useState("");
  const [months, setMonths] = useState(String(Math.min(2, row.extensionMonths + 1)));
  const [extensionReason, setExtensionReason] = useState("");
  const open = row.state !== "completed" && row.state !== "rejected";
  if (!open) return null;
  const update = async (patch: VariablesOf<typeof UpdateRequest>["patch"], said: string) => {
    const { updateDataSubjectRequest } = await request(UpdateRequest, { id: row.rowId, patch }, session.token);
    const now = updateDataSubjectRequest?.dataSubjectRequest;
    const text = `${said} The request is now ${(STATE_WORDS[now?.state as State] ?? "changed").toLowerCase()}, due ${instant(now?.dueAt)}.`;
    done(text);
    return text;
  };
  return (
    <section className="panel" aria-label="Next steps">
      <h2>Next steps</h2>
      <div className="actions">
        {row.state === "received" && (
          <ConfirmedAction
            id="verify"
            title="Verify identity"
            confirmLabel="Record the verification"
            effect={() => <p>The request becomes verified, with you as the verifier and “{verification}” as how the person's identity was checked. This is recorded once.</p>}
            run={() => update({ state: "verified", verification }, "Identity verified.")}
          >
            <label>
              How identity was verified
              <input value={verification} onChange={(change) => setVerification(change.target.value)} required />
            </label>
          </ConfirmedAction>
        )}
        {/* An erasure runs on a verified request and completes it itself: starting it by hand would keep it from running. */}
        {row.state === "verified" && row.kind !== "erasure" && (
          <ConfirmedAction id="start" title="Start work" confirmLabel="Start" effect={() => <p>The request moves to in progress.</p>} run={() => update({ state: "in_progress" }, "Work started.")}>
            <p>The person's identity is verified; work on the request can start.</p>
          </ConfirmedAction>
        )}
        {row.state === "in_progress" && (
          <ConfirmedAction
            id="complete"
            title="Complete"
            confirmLabel="Complete the request"
            effect={() => <p>The request is completed and closed now; a completed request never changes again.</p>}
            run={() => update({ state: "completed" }, "Completed.")}
          >
            <p>Mark the request as answered.</p>
          </ConfirmedAction>
        )}
        <ConfirmedAction
          id="reject"
          title="Reject"
          confirmLabel="Reject the request"
          effect={() => <p>The request is rejected and closed now, with the reason “{rejection}”; a rejected request never changes again.</p>}
          run={() => update({ state: "rejected", rejectionReason: rejection }, "Rejected.")}
        >
          <label>
            Reason
            <input value={rejection} onChange={(change) => setRejection(change.target.value)} required />
          </label>
        </ConfirmedAction>
        <ConfirmedAction
          id="extend"
          title="Extend the deadline"
          confirmLabel="Extend"
          effect={() => (
            <p>
              The deadline becomes {months} extra month{months === "1" ? "" : "s"} after one month from receipt (at most two, Art. 12(3)); an extension can only grow. Reason: “{extensionReason}”.
            </p>
          )}
          run={() => update({ extensionMonths: Number(months), extensionReason }, "Deadline extended.")}
        >
          <label>
            Extra months in all
            <select value={months} onChange={(change) => setMonths(change.target.value)}>
              <option value="1">1</option>
              <option value="2">2</option>
            </select>
          </label>
          <label>
            Reason
            <input value={extensionReason} onChange={(change) => setExtensionReason(change.target.value)} required />
          </label>
        </ConfirmedAction>
      </div>
    </section>
  );
}

/** The request's state history, as the audit viewer reads a record's timeline (auditRecordHistory). */
function History({ id, version }: { id: string; version: number }) {
  const session = useSignedIn();
  const [now] = useState(() => new Date().toISOString());
  const history = useQuery(AuditRecord, { tableName: "data_subject_requests", recordKey: id, at: now }, { version });
  return (
    <Panel title="State history" state={history} isEmpty={(data) => !data.auditRecordHistory?.nodes.length} empty={session.role === "coach" ? "The state history comes from the audit trail, which coaches do not read; the request's current state and dates are above." : "No events of this request that you may read."}>
      {(data) => (
        <>
          <ol className="timeline" data-timeline={data.auditRecordHistory!.totalCount}>
            {data.auditRecordHistory!.nodes.filter((event) => event !== null).map((event) => {
              const before = (event.oldValues ?? {}) as Record<string, unknown>;
              const after = (event.newValues ?? {}) as Record<string, unknown>;
              const stateChanged = event.operation === "INSERT" || before.state !== after.state;
              const what =
                event.operation === "INSERT"
                  ? `filed, ${STATE_WORDS[after.state as State] ?? after.state}`
                  : stateChanged
                    ? `${STATE_WORDS[before.state as State] ?? before.state} → ${STATE_WORDS[after.state as State] ?? after.state}`
                    : `changed ${(event.changedColumns ?? []).join(", ")}`;
              return (
                <li key={String(event.rowId)} data-event={String(event.rowId)} data-state={String(after.state ?? "")}>
                  {instant(event.occurredAt)} {what} by {event.actorKind ?? "someone you may not see"}
                  {event.actorRole ? ` (${event.actorRole})` : ""}
                </li>
              );
            })}
          </ol>
          <Link to="/audit" search={{ table: "data_subject_requests", record: id, id: null, asOf: null }}>
            Every change of this request, column by column, in the audit trail
          </Link>
        </>
      )}
    </Panel>
  );
}
