import { graphql } from "../../graphql.ts";

/** deleted_items: soft-deleted rows the caller may see, of one table or all, of one cascade or all. */
export const DeletedItems = graphql(`
  query DeletedItems($tableName: String, $deletionBatchId: UUID) {
    deletedItems(tableName: $tableName, deletionBatchId: $deletionBatchId, first: 500) {
      totalCount
      nodes {
        tableName
        rowId
        label
        coachProfileId
        coachName
        deletedAt
        deletedBy
        deletedByName
        deletionBatchId
        startsCascade
        cascadeRows
        restorableUntil
        mayRestore
      }
    }
  }
`);

/** The governed restores, one per soft-delete table: each brings back exactly its deletion's cascade. */
export const RestoreCoachProfile = graphql(`
  mutation RestoreCoachProfile($rowId: UUID!) {
    restoreCoachProfile(input: { rowId: $rowId }) {
      coachProfile { id }
    }
  }
`);
export const RestoreClient = graphql(`
  mutation RestoreClient($rowId: UUID!) {
    restoreClient(input: { rowId: $rowId }) {
      client { id }
    }
  }
`);
export const RestoreCoachingSession = graphql(`
  mutation RestoreCoachingSession($rowId: UUID!) {
    restoreCoachingSession(input: { rowId: $rowId }) {
      coachingSession { id }
    }
  }
`);
export const RestoreTranscription = graphql(`
  mutation RestoreTranscription($rowId: UUID!) {
    restoreTranscription(input: { rowId: $rowId }) {
      transcription { id }
    }
  }
`);
