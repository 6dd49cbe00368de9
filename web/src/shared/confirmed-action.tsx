import { useRef, useState, type FormEvent, type ReactNode } from "react";
import { SessionEnded } from "./api.ts";
import { useSession } from "./session.tsx";

/** An action's state: the form, the confirmation stating its effect, then its outcome or the API's refusal in words. */
type Outcome = { kind: "done" | "refused"; text: string } | null;

/**
 * A form whose submit opens a dialog saying what will happen; only "Confirm"
 * calls the API; its answer, or the refusal in the API's words, is shown
 * under the form. Pages render it only for the roles that may act. The
 * statement is rendered while the dialog is open, so figures still being read
 * when it opened appear in it once they arrive.
 */
export function ConfirmedAction({ title, effect, confirmLabel, run, children, id }: { title: string; effect: () => ReactNode; confirmLabel: string; run: () => Promise<string>; children: ReactNode; id: string }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [confirming, setConfirming] = useState(false);
  const { ended } = useSession();
  return (
    <div className="action">
      <h3>{title}</h3>
      <form
        className="form"
        onSubmit={(submit: FormEvent) => {
          submit.preventDefault();
          setOutcome(null);
          setConfirming(true);
          dialog.current?.showModal();
        }}
      >
        {children}
        <button type="submit" data-action={id}>
          {title}…
        </button>
      </form>
      {outcome && (
        <p className={`state ${outcome.kind === "done" ? "done" : "error"}`} role={outcome.kind === "done" ? "status" : "alert"} data-outcome={id}>
          {outcome.text}
        </p>
      )}
      <dialog ref={dialog} onClose={() => setConfirming(false)} aria-labelledby={`${id}-title`} aria-describedby={`${id}-effect`}>
        <h2 id={`${id}-title`}>{title}?</h2>
        <div id={`${id}-effect`}>{confirming && effect()}</div>
        <div className="dialog-buttons">
          <button type="button" onClick={() => dialog.current?.close()} autoFocus>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              try {
                setOutcome({ kind: "done", text: await run() });
              } catch (error) {
                if (error instanceof SessionEnded) ended("Your session has ended; sign in again.");
                setOutcome({ kind: "refused", text: `Refused: ${(error as Error).message}` });
              } finally {
                setBusy(false);
                dialog.current?.close();
              }
            }}
          >
            {confirmLabel}
          </button>
        </div>
      </dialog>
    </div>
  );
}

