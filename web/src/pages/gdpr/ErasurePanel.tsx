import { useEffect, useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { count, instant } from "../../shared/format.ts";
import { useSignedIn } from "../../shared/session.tsx";
import { useRequest } from "../../shared/use-query.ts";
import { ErasureRunState, RequestErasure, type RequestDetail } from "./operations.ts";

type Detail = NonNullable<ResultOf<typeof RequestDetail>["dataSubjectRequest"]>;
type Erasure = NonNullable<Detail["erasure"]>;
type Run = NonNullable<Detail["latestErasureRun"]>;

/** The API's refusal when a legal hold covers the person names the hold and its reason (app_private.refuse_under_hold). */
const HOLD_REFUSAL = /legal hold [0-9a-f-]{36} placed at .* covers them: (.*)$/s;

/**
 * An erasure request: once run, its record (who, when, rows per table,
 * values searched, residue 0 as the proof); before, for admins on a verified
 * request, "Erase…" with a confirmation stating its effect. The worker runs
 * the erasure (its residue scan reads every event), so the page shows the
 * run waiting and reads it again until it has an outcome: the record, or the
 * refusal in the database's words. When a legal hold covers the person, the
 * refusal's words stay on the page and an override reason may be given
 * (recorded with the erasure).
 */
export function ErasurePanel({ row, done }: { row: Detail; done: (said: string) => void }) {
  const session = useSignedIn();
  const run = row.erasure ? null : (row.latestErasureRun ?? null);
  const waiting = run && !run.finishedAt ? run.rowId : null;
  const [holdRefusal, setHoldRefusal] = useState<string | null>(() => (run?.error ? (HOLD_REFUSAL.exec(run.error)?.[1] ?? null) : null));
  const [override, setOverride] = useState("");
  const ask = useRequest();
  // While the worker runs it, whether it finished is read every two seconds; the page reloads once it has.
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => {
      ask(ErasureRunState, { id: waiting }).then(
        (data) => {
          const now = data.dataSubjectErasureRun;
          if (now?.finishedAt) done(now.erasureId ? "The worker erased them; the record below is the proof." : `The worker did not erase them: ${now.error}`);
        },
        () => undefined,
      );
    }, 2000);
    return () => clearInterval(timer);
  }, [waiting, ask, done]);
  const subject = row.client?.fullName ?? (row.clientId ? `client ${row.clientId}` : "this user account");
  return (
    <section className="panel" aria-label="Erasure" data-erasure-run={run ? (waiting ? "waiting" : "refused") : "none"}>
      <h2>Erasure</h2>
      {row.erasure ? (
        <ErasureRecord erasure={row.erasure} />
      ) : session.role === "coach" ? (
        <p className="state empty">{row.state === "completed" ? "The erasure ran; its record is read by admins and auditors." : "Not erased yet; an admin runs the erasure once the request is verified."}</p>
      ) : run ? (
        <RunState run={run} />
      ) : (
        <p className="state empty" data-erasure="none">
          Not erased yet.{row.state === "received" ? " The request must be verified first." : ""}
        </p>
      )}
      {!row.erasure && !waiting && session.role === "admin" && (row.state === "verified" || row.state === "in_progress") && (
        <div className="actions">
          <ConfirmedAction
            id="erase"
            title="Erase"
            confirmLabel="Erase, irreversibly"
            effect={() => (
              <>
                <p>
                  <strong>This cannot be undone.</strong> The worker runs the erasure in one transaction: every personal column of {subject}'s rows (name, email, phone, notes, session titles, transcript text; soft-deleted rows included) is replaced by values
                  that carry nothing about them, their exports' bytes are deleted and their audit key is destroyed: their personal data in the audit trail reads as erased.
                </p>
                <p>The audit trail stays verifiable (no audit row changes); usage events, invoices and rollups are kept as they are (Art. 17(3)). The residue scan must find none of their former values, or nothing changes.</p>
                {override && <p>A legal hold covers them; it is overridden with your reason “{override}”, recorded with the erasure.</p>}
              </>
            )}
            run={async () => {
              try {
                const { requestDataSubjectErasure } = await request(RequestErasure, { id: row.rowId, overrideReason: override || null }, session.token);
                const said = `Asked at ${instant(requestDataSubjectErasure?.result?.requestedAt)}; the worker runs the erasure (its residue scan reads every event) and this page shows its outcome.`;
                done(said);
                return said;
              } catch (error) {
                const hold = HOLD_REFUSAL.exec((error as Error).message);
                if (hold) setHoldRefusal(hold[1]!);
                throw error;
              }
            }}
          >
            {holdRefusal && (
              <>
                <p className="state error" data-hold-refusal>
                  A legal hold covers {subject}: “{holdRefusal}”. To erase anyway, give an override reason of your own; it is recorded with the erasure.
                </p>
                <label>
                  Override reason (an admin erasing under the hold; recorded)
                  <input value={override} onChange={(change) => setOverride(change.target.value)} />
                </label>
              </>
            )}
          </ConfirmedAction>
        </div>
      )}
    </section>
  );
}

/** The last erasure run that has no record: waiting for the worker, or refused (nothing changed) with the database's words. */
function RunState({ run }: { run: Run }) {
  const asked = `Asked for ${instant(run.requestedAt)} by ${run.requester?.displayName ?? "an admin"}${run.overrideReason ? `, overriding a legal hold because “${run.overrideReason}”` : ""}`;
  return run.finishedAt ? (
    <p className="state error" data-erasure="refused">
      Not erased. {asked}; the worker's run did not erase {instant(run.finishedAt)}, and nothing changed: {run.error}
    </p>
  ) : (
    <p className="state empty" data-erasure="waiting">
      {asked}; the worker is running the erasure (its residue scan reads every event: minutes on a large platform). This page shows its outcome.
    </p>
  );
}

function ErasureRecord({ erasure }: { erasure: Erasure }) {
  const byTable = Object.entries((erasure.rowsByTable ?? {}) as Record<string, number>).sort(([a], [b]) => a.localeCompare(b));
  return (
    <>
      <dl className="facts" data-erasure={erasure.rowId}>
        <div data-erasure-fact="when">
          <dt>Erased</dt>
          <dd>
            {instant(erasure.erasedAt)} by {erasure.eraser?.displayName ?? "an operator"}
          </dd>
        </div>
        <div data-erasure-fact="rows">
          <dt>Rows erased</dt>
          <dd>{count(String(erasure.rowsErased))}</dd>
        </div>
        <div data-erasure-fact="values">
          <dt>Former values searched</dt>
          <dd>
            {count(String(erasure.valuesSearched))}
            {erasure.valuesSharedSkipped ? ` (${erasure.valuesSharedSkipped} shared with other people, not searched)` : ""}
          </dd>
        </div>
        <div data-erasure-fact="residue" data-residue={erasure.residueCount}>
          <dt>Residue</dt>
          <dd>
            {erasure.residueCount === 0
              ? "0 places: the residue scan found none of their former values in any text, varchar, citext or jsonb column, audit trail included. This is the proof of erasure."
              : `${erasure.residueCount} places still held a former value.`}
          </dd>
        </div>
        {erasure.overrideReason && (
          <div data-erasure-fact="override">
            <dt>Legal hold overridden</dt>
            <dd>
              {erasure.overriddenHold ? `the hold “${erasure.overriddenHold.reason}”, ` : ""}because “{erasure.overrideReason}”
            </dd>
          </div>
        )}
      </dl>
      <table data-table="erasure-rows">
        <caption>Rows erased per table</caption>
        <thead>
          <tr>
            <th scope="col">Table</th>
            <th scope="col">Rows</th>
          </tr>
        </thead>
        <tbody>
          {byTable.map(([table, rows]) => (
            <tr key={table}>
              <td data-column="table" data-value={table}>{table}</td>
              <td data-column="rows" data-value={String(rows)} className="number">{count(String(rows))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
