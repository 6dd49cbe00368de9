import { useEffect, useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { fetchExport, request, saveFile, SessionEnded } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { count, instant } from "../../shared/format.ts";
import { useSession, useSignedIn } from "../../shared/session.tsx";
import { useRequest } from "../../shared/use-query.ts";
import { AskForExport, ExportState, type RequestDetail } from "./operations.ts";

type Detail = NonNullable<ResultOf<typeof RequestDetail>["dataSubjectRequest"]>;
type Manifest = { tables?: Array<{ table: string; rows: number }> };

const STATE_WORDS = { building: "Being built by the worker", ready: "Ready to download", expired: "Expired" } as const;

/**
 * An access or portability request's export: its state (building, ready,
 * expired), when it was built and expires, its size and SHA-256, the
 * manifest's tables and row counts; asking for it (an admin or the client's
 * coach, once the request is verified and open) and downloading the zip with
 * the tab's token, through the console's one download helper.
 */
export function ExportPanel({ row, done }: { row: Detail; done: (said: string) => void }) {
  const session = useSignedIn();
  const made = row.dataSubjectExportByRequestId;
  const open = row.state === "verified" || row.state === "in_progress";
  const mayAsk = session.role === "admin" || session.role === "coach";
  const ask = useRequest();
  // While the worker builds it, its state is read again every few seconds; the page reloads once it changes.
  const building = made?.state === "building";
  useEffect(() => {
    if (!building) return;
    const timer = setInterval(() => {
      ask(ExportState, { id: row.rowId }).then(
        (data) => {
          const now = data.dataSubjectRequest?.dataSubjectExportByRequestId?.state;
          if (now && now !== "building") done(now === "ready" ? "The export is built and ready to download." : "The export changed state.");
        },
        () => undefined,
      );
    }, 5000);
    return () => clearInterval(timer);
  }, [building, row.rowId, ask, done]);
  return (
    <section className="panel" aria-label="Access export" data-export-state={made?.state ?? "none"}>
      <h2>Access export</h2>
      {!made && <p className="state empty">No export has been asked for yet.{!open && row.state === "received" ? " The request must be verified first." : ""}</p>}
      {made && <ExportFacts made={made} />}
      {made?.state === "ready" && mayAsk && <Download requestId={row.rowId} />}
      {!made && open && mayAsk && (
        <div className="actions">
          <ConfirmedAction
            id="ask-export"
            title="Ask for the export"
            confirmLabel="Ask for it"
            effect={() => (
              <p>
                The worker builds a zip of everything the platform holds about {row.client?.fullName ?? "this person"} (their rows, soft-deleted ones included, and the audit trail's events about them, decrypted). The zip is itself personal data: it expires and its bytes are deleted
                after a set period.
              </p>
            )}
            run={async () => {
              const { requestDataSubjectExport } = await request(AskForExport, { id: row.rowId }, session.token);
              const said = `Asked at ${instant(requestDataSubjectExport?.result?.requestedAt)}; the worker builds it, and this page shows it once it is ready.`;
              done(said);
              return said;
            }}
          >
            <p>One export per request; asking again gives the same one.</p>
          </ConfirmedAction>
        </div>
      )}
    </section>
  );
}

function ExportFacts({ made }: { made: NonNullable<Detail["dataSubjectExportByRequestId"]> }) {
  const state = (made.state ?? "building") as keyof typeof STATE_WORDS;
  const tables = ((made.manifest as Manifest | null)?.tables ?? []).filter((one) => one.rows > 0);
  const facts: Array<[string, string, string]> = [
    ["state", "State", state === "expired" ? `Expired on ${instant(made.expiresAt)}${made.bytesDeletedAt ? `; its bytes were deleted ${instant(made.bytesDeletedAt)}` : ""}` : STATE_WORDS[state]],
    ["asked", "Asked", `${instant(made.requestedAt)} by ${made.userByRequestedBy?.displayName ?? "an operator"}`],
    ["built", "Built", made.builtAt ? instant(made.builtAt) : "not yet"],
    ["expires", "Expires", made.expiresAt ? instant(made.expiresAt) : "once built"],
    ["size", "Size", made.byteSize ? `${count(made.byteSize)} bytes` : "—"],
    ["sha256", "SHA-256 of the zip", made.sha256 ?? "—"],
  ];
  return (
    <>
      <dl className="facts" data-export={made.rowId}>
        {facts.map(([id, label, value]) => (
          <div key={id} data-export-fact={id}>
            <dt>{label}</dt>
            <dd className={id === "sha256" ? "hash" : undefined}>{value}</dd>
          </div>
        ))}
      </dl>
      {tables.length > 0 && (
        <table data-table="export-manifest">
          <caption>The manifest's tables with rows about the person</caption>
          <thead>
            <tr>
              <th scope="col">Table</th>
              <th scope="col">Rows</th>
            </tr>
          </thead>
          <tbody>
            {tables.map((one) => (
              <tr key={one.table}>
                <td data-column="table" data-value={one.table}>{one.table}</td>
                <td data-column="rows" data-value={String(one.rows)} className="number">{count(String(one.rows))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** The zip, read from the REST route with the tab's token (it needs the Authorization header) and saved from memory. */
function Download({ requestId }: { requestId: string }) {
  const { session, ended } = useSession();
  const [state, setState] = useState<{ status: "idle" | "busy" } | { status: "done"; filename: string } | { status: "error"; message: string }>({ status: "idle" });
  async function download() {
    setState({ status: "busy" });
    try {
      const file = await fetchExport(`/api/v1/gdpr/requests/${requestId}/export`, new URLSearchParams(), session?.token ?? "");
      saveFile(file);
      setState({ status: "done", filename: file.filename });
    } catch (error) {
      if (error instanceof SessionEnded) ended("Your session has ended; sign in again.");
      setState({ status: "error", message: (error as Error).message });
    }
  }
  return (
    <div className="export" role="group" aria-label="Download the export">
      <button type="button" data-action="download-export" disabled={state.status === "busy"} onClick={() => void download()}>
        Download the export (zip)
      </button>
      {state.status === "busy" && <span role="status">Downloading…</span>}
      {state.status === "done" && <span role="status">Downloaded {state.filename}.</span>}
      {state.status === "error" && (
        <span className="state error" role="alert">
          Could not download the export: {state.message}
        </span>
      )}
    </div>
  );
}
