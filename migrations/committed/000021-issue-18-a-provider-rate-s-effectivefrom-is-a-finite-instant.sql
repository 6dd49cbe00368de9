--! Previous: sha1:995c248a75680a27c8531696abd2e4cf0a0e1519
--! Hash: sha1:af11971914b3c42a83f08d3c5322b917bbc2af84
--! Message: Issue 18: a provider rate's effectiveFrom is a finite instant (0001-01-01 by default, for 'always'): GraphQL's Datetime has no infinity, and providerRates failed on the default '-infinity'

-- A provider rate's effectiveFrom is a finite instant (issue 18: every answer
-- an answer): GraphQL's Datetime has no infinity, so a rate from '-infinity'
-- (the column's default until now: every rate recorded without a date, the
-- demo's included) made providerRates fail with "Cannot return null for
-- non-nullable field". "Always" is now the earliest instant the API can say.
alter table app_public.provider_rates alter column effective_from set default '0001-01-01 00:00:00+00';
update app_public.provider_rates set effective_from = '0001-01-01 00:00:00+00' where effective_from = '-infinity';
alter table app_public.provider_rates add constraint provider_rates_effective_from_finite check (isfinite(effective_from));
comment on column app_public.provider_rates.effective_from is
  E'From when the rate applies (a finite instant; 0001-01-01, the default, when it always has); the latest rate not after an attempt applies to it.';

--! Included domain/constraint-words.sql
-- Words for every constraint and unique index a writer can break, one home.
-- The API's error formatter (src/server/mask-error.ts) reads them once and
-- answers a check, unique, foreign-key or exclusion violation with the
-- sentence here (naming the field as the API spells it, and the rule),
-- keeping the SQLSTATE for programs. test/api/plain-errors.test.ts fails
-- when a constraint of an exposed table has no words.

create or replace function app_private.constraint_words()
returns table (table_name text, constraint_name text, words text) as $$
  values
    -- users
    ('app_public.users', 'users_pkey', 'A user with this rowId already exists.'),
    ('app_public.users', 'users_email_key', 'Another user already has this email; each email signs in one user.'),
    ('app_public.users', 'users_email_check', 'A user''s email must look like name@example.com (no spaces, one @, a dot in the domain).'),
    ('app_public.users', 'users_display_name_check', 'A user''s displayName must be 1 to 200 characters, not only spaces.'),
    ('app_public.users', 'users_id_role_key', 'A user with this rowId and role already exists.'),
    -- billing_plans
    ('app_public.billing_plans', 'billing_plans_pkey', 'A billing plan with this rowId already exists.'),
    ('app_public.billing_plans', 'billing_plans_name_key', 'Another billing plan already has this name; plan names are unique.'),
    ('app_public.billing_plans', 'billing_plans_name_check', 'A billing plan''s name must be 1 to 100 characters, not only spaces.'),
    ('app_public.billing_plans', 'billing_plans_currency_check', 'A billing plan''s currency must be a three-letter ISO 4217 code in capitals, such as EUR.'),
    ('app_public.billing_plans', 'billing_plans_included_minutes_check', 'A billing plan''s includedMinutes may not be negative.'),
    ('app_public.billing_plans', 'billing_plans_monthly_fee_minor_check', 'A billing plan''s monthlyFeeMinor may not be negative.'),
    ('app_public.billing_plans', 'billing_plans_price_per_extra_minute_minor_check', 'A billing plan''s pricePerExtraMinuteMinor may not be negative.'),
    ('app_public.billing_plans', 'billing_plans_monthly_fee_minor_bound', 'A billing plan''s monthlyFeeMinor may be at most 100,000,000 minor units (1,000,000.00 of the currency).'),
    ('app_public.billing_plans', 'billing_plans_price_per_extra_minute_minor_bound', 'A billing plan''s pricePerExtraMinuteMinor may be at most 1,000,000 minor units (10,000.00 of the currency).'),
    -- provider_rates
    ('app_public.provider_rates', 'provider_rates_pkey', 'A provider rate with this rowId already exists.'),
    ('app_public.provider_rates', 'provider_rates_provider_model_effective_from_key', 'This provider and model already have a rate from this effectiveFrom; change that rate or pick another instant.'),
    ('app_public.provider_rates', 'provider_rates_cost_per_minute_minor_check', 'A provider rate''s costPerMinuteMinor may not be negative.'),
    ('app_public.provider_rates', 'provider_rates_currency_check', 'A provider rate''s currency must be a three-letter ISO 4217 code in capitals, such as USD.'),
    ('app_public.provider_rates', 'provider_rates_model_check', 'A provider rate''s model must be 1 to 100 characters, not only spaces.'),
    ('app_public.provider_rates', 'provider_rates_provider_check', 'A provider rate''s provider must be 1 to 63 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit (such as deepgram).'),
    ('app_public.provider_rates', 'provider_rates_effective_from_finite', 'A provider rate''s effectiveFrom must be an instant, not infinity; a rate that has always applied starts at 0001-01-01T00:00:00Z (the default).'),
    -- coach_profiles
    ('app_public.coach_profiles', 'coach_profiles_pkey', 'A coach profile with this rowId already exists.'),
    ('app_public.coach_profiles', 'coach_profiles_user_id_key', 'This user already has a coach profile; a coach has one (delete it first to make another).'),
    ('app_public.coach_profiles', 'coach_profiles_bio_check', 'A coach profile''s bio may be at most 5,000 characters.'),
    ('app_public.coach_profiles', 'coach_profiles_display_name_check', 'A coach profile''s displayName must be 1 to 200 characters, not only spaces.'),
    ('app_public.coach_profiles', 'coach_profiles_timezone_check', 'A coach profile''s timezone must be an IANA time zone name, such as Europe/Berlin or UTC.'),
    ('app_public.coach_profiles', 'coach_profiles_user_role_check', 'A coach profile''s user must have the role coach.'),
    ('app_public.coach_profiles', 'coach_profiles_deletion_state', 'A coach profile''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteCoachProfile and restoreCoachProfile.'),
    ('app_public.coach_profiles', 'coach_profiles_plan_id_fkey', 'A coach profile''s planId must name an existing billing plan, and a billing plan that coach profiles use cannot be deleted.'),
    ('app_public.coach_profiles', 'coach_profiles_user_id_user_role_fkey', 'A coach profile''s userId must name an existing user whose role is coach, and a user with a coach profile cannot be deleted or change role.'),
    ('app_public.coach_profiles', 'coach_profiles_deleted_by_fkey', 'A coach profile''s deletedBy must name an existing user.'),
    -- clients
    ('app_public.clients', 'clients_pkey', 'A client with this rowId already exists.'),
    ('app_public.clients', 'clients_coach_email_key', 'This coach already has a client with this email; each client of a coach has their own email.'),
    ('app_public.clients', 'clients_id_coach_profile_id_key', 'A client with this rowId already exists.'),
    ('app_public.clients', 'clients_email_check', 'A client''s email must look like name@example.com (no spaces, one @, a dot in the domain).'),
    ('app_public.clients', 'clients_full_name_check', 'A client''s fullName must be 1 to 200 characters, not only spaces.'),
    ('app_public.clients', 'clients_notes_check', 'A client''s notes may be at most 20,000 characters.'),
    ('app_public.clients', 'clients_phone_check', 'A client''s phone must be 5 to 30 digits, spaces, dots, dashes or brackets, with an optional leading +.'),
    ('app_public.clients', 'clients_deletion_state', 'A client''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteClient and restoreClient.'),
    ('app_public.clients', 'clients_coach_profile_id_fkey', 'A client''s coachProfileId must name an existing coach profile.'),
    ('app_public.clients', 'clients_deleted_by_fkey', 'A client''s deletedBy must name an existing user.'),
    -- coaching_sessions
    ('app_public.coaching_sessions', 'coaching_sessions_pkey', 'A coaching session with this rowId already exists.'),
    ('app_public.coaching_sessions', 'coaching_sessions_id_coach_profile_id_key', 'A coaching session with this rowId already exists.'),
    ('app_public.coaching_sessions', 'coaching_sessions_audio_duration_seconds_check', 'A coaching session''s audioDurationSeconds may not be negative.'),
    ('app_public.coaching_sessions', 'coaching_sessions_audio_object_key_check', 'A coaching session''s audioObjectKey must be 1 to 1,024 characters, not only spaces.'),
    ('app_public.coaching_sessions', 'coaching_sessions_title_check', 'A coaching session''s title must be 1 to 300 characters, not only spaces.'),
    ('app_public.coaching_sessions', 'coaching_sessions_deletion_state', 'A coaching session''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteCoachingSession and restoreCoachingSession.'),
    ('app_public.coaching_sessions', 'coaching_sessions_client_id_coach_profile_id_fkey', 'A coaching session''s clientId must name an existing client of the same coach.'),
    ('app_public.coaching_sessions', 'coaching_sessions_deleted_by_fkey', 'A coaching session''s deletedBy must name an existing user.'),
    -- transcriptions
    ('app_public.transcriptions', 'transcriptions_pkey', 'A transcription with this rowId already exists.'),
    ('app_public.transcriptions', 'transcriptions_id_coach_profile_id_key', 'A transcription with this rowId already exists.'),
    ('app_public.transcriptions', 'transcriptions_id_session_id_key', 'A transcription with this rowId already exists.'),
    ('app_public.transcriptions', 'transcriptions_billed_duration_seconds_check', 'A transcription''s billedDurationSeconds may not be negative.'),
    ('app_public.transcriptions', 'transcriptions_check', 'A transcription''s retryOf may not name the transcription itself.'),
    ('app_public.transcriptions', 'transcriptions_check1', 'A transcription''s finishedAt may not be before its startedAt.'),
    ('app_public.transcriptions', 'transcriptions_completed_has_billed_duration', 'A completed transcription needs billedDurationSeconds.'),
    ('app_public.transcriptions', 'transcriptions_error_message_check', 'A transcription''s errorMessage may be at most 2,000 characters.'),
    ('app_public.transcriptions', 'transcriptions_language_check', 'A transcription''s language must be a language tag such as en or pt-BR.'),
    ('app_public.transcriptions', 'transcriptions_model_check', 'A transcription''s model must be 1 to 100 characters, not only spaces.'),
    ('app_public.transcriptions', 'transcriptions_provider_check', 'A transcription''s provider must be 1 to 63 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit (such as deepgram).'),
    ('app_public.transcriptions', 'transcriptions_deletion_state', 'A transcription''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteTranscription and restoreTranscription.'),
    ('app_public.transcriptions', 'transcriptions_session_id_coach_profile_id_fkey', 'A transcription''s sessionId must name an existing coaching session of the same coach.'),
    ('app_public.transcriptions', 'transcriptions_retry_of_session_id_fkey', 'A transcription''s retryOf must name an earlier transcription of the same session.'),
    ('app_public.transcriptions', 'transcriptions_requested_by_fkey', 'A transcription''s requestedBy must name an existing user.'),
    ('app_public.transcriptions', 'transcriptions_deleted_by_fkey', 'A transcription''s deletedBy must name an existing user.'),
    -- usage_events
    ('app_public.usage_events', 'usage_events_pkey', 'A usage event with this rowId already exists.'),
    ('app_public.usage_events', 'usage_events_one_per_attempt', 'This transcription attempt already has its usage event; an attempt is metered once.'),
    ('app_public.usage_events', 'usage_events_one_void_per_event', 'This usage event is already voided; an event can be voided once.'),
    ('app_public.usage_events', 'usage_events_corrects_event_id_fkey', 'A usage event''s correctsEventId must name an existing usage event, and an event that a correction names cannot be deleted.'),
    -- usage_daily
    ('app_public.usage_daily', 'usage_daily_key', 'The daily usage already has a row for this day, coach, plan, provider, model and billing month.'),
    -- billing_months
    ('app_public.billing_months', 'billing_months_pkey', 'This month is already closed.'),
    ('app_public.billing_months', 'billing_months_month_check', 'A billing month must be the first day of a month, such as 2026-11-01.'),
    -- invoices
    ('app_public.invoices', 'invoices_pkey', 'This coach already has an invoice for this month.'),
    ('app_public.invoices', 'invoices_closed_at_check', 'A frozen invoice must say when its month was closed (closedAt).'),
    ('app_public.invoices', 'invoices_month_fkey', 'An invoice''s month must be a closed billing month, and a closed month with invoices cannot be deleted.'),
    -- legal_holds
    ('app_public.legal_holds', 'legal_holds_pkey', 'A legal hold with this rowId already exists.'),
    ('app_public.legal_holds', 'legal_holds_client_id_fkey', 'A legal hold''s clientId must name an existing client, and a client under a legal hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_user_id_fkey', 'A legal hold''s userId must name an existing user, and a user under a legal hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_coach_profile_id_fkey', 'A legal hold''s coachProfileId must name an existing coach profile, and a coach profile under a legal hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_placed_by_fkey', 'A legal hold''s placedBy must name an existing user, and a user who placed a hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_released_by_fkey', 'A legal hold''s releasedBy must name an existing user, and a user who released a hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_reason_check', 'A legal hold''s reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.legal_holds', 'legal_holds_release_reason_check', 'A legal hold''s releaseReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.legal_holds', 'legal_holds_one_target', 'A legal hold covers exactly one of clientId, userId or coachProfileId.'),
    ('app_public.legal_holds', 'legal_holds_release_state', 'A legal hold is released with a reason: releasedAt and releaseReason go together (use releaseLegalHold).'),
    -- data_subject_requests
    ('app_public.data_subject_requests', 'data_subject_requests_pkey', 'A data-subject request with this rowId already exists.'),
    ('app_public.data_subject_requests', 'data_subject_requests_client_id_fkey', 'A data-subject request''s clientId must name an existing client, and a client with requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_user_id_fkey', 'A data-subject request''s userId must name an existing user, and a user with requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_filed_by_fkey', 'A data-subject request''s filedBy must name an existing user, and a user who filed requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_verified_by_fkey', 'A data-subject request''s verifiedBy must name an existing user, and a user who verified requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_extension_months_check', 'A data-subject request''s extensionMonths must be 0, 1 or 2: the deadline can be extended by at most two months (Art. 12(3)).'),
    ('app_public.data_subject_requests', 'data_subject_requests_extension_reason_check', 'A data-subject request''s extensionReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_requests', 'data_subject_requests_verification_check', 'A data-subject request''s verification must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_requests', 'data_subject_requests_rejection_reason_check', 'A data-subject request''s rejectionReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_requests', 'data_subject_requests_one_subject', 'A data-subject request is about exactly one person: give either clientId or userId.'),
    ('app_public.data_subject_requests', 'data_subject_requests_extension_has_reason', 'Extending a data-subject request''s deadline needs an extensionReason, and only an extension has one.'),
    ('app_public.data_subject_requests', 'data_subject_requests_verified_state', 'A data-subject request is verified, in progress or completed only with its verification: say how the person''s identity was checked.'),
    ('app_public.data_subject_requests', 'data_subject_requests_rejection_has_reason', 'Rejecting a data-subject request needs a rejectionReason, and only a rejected request has one.'),
    ('app_public.data_subject_requests', 'data_subject_requests_closed_state', 'A data-subject request''s closedAt is set by the database when it is completed or rejected.'),
    -- consents
    ('app_public.consents', 'consents_pkey', 'A consent record with this rowId already exists.'),
    ('app_public.consents', 'consents_client_id_fkey', 'A consent''s clientId must name an existing client.'),
    ('app_public.consents', 'consents_recorded_by_fkey', 'A consent''s recordedBy must name an existing user, and a user who recorded consents cannot be deleted.'),
    ('app_public.consents', 'consents_wording_version_check', 'A consent''s wordingVersion must be 1 to 100 characters, not only spaces.'),
    ('app_public.consents', 'consents_wording_sha256_check', 'A consent''s wordingSha256 must be the SHA-256 of the text shown, as 64 lowercase hex digits.'),
    ('app_public.consents', 'consents_grant_has_wording', 'Granting consent needs the wording the client was shown: wordingVersion and wordingSha256.'),
    ('app_public.consents', 'consents_wording_pair', 'A consent''s wordingVersion and wordingSha256 go together: give both or neither.'),
    -- processing_restrictions
    ('app_public.processing_restrictions', 'processing_restrictions_pkey', 'A restriction with this rowId already exists.'),
    ('app_public.processing_restrictions', 'processing_restrictions_client_id_fkey', 'A restriction''s client must exist, and a client with a restriction on record cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_request_id_fkey', 'A restriction''s requestId must name an existing data-subject request, and a request with a restriction cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_placed_by_fkey', 'A restriction''s placedBy must name an existing user, and a user who placed a restriction cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_lifted_by_fkey', 'A restriction''s liftedBy must name an existing user, and a user who lifted a restriction cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_reason_check', 'A restriction''s reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.processing_restrictions', 'processing_restrictions_lift_reason_check', 'A restriction''s liftReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.processing_restrictions', 'processing_restrictions_lift_state', 'A restriction is lifted with a reason: liftedAt and liftReason go together (use liftProcessingRestriction).'),
    -- data_subject_erasures (written by eraseDataSubject only)
    ('app_public.data_subject_erasures', 'data_subject_erasures_pkey', 'An erasure record with this rowId already exists.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_request_id_key', 'This erasure request has already been run; a request is erased once.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_request_id_fkey', 'An erasure record''s requestId must name an existing data-subject request.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_erased_by_fkey', 'An erasure record''s erasedBy must name an existing user, and a user who erased cannot be deleted.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_overridden_hold_id_fkey', 'An erasure record''s overriddenHoldId must name an existing legal hold.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_override_reason_check', 'An override reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_override_has_hold', 'An override reason is given exactly when a legal hold was overridden.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_counts_check', 'An erasure''s counts cannot be negative.'),
    -- data_subject_erasure_runs (written by requestDataSubjectErasure and the worker only)
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_pkey', 'An erasure run with this rowId already exists.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_waiting_key', 'An erasure run already waits for this request; it is run once.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_request_id_fkey', 'An erasure run''s requestId must name an existing data-subject request.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_requested_by_fkey', 'An erasure run''s requestedBy must name an existing user.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_erasure_id_fkey', 'An erasure run''s erasureId must name an existing erasure record.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_override_reason_check', 'An override reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_finished_state', 'An erasure run has its finishedAt and seconds together, with either its erasure or its error once finished, and none of them before.'),
    -- data_subject_exports
    ('app_public.data_subject_exports', 'data_subject_exports_pkey', 'An export with this rowId already exists.'),
    ('app_public.data_subject_exports', 'data_subject_exports_one_per_request', 'This request has its export already; ask with requestDataSubjectExport, which gives the same export again.'),
    ('app_public.data_subject_exports', 'data_subject_exports_request_id_fkey', 'An export''s requestId must name an existing data-subject request.'),
    ('app_public.data_subject_exports', 'data_subject_exports_requested_by_fkey', 'An export''s requestedBy must name an existing user, and a user who asked for exports cannot be deleted.'),
    ('app_public.data_subject_exports', 'data_subject_exports_byte_size_check', 'An export''s byteSize must be at least one byte.'),
    ('app_public.data_subject_exports', 'data_subject_exports_sha256_check', 'An export''s sha256 must be 64 lowercase hexadecimal digits.'),
    ('app_public.data_subject_exports', 'data_subject_exports_built_state', 'An export is built with its builtAt, expiresAt, byteSize, sha256 and manifest together, or has none of them.'),
    ('app_public.data_subject_exports', 'data_subject_exports_expiry_window', 'An export expires after it is built and at most 90 days after.'),
    ('app_public.data_subject_exports', 'data_subject_exports_deleted_after_built', 'Only a built export''s bytes can be deleted.'),
    -- retention
    ('app_public.retention_policies', 'retention_policies_pkey', 'A retention policy with this name already exists.'),
    ('app_public.retention_policies', 'retention_policies_name_check', 'A retention policy''s name must be snake_case: a lowercase letter, then 2 to 62 lowercase letters, digits or underscores.'),
    ('app_public.retention_policies', 'retention_policies_category_check', 'A retention policy''s category must be 3 to 200 characters, not only spaces.'),
    ('app_public.retention_policies', 'retention_policies_period_check', 'A retention policy''s period must be more than zero (for example 90 days).'),
    ('app_public.retention_policies', 'retention_policies_description_check', 'A retention policy''s description must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.retention_policies', 'retention_policies_period_state', 'A retention policy has a period exactly when it does not keep its rows forever: give a period, or keep_forever without one.'),
    ('app_public.retention_policies', 'retention_policies_anonymize_columns_state', 'Only an anonymize policy has anonymizeColumns.'),
    ('app_public.retention_runs', 'retention_runs_pkey', 'A retention run with this rowId already exists.'),
    ('app_public.retention_runs', 'retention_runs_one_running', 'Another retention run is running; only one runs at a time.'),
    ('app_public.retention_runs', 'retention_runs_status_check', 'A retention run''s status is running, finished or failed.'),
    ('app_public.retention_runs', 'retention_runs_policy_name_fkey', 'A retention run''s policyName must name an existing retention policy, and a policy that has run cannot be deleted (disable it instead).'),
    ('app_public.retention_runs', 'retention_runs_started_by_fkey', 'A retention run''s startedBy must name an existing user.'),
    ('app_public.retention_runs', 'retention_runs_task_check', 'A retention run''s task must be 1 to 200 characters.'),
    ('app_public.retention_runs', 'retention_runs_finished_state', 'A retention run has finishedAt exactly when it is no longer running.'),
    ('app_public.retention_runs', 'retention_runs_error_state', 'Only a failed retention run has an error.'),
    ('app_public.retention_run_policies', 'retention_run_policies_pkey', 'This run already has a row for this policy.'),
    ('app_public.retention_run_policies', 'retention_run_policies_run_id_fkey', 'A run''s policy row must belong to an existing retention run.'),
    ('app_public.retention_run_policies', 'retention_run_policies_policy_name_fkey', 'A run''s policy row must name an existing retention policy, and a policy that has run cannot be deleted (disable it instead).'),
    ('app_public.retention_run_policies', 'retention_run_policies_status_check', 'A run''s policy row is running, finished, failed or skipped.'),
    ('app_public.retention_run_policies', 'retention_run_policies_counts_check', 'A run''s counts cannot be negative.'),
    ('app_public.retention_run_policies', 'retention_run_policies_finished_state', 'A run''s policy row has finishedAt exactly when it is no longer running.'),
    ('app_public.retention_archives', 'retention_archives_pkey', 'An archive with this rowId is already recorded.'),
    ('app_public.retention_archives', 'retention_archives_kind_check', 'An archive''s kind is rows or audit_partition.'),
    ('app_public.retention_archives', 'retention_archives_policy_name_fkey', 'An archive''s policyName must name an existing retention policy, and a policy with archives cannot be deleted (disable it instead).'),
    ('app_public.retention_archives', 'retention_archives_run_id_fkey', 'An archive''s runId must name an existing retention run.'),
    ('app_public.retention_archives', 'retention_archives_store_check', 'An archive''s store must be 1 to 1,000 characters.'),
    ('app_public.retention_archives', 'retention_archives_row_count_check', 'An archive''s rowCount cannot be negative.'),
    ('app_public.retention_archives', 'retention_archives_written_state', 'An archive has its manifest exactly when it has been written (writtenAt).'),
    ('app_public.retention_archives', 'retention_archives_verified_after_written', 'An archive is verified only after it is written.'),
    ('app_public.retention_archives', 'retention_archives_removed_after_verified', 'An archive''s rows are removed only after it is verified.'),
    -- usage_reconcile_checks, usage_reconcile_differences
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_pkey', 'A reconcile check with this rowId already exists.'),
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_range', 'A reconcile check''s fromDay must be before its toDay (to exclusive).'),
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_finished_state', 'A reconcile check has its finishedAt and seconds together, with either its differenceCount or its error once finished, and none of them before.'),
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_requested_by_fkey', 'A reconcile check''s requestedBy must name an existing user.'),
    ('app_public.usage_reconcile_differences', 'usage_reconcile_differences_pkey', 'A reconcile check has one difference at each position.'),
    ('app_public.usage_reconcile_differences', 'usage_reconcile_differences_check_id_fkey', 'A difference''s checkId must name an existing reconcile check.'),
    -- governance
    ('governance.hard_deletions', 'hard_deletions_reason_check', 'A hard delete''s reason must be 3 to 2,000 characters, not only spaces.')
$$ language sql immutable;
comment on function app_private.constraint_words() is
  E'The sentence a user reads when a write breaks a constraint or unique index: one row per (table, constraint), naming the field as the API spells it and the rule.';

-- The API server reads them once, as itself, before any request role is set.
revoke all on function app_private.constraint_words() from public;
grant execute on function app_private.constraint_words() to custodian_authenticator;
--! EndIncluded domain/constraint-words.sql
