import { graphql } from "../../graphql.ts";

/**
 * usage_in_range: the events a money figure sums, by the figure's filters (a
 * range of days or a billing month; a coach, provider and model), a page at a
 * time by cursor, and what they all add up to (usage_in_range_totals, which
 * counts them too): the figure they stand behind.
 */
export const UsageEvents = graphql(`
  query UsageEvents($from: Date, $to: Date, $month: Date, $coach: UUID, $provider: String, $model: String, $after: Cursor, $first: Int!) {
    usageInRange(fromDay: $from, toDay: $to, billingMonth: $month, coachProfileId: $coach, provider: $provider, model: $model, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        rowId kind occurredAt coachProfileId transcriptionId provider model outcome billingReason
        audioSeconds includedSeconds chargedSeconds amountMinor providerCostMinor billingMonth note
      }
    }
    totals: usageInRangeTotals(fromDay: $from, toDay: $to, billingMonth: $month, coachProfileId: $coach, provider: $provider, model: $model) {
      events amountMinor providerCostMinor
    }
    billingPlans(first: 1) {
      nodes { currency }
    }
  }
`);
