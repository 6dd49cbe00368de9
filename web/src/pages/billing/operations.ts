import { graphql } from "../../graphql.ts";

/** monthly_revenue: plan fees, usage, and (staff) provider cost and margin, month by month. */
export const MonthlyRevenue = graphql(`
  query MonthlyRevenue($from: Date!, $to: Date!) {
    monthlyRevenue(fromMonth: $from, toMonth: $to) {
      nodes { month planFeeMinor usageRevenueMinor totalMinor payingCoaches providerCostMinor grossMarginMinor }
    }
    billingMonths(orderBy: MONTH_DESC, first: 240) {
      nodes { month closedAt }
    }
    billingPlans(first: 1) {
      nodes { currency }
    }
  }
`);

/**
 * invoice_preview: a month's invoices (frozen once closed), every coach's or
 * one coach's; and the coaches to pick from. Pages of the API's largest size
 * (1,000), not its default of 100: a page that silently showed the first 100
 * coaches' invoices would misstate the month.
 */
export const Invoices = graphql(`
  query Invoices($month: Date!, $coach: UUID) {
    invoicePreview(month: $month, coachProfileId: $coach, first: 1000) {
      totalCount
      nodes { coachProfileId month planName currency planFeeMinor usageMinor creditsMinor totalMinor lateEvents closedAt }
    }
    coachProfiles(includeDeleted: true, first: 1000) {
      nodes { id: rowId displayName isDeleted }
    }
  }
`);

export const CloseMonth = graphql(`
  mutation CloseMonth($month: Date!) {
    closeMonth(input: { month: $month }) { result }
  }
`);

export const IssueCredit = graphql(`
  mutation IssueCredit($coach: UUID!, $amount: BigInt!, $reason: String!, $override: String) {
    issueUsageCredit(input: { coachProfileId: $coach, amountMinor: $amount, reason: $reason, overrideReason: $override }) {
      result { rowId amountMinor billingMonth }
    }
  }
`);

export const VoidEvent = graphql(`
  mutation VoidEvent($id: BigInt!, $reason: String!) {
    voidUsageEvent(input: { usageEventId: $id, reason: $reason }) {
      result { rowId amountMinor billingMonth correctsEventId }
    }
  }
`);
