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

-- A retention run walks the soft-deleted rows in clock order (keyset): an
-- index on the clock of the rows that have one, on each soft-delete table.
create index coach_profiles_deleted_at_idx on app_public.coach_profiles (deleted_at) where deleted_at is not null;
create index clients_deleted_at_idx on app_public.clients (deleted_at) where deleted_at is not null;
create index coaching_sessions_deleted_at_idx on app_public.coaching_sessions (deleted_at) where deleted_at is not null;
create index transcriptions_deleted_at_idx on app_public.transcriptions (deleted_at) where deleted_at is not null;

select audit.enable_tracking('app_public.retention_policies');
select audit.enable_tracking('app_public.retention_runs');
select audit.enable_tracking('app_public.retention_run_policies');
select audit.enable_tracking('app_public.retention_archives');

--!include soft-delete/hard-delete.sql
--!include retention/policies.sql
--!include retention/rls.sql
--!include retention/rows.sql
--!include retention/runs.sql
--!include retention/enforce.sql
--!include retention/report.sql

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
--!include domain/constraint-words.sql
--!include gdpr/classify-custodian.sql
--!include gdpr/classification.sql
--!include gdpr/readiness.sql
