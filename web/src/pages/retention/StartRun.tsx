import { useState } from "react";
import type { ResultOf } from "../../graphql.ts";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { count, instant } from "../../shared/format.ts";
import { Link } from "../../shared/router.tsx";
import { useSignedIn } from "../../shared/session.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { RequestRetentionRun, RetentionRunPreview } from "./operations.ts";
import type { Policy } from "./Retention.tsx";

type Due = NonNullable<NonNullable<ResultOf<typeof RetentionRunPreview>["retentionPreview"]>["nodes"][number]>;

/** What each action does to a row it acts on, in the confirmation's words. */
const EFFECT_WORDS: Record<string, string> = {
  archive_then_delete: "archived first, then deleted",
  anonymize: "anonymized",
  delete: "deleted without an archive",
};

/** The form's as-of as an ISO instant; null for now; "invalid" for text that is not an instant. */
function asOfInput(text: string): string | null | "invalid" {
  const value = text.trim();
  if (!value) return null;
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  return Number.isNaN(Date.parse(iso)) ? "invalid" : new Date(iso).toISOString();
}

/**
 * An admin queues a retention run (one policy or all, a dry run unless
 * unchecked, as of now or an instant) through requestRetentionRun; the
 * confirmation states what it will do from the dry run's figures at that
 * instant. The worker does it; it then appears on the Runs page.
 */
export function StartRun({ policies }: { policies: Policy[] }) {
  const session = useSignedIn();
  const [policy, setPolicy] = useState("");
  const [dryRun, setDryRun] = useState(true);
  const [asOfText, setAsOfText] = useState("");
  const asOf = asOfInput(asOfText);
  const preview = useQuery(RetentionRunPreview, { policy: policy || null, asOf: asOf === "invalid" ? null : asOf }, { skip: asOf === "invalid" });
  const scope = policy ? `policy ${policy}` : "every enabled policy";
  const when = asOf === null ? "now" : asOf === "invalid" ? "" : instant(asOf);
  const statement = () => {
    if (asOf === "invalid") return <p>“{asOfText}” is not an instant (2026-11-01 or 2026-11-01T10:00:00Z); the API will refuse it.</p>;
    if (preview.status === "error") return <p data-effect="unknown">A {dryRun ? "dry run" : "run"} of {scope} as of {when}; its figures could not be read ({preview.message}).</p>;
    if (preview.status !== "done") return <p>A run of {scope} as of {when}; its figures are still being read.</p>;
    // A run of every policy skips the disabled ones; a policy named runs even when disabled.
    const rows = (preview.data.retentionPreview?.nodes ?? []).filter((row): row is Due => row !== null && (Boolean(policy) || Boolean(row.enabled)));
    const acting = rows.filter((row) => Number(row.rowsDue) > 0);
    const due = acting.reduce((sum, row) => sum + Number(row.rowsDue), 0);
    const held = rows.reduce((sum, row) => sum + Number(row.rowsSparedByHold), 0);
    const parts = acting.map((row) => `${count(row.rowsDue)} row${row.rowsDue === "1" ? "" : "s"} of ${row.targetTable} (${row.category}: ${EFFECT_WORDS[row.action ?? ""] ?? row.action})`);
    const figures = `${due === 0 ? "no row" : `${count(String(due))} row${due === 1 ? "" : "s"}`}${parts.length ? `: ${parts.join("; ")}` : ""}, and spares ${count(String(held))} held by a legal hold`;
    return dryRun ? (
      <p data-effect="dry-run">
        A dry run of {scope} as of {when}: a dry run changes nothing. It counts what a run would do (it would act on {figures}) and records the figures in the run log.
      </p>
    ) : (
      <p data-effect="run">
        A run of {scope} as of {when} acts on {figures}. Rows archived are written to a verified archive before they are removed; what is removed cannot be restored from the console.
      </p>
    );
  };
  return (
    <section className="panel" aria-label="Start a run">
      <h2>Start a run</h2>
      <p className="hint">
        The worker does the run shortly after it is queued (the daily run starts the same way); it then appears under <Link to="/retention/runs" search={{ asOf: null }}>Runs</Link>, started by you.
      </p>
      <div className="actions">
        <ConfirmedAction
          id="start-run"
          title="Start a run"
          confirmLabel={dryRun ? "Queue the dry run" : "Queue the run"}
          effect={statement}
          run={async () => {
            const { requestRetentionRun } = await request(RequestRetentionRun, { policy: policy || null, dryRun, asOf: asOf === "invalid" ? asOfText : asOf }, session.token);
            return `Queued as worker job ${requestRetentionRun?.result}: ${dryRun ? "a dry run" : "a run"} of ${scope} as of ${when}. It appears under Runs once the worker has done it.`;
          }}
        >
          <label>
            Policy
            <select value={policy} onChange={(change) => setPolicy(change.target.value)}>
              <option value="">Every enabled policy</option>
              {policies.map((one) => (
                <option key={one.name} value={one.name}>{one.category} ({one.name}){one.enabled ? "" : " — disabled"}</option>
              ))}
            </select>
          </label>
          <label>
            As of (UTC)
            <input value={asOfText} onChange={(change) => setAsOfText(change.target.value)} placeholder="now" />
          </label>
          <label className="checkbox">
            <input type="checkbox" checked={dryRun} onChange={(change) => setDryRun(change.target.checked)} />
            Dry run (changes nothing)
          </label>
        </ConfirmedAction>
      </div>
    </section>
  );
}
