import { useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { instant } from "../../shared/format.ts";
import { useSignedIn } from "../../shared/session.tsx";
import { LiftRestriction, PlaceRestriction, Rectify, type RequestDetail } from "./operations.ts";

type Detail = NonNullable<ResultOf<typeof RequestDetail>["dataSubjectRequest"]>;
type Restriction = NonNullable<Detail["processingRestrictionsByRequestId"]["nodes"][number]>;

/** A client's personal columns rectifyPersonalData accepts, as their GraphQL fields and SQL names. */
const CLIENT_COLUMNS = [
  { field: "fullName", column: "full_name", label: "Full name" },
  { field: "email", column: "email", label: "Email" },
  { field: "phone", column: "phone", label: "Phone" },
  { field: "notes", column: "notes", label: "Notes" },
] as const;

/**
 * A rectification request, for admins: the client's personal columns with
 * their current values; the changed ones are sent as corrections (the old
 * values stay only in the audit trail, under the person's key) and the
 * request is completed.
 */
export function RectifyPanel({ row, done }: { row: Detail; done: (said: string) => void }) {
  const session = useSignedIn();
  const current = Object.fromEntries(CLIENT_COLUMNS.map(({ field }) => [field, row.client?.[field] ?? ""])) as Record<string, string>;
  const [values, setValues] = useState(current);
  const open = row.state === "verified" || row.state === "in_progress";
  if (session.role !== "admin" || !open || !row.clientId) return null;
  const changed = CLIENT_COLUMNS.filter(({ field }) => values[field] !== current[field]);
  return (
    <section className="panel" aria-label="Rectification">
      <h2>Rectification</h2>
      <div className="actions">
        <ConfirmedAction
          id="rectify"
          title="Apply the corrections"
          confirmLabel="Apply and complete"
          effect={() => (
            <>
              {changed.length === 0 ? <p>No value was changed: the API will refuse an empty correction.</p> : (
                <ul>
                  {changed.map(({ field, label }) => (
                    <li key={field}>
                      {label}: “{current[field]}” becomes “{values[field]}”
                    </li>
                  ))}
                </ul>
              )}
              <p>The old values stay only in the audit trail, sealed under the person's key; the request is then completed.</p>
            </>
          )}
          run={async () => {
            const corrections = Object.fromEntries(changed.map(({ field, column }) => [column, values[field]]));
            await request(Rectify, { id: row.rowId, corrections }, session.token);
            const said = `Corrected ${changed.map(({ label }) => label.toLowerCase()).join(", ")}; the request is completed.`;
            done(said);
            return said;
          }}
        >
          {CLIENT_COLUMNS.map(({ field, label }) => (
            <label key={field}>
              {label}
              <input value={values[field]} onChange={(change) => setValues({ ...values, [field]: change.target.value })} />
            </label>
          ))}
        </ConfirmedAction>
      </div>
    </section>
  );
}

/**
 * The restrictions placed under a restriction or rectification request
 * (Art. 18): active and lifted, for everyone who reads the request; admins
 * place one (the request verified and open) and lift an active one, each
 * confirmed with a reason.
 */
export function RestrictionsPanel({ row, done }: { row: Detail; done: (said: string) => void }) {
  const session = useSignedIn();
  const [reason, setReason] = useState("");
  const admin = session.role === "admin";
  const restrictions = row.processingRestrictionsByRequestId.nodes.filter((one) => one !== null).sort((a, b) => b.placedAt.localeCompare(a.placedAt));
  const open = row.state === "verified" || row.state === "in_progress";
  return (
    <section className="panel" aria-label="Processing restrictions">
      <h2>Processing restrictions</h2>
      {restrictions.length === 0 ? (
        <p className="state empty">No restriction placed under this request.</p>
      ) : (
        <ul className="restrictions">
          {restrictions.map((one) => (
            <li key={one.rowId} data-restriction={one.rowId} data-active={one.liftedAt ? "false" : "true"}>
              {one.liftedAt ? "Lifted" : "Active"}: “{one.reason}”, placed {instant(one.placedAt)} by {one.userByPlacedBy?.displayName ?? "an operator"}
              {one.liftedAt ? `; lifted ${instant(one.liftedAt)} by ${one.userByLiftedBy?.displayName ?? "an operator"}: “${one.liftReason ?? ""}”` : ". New transcriptions of their sessions are refused."}
              {admin && !one.liftedAt && <Lift restriction={one} done={done} />}
            </li>
          ))}
        </ul>
      )}
      {admin && open && row.clientId && !restrictions.some((one) => !one.liftedAt) && (
        <div className="actions">
          <ConfirmedAction
            id="restrict"
            title="Restrict processing"
            confirmLabel="Place the restriction"
            effect={() => <p>From now on the database refuses new transcriptions of {row.client?.fullName ?? "the client"}'s sessions, until an admin lifts the restriction; reading and exporting stay possible. Reason: “{reason}”.</p>}
            run={async () => {
              const { createProcessingRestriction } = await request(PlaceRestriction, { id: row.rowId, reason }, session.token);
              const said = `Restriction placed at ${instant(createProcessingRestriction?.processingRestriction?.placedAt)}.`;
              done(said);
              return said;
            }}
          >
            <label>
              Reason
              <input value={reason} onChange={(change) => setReason(change.target.value)} required />
            </label>
          </ConfirmedAction>
        </div>
      )}
    </section>
  );
}

function Lift({ restriction, done }: { restriction: Restriction; done: (said: string) => void }) {
  const session = useSignedIn();
  const [reason, setReason] = useState("");
  return (
    <ConfirmedAction
      id={`lift-${restriction.rowId}`}
      title="Lift"
      confirmLabel="Lift the restriction"
      effect={() => <p>Transcriptions of the client's sessions are allowed again (Art. 18(3): the person is told before). Reason: “{reason}”. The restriction stays on record.</p>}
      run={async () => {
        const { liftProcessingRestriction } = await request(LiftRestriction, { id: restriction.rowId, reason }, session.token);
        const said = `Lifted at ${instant(liftProcessingRestriction?.result?.liftedAt)}.`;
        done(said);
        return said;
      }}
    >
      <label>
        Why it no longer applies
        <input value={reason} onChange={(change) => setReason(change.target.value)} required />
      </label>
    </ConfirmedAction>
  );
}
