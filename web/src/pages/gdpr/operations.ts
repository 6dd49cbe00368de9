import { graphql } from "../../graphql.ts";

/**
 * The queue: open, due within 7 days and overdue requests at asOf (now
 * unless the URL pins it), as the request lists compute them; the same
 * kind/state filter on each. A coach gets their own clients' only (RLS).
 */
export const RequestQueue = graphql(`
  query RequestQueue($asOf: Datetime, $filter: DataSubjectRequestFilter) {
    openDataSubjectRequests(filter: $filter, first: 500) { totalCount nodes { rowId kind state receivedAt dueAt extensionMonths clientId userId closedAt client { fullName } user { displayName } } }
    dueSoonDataSubjectRequests(asOf: $asOf, filter: $filter, first: 500) { totalCount nodes { rowId kind state receivedAt dueAt extensionMonths clientId userId closedAt client { fullName } user { displayName } } }
    overdueDataSubjectRequests(asOf: $asOf, filter: $filter, first: 500) { totalCount nodes { rowId kind state receivedAt dueAt extensionMonths clientId userId closedAt client { fullName } user { displayName } } }
  }
`);

/** Who a request may be filed for: the clients the caller may read (a coach: their own), and for admins the user accounts. */
export const Subjects = graphql(`
  query Subjects($staff: Boolean!) {
    clients(first: 1000, orderBy: FULL_NAME_ASC) { nodes { rowId fullName } }
    users(first: 1000) @include(if: $staff) { nodes { rowId displayName role } }
  }
`);

export const CreateRequest = graphql(`
  mutation CreateRequest($input: DataSubjectRequestInput!) {
    createDataSubjectRequest(input: { dataSubjectRequest: $input }) { dataSubjectRequest { rowId dueAt } }
  }
`);

/** One request: its facts and deadline. */
export const RequestDetail = graphql(`
  query RequestDetail($id: UUID!) {
    dataSubjectRequest(rowId: $id) {
      rowId kind state stateChangedAt receivedAt dueAt extensionMonths extensionReason
      verification verifiedAt rejectionReason closedAt clientId userId subjectId
      client { fullName }
      user { displayName }
      userByFiledBy { displayName }
      userByVerifiedBy { displayName }
    }
  }
`);

/** A step of the state machine, a verification, a rejection or an extension: the database decides whether it is allowed. */
export const UpdateRequest = graphql(`
  mutation UpdateRequest($id: UUID!, $patch: DataSubjectRequestPatch!) {
    updateDataSubjectRequest(input: { rowId: $id, patch: $patch }) { dataSubjectRequest { rowId state dueAt } }
  }
`);

/** Every legal hold, active first, with what it covers. */
export const LegalHolds = graphql(`
  query LegalHolds {
    legalHolds(first: 1000) {
      nodes {
        rowId reason placedAt releasedAt releaseReason clientId userId coachProfileId
        client { fullName }
        user { displayName }
        coachProfile { displayName }
        userByPlacedBy { displayName }
        userByReleasedBy { displayName }
      }
    }
  }
`);

/** What a hold may be placed on: clients, user accounts and coach profiles. */
export const HoldTargets = graphql(`
  query HoldTargets {
    clients(first: 1000, orderBy: FULL_NAME_ASC) { nodes { rowId fullName } }
    users(first: 1000) { nodes { rowId displayName role } }
    coachProfiles(first: 1000) { nodes { rowId displayName } }
  }
`);

export const CreateHold = graphql(`
  mutation CreateHold($input: LegalHoldInput!) {
    createLegalHold(input: { legalHold: $input }) { legalHold { rowId placedAt } }
  }
`);

export const ReleaseHold = graphql(`
  mutation ReleaseHold($id: UUID!, $reason: String!) {
    releaseLegalHold(input: { holdId: $id, reason: $reason }) { result { rowId releasedAt } }
  }
`);

/** The readiness report: the percentage and its parts at asOf (now unless pinned). */
export const Readiness = graphql(`
  query Readiness($asOf: Datetime) {
    gdprReadiness(asOf: $asOf) { readinessPercent partsScored partsReady }
    gdprReadinessParts(asOf: $asOf) { nodes { ordinal part label value unit target scored ok } }
  }
`);
