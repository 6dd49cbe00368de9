--! Previous: sha1:35e81ab7eba6ce1b3f7fe2c6025ba628de40d6fb
--! Hash: sha1:3293dc7adc571b568a0222b01ab5815be6399b38
--! Message: Issue 17 retention: policies, runs and archives

-- Issue 17, retention: policies per data category, the run log, and the
-- record of archives written before rows are removed.

create type app_public.retention_action as enum ('archive_then_delete', 'anonymize', 'delete', 'keep_forever');
comment on type app_public.retention_action is
  E'What a retention policy does to a row past its period: archive_then_delete (write a verified archive, then remove it through the governed hard delete), anonymize (blank its personal columns as erasure does), delete (remove it without an archive), keep_forever.';

create table app_public.retention_policies (
  name text primary key constraint retention_policies_name_check check (name ~ '^[a-z][a-z0-9_]{2,62}$'),
  category text not null constraint retention_policies_category_check check (length(btrim(category)) between 3 and 200),
  target_table text not null,
  clock_column name not null,
  period interval constraint retention_policies_period_check check (period > interval '0'),
  action app_public.retention_action not null,
  legal_basis governance.legal_basis not null,
  description text not null constraint retention_policies_description_check check (length(btrim(description)) between 3 and 2000),
  anonymize_columns name[],
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint retention_policies_period_state check ((action = 'keep_forever') = (period is null)),
  constraint retention_policies_anonymize_columns_state check ((action = 'anonymize') = (anonymize_columns is not null))
);
comment on table app_public.retention_policies is
  E'A retention policy: how long the rows of one data category are kept, counted from which column, and what happens after (archive then delete, anonymize, delete, keep forever), on which legal basis. Admins write them, auditors read them; the database refuses a table or column that does not exist, a clock that is not a timestamp, and an action the category forbids (usage is kept forever; audit events leave only by whole archived partitions).';
comment on column app_public.retention_policies.name is E'The policy''s name, snake_case (3 to 63 characters): what runs, previews and archives refer to.';
comment on column app_public.retention_policies.category is E'The data category in words, e.g. "Soft-deleted client records".';
comment on column app_public.retention_policies.target_table is E'The table, schema-qualified ("app_public.clients"); it must exist.';
comment on column app_public.retention_policies.clock_column is E'The timestamptz column a row''s period counts from (deletedAt, finishedAt, occurredAt ...); rows where it is null are not under the policy.';
comment on column app_public.retention_policies.period is E'How long a row is kept after its clock; more than zero; null only for keep_forever.';
comment on column app_public.retention_policies.action is E'archive_then_delete, anonymize, delete or keep_forever.';
comment on column app_public.retention_policies.legal_basis is E'The GDPR Art. 6 basis for keeping the data that long.';
comment on column app_public.retention_policies.description is E'Why this period, in words an auditor reads.';
comment on column app_public.retention_policies.anonymize_columns is E'For anonymize: the columns blanked (by default the table''s identity, contact and content columns from the map of personal data); null for other actions.';
comment on column app_public.retention_policies.enabled is E'Whether runs apply it (a disabled policy is still previewed and reported).';
comment on column app_public.retention_policies.created_at is E'When the policy was created.';
comment on column app_public.retention_policies.updated_at is E'When the policy last changed.';
alter table app_public.retention_policies enable row level security;

create table app_public.retention_runs (
  id uuid primary key default gen_random_uuid(),
  status text not null default 'running' constraint retention_runs_status_check check (status in ('running', 'finished', 'failed')),
  dry_run boolean not null default false,
  as_of timestamptz not null,
  policy_name text constraint retention_runs_policy_name_fkey references app_public.retention_policies (name) on delete restrict,
  started_by uuid constraint retention_runs_started_by_fkey references app_public.users on delete set null,
  task text constraint retention_runs_task_check check (length(btrim(task)) between 1 and 200),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  error text,
  constraint retention_runs_finished_state check ((status = 'running') = (finished_at is null)),
  constraint retention_runs_error_state check (status = 'failed' or error is null)
);
-- Never two runs at once, whoever starts them.
create unique index retention_runs_one_running on app_public.retention_runs ((true)) where status = 'running';
create index retention_runs_started_at_idx on app_public.retention_runs (started_at);
comment on table app_public.retention_runs is
  E'@behavior -insert -update -delete\nThe run log of retention: one row per run (the daily job, custodian retention run), with its instant, its scope and how it ended; per-policy figures in retentionRunPolicies. Written by the runner only; admins and auditors read it.';
comment on column app_public.retention_runs.status is E'running, finished or failed; at most one run is running.';
comment on column app_public.retention_runs.dry_run is E'A dry run counts and changes nothing.';
comment on column app_public.retention_runs.as_of is E'The instant the periods were judged against (now, or earlier for a run that catches up).';
comment on column app_public.retention_runs.policy_name is E'The one policy run; null for all enabled policies.';
comment on column app_public.retention_runs.started_by is E'The user who started it, when a user did.';
comment on column app_public.retention_runs.task is E'What started it: the worker task, or the command line.';
comment on column app_public.retention_runs.started_at is E'When it started.';
comment on column app_public.retention_runs.finished_at is E'When it ended.';
comment on column app_public.retention_runs.error is E'Why a failed run stopped (a policy''s own error is in its row, and the others go on).';
alter table app_public.retention_runs enable row level security;

create table app_public.retention_run_policies (
  run_id uuid not null constraint retention_run_policies_run_id_fkey references app_public.retention_runs on delete cascade,
  policy_name text not null constraint retention_run_policies_policy_name_fkey references app_public.retention_policies (name) on delete restrict,
  action app_public.retention_action not null,
  status text not null default 'running' constraint retention_run_policies_status_check check (status in ('running', 'finished', 'failed', 'skipped')),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  rows_archived bigint not null default 0,
  rows_deleted bigint not null default 0,
  cascade_rows_deleted bigint not null default 0,
  rows_anonymized bigint not null default 0,
  rows_spared_by_hold bigint not null default 0,
  archives_written integer not null default 0,
  errors integer not null default 0,
  error text,
  note text,
  constraint retention_run_policies_pkey primary key (run_id, policy_name),
  constraint retention_run_policies_counts_check check (least(rows_archived, rows_deleted, cascade_rows_deleted, rows_anonymized, rows_spared_by_hold, archives_written, errors) >= 0),
  constraint retention_run_policies_finished_state check ((status = 'running') = (finished_at is null))
);
create index retention_run_policies_policy_name_idx on app_public.retention_run_policies (policy_name);
comment on table app_public.retention_run_policies is
  E'@behavior -insert -update -delete\nWhat one run did under one policy: rows archived, deleted (and rows their foreign keys took with them), anonymized, spared by a legal hold, archives written, errors. Written by the runner only; admins and auditors read it.';
comment on column app_public.retention_run_policies.action is E'The policy''s action when it ran.';
comment on column app_public.retention_run_policies.status is E'running, finished, failed (its error says why; the other policies went on) or skipped (its note says why).';
comment on column app_public.retention_run_policies.started_at is E'When the policy''s part started.';
comment on column app_public.retention_run_policies.finished_at is E'When it ended.';
comment on column app_public.retention_run_policies.rows_archived is E'Rows of the policy''s table written to verified archives (for a dry run: that would be).';
comment on column app_public.retention_run_policies.rows_deleted is E'Rows of the policy''s table removed (for a dry run: that would be).';
comment on column app_public.retention_run_policies.cascade_rows_deleted is E'Rows of other tables their removal took with it (a client''s sessions, transcriptions and consents), archived with them.';
comment on column app_public.retention_run_policies.rows_anonymized is E'Rows anonymized (for a dry run: that would be).';
comment on column app_public.retention_run_policies.rows_spared_by_hold is E'Rows past their period left in place because a legal hold covers them.';
comment on column app_public.retention_run_policies.archives_written is E'Archives written and verified.';
comment on column app_public.retention_run_policies.errors is E'Rows or batches that failed; the first error''s words are in error.';
comment on column app_public.retention_run_policies.error is E'The first error''s words.';
comment on column app_public.retention_run_policies.note is E'Why a policy was skipped, or what else the runner says of it.';
alter table app_public.retention_run_policies enable row level security;

create table app_public.retention_archives (
  id uuid primary key,
  kind text not null constraint retention_archives_kind_check check (kind in ('rows', 'audit_partition')),
  policy_name text constraint retention_archives_policy_name_fkey references app_public.retention_policies (name) on delete restrict,
  run_id uuid constraint retention_archives_run_id_fkey references app_public.retention_runs on delete restrict,
  store text not null constraint retention_archives_store_check check (length(btrim(store)) between 1 and 1000),
  manifest jsonb,
  row_count bigint constraint retention_archives_row_count_check check (row_count >= 0),
  time_from timestamptz,
  time_to timestamptz,
  written_at timestamptz,
  verified_at timestamptz,
  rows_removed_at timestamptz,
  created_at timestamptz not null default now(),
  constraint retention_archives_written_state check ((manifest is null) = (written_at is null)),
  constraint retention_archives_verified_after_written check (verified_at is null or written_at is not null),
  constraint retention_archives_removed_after_verified check (rows_removed_at is null or verified_at is not null)
);
create index retention_archives_policy_name_idx on app_public.retention_archives (policy_name);
create index retention_archives_run_id_idx on app_public.retention_archives (run_id);
create index retention_archives_pending_idx on app_public.retention_archives (policy_name) where rows_removed_at is null;
comment on table app_public.retention_archives is
  E'@behavior -insert -update -delete\nThe archives retention wrote before removing rows: created (manifest null) while being written, then written and verified (the file read back and its SHA-256 checked), then rows removed. A crash between verified and removed leaves every row in place, and the next run resumes from this record. Written by the runner only (rows, and audit partitions); admins and auditors read it.';
comment on column app_public.retention_archives.id is E'The archive''s id: its folder in the store.';
comment on column app_public.retention_archives.kind is E'rows (rows of a table and their cascade) or audit_partition (a month of the audit trail with its seals).';
comment on column app_public.retention_archives.policy_name is E'The policy it was written for.';
comment on column app_public.retention_archives.run_id is E'The run that wrote it.';
comment on column app_public.retention_archives.store is E'Where it is stored, e.g. "directory /data/archive".';
comment on column app_public.retention_archives.manifest is E'Its manifest (files, row counts, SHA-256, time range, the rows'' keys); null while being written.';
comment on column app_public.retention_archives.row_count is E'Rows in it, all tables.';
comment on column app_public.retention_archives.time_from is E'The oldest archived row''s clock.';
comment on column app_public.retention_archives.time_to is E'The newest archived row''s clock.';
comment on column app_public.retention_archives.written_at is E'When every file and the manifest were on disk.';
comment on column app_public.retention_archives.verified_at is E'When the files were read back and matched their checksums.';
comment on column app_public.retention_archives.rows_removed_at is E'When its rows were removed from the database; null while they are still there.';
comment on column app_public.retention_archives.created_at is E'When the record was created, before writing.';
alter table app_public.retention_archives enable row level security;

-- The export bytes' own clock, so that a retention policy can reach them.
alter table app_private.data_subject_export_chunks add column created_at timestamptz not null default now();
comment on column app_private.data_subject_export_chunks.created_at is E'When the chunk was written (when the export was built).';

select audit.enable_tracking('app_public.retention_policies');
select audit.enable_tracking('app_public.retention_runs');
select audit.enable_tracking('app_public.retention_run_policies');
select audit.enable_tracking('app_public.retention_archives');

--! Included retention/policies.sql
-- Retention policies: the database refuses one that names a table or column
-- that does not exist, a clock that is not a timestamp, or an action the
-- category forbids, for every writer.

create or replace function governance.retention_allowed_actions(target regclass) returns app_public.retention_action[] as $$
  select case
    -- The billing ledger and what it is captured from or rolled up into are kept forever.
    when target in ('app_public.usage_events'::regclass, 'app_private.usage_records'::regclass,
                    'app_public.usage_daily'::regclass, 'app_private.usage_daily_totals'::regclass)
      then array['keep_forever']::app_public.retention_action[]
    -- The audit trail leaves only by whole archived monthly partitions, never row by row.
    when target = 'audit.events'::regclass
      then array['archive_then_delete', 'keep_forever']::app_public.retention_action[]
    else pg_catalog.enum_range(null::app_public.retention_action)
  end;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.retention_allowed_actions(regclass) is
  E'The retention actions a table allows: usage events, usage records and their rollups only keep_forever (the billing ledger is permanent); audit.events only archive_then_delete (by whole partitions, which the runner archives with their seals) or keep_forever; any other table every action.';

create or replace function governance.retention_default_anonymize_columns(target regclass) returns name[] as $$
  select pg_catalog.array_agg(m.column_name::name order by m.column_name)
  from governance.personal_data_map m
  where pg_catalog.format('%I.%I', m.table_schema, m.table_name)::regclass = target
    and m.category in ('identity', 'contact', 'content');
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.retention_default_anonymize_columns(regclass) is
  E'The columns an anonymize policy blanks when it names none: the table''s identity, contact and content columns in the map of personal data.';

create or replace function app_public.tg_retention_policies__validate() returns trigger as $$
declare
  target regclass := pg_catalog.to_regclass(NEW.target_table);
  clock_type regtype;
  allowed app_public.retention_action[];
  bad_column name;
begin
  if NEW.target_table !~ '^[^.]+\.[^.]+$' or target is null then
    raise exception 'Retention policy %: there is no table "%"; name it with its schema, e.g. app_public.clients.', NEW.name, NEW.target_table
      using errcode = '42P01';
  end if;
  if (select c.relkind from pg_catalog.pg_class c where c.oid = target) not in ('r', 'p') then
    raise exception 'Retention policy %: % is not a table.', NEW.name, NEW.target_table using errcode = '42809';
  end if;
  NEW.target_table := (select pg_catalog.format('%I.%I', n.nspname, c.relname)
                       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target);
  select a.atttypid::regtype into clock_type from pg_catalog.pg_attribute a
  where a.attrelid = target and a.attname = NEW.clock_column and a.attnum > 0 and not a.attisdropped;
  if not found then
    raise exception 'Retention policy %: table % has no column "%".', NEW.name, NEW.target_table, NEW.clock_column using errcode = '42703';
  end if;
  if clock_type <> 'timestamptz'::regtype then
    raise exception 'Retention policy %: the clock column %.% is %, not a timestamp with time zone (timestamptz).', NEW.name, NEW.target_table, NEW.clock_column, clock_type
      using errcode = '42804';
  end if;
  allowed := governance.retention_allowed_actions(target);
  if NEW.action <> all (allowed) then
    raise exception 'Retention policy %: the action % is not allowed on %: %.', NEW.name, NEW.action, NEW.target_table,
      case when allowed = array['keep_forever']::app_public.retention_action[]
        then 'usage is the billing ledger and is kept forever (keep_forever)'
        else 'audit events leave only by whole archived monthly partitions (archive_then_delete), never row by row' end
      using errcode = '23514';
  end if;
  if NEW.action in ('archive_then_delete', 'delete', 'anonymize') and target <> 'audit.events'::regclass
     and audit.primary_key_columns(target) is null then
    raise exception 'Retention policy %: % has no primary key, so its rows cannot be acted on one by one.', NEW.name, NEW.target_table
      using errcode = '55000';
  end if;
  if NEW.action = 'anonymize' then
    NEW.anonymize_columns := coalesce(NEW.anonymize_columns, governance.retention_default_anonymize_columns(target));
    if coalesce(pg_catalog.cardinality(NEW.anonymize_columns), 0) = 0 then
      raise exception 'Retention policy %: name the columns to anonymize (anonymizeColumns); the map of personal data lists no identity, contact or content column of %.', NEW.name, NEW.target_table
        using errcode = '22023';
    end if;
    select c into bad_column from pg_catalog.unnest(NEW.anonymize_columns) c
    where not exists (select from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = c and a.attnum > 0 and not a.attisdropped)
       or c = any (audit.primary_key_columns(target)) or c = NEW.clock_column
    limit 1;
    if found then
      raise exception 'Retention policy %: "%" cannot be anonymized: it is not a column of %, or it is the key or the clock.', NEW.name, bad_column, NEW.target_table
        using errcode = '42703';
    end if;
  elsif NEW.anonymize_columns is not null then
    raise exception 'Retention policy %: only an anonymize policy names columns to anonymize.', NEW.name using errcode = '22023';
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_retention_policies__validate() is
  E'Refuses a retention policy naming a table or column that does not exist, a clock that is not a timestamptz, an action the table forbids (governance.retention_allowed_actions), or removal from a table without a primary key; fills an anonymize policy''s columns from the map of personal data, and writes the table''s name schema-qualified.';

drop trigger if exists _050_validate on app_public.retention_policies;
create trigger _050_validate before insert or update on app_public.retention_policies
  for each row execute function app_public.tg_retention_policies__validate();
drop trigger if exists _100_timestamps on app_public.retention_policies;
create trigger _100_timestamps before insert or update on app_public.retention_policies
  for each row execute function app_private.tg__timestamps();

revoke all on function governance.retention_allowed_actions(regclass), governance.retention_default_anonymize_columns(regclass) from public;
--! EndIncluded retention/policies.sql
--! Included retention/rls.sql
-- Who reaches retention's tables: admins write policies; admins and auditors
-- read policies, runs and archives; coaches see none of it. Runs and
-- archives are written only by the owner (the runner, the worker).

drop policy if exists admin_all on app_public.retention_policies;
create policy admin_all on app_public.retention_policies for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.retention_policies;
create policy auditor_read on app_public.retention_policies for select to custodian_auditor using (true);
grant select on app_public.retention_policies to custodian_admin, custodian_auditor;
grant insert (name, category, target_table, clock_column, period, action, legal_basis, description, anonymize_columns, enabled)
  on app_public.retention_policies to custodian_admin;
grant update (category, target_table, clock_column, period, action, legal_basis, description, anonymize_columns, enabled)
  on app_public.retention_policies to custodian_admin;
grant delete on app_public.retention_policies to custodian_admin;

drop policy if exists staff_read on app_public.retention_runs;
create policy staff_read on app_public.retention_runs for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.retention_runs to custodian_admin, custodian_auditor;

drop policy if exists staff_read on app_public.retention_run_policies;
create policy staff_read on app_public.retention_run_policies for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.retention_run_policies to custodian_admin, custodian_auditor;

drop policy if exists staff_read on app_public.retention_archives;
create policy staff_read on app_public.retention_archives for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.retention_archives to custodian_admin, custodian_auditor;
--! EndIncluded retention/rls.sql

-- The shipped policies (admins change them; names are what tests and the console use).
insert into app_public.retention_policies (name, category, target_table, clock_column, period, action, legal_basis, description) values
  ('soft_deleted_transcriptions', 'Soft-deleted transcriptions', 'app_public.transcriptions', 'deleted_at', '90 days', 'archive_then_delete', 'legitimate_interests',
   'A deleted transcription can be restored for 30 days; 60 days later it is archived, then removed.'),
  ('soft_deleted_sessions', 'Soft-deleted coaching sessions', 'app_public.coaching_sessions', 'deleted_at', '90 days', 'archive_then_delete', 'legitimate_interests',
   'A deleted session (with its transcriptions) can be restored for 30 days; 60 days later it is archived, then removed.'),
  ('soft_deleted_clients', 'Soft-deleted client records', 'app_public.clients', 'deleted_at', '90 days', 'archive_then_delete', 'legitimate_interests',
   'A deleted client (with their sessions, transcriptions and consent records) can be restored for 30 days; 60 days later it is archived, then removed.'),
  ('soft_deleted_coach_profiles', 'Soft-deleted coach profiles', 'app_public.coach_profiles', 'deleted_at', '90 days', 'archive_then_delete', 'legitimate_interests',
   'A deleted coach profile (with everything under it) can be restored for 30 days; 60 days later it is archived, then removed.'),
  ('transcript_text', 'Transcript text', 'app_public.transcriptions', 'finished_at', '3 years', 'anonymize', 'contract',
   'The text of a transcript (and a failed attempt''s message) is blanked three years after the transcription finished; the record of the attempt stays for billing.'),
  ('audit_events', 'Audit events', 'audit.events', 'occurred_at', '7 years', 'archive_then_delete', 'legal_obligation',
   'The audit trail is kept seven years, then archived with its seals and removed by whole monthly partitions, never row by row.'),
  ('usage_events', 'Usage events', 'app_public.usage_events', 'occurred_at', null, 'keep_forever', 'legal_obligation',
   'Usage events are the billing ledger: invoices are computed from them and they hold no personal data, so they are kept forever.'),
  ('usage_records', 'Captured usage records', 'app_private.usage_records', 'finished_at', null, 'keep_forever', 'legal_obligation',
   'The captured records usage events are priced from: part of the billing ledger, kept forever.'),
  ('data_subject_export_files', 'Data-subject export files', 'app_private.data_subject_export_chunks', 'created_at', '91 days', 'delete', 'legal_obligation',
   'The bytes of an access or portability export: the hourly expiry job deletes them when the export expires (at most 90 days); this removes any left after that. The export''s record stays.'),
  ('sign_in_attempts', 'Sign-in attempts', 'app_private.sign_in_attempts', 'attempted_at', '1 year', 'delete', 'legitimate_interests',
   'Sign-in attempts (emails tried, outcomes) are kept a year to investigate attacks on accounts, then deleted.');
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
