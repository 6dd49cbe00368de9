import { graphql } from "../../graphql.ts";

/** usage_reconcile: every difference between rollups, events and attempts over the range (admins and auditors). */
export const UsageReconcile = graphql(`
  query UsageReconcile($from: Date!, $to: Date!) {
    usageReconcile(fromDay: $from, toDay: $to, first: 200) {
      totalCount
      nodes { checkName day subject expected actual }
    }
  }
`);
