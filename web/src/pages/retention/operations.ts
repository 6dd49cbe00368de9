import { graphql } from "../../graphql.ts";

/**
 * The retention page: every policy, and at asOf (now unless the URL pins it)
 * the dry run (retentionPreview) and the compliance figure
 * (retentionCompliance), as the SQL functions compute them.
 */
export const RetentionOverview = graphql(`
  query RetentionOverview($asOf: Datetime) {
    retentionPolicies(first: 1000, orderBy: NAME_ASC) {
      nodes { name category targetTable clockColumn period { years months days hours minutes seconds } action legalBasis description anonymizeColumns enabled updatedAt }
    }
    retentionPreview(asOf: $asOf, first: 1000) {
      nodes { policyName category targetTable action enabled cutoff rowsDue oldestDue newestDue sampleKeys rowsSparedByHold problem }
    }
    retentionCompliance(asOf: $asOf, first: 1000) {
      nodes { policyName category action rowsUnderPolicy rowsWithinPeriod rowsPastPeriod rowsHeld compliancePercent problem }
    }
  }
`);

/** A policy's period or enabled flag; the database checks the period (more than zero) and the rest. */
export const UpdatePolicy = graphql(`
  mutation UpdatePolicy($name: String!, $patch: RetentionPolicyPatch!) {
    updateRetentionPolicy(input: { name: $name, patch: $patch }) {
      retentionPolicy { name period { years months days hours minutes seconds } enabled updatedAt }
    }
  }
`);

/** The run log, newest first, with each run's per-policy results and who or what started it. */
export const RetentionRunLog = graphql(`
  query RetentionRunLog {
    retentionRuns(first: 200, orderBy: [STARTED_AT_DESC, PRIMARY_KEY_DESC]) {
      totalCount
      nodes {
        rowId status dryRun asOf policyName task startedAt finishedAt error
        userByStartedBy { displayName }
        retentionRunPoliciesByRunId(first: 100, orderBy: PRIMARY_KEY_ASC) {
          nodes { policyName action status startedAt finishedAt rowsArchived rowsDeleted cascadeRowsDeleted rowsAnonymized rowsSparedByHold archivesWritten errors error note }
        }
      }
    }
  }
`);

/** Every archive record, with its manifest (files, rows, bytes, SHA-256). */
export const RetentionArchiveList = graphql(`
  query RetentionArchiveList {
    retentionArchives(first: 1000) {
      nodes { rowId kind policyName runId store manifest rowCount timeFrom timeTo writtenAt verifiedAt rowsRemovedAt createdAt }
    }
  }
`);

/** What a run of one policy (or all) as of an instant would act on: the figures the start-a-run confirmation states. */
export const RetentionRunPreview = graphql(`
  query RetentionRunPreview($policy: String, $asOf: Datetime) {
    retentionPreview(policy: $policy, asOf: $asOf, first: 1000) {
      nodes { policyName category targetTable action enabled rowsDue rowsSparedByHold }
    }
  }
`);

/** Queues a retention run for the worker (admins only); the answer is the worker job's id. */
export const RequestRetentionRun = graphql(`
  mutation RequestRetentionRun($policy: String, $dryRun: Boolean!, $asOf: Datetime) {
    requestRetentionRun(input: { policy: $policy, dryRun: $dryRun, asOf: $asOf }) { result }
  }
`);
