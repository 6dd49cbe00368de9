import { graphql } from "../../graphql.ts";

/**
 * audit_events: the trail filtered as the URL says, a page at a time (cursor).
 * No totalCount: counting a whole trail of millions of events would cost more
 * than the page.
 */
export const AuditEvents = graphql(`
    query AuditEvents(
      $tableName: String
      $recordKey: JSON
      $actorId: UUID
      $actorKind: AuditActorKind
      $operation: AuditOperation
      $occurredFrom: Datetime
      $occurredBefore: Datetime
      $first: Int!
      $after: Cursor
    ) {
      auditEvents(
        tableName: $tableName
        recordKey: $recordKey
        actorId: $actorId
        actorKind: $actorKind
        operation: $operation
        occurredFrom: $occurredFrom
        occurredBefore: $occurredBefore
        first: $first
        after: $after
      ) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes { rowId occurredAt tableSchema tableName recordKey operation oldValues newValues changedColumns actorKind actorUserId actorRole task details }
      }
    }
`);

/** audit_record_history and audit_record_as_of: one record's timeline and its state at a time. */
export const AuditRecord = graphql(`
    query AuditRecord($tableName: String!, $recordKey: JSON!, $at: Datetime!) {
      auditRecordHistory(tableName: $tableName, recordKey: $recordKey, first: 500) {
        totalCount
        nodes { rowId occurredAt tableSchema tableName recordKey operation oldValues newValues changedColumns actorKind actorUserId actorRole task details }
      }
      auditRecordAsOf(tableName: $tableName, recordKey: $recordKey, at: $at)
    }
`);

/** The newest seal of the hash chain (admins and auditors). */
export const AuditChainStatus = graphql(`
  query AuditChainStatus {
    auditChainStatus {
      newestSealId
      sealedAt
      lastSealedEventId
      headHash
      eventsUnsealed
    }
  }
`);

/** audit.verify_chain, run on demand. */
export const AuditVerifyChain = graphql(`
  query AuditVerifyChain {
    auditVerifyChain {
      intact
      eventsVerified
      sealsVerified
      eventsUnsealed
      firstBadEventId
      problem
      headHash
    }
  }
`);

/** The SQL that would undo one event, or why it cannot be undone from here. */
export const AuditUndoSql = graphql(`
  query AuditUndoSql($tableName: String!, $recordKey: JSON!, $eventId: BigInt!) {
    auditUndoSql(tableName: $tableName, recordKey: $recordKey, eventId: $eventId) {
      statement
      problem
    }
  }
`);

/** Runs that SQL as the admin, through the API: the undo is audited like any write. */
export const UndoAuditEvent = graphql(`
  mutation UndoAuditEvent($tableName: String!, $recordKey: JSON!, $eventId: BigInt!) {
    undoAuditEvent(input: { tableName: $tableName, recordKey: $recordKey, eventId: $eventId }) {
      result
    }
  }
`);

