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

/** One request: its facts and deadline, its export, its restrictions, and for staff (who alone read them) its erasure record and last erasure run. */
export const RequestDetail = graphql(`
  query RequestDetail($id: UUID!, $staff: Boolean!) {
    dataSubjectRequest(rowId: $id) {
      rowId kind state stateChangedAt receivedAt dueAt extensionMonths extensionReason
      verification verifiedAt rejectionReason closedAt clientId userId subjectId
      client { fullName email phone notes }
      dataSubjectExportByRequestId { rowId state requestedAt builtAt expiresAt bytesDeletedAt byteSize sha256 manifest downloadPath userByRequestedBy { displayName } }
      erasure @include(if: $staff) { rowId erasedAt rowsErased rowsByTable valuesSearched valuesSharedSkipped residueCount overrideReason eraser { displayName } overriddenHold { reason placedAt } }
      latestErasureRun @include(if: $staff) { rowId requestedAt finishedAt error overrideReason requester { displayName } }
      processingRestrictionsByRequestId(first: 100) { nodes { rowId reason placedAt liftedAt liftReason userByPlacedBy { displayName } userByLiftedBy { displayName } } }
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

/** An export's state alone: what the request's page polls while the worker builds it. */
export const ExportState = graphql(`
  query ExportState($id: UUID!) {
    dataSubjectRequest(rowId: $id) { rowId dataSubjectExportByRequestId { rowId state } }
  }
`);

/** Asks the worker for the export answering a verified access or portability request (asking again gives the same export). */
export const AskForExport = graphql(`
  mutation AskForExport($id: UUID!) {
    requestDataSubjectExport(input: { requestId: $id }) { result { rowId state requestedAt } }
  }
`);

/**
 * Asks the worker to run a verified erasure request (its residue scan reads
 * every event: minutes on a large platform); overrideReason only when a legal
 * hold covers the person. Refusals that need no scan come back at once.
 */
export const RequestErasure = graphql(`
  mutation RequestErasure($id: UUID!, $overrideReason: String) {
    requestDataSubjectErasure(input: { requestId: $id, overrideReason: $overrideReason }) { result { rowId requestedAt } }
  }
`);

/** An erasure run's outcome alone: what the request's page polls while the worker runs it. */
export const ErasureRunState = graphql(`
  query ErasureRunState($id: UUID!) {
    dataSubjectErasureRun(rowId: $id) { rowId finishedAt error erasureId }
  }
`);

/** Applies a verified rectification request's corrections (the subject's personal columns) and completes it. */
export const Rectify = graphql(`
  mutation Rectify($id: UUID!, $corrections: JSON!) {
    rectifyPersonalData(input: { requestId: $id, corrections: $corrections }) { result { rowId state } }
  }
`);

export const PlaceRestriction = graphql(`
  mutation PlaceRestriction($id: UUID!, $reason: String!) {
    createProcessingRestriction(input: { processingRestriction: { requestId: $id, reason: $reason } }) { processingRestriction { rowId placedAt } }
  }
`);

export const LiftRestriction = graphql(`
  mutation LiftRestriction($id: UUID!, $reason: String!) {
    liftProcessingRestriction(input: { restrictionId: $id, reason: $reason }) { result { rowId liftedAt } }
  }
`);

/**
 * Consents: the current decision per client and purpose (of one client when
 * clientId is given), and the restrictions; with the clients the caller may
 * read. A page shows at most 1,000 of each (the API's largest page).
 */
export const ConsentsPage = graphql(`
  query ConsentsPage($clientId: UUID) {
    clients(first: 1000, orderBy: FULL_NAME_ASC) { nodes { rowId fullName } }
    currentConsents(clientId: $clientId, first: 1000) { nodes { rowId clientId purpose decision recordedAt wordingVersion wordingSha256 client { fullName } userByRecordedBy { displayName } } }
    processingRestrictions(first: 1000) { nodes { rowId clientId reason placedAt liftedAt liftReason requestId client { fullName } userByPlacedBy { displayName } userByLiftedBy { displayName } } }
  }
`);

/** Every consent decision of one client, latest first. */
export const ConsentHistory = graphql(`
  query ConsentHistory($clientId: UUID!) {
    consents(condition: { clientId: $clientId }, orderBy: [RECORDED_AT_DESC, PRIMARY_KEY_DESC], first: 1000) { nodes { rowId purpose decision recordedAt wordingVersion wordingSha256 userByRecordedBy { displayName } } }
  }
`);

export const RecordConsent = graphql(`
  mutation RecordConsent($input: ConsentInput!) {
    createConsent(input: { consent: $input }) { consent { rowId recordedAt decision purpose } }
  }
`);
