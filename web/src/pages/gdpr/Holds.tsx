import { useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { count, instant } from "../../shared/format.ts";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { CreateHold, HoldTargets, LegalHolds, ReleaseHold } from "./operations.ts";

type Data = ResultOf<typeof LegalHolds>;
type Targets = ResultOf<typeof HoldTargets>;
type Hold = NonNullable<NonNullable<Data["legalHolds"]>["nodes"][number]>;

/** What a hold covers, in words. */
function covers(hold: Hold): string {
  if (hold.clientId) return `${hold.client?.fullName ?? hold.clientId} (client)`;
  if (hold.userId) return `${hold.user?.displayName ?? hold.userId} (user account)`;
  return `${hold.coachProfile?.displayName ?? hold.coachProfileId} (coach profile, with all its clients)`;
}

/**
 * Legal holds (`/admin/gdpr/holds`, admins and auditors): active and released
 * holds as the table holds them; admins place a hold on a client, a user
 * account or a coach profile, and release one, each with a reason.
 */
export function Holds() {
  const session = useSignedIn();
  const [version, setVersion] = useState(0);
  const holds = useQuery(LegalHolds, {}, { version });
  const admin = session.role === "admin";
  const rows = (data: Data) => (data.legalHolds?.nodes ?? []).filter((one) => one !== null).sort((a, b) => b.placedAt.localeCompare(a.placedAt));
  return (
    <>
      <header className="page-header">
        <h1>Legal holds</h1>
      </header>
      <Panel title="Active holds" state={holds} isEmpty={(data) => !rows(data).some((one) => !one.releasedAt)} empty="No active legal hold: erasure is not blocked by any.">
        {(data) => <HoldTable id="active" rows={rows(data).filter((one) => !one.releasedAt)} admin={admin} done={() => setVersion((value) => value + 1)} />}
      </Panel>
      <Panel title="Released holds" state={holds} isEmpty={(data) => !rows(data).some((one) => one.releasedAt)} empty="No hold has been released.">
        {(data) => <HoldTable id="released" rows={rows(data).filter((one) => one.releasedAt)} admin={false} done={() => undefined} />}
      </Panel>
      {admin && <PlaceHold done={() => setVersion((value) => value + 1)} />}
    </>
  );
}

function HoldTable({ id, rows, admin, done }: { id: string; rows: Hold[]; admin: boolean; done: () => void }) {
  const columns: Column<Hold>[] = [
    { id: "covers", label: "Covers", raw: (row) => row.clientId ?? row.userId ?? row.coachProfileId, show: covers },
    { id: "reason", label: "Reason", raw: (row) => row.reason },
    { id: "placed", label: "Placed", raw: (row) => row.placedAt, show: (row) => `${instant(row.placedAt)} by ${row.userByPlacedBy?.displayName ?? "an operator"}` },
  ];
  if (id === "released") {
    columns.push(
      { id: "released", label: "Released", raw: (row) => row.releasedAt, show: (row) => `${instant(row.releasedAt)} by ${row.userByReleasedBy?.displayName ?? "an operator"}` },
      { id: "release-reason", label: "Why released", raw: (row) => row.releaseReason },
    );
  }
  if (admin) columns.push({ id: "release", label: "Release", raw: () => null, csv: false, show: (row) => <Release hold={row} done={done} /> });
  return (
    <>
      <p className="count" data-count={`holds-${id}`}>
        {count(String(rows.length))} hold{rows.length === 1 ? "" : "s"}
      </p>
      <DataTable label={id === "active" ? "Active holds" : "Released holds"} columns={columns} rows={rows} filename={`legal-holds-${id}`} rowKey={(row) => row.rowId} />
    </>
  );
}

function Release({ hold, done }: { hold: Hold; done: () => void }) {
  const session = useSignedIn();
  const [reason, setReason] = useState("");
  return (
    <ConfirmedAction
      id={`release-${hold.rowId}`}
      title="Release"
      confirmLabel="Release the hold"
      effect={() => <p>The hold on {covers(hold)} ends now, with the reason “{reason}”. It stays on record; erasure and retention may then reach them.</p>}
      run={async () => {
        const { releaseLegalHold } = await request(ReleaseHold, { id: hold.rowId, reason }, session.token);
        done();
        return `Released at ${instant(releaseLegalHold?.result?.releasedAt)}.`;
      }}
    >
      <label>
        Why it no longer applies
        <input value={reason} onChange={(change) => setReason(change.target.value)} required />
      </label>
    </ConfirmedAction>
  );
}

/** Placing a hold; its own query for the targets, so that the form (and its outcome) stays while the holds are read again. */
function PlaceHold({ done }: { done: () => void }) {
  const session = useSignedIn();
  const targets = useQuery(HoldTargets, {});
  const data: Targets = targets.status === "done" ? targets.data : { clients: null, users: null, coachProfiles: null };
  const [target, setTarget] = useState("");
  const [reason, setReason] = useState("");
  const clients = (data.clients?.nodes ?? []).filter((one) => one !== null);
  const users = (data.users?.nodes ?? []).filter((one) => one !== null).sort((a, b) => a.displayName.localeCompare(b.displayName));
  const profiles = (data.coachProfiles?.nodes ?? []).filter((one) => one !== null).sort((a, b) => a.displayName.localeCompare(b.displayName));
  const [kind, id] = target.split(":") as ["client" | "user" | "coach" | "", string | undefined];
  const name =
    kind === "client" ? `${clients.find((one) => one.rowId === id)?.fullName} (client)` : kind === "user" ? `${users.find((one) => one.rowId === id)?.displayName} (user account)` : kind === "coach" ? `${profiles.find((one) => one.rowId === id)?.displayName}'s coach profile and all its clients` : "no one chosen (the API will refuse it)";
  return (
    <section className="panel" aria-label="Place a hold">
      <h2>Place a hold</h2>
      <div className="actions">
        <ConfirmedAction
          id="place-hold"
          title="Place a legal hold"
          confirmLabel="Place the hold"
          effect={() => <p>A hold on {name} starts now, with the reason “{reason}”. While it is active, erasure and retention refuse to touch their data. A hold is never deleted, only released.</p>}
          run={async () => {
            const input = { clientId: kind === "client" ? id : null, userId: kind === "user" ? id : null, coachProfileId: kind === "coach" ? id : null, reason };
            const { createLegalHold } = await request(CreateHold, { input }, session.token);
            done();
            return `Hold placed at ${instant(createLegalHold?.legalHold?.placedAt)}.`;
          }}
        >
          <label>
            On
            <select value={target} onChange={(change) => setTarget(change.target.value)} required>
              <option value="">Choose…</option>
              <optgroup label="Clients">
                {clients.map((one) => (
                  <option key={one.rowId} value={`client:${one.rowId}`}>{one.fullName}</option>
                ))}
              </optgroup>
              <optgroup label="User accounts">
                {users.map((one) => (
                  <option key={one.rowId} value={`user:${one.rowId}`}>{one.displayName} ({one.role})</option>
                ))}
              </optgroup>
              <optgroup label="Coach profiles">
                {profiles.map((one) => (
                  <option key={one.rowId} value={`coach:${one.rowId}`}>{one.displayName}</option>
                ))}
              </optgroup>
            </select>
          </label>
          <label>
            Reason (the case, not details of the person)
            <input value={reason} onChange={(change) => setReason(change.target.value)} required />
          </label>
        </ConfirmedAction>
      </div>
    </section>
  );
}
