import { useState } from "react";
import { request } from "../../shared/api.ts";
import { ConfirmedAction } from "../../shared/confirmed-action.tsx";
import { instant } from "../../shared/format.ts";
import { useSignedIn } from "../../shared/session.tsx";
import { UpdatePolicy } from "./operations.ts";
import type { Policy } from "./Retention.tsx";
import { periodParts, periodWords, type Unit } from "./words.ts";

/**
 * An admin changes one policy's period or switches it on or off, through
 * updateRetentionPolicy; the database refuses a period of zero or less, and
 * the refusal is shown in its words.
 */
export function ChangePolicy({ policies, done }: { policies: Policy[]; done: () => void }) {
  const session = useSignedIn();
  const [name, setName] = useState("");
  const [amount, setAmount] = useState("");
  const [unit, setUnit] = useState<Unit>("days");
  const [enabled, setEnabled] = useState(true);
  const policy = policies.find((one) => one.name === name);
  const forever = policy?.action === "keep_forever";
  const choose = (next: string) => {
    const chosen = policies.find((one) => one.name === next);
    setName(next);
    const parts = periodParts(chosen?.period);
    setAmount(parts.amount);
    setUnit(parts.unit);
    setEnabled(chosen?.enabled ?? true);
  };
  const newPeriod = forever ? null : { [unit]: Number(amount) };
  const statement = () => {
    if (!policy) return <p>No policy is chosen; the API will refuse it.</p>;
    const changes = [
      !forever && `its period goes from ${periodWords(policy.period)} to ${periodWords(newPeriod)}`,
      enabled !== policy.enabled && (enabled ? "it is switched on: runs apply it again" : "it is switched off: runs skip it, the dry run and compliance still show it"),
    ].filter(Boolean);
    return (
      <p>
        Policy <code>{policy.name}</code> ({policy.category}): {changes.length ? changes.join("; ") : "nothing changes"}. The next run judges its rows by the new setting; the dry run and compliance on this page are read again once it is saved. The change is audited.
      </p>
    );
  };
  return (
    <section className="panel" aria-label="Change a policy">
      <h2>Change a policy</h2>
      <div className="actions">
        <ConfirmedAction
          id="change-policy"
          title="Change the policy"
          confirmLabel="Save the change"
          effect={statement}
          run={async () => {
            const patch = forever ? { enabled } : { enabled, period: newPeriod };
            const { updateRetentionPolicy } = await request(UpdatePolicy, { name, patch }, session.token);
            done();
            const saved = updateRetentionPolicy?.retentionPolicy;
            return `Saved at ${instant(saved?.updatedAt)}: ${name} keeps rows ${periodWords(saved?.period)}, ${saved?.enabled ? "enabled" : "disabled"}.`;
          }}
        >
          <label>
            Policy
            <select value={name} onChange={(change) => choose(change.target.value)} required>
              <option value="">Choose…</option>
              {policies.map((one) => (
                <option key={one.name} value={one.name}>{one.category} ({one.name})</option>
              ))}
            </select>
          </label>
          {!forever && (
            <>
              <label>
                Period
                <input type="number" step="1" value={amount} onChange={(change) => setAmount(change.target.value)} required />
              </label>
              <label>
                Unit
                <select value={unit} onChange={(change) => setUnit(change.target.value as Unit)}>
                  <option value="days">days</option>
                  <option value="months">months</option>
                  <option value="years">years</option>
                </select>
              </label>
            </>
          )}
          <label className="checkbox">
            <input type="checkbox" checked={enabled} onChange={(change) => setEnabled(change.target.checked)} />
            Enabled (runs apply it)
          </label>
        </ConfirmedAction>
      </div>
    </section>
  );
}
