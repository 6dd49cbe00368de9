import { graphql } from "../../graphql.ts";

/**
 * Every figure of the overview for a range, of every coach the caller may see
 * or of one coach, in one call (usage_overview), so that the records not
 * rated yet are priced once for all of them: the cards of the range and of
 * the period before it (as usage_summary gives them), the chart
 * (usage_over_time), the provider table (usage_by_provider) and, unless a
 * coach is named, the top coaches with their names (top_coaches).
 */
export const UsageOverview = graphql(`
  query UsageOverview($from: Date!, $to: Date!, $previousFrom: Date!, $previousTo: Date!, $granularity: UsageGranularity!, $coach: UUID) {
    usageOverview(fromDay: $from, toDay: $to, previousFromDay: $previousFrom, previousToDay: $previousTo, granularity: $granularity, coachProfileId: $coach) {
      current {
        revenueMinor providerCostMinor grossMarginMinor grossMarginRatio attempts failureRate failedAttemptsCostMinor retranscriptionRate
      }
      previous {
        revenueMinor providerCostMinor grossMarginMinor grossMarginRatio attempts failureRate failedAttemptsCostMinor retranscriptionRate
      }
      periods { periodStart attempts completed failed freeRetries retranscriptions revenueMinor providerCostMinor }
      providers { provider model attempts completed failed failureRate audioMinutes revenueMinor providerCostMinor unknownCostAttempts }
      topCoaches { coachProfileId displayName isDeleted attempts billableMinutes revenueMinor providerCostMinor grossMarginMinor }
    }
    billingPlans(first: 1) {
      nodes { currency }
    }
  }
`);

/** One coach: their name and user (for their audit events) and their invoice as it stands for a month. */
export const CoachDetail = graphql(`
  query CoachDetail($coach: UUID!, $month: Date!) {
    coachProfiles(includeDeleted: true, condition: { rowId: $coach }) {
      nodes { id: rowId displayName userId isDeleted }
    }
    invoicePreview(coachProfileId: $coach, month: $month) {
      nodes { coachProfileId month planName currency planFeeMinor includedMinutes audioSeconds includedSeconds chargedSeconds usageMinor creditsMinor totalMinor lateEvents closedAt }
    }
  }
`);
