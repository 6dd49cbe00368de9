--! Previous: sha1:c6fdc4f6cd74e0c3ea4c69f3932feeb0a84e5764
--! Hash: sha1:0dc97aacb6c8be8a12f35cebcc4e47bd15093c01
--! Message: Issue 15: reconcile as a stored check, asked for by an admin or an auditor and run by the worker; the console's reconcile page reads the last check of its range

-- Reconcile as a stored check (issue 15): comparing a month of events with
-- its rollups and attempts takes seconds at volume, so the console's page
-- shows the last check of a range, asks the worker for a new one, and says
-- when it ran.
create table app_public.usage_reconcile_checks (
  id uuid primary key default gen_random_uuid(),
  from_day date not null,
  to_day date not null,
  requested_by uuid constraint usage_reconcile_checks_requested_by_fkey references app_public.users on delete set null,
  requested_at timestamptz not null default now(),
  finished_at timestamptz,
  seconds numeric(12, 3),
  difference_count integer,
  error text,
  constraint usage_reconcile_checks_range check (from_day < to_day),
  constraint usage_reconcile_checks_finished_state check (
    (finished_at is null) = (seconds is null) and (finished_at is null) = (difference_count is null and error is null)
    and (difference_count is null or error is null))
);
create index usage_reconcile_checks_range_idx on app_public.usage_reconcile_checks (from_day, to_day, requested_at);
create index usage_reconcile_checks_requested_by_idx on app_public.usage_reconcile_checks (requested_by);
comment on table app_public.usage_reconcile_checks is
  E'@behavior -insert -update -delete\nChecks of usage_reconcile over a range, asked for by an admin or an auditor (requestUsageReconcileCheck) and run by the worker: when each was asked for and finished, how long it took, how many differences it found (in its differences), or the error that stopped it.';
comment on column app_public.usage_reconcile_checks.from_day is E'The first day checked.';
comment on column app_public.usage_reconcile_checks.to_day is E'The day after the last one checked (to exclusive, as everywhere).';
comment on column app_public.usage_reconcile_checks.requested_by is E'Who asked for the check.';
comment on column app_public.usage_reconcile_checks.requested_at is E'When it was asked for.';
comment on column app_public.usage_reconcile_checks.finished_at is E'When the worker finished it; null while it waits or runs.';
comment on column app_public.usage_reconcile_checks.seconds is E'How long the check itself took.';
comment on column app_public.usage_reconcile_checks.difference_count is E'How many differences it found (0: rollups, events and attempts agree); null until it finished, or when it failed.';
comment on column app_public.usage_reconcile_checks.error is E'Why the check could not be done, when it could not.';
alter table app_public.usage_reconcile_checks enable row level security;

create table app_public.usage_reconcile_differences (
  check_id uuid not null constraint usage_reconcile_differences_check_id_fkey
    references app_public.usage_reconcile_checks on delete cascade,
  position integer not null,
  check_name text not null,
  day date,
  subject text,
  expected text,
  actual text,
  primary key (check_id, position)
);
comment on table app_public.usage_reconcile_differences is
  E'@behavior -insert -update -delete\nThe differences a reconcile check found, in usage_reconcile''s order (position): each row as usage_reconcile gives it.';
comment on constraint usage_reconcile_differences_check_id_fkey on app_public.usage_reconcile_differences is
  E'@foreignFieldName differences\n@fieldName reconcileCheck';
comment on column app_public.usage_reconcile_differences.check_id is E'The check that found it.';
comment on column app_public.usage_reconcile_differences.position is E'Its place in the check''s list, from 1.';
comment on column app_public.usage_reconcile_differences.check_name is E'Which check differs (rollup_vs_events, totals_vs_rollups, attempt_vs_event, unrated_record, unknown_provider_cost).';
comment on column app_public.usage_reconcile_differences.day is E'The day it is about.';
comment on column app_public.usage_reconcile_differences.subject is E'What it is about: a rollup''s coach, provider, model, plan and billing month, an attempt or an event.';
comment on column app_public.usage_reconcile_differences.expected is E'What the check expected.';
comment on column app_public.usage_reconcile_differences.actual is E'What it found.';
alter table app_public.usage_reconcile_differences enable row level security;

-- Who asked for a check is audited; its findings derive from the rows it compared.
select audit.enable_tracking('app_public.usage_reconcile_checks');

--! Included usage/reconcile-checks.sql
-- Reconcile as a stored check: asked for by an admin or an auditor, run by
-- the worker (usage_reconcile_check), its result kept with when it ran. A
-- check changes no figure, so an auditor may ask for one too.

drop policy if exists staff_read on app_public.usage_reconcile_checks;
create policy staff_read on app_public.usage_reconcile_checks for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.usage_reconcile_checks to custodian_admin, custodian_auditor;

drop policy if exists staff_read on app_public.usage_reconcile_differences;
create policy staff_read on app_public.usage_reconcile_differences for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.usage_reconcile_differences to custodian_admin, custodian_auditor;

create or replace function app_public.request_usage_reconcile_check(from_day date, to_day date)
returns app_public.usage_reconcile_checks as $$
declare
  asked app_public.usage_reconcile_checks;
begin
  -- The grant admits admins and auditors only; this says so to anyone it reaches otherwise.
  if not app_private.is_staff() then
    raise exception 'Only admins and auditors may check usage.' using errcode = '42501';
  end if;
  perform app_private.check_range(from_day, to_day);
  -- Asked again while one waits: that check, not a second.
  select c.* into asked from app_public.usage_reconcile_checks c
  where c.from_day = request_usage_reconcile_check.from_day and c.to_day = request_usage_reconcile_check.to_day
    and c.finished_at is null
  order by c.requested_at desc limit 1;
  if found then
    return asked;
  end if;
  insert into app_public.usage_reconcile_checks (from_day, to_day, requested_by)
  values (from_day, to_day, app_public.current_user_id())
  returning * into asked;
  perform graphile_worker.add_job('usage_reconcile_check', pg_catalog.json_build_object('checkId', asked.id), max_attempts => 3);
  return asked;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.request_usage_reconcile_check(date, date) is
  E'Asks the worker to check a range of days (to exclusive) with usage_reconcile and keep what it finds; asked again while that check waits, returns the same one. Admins and auditors. The check appears in usageReconcileChecks at once, finished once the worker has run it.';
revoke all on function app_public.request_usage_reconcile_check(date, date) from public;
grant execute on function app_public.request_usage_reconcile_check(date, date) to custodian_admin, custodian_auditor;

create or replace function app_private.run_usage_reconcile_check(check_id uuid) returns integer as $$
declare
  checked app_public.usage_reconcile_checks;
  started timestamptz := pg_catalog.clock_timestamp();
  differences integer;
begin
  select c.* into checked from app_public.usage_reconcile_checks c where c.id = run_usage_reconcile_check.check_id for update;
  if not found then
    raise exception 'There is no reconcile check %.', check_id using errcode = 'P0002';
  end if;
  -- Run again (a retried job): what it found stands.
  if checked.finished_at is not null then
    return checked.difference_count;
  end if;
  begin
    insert into app_public.usage_reconcile_differences (check_id, position, check_name, day, subject, expected, actual)
    select checked.id, (pg_catalog.row_number() over ())::integer, d.check_name, d.day, d.subject, d.expected, d.actual
    from app_public.usage_reconcile(checked.from_day, checked.to_day) d;
    get diagnostics differences = row_count;
    update app_public.usage_reconcile_checks c
    set finished_at = pg_catalog.clock_timestamp(), difference_count = differences,
      seconds = pg_catalog.round(extract(epoch from pg_catalog.clock_timestamp() - started)::numeric, 3)
    where c.id = checked.id;
  exception when others then
    -- What stopped it is kept with the check (its differences, if any, are undone).
    update app_public.usage_reconcile_checks c
    set finished_at = pg_catalog.clock_timestamp(), error = sqlerrm,
      seconds = pg_catalog.round(extract(epoch from pg_catalog.clock_timestamp() - started)::numeric, 3)
    where c.id = checked.id;
  end;
  return differences;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.run_usage_reconcile_check(uuid) is
  E'Runs a reconcile check (the worker''s usage_reconcile_check task): stores usage_reconcile''s rows for its range as its differences and marks it finished, or keeps the error that stopped it. Idempotent: a finished check is left as it is. Returns how many differences it found.';

create or replace function app_public.latest_usage_reconcile_check(from_day date, to_day date) returns app_public.usage_reconcile_checks as $$
  select c.* from app_public.usage_reconcile_checks c
  where c.from_day = latest_usage_reconcile_check.from_day and c.to_day = latest_usage_reconcile_check.to_day
  order by c.requested_at desc limit 1;
$$ language sql stable;
comment on function app_public.latest_usage_reconcile_check(date, date) is
  E'The last check asked for of exactly this range of days (to exclusive): waiting, finished with its differences, or failed; null if none. Admins and auditors (row-level security).';
grant execute on function app_public.latest_usage_reconcile_check(date, date) to custodian_admin, custodian_auditor;
--! EndIncluded usage/reconcile-checks.sql
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
--! Included gdpr/classify-custodian.sql
-- The map of personal data for Custodian's own tables: every text, varchar,
-- citext and jsonb column (test/gdpr/personal-data-map.test.ts fails on one
-- left out), and the uuid columns that name a person. A new table's
-- migration adds its rows here. Identity, contact and content columns of
-- tracked tables become pii in the audit trail through classify_column.

select governance.classify_column(m.target::regclass, m.column_name::name, m.category::governance.data_category,
  m.subject_kind::governance.data_subject_kind, m.purpose, m.legal_basis::governance.legal_basis,
  case when m.target <> 'audit.events' or m.subject_kind = 'none' then null
       when m.subject_kind = 'user' then 'user_id' else 'subject_id' end)
from (values
  -- Accounts
  ('app_public.users', 'id', 'technical', 'user', 'Identifies the account of a coach, admin or auditor.', 'contract'),
  ('app_public.users', 'email', 'contact', 'user', 'Signing in and contacting the account holder.', 'contract'),
  ('app_public.users', 'display_name', 'identity', 'user', 'Showing who acts in the console and in the audit trail.', 'contract'),
  ('app_private.user_secrets', 'password_hash', 'technical', 'user', 'Checking the password at sign-in (never stored in the audit trail).', 'contract'),
  ('app_private.sign_in_attempts', 'email', 'contact', 'any', 'Detecting and investigating attacks on accounts.', 'legitimate_interests'),
  ('app_private.sign_in_attempts', 'subject_id', 'technical', 'any', 'Naming the person an attempt is about, so that erasing them reaches it.', 'legitimate_interests'),
  ('app_private.sign_in_attempts', 'client_address', 'technical', 'any', 'Limiting sign-in attempts per address, and investigating attacks on accounts.', 'legitimate_interests'),
  -- Coaching
  ('app_public.coach_profiles', 'display_name', 'identity', 'user', 'Presenting the coach to their clients.', 'contract'),
  ('app_public.coach_profiles', 'bio', 'content', 'user', 'Presenting the coach to their clients.', 'contract'),
  ('app_public.coach_profiles', 'timezone', 'technical', 'user', 'Showing times and billing days in the coach''s zone.', 'contract'),
  ('app_public.clients', 'id', 'technical', 'client', 'Identifies the client across sessions, requests and the audit trail.', 'contract'),
  ('app_public.clients', 'full_name', 'identity', 'client', 'The coach knowing whom they coach.', 'contract'),
  ('app_public.clients', 'email', 'contact', 'client', 'The coach contacting their client.', 'contract'),
  ('app_public.clients', 'phone', 'contact', 'client', 'The coach contacting their client.', 'contract'),
  ('app_public.clients', 'notes', 'content', 'client', 'The coach''s notes about the coaching.', 'contract'),
  ('app_public.coaching_sessions', 'title', 'content', 'client', 'Naming a recorded coaching session.', 'contract'),
  ('app_public.coaching_sessions', 'audio_object_key', 'technical', 'client', 'Finding the session''s recording in storage.', 'contract'),
  ('app_public.transcriptions', 'transcript_text', 'content', 'client', 'The transcript of a recorded session, which the coach asked for.', 'contract'),
  ('app_public.transcriptions', 'error_message', 'content', 'client', 'Why a transcription failed (a provider''s message may quote the recording).', 'contract'),
  ('app_public.transcriptions', 'provider', 'not_personal', 'none', 'Which provider transcribed, for billing and costs.', 'not_applicable'),
  ('app_public.transcriptions', 'model', 'not_personal', 'none', 'Which model transcribed, for billing and costs.', 'not_applicable'),
  ('app_public.transcriptions', 'language', 'not_personal', 'none', 'The language the provider was asked to transcribe.', 'not_applicable'),
  -- Billing and usage: no personal data (usage events are kept after erasure, Art. 17(3))
  ('app_public.billing_plans', 'name', 'not_personal', 'none', 'Naming a billing plan.', 'not_applicable'),
  ('app_public.billing_plans', 'currency', 'not_personal', 'none', 'Billing.', 'not_applicable'),
  ('app_public.provider_rates', 'provider', 'not_personal', 'none', 'Provider costs.', 'not_applicable'),
  ('app_public.provider_rates', 'model', 'not_personal', 'none', 'Provider costs.', 'not_applicable'),
  ('app_public.provider_rates', 'currency', 'not_personal', 'none', 'Provider costs.', 'not_applicable'),
  ('app_public.invoices', 'plan_name', 'not_personal', 'none', 'A frozen invoice''s plan, as billed.', 'not_applicable'),
  ('app_public.invoices', 'currency', 'not_personal', 'none', 'Billing.', 'not_applicable'),
  ('app_public.usage_events', 'provider', 'not_personal', 'none', 'Metering and billing.', 'not_applicable'),
  ('app_public.usage_events', 'model', 'not_personal', 'none', 'Metering and billing.', 'not_applicable'),
  ('app_public.usage_events', 'language', 'not_personal', 'none', 'Metering and billing.', 'not_applicable'),
  ('app_public.usage_events', 'rule_version', 'not_personal', 'none', 'Which billing rule priced an event.', 'not_applicable'),
  ('app_public.usage_events', 'note', 'not_personal', 'none', 'Why staff corrected a usage event: about billing, never about a person.', 'not_applicable'),
  ('app_public.usage_daily', 'provider', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_public.usage_daily', 'model', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_private.usage_daily_totals', 'provider', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_private.usage_daily_totals', 'model', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_private.usage_records', 'provider', 'not_personal', 'none', 'Usage capture.', 'not_applicable'),
  ('app_private.usage_records', 'model', 'not_personal', 'none', 'Usage capture.', 'not_applicable'),
  ('app_private.usage_records', 'language', 'not_personal', 'none', 'Usage capture.', 'not_applicable'),
  ('app_public.usage_reconcile_checks', 'error', 'not_personal', 'none', 'Why a reconcile check failed: a message naming tables and functions, never a person''s values.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'check_name', 'not_personal', 'none', 'Which reconcile check differs.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'subject', 'not_personal', 'none', 'What a difference is about: ids of a coach profile, an attempt or an event, a provider, a model, a plan.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'expected', 'not_personal', 'none', 'Billing measures a reconcile check expected.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'actual', 'not_personal', 'none', 'Billing measures a reconcile check found.', 'not_applicable'),
  ('app_private.worker_heartbeats', 'task', 'not_personal', 'none', 'Watching the worker.', 'not_applicable'),
  ('app_private.worker_pools', 'pool_id', 'not_personal', 'none', 'Telling which worker pool locked a job, to free the jobs of one that died.', 'not_applicable'),
  ('app_private.worker_pools', 'host', 'not_personal', 'none', 'Which machine a worker pool runs on, for operators.', 'not_applicable'),
  -- The audit trail: its values are sealed per person (audit.column_policies)
  ('audit.events', 'table_schema', 'not_personal', 'none', 'Which table an event is about.', 'not_applicable'),
  ('audit.events', 'table_name', 'not_personal', 'none', 'Which table an event is about.', 'not_applicable'),
  ('audit.events', 'record_key', 'technical', 'any', 'Which record an event is about.', 'legal_obligation'),
  ('audit.events', 'old_values', 'content', 'any', 'Accountability for every change; pii sealed under the person''s key, erased with it.', 'legal_obligation'),
  ('audit.events', 'new_values', 'content', 'any', 'Accountability for every change; pii sealed under the person''s key, erased with it.', 'legal_obligation'),
  ('audit.events', 'details', 'technical', 'any', 'What a delete or truncate did.', 'legal_obligation'),
  ('audit.events', 'subject_id', 'technical', 'any', 'Whose pii an event holds, so that erasing them reaches it.', 'legal_obligation'),
  ('audit.events', 'user_role', 'not_personal', 'none', 'The writer''s role.', 'not_applicable'),
  ('audit.events', 'request_id', 'technical', 'user', 'Tying an event to the API request that wrote it.', 'legitimate_interests'),
  ('audit.events', 'client_ip', 'technical', 'user', 'Where a write came from, for security investigations.', 'legitimate_interests'),
  ('audit.events', 'user_agent', 'technical', 'user', 'What software wrote, for security investigations.', 'legitimate_interests'),
  ('audit.events', 'task', 'not_personal', 'none', 'Which worker job wrote.', 'not_applicable'),
  ('audit.events', 'job_id', 'not_personal', 'none', 'Which worker job wrote.', 'not_applicable'),
  ('audit.events', 'database_role', 'not_personal', 'none', 'Which database role wrote.', 'not_applicable'),
  ('audit.events', 'session_user_name', 'not_personal', 'none', 'Which database login wrote.', 'not_applicable'),
  ('audit.events', 'application_name', 'not_personal', 'none', 'Which program wrote.', 'not_applicable'),
  ('audit.tracked_tables', 'columns_signature', 'not_personal', 'none', 'The audit trail''s configuration.', 'not_applicable'),
  ('audit.chain_checkpoints', 'partition_name', 'not_personal', 'none', 'Which month of the audit trail was archived and dropped.', 'not_applicable'),
  ('audit.chain_checkpoints', 'archive_store', 'not_personal', 'none', 'Where that month''s archive is stored.', 'not_applicable'),
  -- Governance
  ('governance.hard_deletions', 'table_schema', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'table_name', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'row_id', 'technical', 'any', 'Which row a hard delete removed.', 'legal_obligation'),
  ('governance.hard_deletions', 'reason', 'not_personal', 'none', 'Why an operator hard-deleted: the case, not details of the person.', 'not_applicable'),
  ('governance.archive_restorations', 'table_name', 'not_personal', 'none', 'Which table an archive restore wrote into.', 'not_applicable'),
  ('governance.soft_delete_tables', 'key_type', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.soft_delete_tables', 'noun', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.personal_data_columns', 'purpose', 'not_personal', 'none', 'The map of personal data itself.', 'not_applicable'),
  -- GDPR
  ('app_public.legal_holds', 'reason', 'not_personal', 'none', 'Why data must be kept: the case or obligation, not details of the person.', 'not_applicable'),
  ('app_public.legal_holds', 'release_reason', 'not_personal', 'none', 'Why a hold no longer applies.', 'not_applicable'),
  ('app_public.data_subject_requests', 'subject_id', 'technical', 'any', 'Whom a request is about.', 'legal_obligation'),
  ('app_public.data_subject_requests', 'verification', 'content', 'any', 'Proof that the requester is the person (Art. 12(6)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'extension_reason', 'content', 'any', 'Why answering takes longer (Art. 12(3)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'rejection_reason', 'content', 'any', 'Why a request was refused (Art. 12(4)).', 'legal_obligation'),
  ('app_public.consents', 'client_id', 'technical', 'client', 'Whose consent decision it is: the proof of consent (Art. 7(1)).', 'legal_obligation'),
  ('app_public.consents', 'wording_version', 'not_personal', 'none', 'Which consent text was shown: the same for every client.', 'not_applicable'),
  ('app_public.consents', 'wording_sha256', 'not_personal', 'none', 'The SHA-256 of the consent text shown: a hash of the standard wording, not of anything about the client.', 'not_applicable'),
  ('app_public.processing_restrictions', 'client_id', 'technical', 'client', 'Whose processing is restricted (Art. 18).', 'legal_obligation'),
  ('app_public.processing_restrictions', 'reason', 'not_personal', 'none', 'The ground of a restriction: the Art. 18(1) case, not details of the person.', 'not_applicable'),
  ('app_public.processing_restrictions', 'lift_reason', 'not_personal', 'none', 'Why a restriction no longer applies.', 'not_applicable'),
  ('app_public.data_subject_erasures', 'subject_id', 'technical', 'any', 'Whom an erasure was about: an id, kept as proof the erasure happened (Art. 5(2)).', 'legal_obligation'),
  ('app_public.data_subject_erasures', 'rows_by_table', 'not_personal', 'none', 'Which tables an erasure reached and how many rows: counts, never values.', 'not_applicable'),
  ('app_public.data_subject_erasures', 'override_reason', 'not_personal', 'none', 'Why an admin erased under a legal hold: the case, not details of the person.', 'not_applicable'),
  ('app_public.data_subject_exports', 'sha256', 'technical', 'any', 'Proving which file answered an access or portability request (Art. 15, 20), after its bytes are deleted.', 'legal_obligation'),
  ('app_public.data_subject_exports', 'manifest', 'technical', 'any', 'What an export held (files, row counts, hashes; no values), kept as the record that it was answered.', 'legal_obligation'),
  -- Retention
  ('app_public.retention_policies', 'name', 'not_personal', 'none', 'Naming a retention policy.', 'not_applicable'),
  ('app_public.retention_policies', 'category', 'not_personal', 'none', 'The data category a retention policy governs.', 'not_applicable'),
  ('app_public.retention_policies', 'target_table', 'not_personal', 'none', 'The table a retention policy governs.', 'not_applicable'),
  ('app_public.retention_policies', 'description', 'not_personal', 'none', 'Why a retention period was chosen.', 'not_applicable'),
  ('app_public.retention_runs', 'status', 'not_personal', 'none', 'How a retention run ended.', 'not_applicable'),
  ('app_public.retention_runs', 'policy_name', 'not_personal', 'none', 'Which retention policy a run applied.', 'not_applicable'),
  ('app_public.retention_runs', 'task', 'not_personal', 'none', 'What started a retention run.', 'not_applicable'),
  ('app_public.retention_runs', 'error', 'not_personal', 'none', 'Why a retention run failed: a message naming tables, constraints and keys, never a person''s values.', 'not_applicable'),
  ('app_public.retention_run_policies', 'policy_name', 'not_personal', 'none', 'Which retention policy a run''s figures are about.', 'not_applicable'),
  ('app_public.retention_run_policies', 'status', 'not_personal', 'none', 'How a policy''s part of a run ended.', 'not_applicable'),
  ('app_public.retention_run_policies', 'error', 'not_personal', 'none', 'Why rows of a policy failed: a message naming tables, constraints and keys, never a person''s values.', 'not_applicable'),
  ('app_public.retention_run_policies', 'note', 'not_personal', 'none', 'Why a policy was skipped.', 'not_applicable'),
  ('app_public.retention_archives', 'kind', 'not_personal', 'none', 'What an archive holds.', 'not_applicable'),
  ('app_public.retention_archives', 'policy_name', 'not_personal', 'none', 'Which retention policy wrote an archive.', 'not_applicable'),
  ('app_public.retention_archives', 'store', 'not_personal', 'none', 'Where an archive is stored.', 'not_applicable'),
  ('app_public.retention_archives', 'manifest', 'not_personal', 'none', 'What an archive holds: files, counts, checksums and the archived rows'' keys, never their values.', 'not_applicable')
) as m(target, column_name, category, subject_kind, purpose, legal_basis);
--! EndIncluded gdpr/classify-custodian.sql
