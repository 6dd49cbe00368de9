--! Previous: sha1:9b6786e0fc53445884e47643af6de72ebb74ad2b
--! Hash: sha1:40a5dec212133f3f818d3eb8cc0b9da69f8b0e80
--! Message: issue 16 erasure and proof of erasure

-- Issue 16, erasure and proof of erasure: the record of each erasure (counts,
-- never values), the residue scan and the erasure itself.

create table app_public.data_subject_erasures (
  id uuid primary key default gen_random_uuid(),
  request_id uuid not null constraint data_subject_erasures_request_id_key unique
    references app_public.data_subject_requests on delete restrict,
  subject_id uuid not null,
  erased_by uuid references app_public.users on delete restrict,
  erased_at timestamptz not null default now(),
  rows_by_table jsonb not null,
  rows_erased integer not null,
  values_searched integer not null,
  values_shared_skipped integer not null,
  residue_count integer not null,
  override_reason text constraint data_subject_erasures_override_reason_check check (length(btrim(override_reason)) between 3 and 2000),
  overridden_hold_id uuid references app_public.legal_holds on delete restrict,
  constraint data_subject_erasures_override_has_hold check ((override_reason is null) = (overridden_hold_id is null)),
  constraint data_subject_erasures_counts_check check (rows_erased >= 0 and values_searched >= 0 and values_shared_skipped >= 0 and residue_count >= 0)
);
create index data_subject_erasures_erased_by_idx on app_public.data_subject_erasures (erased_by);
create index data_subject_erasures_overridden_hold_id_idx on app_public.data_subject_erasures (overridden_hold_id);
comment on table app_public.data_subject_erasures is
  E'@behavior -insert -update -delete\nThe record of one erasure (GDPR Art. 17): which request, who ran it and when, which tables it reached and how many rows, how many former values the residue scan searched for and how many places still held one (zero: an erasure with residue does not commit), and the legal hold it overrode with the admin''s reason. Never the erased data. Written by eraseDataSubject only; admins and auditors read it.';
comment on column app_public.data_subject_erasures.request_id is E'The erasure request it ran.';
comment on column app_public.data_subject_erasures.subject_id is E'The person erased (their id, which carries nothing about them once their data is gone).';
comment on column app_public.data_subject_erasures.erased_by is E'The admin who ran it; null when an operator ran it from the command line or a worker job.';
comment on column app_public.data_subject_erasures.erased_at is E'When it ran (the transaction''s time).';
comment on column app_public.data_subject_erasures.rows_by_table is E'Rows anonymized per table, as {"schema.table": count}.';
comment on column app_public.data_subject_erasures.rows_erased is E'Rows anonymized in all.';
comment on column app_public.data_subject_erasures.values_searched is E'Distinct former values the residue scan searched for.';
comment on column app_public.data_subject_erasures.values_shared_skipped is E'Former values not searched for because other people''s rows hold them too (a template note, a common title): they say nothing about this person.';
comment on column app_public.data_subject_erasures.residue_count is E'Places where the residue scan still found a former value before commit: always 0, since an erasure with residue is refused.';
comment on column app_public.data_subject_erasures.override_reason is E'Why an admin erased although a legal hold covered the person (3 to 2,000 characters).';
comment on column app_public.data_subject_erasures.overridden_hold_id is E'The legal hold that was overridden.';
comment on constraint data_subject_erasures_request_id_fkey on app_public.data_subject_erasures is
  E'@fieldName request\n@foreignFieldName erasure';
comment on constraint data_subject_erasures_overridden_hold_id_fkey on app_public.data_subject_erasures is
  E'@fieldName overriddenHold\n@foreignFieldName erasuresOverriding';
comment on constraint data_subject_erasures_erased_by_fkey on app_public.data_subject_erasures is
  E'@fieldName eraser\n@foreignFieldName erasuresRun';
alter table app_public.data_subject_erasures enable row level security;

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
    -- data_subject_erasures (written by eraseDataSubject only)
    ('app_public.data_subject_erasures', 'data_subject_erasures_pkey', 'An erasure record with this rowId already exists.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_request_id_key', 'This erasure request has already been run; a request is erased once.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_request_id_fkey', 'An erasure record''s requestId must name an existing data-subject request.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_erased_by_fkey', 'An erasure record''s erasedBy must name an existing user, and a user who erased cannot be deleted.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_overridden_hold_id_fkey', 'An erasure record''s overriddenHoldId must name an existing legal hold.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_override_reason_check', 'An override reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_override_has_hold', 'An override reason is given exactly when a legal hold was overridden.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_counts_check', 'An erasure''s counts cannot be negative.'),
    -- governance
    ('governance.hard_deletions', 'hard_deletions_reason_check', 'A hard delete''s reason must be 3 to 2,000 characters, not only spaces.')
$$ language sql immutable;
comment on function app_private.constraint_words() is
  E'The sentence a user reads when a write breaks a constraint or unique index: one row per (table, constraint), naming the field as the API spells it and the rule.';

-- The API server reads them once, as itself, before any request role is set.
revoke all on function app_private.constraint_words() from public;
grant execute on function app_private.constraint_words() to custodian_authenticator;
--! EndIncluded domain/constraint-words.sql
--! Included gdpr/residue-scan.sql
-- Proof of erasure: where a person's former values can still be read. The
-- erasure collects them inside its transaction and passes them here; they are
-- never written to a table.

create or replace function governance.row_key_sql(target regclass, alias text) returns text as $$
  select coalesce(
    (select 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format('%L, %s.%I', a.attname, alias, a.attname), ', ' order by k.n) || ')'
     from pg_catalog.pg_index i
     cross join lateral pg_catalog.unnest(i.indkey) with ordinality k(attnum, n)
     join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
     where i.indrelid = target and i.indisprimary),
    (select pg_catalog.format('pg_catalog.jsonb_build_object(''id'', %s.id)', alias)
     from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = 'id' and not a.attisdropped),
    pg_catalog.format('pg_catalog.jsonb_build_object(''ctid'', %s.ctid::text)', alias));
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_key_sql(regclass, text) is
  E'SQL naming one row of a table as a jsonb object: its primary key, else its id (the audit events), else its ctid.';

create or replace function governance.readable_value_sql(target regclass, column_name name, alias text) returns text as $$
  select case
    -- The trail's sealed values count as found only while they can be decrypted.
    when target = 'audit.events'::regclass and column_name = 'old_values' then
      pg_catalog.format('audit.reveal(%1$s.old_values, coalesce(%1$s.old_subject_id, %1$s.subject_id), %1$s.owner_id)', alias)
    when target = 'audit.events'::regclass and column_name = 'new_values' then
      pg_catalog.format('audit.reveal(%1$s.new_values, %1$s.subject_id, %1$s.owner_id)', alias)
    else pg_catalog.format('%s.%I', alias, column_name)
  end;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.readable_value_sql(regclass, name, text) is
  E'SQL for a column''s value as someone holding the keys reads it: the audit trail''s old and new values with their pii decrypted (or {"$erased": true} once the key is gone), any other column as stored.';

create or replace function governance.residue_scan(identifiers text[], contents text[])
returns table (table_name text, column_name text, row_key jsonb) as $$
declare
  identifier_needles text[];
  content_needles text[];
  target record;
  matches text;
begin
  -- Identifiers (names, emails, phones) are looked for inside any text, in
  -- any case, as stored and as JSON spells them; content (notes, titles,
  -- transcripts) as a whole value. Values under 4 characters say nothing.
  select coalesce(pg_catalog.array_agg(distinct n), '{}') into identifier_needles
  from pg_catalog.unnest(identifiers) i,
    lateral (values (pg_catalog.lower(pg_catalog.btrim(i))),
                    (pg_catalog.lower(pg_catalog.btrim(pg_catalog.to_jsonb(pg_catalog.btrim(i))::text, '"')))) v(n)
  where pg_catalog.length(pg_catalog.btrim(i)) >= 4;
  -- Contents are compared by digest: the set stays small enough to hash
  -- (10,000 transcripts of 3 kB would not fit work_mem, and compared one by one
  -- the scan took minutes).
  select coalesce(pg_catalog.array_agg(distinct pg_catalog.md5(c)), '{}') into content_needles
  from pg_catalog.unnest(contents) c where pg_catalog.length(pg_catalog.btrim(c)) >= 4;
  if pg_catalog.cardinality(identifier_needles) + pg_catalog.cardinality(content_needles) = 0 then
    return;
  end if;

  for target in
    select pg_catalog.format('%I.%I', m.table_schema, m.table_name)::regclass as oid, m.table_schema, m.table_name,
      m.column_name, m.data_type = 'jsonb' as is_json
    from governance.personal_data_map m
    where m.is_free_text
    order by m.table_schema, m.table_name, m.column_name
  loop
    matches := case when target.is_json then
        $m$(exists (select from pg_catalog.unnest($1) i where pg_catalog.strpos(x.lower_text, i) > 0)
            or exists (select from pg_catalog.jsonb_path_query(x.v, 'strict $.** ? (@.type() == "string")') s
                       where pg_catalog.md5(s operator(pg_catalog.#>>) '{}') in (select pg_catalog.unnest($2))))$m$
      else
        $m$(exists (select from pg_catalog.unnest($1) i where pg_catalog.strpos(x.lower_text, i) > 0)
            or pg_catalog.md5(x.v) in (select pg_catalog.unnest($2)))$m$
      end;
    return query execute pg_catalog.format(
      -- offset 0 keeps the value computed once a row (decrypting is the dear part).
      'select %L::text, %L::text, %s from %s t cross join lateral (select y.v, pg_catalog.lower(y.v::text) as lower_text from (select %s%s as v offset 0) y) x where x.v is not null and %s',
      target.table_schema || '.' || target.table_name, target.column_name,
      governance.row_key_sql(target.oid, 't'), target.oid,
      governance.readable_value_sql(target.oid, target.column_name, 't'), case when target.is_json then '' else '::text' end,
      matches)
      using identifier_needles, content_needles;
  end loop;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.residue_scan(text[], text[]) is
  E'The residue scan (proof of erasure): every text, varchar, citext and jsonb column of every Custodian table (the map''s tables, the audit trail with all its partitions included, its pii decrypted where the key still exists) searched for a person''s former values; one row per place still holding one: table, column and row key, never the value. identifiers are found inside any text, ignoring case; contents only as a whole value (or a whole string inside jsonb); values shorter than 4 characters are not searched. The erasure runs it before committing; admins may run it on its own.';

revoke all on function governance.residue_scan(text[], text[]) from public;
grant execute on function governance.residue_scan(text[], text[]) to custodian_admin;
revoke all on function governance.row_key_sql(regclass, text), governance.readable_value_sql(regclass, name, text) from public;
--! EndIncluded gdpr/residue-scan.sql
--! Included gdpr/erasure.sql
-- Erasure by anonymization (GDPR Art. 17), in one transaction: the map of
-- personal data says which columns to blank, the audit trail's subject
-- configuration says which rows are the person's, their key is destroyed, the
-- residue scan proves nothing readable is left, and only then does it commit.

create or replace function governance.subject_rows_sql(target regclass, alias text) returns text as $$
  select coalesce(
    (select case when t.subject_via is null then pg_catalog.format('%s.%I operator(pg_catalog.=) $1', alias, t.subject_column)
            else pg_catalog.format('%s.%I in (select v.%I from %s v where v.%I operator(pg_catalog.=) $1)',
              alias, t.subject_column, v.key_columns[1], t.subject_via, t.subject_via_column) end
     from audit.tracked_tables t
     left join audit.tracked_tables v on v.table_oid = t.subject_via
     where t.table_oid = target and t.subject_column is not null),
    (select pg_catalog.format('%s.%I operator(pg_catalog.=) $1', alias, min(p.subject_column))
     from governance.personal_data_columns p where p.table_oid = target and p.subject_column is not null
     having min(p.subject_column) is not null));
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.subject_rows_sql(regclass, text) is
  E'SQL true for the rows of a table that are about the person $1: the audit trail''s subject column (or its path through subject_via), else the map''s subject_column; null when neither says.';

create or replace function governance.erased_value_sql(target regclass, column_name name) returns text as $$
  select case
    when not a.attnotnull then 'null'
    when a.atttypid = 'jsonb'::regtype then '''{}''::pg_catalog.jsonb'
    -- A unique column (an account's email) gets a random, unrelated value.
    when exists (select from pg_catalog.pg_index i where i.indrelid = target and i.indisunique and a.attnum = any (i.indkey)) then
      $v$'erased-' || public.gen_random_uuid() || '@erased.invalid'$v$
    else '''erased'''
  end
  from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = column_name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.erased_value_sql(regclass, name) is
  E'What an erased column becomes: null where allowed, else {} for jsonb, a random address for a unique column, else the word erased; never anything derived from the value (a hash of an email is still personal data).';

create or replace function governance.erasable_columns()
returns table (target regclass, column_name name, category governance.data_category, is_json boolean) as $$
  select pg_catalog.format('%I.%I', m.table_schema, m.table_name)::regclass, m.column_name::name, m.category, m.data_type = 'jsonb'
  from governance.personal_data_map m
  where m.category in ('identity', 'contact', 'content')
    -- Kept under Art. 17(3)(b): the trail (erased by its key) and records kept by law (a request's proof of identity).
    and m.table_schema <> 'audit' and m.legal_basis <> 'legal_obligation'
  order by m.table_schema, m.table_name, m.column_name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.erasable_columns() is
  E'The columns an erasure blanks, straight from the map of personal data: identity, contact and content, except the audit trail (erased by destroying the person''s key) and what is kept by legal obligation. A column classified later is erased too.';

create or replace function app_public.erase_data_subject(request_id uuid, override_reason text default null)
returns app_public.data_subject_erasures as $$
declare
  request app_public.data_subject_requests;
  hold app_public.legal_holds;
  subject uuid;
  erasing record;
  rows_condition text;
  shared_condition text;
  strings_sql text;
  identifiers text[] := '{}';
  contents text[] := '{}';
  found_values text[];
  own_count integer;
  skipped integer := 0;
  touched integer;
  rows_by_table jsonb := '{}';
  residue record;
  residue_count integer;
  residue_places text;
  erasure app_public.data_subject_erasures;
begin
  select * into request from app_public.data_subject_requests r where r.id = erase_data_subject.request_id for update;
  if not found then
    raise exception 'There is no data-subject request %.', erase_data_subject.request_id using errcode = 'P0002';
  end if;
  if request.kind <> 'erasure' then
    raise exception 'Request % asks for %, not erasure; only an erasure request erases.', request.id, request.kind using errcode = '22023';
  end if;
  if request.state <> 'verified' then
    raise exception 'Request % is %; only a verified erasure request is run (verify the requester''s identity first; a completed or rejected request stays as it is).',
      request.id, request.state using errcode = '55000';
  end if;
  subject := request.subject_id;

  hold := app_private.hold_for_subject(subject);
  if hold.id is null and override_reason is not null then
    raise exception 'No legal hold covers %; an override reason is for erasing under a hold.', subject using errcode = '22023';
  elsif hold.id is not null and override_reason is null then
    perform app_private.refuse_under_hold(subject, 'erase');
  end if;

  update app_public.data_subject_requests r set state = 'in_progress' where r.id = request.id;

  for erasing in
    select e.target, pg_catalog.array_agg(e.column_name order by e.column_name) as columns,
      pg_catalog.array_agg(e.category order by e.column_name) as categories,
      pg_catalog.array_agg(e.is_json order by e.column_name) as json_columns
    from governance.erasable_columns() e group by e.target order by e.target::text
  loop
    rows_condition := governance.subject_rows_sql(erasing.target, 't');
    if rows_condition is null then
      raise exception 'Table % holds personal data (%) but nothing says whose: track it with audit.enable_tracking''s subject_column or classify it with a subject_column.',
        erasing.target, pg_catalog.array_to_string(erasing.columns, ', ') using errcode = '55000';
    end if;
    -- The former values, kept in this transaction's memory only. A value
    -- another person's rows hold too (a template note, a common title) says
    -- nothing about this person and is not searched for.
    for i in 1 .. pg_catalog.cardinality(erasing.columns) loop
      strings_sql := case when erasing.json_columns[i]
        then pg_catalog.format('select s operator(pg_catalog.#>>) ''{}'' from %s t, pg_catalog.jsonb_path_query(t.%I, ''strict $.** ? (@.type() == "string")'') s where ', erasing.target, erasing.columns[i])
        else pg_catalog.format('select t.%I::text from %s t where t.%I is not null and ', erasing.columns[i], erasing.target, erasing.columns[i]) end;
      shared_condition := pg_catalog.format('not coalesce(%s, false)', rows_condition);
      execute pg_catalog.format('select (select pg_catalog.count(distinct v)::integer from (%1$s%2$s) o(v)),
          (select pg_catalog.array_agg(v) from ((%1$s%2$s) except (%1$s%3$s)) x(v))',
        strings_sql, rows_condition, shared_condition)
        into own_count, found_values using subject;
      found_values := coalesce(found_values, '{}');
      skipped := skipped + own_count - pg_catalog.cardinality(found_values);
      if erasing.categories[i] = 'content' then
        contents := contents || found_values;
      else
        identifiers := identifiers || found_values;
      end if;
    end loop;
    execute pg_catalog.format('update %s t set %s where %s', erasing.target,
      (select pg_catalog.string_agg(pg_catalog.format('%I = %s', c, governance.erased_value_sql(erasing.target, c)), ', ')
       from pg_catalog.unnest(erasing.columns) c),
      rows_condition) using subject;
    get diagnostics touched = row_count;
    if touched > 0 then
      rows_by_table := rows_by_table || pg_catalog.jsonb_build_object(erasing.target::text, touched);
    end if;
  end loop;

  -- After the updates, so that their own history (the old values) is sealed under the key that goes now.
  perform audit.destroy_subject_key(subject);

  select pg_catalog.count(*)::integer,
    pg_catalog.string_agg(pg_catalog.format('%s.%s %s', s.table_name, s.column_name, s.row_key), '; ')
      filter (where s.n <= 10)
    into residue_count, residue_places
  from (select r.*, pg_catalog.row_number() over () as n from governance.residue_scan(identifiers, contents) r) s;
  if residue_count > 0 then
    -- Fail closed: nothing commits, the operator sees where, and reruns once it is dealt with.
    raise exception 'Erasure of % refused: their former values can still be read in % place(s): %', subject, residue_count, residue_places
      using errcode = '55000',
        hint = 'Another person''s record or a record kept by law mentions them; rectify it, then run the erasure again.';
  end if;

  insert into app_public.data_subject_erasures (request_id, subject_id, erased_by, rows_by_table, rows_erased,
    values_searched, values_shared_skipped, residue_count, override_reason, overridden_hold_id)
  values (request.id, subject, app_public.current_user_id(), rows_by_table,
    coalesce((select pg_catalog.sum(v::integer) from pg_catalog.jsonb_each_text(rows_by_table) e(k, v)), 0)::integer,
    pg_catalog.cardinality(identifiers) + pg_catalog.cardinality(contents), skipped, residue_count,
    override_reason, case when override_reason is not null then hold.id end)
  returning * into erasure;

  update app_public.data_subject_requests r set state = 'completed' where r.id = request.id;
  return erasure;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.erase_data_subject(uuid, text) is
  E'Runs a verified erasure request, in one transaction: blanks every personal column (identity, contact, content, from the map of personal data) of the person''s rows, soft-deleted ones included; destroys their audit key, so their pii in the trail reads as erased while no audit row changes; leaves usage events, invoices and rollups as they are (Art. 17(3)); runs the residue scan and refuses to commit if any former value can still be read; records the erasure and completes the request. Refused under a legal hold, with its reason, unless an admin gives an override reason (recorded). Admins only.';

revoke all on function governance.subject_rows_sql(regclass, text), governance.erased_value_sql(regclass, name),
  governance.erasable_columns() from public;
revoke all on function app_public.erase_data_subject(uuid, text) from public;
grant execute on function app_public.erase_data_subject(uuid, text) to custodian_admin;

-- The record of an erasure: written by erase_data_subject only, read by staff.
drop policy if exists staff_read on app_public.data_subject_erasures;
create policy staff_read on app_public.data_subject_erasures for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.data_subject_erasures to custodian_admin, custodian_auditor;

create or replace function app_public.tg_data_subject_erasures__append_only() returns trigger as $$
begin
  raise exception 'An erasure''s record is the proof that it happened; it is never changed or deleted.' using errcode = '55000';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_data_subject_erasures__append_only() is
  E'Keeps erasure records append-only for every writer, the owner included.';

drop trigger if exists _200_append_only on app_public.data_subject_erasures;
create trigger _200_append_only before update or delete on app_public.data_subject_erasures
  for each row execute function app_public.tg_data_subject_erasures__append_only();
drop trigger if exists _200_append_only_truncate on app_public.data_subject_erasures;
create trigger _200_append_only_truncate before truncate on app_public.data_subject_erasures
  for each statement execute function app_public.tg_data_subject_erasures__append_only();
--! EndIncluded gdpr/erasure.sql

select audit.enable_tracking('app_public.data_subject_erasures');

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
  ('app_private.worker_heartbeats', 'task', 'not_personal', 'none', 'Watching the worker.', 'not_applicable'),
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
  -- Governance
  ('governance.hard_deletions', 'table_schema', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'table_name', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'row_id', 'technical', 'any', 'Which row a hard delete removed.', 'legal_obligation'),
  ('governance.hard_deletions', 'reason', 'not_personal', 'none', 'Why an operator hard-deleted: the case, not details of the person.', 'not_applicable'),
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
  ('app_public.data_subject_erasures', 'subject_id', 'technical', 'any', 'Whom an erasure was about: an id, kept as proof the erasure happened (Art. 5(2)).', 'legal_obligation'),
  ('app_public.data_subject_erasures', 'rows_by_table', 'not_personal', 'none', 'Which tables an erasure reached and how many rows: counts, never values.', 'not_applicable'),
  ('app_public.data_subject_erasures', 'override_reason', 'not_personal', 'none', 'Why an admin erased under a legal hold: the case, not details of the person.', 'not_applicable')
) as m(target, column_name, category, subject_kind, purpose, legal_basis);
--! EndIncluded gdpr/classify-custodian.sql
