import type { Plan } from "../support/distribution-lint.ts";

// Where each table lives on a Citus cluster (docs/scaling.md, "Past one
// node"). Distributed tables are hash-distributed by coach_profile_id and
// colocated; reference tables are copied whole to every node; coordinator
// tables stay on the coordinator only (Citus local tables), beside the worker.
export const distributionPlan: Plan = {
  placement: {
    // The coach's own rows, and what is computed from them.
    "app_public.coach_profiles": { placement: "distributed", column: "id" },
    "app_public.clients": { placement: "distributed" },
    "app_public.coaching_sessions": { placement: "distributed" },
    "app_public.transcriptions": { placement: "distributed" },
    "app_public.consents": { placement: "distributed" },
    "app_public.processing_restrictions": { placement: "distributed" },
    "app_public.usage_events": { placement: "distributed" },
    "app_public.usage_daily": { placement: "distributed" },
    "app_public.invoices": { placement: "distributed" },
    "app_private.usage_records": { placement: "distributed" },
    "app_private.usage_ledgers": { placement: "distributed" },
    "app_private.usage_coach_daily": { placement: "distributed" },
    "audit.events": { placement: "distributed" },
    "audit.seals": { placement: "distributed" },
    "app_private.audit_subject_keys": { placement: "distributed" },

    // Small, read beside coach-owned rows on every node.
    "app_public.users": { placement: "reference" },
    "app_public.billing_plans": { placement: "reference" },
    "app_public.provider_rates": { placement: "reference" },
    "app_public.billing_months": { placement: "reference" },
    // Read by every shard's triggers to know whether this transaction is a governed hard delete or a restoration.
    "governance.hard_deletions": { placement: "reference" },
    "governance.archive_restorations": { placement: "reference" },

    // The platform's own records and the machinery's state: written by staff and jobs, on the coordinator.
    "app_private.user_secrets": { placement: "coordinator" },
    "app_private.user_sessions": { placement: "coordinator" },
    "app_private.sign_in_attempts": { placement: "coordinator" },
    "app_private.sign_in_limits": { placement: "coordinator" },
    "app_private.usage_daily_totals": { placement: "coordinator" },
    "app_private.usage_dirty_days": { placement: "coordinator" },
    "app_private.usage_rollup_watermark": { placement: "coordinator" },
    "app_private.worker_heartbeats": { placement: "coordinator" },
    "app_private.worker_pools": { placement: "coordinator" },
    "app_private.data_subject_export_chunks": { placement: "coordinator" },
    "app_public.legal_holds": { placement: "coordinator" },
    "app_public.data_subject_requests": { placement: "coordinator" },
    "app_public.data_subject_erasure_runs": { placement: "coordinator" },
    "app_public.data_subject_erasures": { placement: "coordinator" },
    "app_public.data_subject_exports": { placement: "coordinator" },
    "app_public.retention_policies": { placement: "coordinator" },
    "app_public.retention_runs": { placement: "coordinator" },
    "app_public.retention_run_policies": { placement: "coordinator" },
    "app_public.retention_archives": { placement: "coordinator" },
    "app_public.usage_reconcile_checks": { placement: "coordinator" },
    "app_public.usage_reconcile_differences": { placement: "coordinator" },
    "audit.chain_checkpoints": { placement: "coordinator" },
    "audit.tracked_tables": { placement: "coordinator" },
    "audit.column_policies": { placement: "coordinator" },
    "governance.soft_delete_tables": { placement: "coordinator" },
    "governance.personal_data_columns": { placement: "coordinator" },
  },
};

/**
 * Today's schema against the plan: each way it breaks a rule now, with the
 * step of docs/scaling.md ("### Step N") that closes it. The list only
 * shrinks: test/schema/distribution-lint.test.ts fails on a gap not listed
 * here (a new table, index, constraint, policy or trigger that breaks a rule)
 * and on a listed gap that no longer exists (take it off).
 */
export const knownGaps: Array<{ gap: string; step: number }> = [
  { gap: "distribution-column: app_private.audit_subject_keys", step: 6 },
  { gap: "distribution-column: app_public.consents", step: 3 },
  { gap: "distribution-column: app_public.processing_restrictions", step: 3 },
  { gap: "distribution-column: audit.events", step: 6 },
  { gap: "distribution-column: audit.seals", step: 6 },
  { gap: "foreign-key-colocated: app_public.consents consents_client_id_fkey", step: 3 },
  { gap: "foreign-key-colocated: app_public.processing_restrictions processing_restrictions_client_id_fkey", step: 3 },
  { gap: "foreign-key-colocated: app_public.transcriptions transcriptions_retry_of_session_id_fkey", step: 2 },
  { gap: "foreign-key-colocated: app_public.usage_events usage_events_corrects_event_id_fkey", step: 2 },
  { gap: "foreign-key-to-coordinator: app_public.processing_restrictions processing_restrictions_request_id_fkey", step: 3 },
  { gap: "foreign-key-to-distributed: app_public.data_subject_requests data_subject_requests_client_id_fkey", step: 5 },
  { gap: "foreign-key-to-distributed: app_public.legal_holds legal_holds_client_id_fkey", step: 5 },
  { gap: "foreign-key-to-distributed: app_public.legal_holds legal_holds_coach_profile_id_fkey", step: 5 },
  { gap: "policy-function: app_public.clients coach_own app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: app_public.coaching_sessions coach_own app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: app_public.consents coach_own_clients app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: app_public.invoices coach_own app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: app_public.processing_restrictions coach_own_clients app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: app_public.transcriptions coach_own app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: app_public.usage_daily coach_own app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: app_public.usage_events coach_own app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-function: audit.events coach_own app_private.current_coach_profile_id", step: 1 },
  { gap: "policy-subquery: app_public.clients coach_own", step: 1 },
  { gap: "policy-subquery: app_public.coaching_sessions coach_own", step: 1 },
  { gap: "policy-subquery: app_public.consents coach_own_clients", step: 1 },
  { gap: "policy-subquery: app_public.invoices coach_own", step: 1 },
  { gap: "policy-subquery: app_public.processing_restrictions coach_own_clients", step: 1 },
  { gap: "policy-subquery: app_public.transcriptions coach_own", step: 1 },
  { gap: "policy-subquery: app_public.usage_daily coach_own", step: 1 },
  { gap: "policy-subquery: app_public.usage_events coach_own", step: 1 },
  { gap: "policy-subquery: audit.events coach_own", step: 1 },
  { gap: "primary-key: app_private.audit_subject_keys audit_subject_keys_pkey", step: 6 },
  { gap: "primary-key: app_private.usage_records usage_records_pkey", step: 2 },
  { gap: "primary-key: app_public.clients clients_pkey", step: 2 },
  { gap: "primary-key: app_public.coaching_sessions coaching_sessions_pkey", step: 2 },
  { gap: "primary-key: app_public.consents consents_pkey", step: 3 },
  { gap: "primary-key: app_public.processing_restrictions processing_restrictions_pkey", step: 3 },
  { gap: "primary-key: app_public.transcriptions transcriptions_pkey", step: 2 },
  { gap: "primary-key: app_public.usage_events usage_events_pkey", step: 2 },
  { gap: "primary-key: audit.seals seals_pkey", step: 6 },
  { gap: "reference-audit: app_public.billing_months", step: 8 },
  { gap: "reference-audit: app_public.billing_plans", step: 8 },
  { gap: "reference-audit: app_public.provider_rates", step: 8 },
  { gap: "reference-audit: app_public.users", step: 8 },
  { gap: "reference-audit: governance.archive_restorations", step: 8 },
  { gap: "reference-audit: governance.hard_deletions", step: 8 },
  { gap: "trigger-reaches-coordinator: app_public.coach_profiles _300_rate_usage", step: 7 },
  { gap: "trigger-reaches-coordinator: app_public.processing_restrictions _200_append_only", step: 3 },
  { gap: "trigger-reaches-coordinator: app_public.processing_restrictions _200_append_only_truncate", step: 3 },
  { gap: "trigger-reaches-coordinator: app_public.users _900_end_sessions_when_disabled", step: 7 },
  { gap: "unique: app_private.usage_records usage_records_one_per_attempt", step: 2 },
  { gap: "unique: app_public.coach_profiles coach_profiles_user_id_key", step: 4 },
  { gap: "unique: app_public.transcriptions transcriptions_id_session_id_key", step: 2 },
  { gap: "unique: app_public.usage_events usage_events_one_per_attempt", step: 2 },
  { gap: "unique: app_public.usage_events usage_events_one_void_per_event", step: 2 },
];
