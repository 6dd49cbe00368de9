import { graphql } from "../../graphql.ts";

/**
 * The last reconcile check of a range (admins and auditors): when it was asked
 * for and ran, and the differences usage_reconcile found then (the first 200).
 * Checking a month takes seconds at volume, so the worker runs it and the page
 * reads what it kept.
 */
export const LatestReconcileCheck = graphql(`
  query LatestReconcileCheck($from: Date!, $to: Date!) {
    latestUsageReconcileCheck(fromDay: $from, toDay: $to) {
      rowId requestedAt finishedAt seconds differenceCount error
      userByRequestedBy { displayName }
      differences(first: 200, orderBy: PRIMARY_KEY_ASC) {
        nodes { checkName day subject expected actual }
      }
    }
  }
`);

/** Whether a check has finished: read every few seconds while the worker runs it. */
export const ReconcileCheckState = graphql(`
  query ReconcileCheckState($id: UUID!) {
    usageReconcileCheck(rowId: $id) { rowId finishedAt }
  }
`);

/** Asks the worker for a new check of the range (the same waiting one if asked twice). */
export const RequestReconcileCheck = graphql(`
  mutation RequestReconcileCheck($from: Date!, $to: Date!) {
    requestUsageReconcileCheck(input: { fromDay: $from, toDay: $to }) {
      result { rowId requestedAt }
    }
  }
`);
