import { useRef, useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { instant } from "../../shared/format.ts";
import { Link, useLocation } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useLastData, useQuery } from "../../shared/use-query.ts";
import { ConsentHistory, ConsentsPage, RecordConsent } from "./operations.ts";

type Data = ResultOf<typeof ConsentsPage>;
type Consent = NonNullable<NonNullable<Data["currentConsents"]>["nodes"][number]>;
type History = ResultOf<typeof ConsentHistory>;
type Decision = NonNullable<NonNullable<History["consents"]>["nodes"][number]>;
type Restriction = NonNullable<NonNullable<Data["processingRestrictions"]>["nodes"][number]>;

const PURPOSES = ["recording", "transcription"] as const;
const PURPOSE_WORDS: Record<(typeof PURPOSES)[number], string> = { recording: "Recording", transcription: "Transcription" };
const DECISION_WORDS = { granted: "Granted", withdrawn: "Withdrawn" } as const;

const recorded = (row: { recordedAt: string; userByRecordedBy?: { displayName: string } | null }) => `${instant(row.recordedAt)} by ${row.userByRecordedBy?.displayName ?? "an operator"}`;
const wording = (row: { wordingVersion?: string | null }) => row.wordingVersion ?? "—";

/** The SHA-256 of a text as 64 lowercase hex digits, computed in the browser (Web Crypto): the text itself is not sent. */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Consents (`/admin/gdpr/consents`): each client's current decision per
 * purpose (currentConsents), one client's history of decisions (`client` in
 * the URL), and the processing restrictions, active and lifted. Admins and the
 * client's coach record a grant (wording version and the SHA-256 of the text
 * shown) or a withdrawal; auditors read only; a coach sees their own clients.
 */
export function Consents() {
  const session = useSignedIn();
  const { search, setSearch } = useLocation();
  const [version, setVersion] = useState(0);
  const chosen = search.get("client");
  const page = useQuery(ConsentsPage, { clientId: chosen }, { version });
  const decisions = useQuery(ConsentHistory, { clientId: chosen ?? "" }, { version, skip: !chosen });
  const clients = (useLastData(page, { clientId: chosen })?.clients?.nodes ?? []).filter((one) => one !== null);
  const mayRecord = session.role === "admin" || session.role === "coach";
  const current = (data: Data) => (data.currentConsents?.nodes ?? []).filter((one) => one !== null);
  const history = (data: History) => (data.consents?.nodes ?? []).filter((one) => one !== null);
  const restrictions = (data: Data) => (data.processingRestrictions?.nodes ?? []).filter((one) => one !== null).sort((a, b) => Number(!!a.liftedAt) - Number(!!b.liftedAt) || b.placedAt.localeCompare(a.placedAt));
  return (
    <>
      <header className="page-header">
        <h1>Consents</h1>
      </header>
      <section className="panel" aria-label="Consent filters">
        <h2>Whose consents</h2>
        <div className="filters">
          <label>
            Client
            <select value={chosen ?? ""} onChange={(change) => setSearch({ client: change.target.value || null })}>
              <option value="">Every client</option>
              {clients.map((one) => (
                <option key={one.rowId} value={one.rowId}>
                  {one.fullName}
                </option>
              ))}
            </select>
          </label>
        </div>
        <p className="hint">A purpose is consented to when its latest decision is a grant; a purpose without a decision was never asked.</p>
      </section>
      <Panel title="Current consents" state={page} isEmpty={(data) => current(data).length === 0} empty="No consent decision recorded for these clients.">
        {(data) => <CurrentTable rows={current(data)} />}
      </Panel>
      {chosen && (
        <Panel title="History of decisions" state={decisions} isEmpty={(data) => history(data).length === 0} empty="This client has no recorded decision.">
          {(data) => <HistoryTable rows={history(data)} />}
        </Panel>
      )}
      {mayRecord && <RecordDecision clients={clients} chosen={chosen} done={() => setVersion((value) => value + 1)} />}
      <Panel title="Processing restrictions" state={page} isEmpty={(data) => restrictions(data).length === 0} empty="No processing restriction has been placed.">
        {(data) => <RestrictionTable rows={restrictions(data)} />}
      </Panel>
    </>
  );
}

function CurrentTable({ rows }: { rows: Consent[] }) {
  const columns: Column<Consent>[] = [
    { id: "client", label: "Client", raw: (row) => row.clientId, show: (row) => row.client?.fullName ?? row.clientId },
    { id: "purpose", label: "Purpose", raw: (row) => row.purpose, show: (row) => PURPOSE_WORDS[row.purpose] },
    { id: "decision", label: "Decision", raw: (row) => row.decision, show: (row) => DECISION_WORDS[row.decision] },
    { id: "recorded", label: "Recorded", raw: (row) => row.recordedAt, show: recorded },
    { id: "wording", label: "Wording version", raw: wording },
  ];
  const sorted = [...rows].sort((a, b) => (a.client?.fullName ?? "").localeCompare(b.client?.fullName ?? "") || a.purpose.localeCompare(b.purpose));
  return <DataTable label="Current consents" columns={columns} rows={sorted} filename="consents-current" rowKey={(row) => row.rowId} />;
}

function HistoryTable({ rows }: { rows: Decision[] }) {
  const columns: Column<Decision>[] = [
    { id: "recorded", label: "Recorded", raw: (row) => row.recordedAt, show: recorded },
    { id: "purpose", label: "Purpose", raw: (row) => row.purpose, show: (row) => PURPOSE_WORDS[row.purpose] },
    { id: "decision", label: "Decision", raw: (row) => row.decision, show: (row) => DECISION_WORDS[row.decision] },
    { id: "wording", label: "Wording version", raw: wording },
    { id: "sha256", label: "SHA-256 of the text shown", raw: (row) => row.wordingSha256 ?? "—" },
  ];
  return <DataTable label="History of decisions" columns={columns} rows={rows} filename="consents-history" rowKey={(row) => row.rowId} />;
}

function RestrictionTable({ rows }: { rows: Restriction[] }) {
  const columns: Column<Restriction>[] = [
    { id: "client", label: "Client", raw: (row) => row.clientId, show: (row) => row.client?.fullName ?? row.clientId },
    { id: "status", label: "Status", raw: (row) => (row.liftedAt ? "lifted" : "active"), show: (row) => (row.liftedAt ? "Lifted" : "Active: new transcriptions refused") },
    { id: "reason", label: "Reason", raw: (row) => row.reason },
    { id: "placed", label: "Placed", raw: (row) => row.placedAt, show: (row) => `${instant(row.placedAt)} by ${row.userByPlacedBy?.displayName ?? "an operator"}` },
    { id: "lifted", label: "Lifted", raw: (row) => row.liftedAt, show: (row) => (row.liftedAt ? `${instant(row.liftedAt)} by ${row.userByLiftedBy?.displayName ?? "an operator"}: ${row.liftReason ?? ""}` : "—") },
    { id: "request", label: "Request", raw: (row) => row.requestId, csv: false, show: (row) => <Link to="/gdpr/request" search={{ id: row.requestId, client: null }}>the request</Link> },
  ];
  return <DataTable label="Processing restrictions" columns={columns} rows={rows} filename="processing-restrictions" rowKey={(row) => row.rowId} />;
}

/** Recording a grant (with the wording's version and the SHA-256 of its text, computed here from the pasted text) or a withdrawal. */
function RecordDecision({ clients, chosen, done }: { clients: Array<{ rowId: string; fullName: string }>; chosen: string | null; done: () => void }) {
  const session = useSignedIn();
  const [client, setClient] = useState(chosen ?? "");
  const [purpose, setPurpose] = useState<(typeof PURPOSES)[number]>("transcription");
  const [decision, setDecision] = useState<"granted" | "withdrawn">("granted");
  const [wordingVersion, setWordingVersion] = useState("");
  const [text, setText] = useState("");
  const [hash, setHash] = useState("");
  const latest = useRef("");
  const name = clients.find((one) => one.rowId === client)?.fullName ?? "no client chosen (the API will refuse it)";
  const granting = decision === "granted";
  return (
    <section className="panel" aria-label="Record a decision">
      <h2>Record a decision</h2>
      <div className="actions">
        <ConfirmedAction
          id="record-consent"
          title="Record the decision"
          confirmLabel="Record it"
          effect={() => (
            <p>
              {granting
                ? `${name} grants consent to ${purpose}, having been shown wording version “${wordingVersion}” whose text has SHA-256 ${hash || "(none: paste the text)"}.`
                : `${name} withdraws consent to ${purpose}.${purpose === "transcription" ? " From now on the database refuses to transcribe their sessions." : ""}`}{" "}
              A decision is never changed or deleted; a later one supersedes it.
            </p>
          )}
          run={async () => {
            const input = { clientId: client, purpose, decision, wordingVersion: granting ? wordingVersion : null, wordingSha256: granting ? hash || null : null };
            const { createConsent } = await request(RecordConsent, { input }, session.token);
            done();
            return `Recorded at ${instant(createConsent?.consent?.recordedAt)}: ${DECISION_WORDS[decision].toLowerCase()}, ${purpose}.`;
          }}
        >
          <label>
            Client
            <select value={client} onChange={(change) => setClient(change.target.value)} required>
              <option value="">Choose…</option>
              {clients.map((one) => (
                <option key={one.rowId} value={one.rowId}>
                  {one.fullName}
                </option>
              ))}
            </select>
          </label>
          <label>
            Purpose
            <select value={purpose} onChange={(change) => setPurpose(change.target.value as (typeof PURPOSES)[number])}>
              {PURPOSES.map((one) => (
                <option key={one} value={one}>
                  {PURPOSE_WORDS[one]}
                </option>
              ))}
            </select>
          </label>
          <label>
            Decision
            <select value={decision} onChange={(change) => setDecision(change.target.value as "granted" | "withdrawn")}>
              <option value="granted">Granted</option>
              <option value="withdrawn">Withdrawn</option>
            </select>
          </label>
          {granting && (
            <>
              <label>
                Wording version
                <input value={wordingVersion} onChange={(change) => setWordingVersion(change.target.value)} required />
              </label>
              <label>
                Text shown to the client (only its SHA-256 is sent)
                <textarea
                  value={text}
                  rows={3}
                  onChange={(change) => {
                    const value = change.target.value;
                    setText(value);
                    if (!value) return setHash("");
                    if (!globalThis.crypto?.subtle) return setHash("");
                    // A slower digest of an earlier text must not overwrite the latest one's.
                    latest.current = value;
                    void sha256Hex(value).then((digest) => latest.current === value && setHash(digest));
                  }}
                />
              </label>
              <p className="hint" data-wording-sha256={hash}>
                {hash ? `SHA-256: ${hash}` : globalThis.crypto?.subtle ? "Paste the text to compute its SHA-256." : "This browser cannot compute a SHA-256 here (the console is not served over HTTPS)."}
              </p>
            </>
          )}
        </ConfirmedAction>
      </div>
    </section>
  );
}
