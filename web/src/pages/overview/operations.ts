import { graphql } from "../../graphql.ts";

/**
 * The overview's figures for a range and the period before it, of every coach
 * the caller may see or of one coach: every card is a field of usage_summary
 * (one row; the records not rated yet priced once for all the cards), the
 * chart usage_over_time, the tables usage_by_provider and top_coaches.
 */
export const OverviewFigures = graphql(`
  query OverviewFigures($from: Date!, $to: Date!, $previousFrom: Date!, $previousTo: Date!, $coach: UUID) {
    current: usageSummary(fromDay: $from, toDay: $to, coachProfileId: $coach) {
      revenueMinor providerCostMinor grossMarginMinor grossMarginRatio attempts failureRate failedAttemptsCostMinor retranscriptionRate
    }
    previous: usageSummary(fromDay: $previousFrom, toDay: $previousTo, coachProfileId: $coach) {
      revenueMinor providerCostMinor grossMarginMinor grossMarginRatio attempts failureRate failedAttemptsCostMinor retranscriptionRate
    }
    billingPlans(first: 1) {
      nodes { currency }
    }
  }
`);

export const UsageOverTime = graphql(`
  query UsageOverTime($from: Date!, $to: Date!, $granularity: UsageGranularity!, $coach: UUID) {
    usageOverTime(fromDay: $from, toDay: $to, granularity: $granularity, coachProfileId: $coach) {
      nodes { periodStart attempts completed failed freeRetries retranscriptions revenueMinor providerCostMinor }
    }
  }
`);

export const UsageByProvider = graphql(`
  query UsageByProvider($from: Date!, $to: Date!, $coach: UUID) {
    usageByProvider(fromDay: $from, toDay: $to, coachProfileId: $coach) {
      nodes { provider model attempts completed failed failureRate audioMinutes revenueMinor providerCostMinor unknownCostAttempts }
    }
  }
`);

/** top_coaches, with the coaches' names (deleted profiles marked). */
export const TopCoaches = graphql(`
  query TopCoaches($from: Date!, $to: Date!) {
    topCoaches(fromDay: $from, toDay: $to, maxRows: 10) {
      nodes { coachProfileId displayName isDeleted attempts billableMinutes revenueMinor providerCostMinor grossMarginMinor }
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
