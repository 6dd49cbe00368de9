import { graphql } from "../../graphql.ts";

/**
 * The overview's figures for a range and the period before it: each card is
 * one field of one SQL function (revenue_summary, failure_stats,
 * retranscription_stats), the chart usage_over_time.
 */
export const OverviewFigures = graphql(`
  query OverviewFigures($from: Date!, $to: Date!, $previousFrom: Date!, $previousTo: Date!) {
    revenue: revenueSummary(fromDay: $from, toDay: $to) {
      nodes { revenueMinor providerCostMinor grossMarginMinor grossMarginRatio }
    }
    previousRevenue: revenueSummary(fromDay: $previousFrom, toDay: $previousTo) {
      nodes { revenueMinor providerCostMinor grossMarginMinor grossMarginRatio }
    }
    failures: failureStats(fromDay: $from, toDay: $to) {
      nodes { attempts failed failureRate freeRetries failedAttemptsCostMinor }
    }
    previousFailures: failureStats(fromDay: $previousFrom, toDay: $previousTo) {
      nodes { attempts failed failureRate freeRetries failedAttemptsCostMinor }
    }
    retranscriptions: retranscriptionStats(fromDay: $from, toDay: $to) {
      nodes { completed retranscriptions retranscriptionRate }
    }
    previousRetranscriptions: retranscriptionStats(fromDay: $previousFrom, toDay: $previousTo) {
      nodes { completed retranscriptions retranscriptionRate }
    }
    billingPlans(first: 1) {
      nodes { currency }
    }
  }
`);

export const UsageOverTime = graphql(`
  query UsageOverTime($from: Date!, $to: Date!, $granularity: UsageGranularity!) {
    usageOverTime(fromDay: $from, toDay: $to, granularity: $granularity) {
      nodes { periodStart attempts completed failed freeRetries retranscriptions revenueMinor providerCostMinor }
    }
  }
`);
