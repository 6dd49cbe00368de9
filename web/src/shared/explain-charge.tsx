import { money } from "./format.ts";
import { ExplainChargeQuery } from "./operations.ts";
import { Panel } from "./states.tsx";
import { useQuery } from "./use-query.ts";

interface Explanation {
  usage_event_id: number;
  kind: string;
  rule: string;
  rule_version: string | number;
  explanation: string;
  amount_minor: number;
  provider_cost_minor: number | null;
  usage_month: string;
  billing_month: string;
  late: boolean;
  plan: { name: string | null } | null;
}

/** One usage event's charge explained in words (the explanation explain_charge writes), with its rule and months. */
export function ExplainCharge({ id, staff }: { id: string; staff: boolean }) {
  const state = useQuery(ExplainChargeQuery, { id });
  return (
    <Panel title={`Why usage event ${id} costs what it does`} state={state} isEmpty={(data) => data.explainCharge === null} empty={`There is no usage event ${id} that you can see.`}>
      {(data) => {
        const explained = data.explainCharge as Explanation;
        const currency = data.billingPlans?.nodes[0]?.currency ?? null;
        return (
          <div data-explained={explained.usage_event_id}>
            <p className="explanation" data-explanation>
              {explained.explanation}
            </p>
            <dl className="invoice">
              <dt>Amount</dt>
              <dd>{money(String(explained.amount_minor), currency)}</dd>
              {staff && (
                <>
                  <dt>Provider cost</dt>
                  <dd>{explained.provider_cost_minor === null ? "unknown" : money(String(explained.provider_cost_minor), currency)}</dd>
                </>
              )}
              <dt>Rule</dt>
              <dd>
                {explained.rule} (version {explained.rule_version})
              </dd>
              <dt>Plan</dt>
              <dd>{explained.plan?.name ?? "—"}</dd>
              <dt>Used in, billed in</dt>
              <dd>
                {explained.usage_month}, {explained.billing_month}
                {explained.late ? " (late: billed in a later month)" : ""}
              </dd>
            </dl>
          </div>
        );
      }}
    </Panel>
  );
}
