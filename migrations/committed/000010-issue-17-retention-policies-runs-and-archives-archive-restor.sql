--! Previous: sha1:35e81ab7eba6ce1b3f7fe2c6025ba628de40d6fb
--! Hash: sha1:a51a9374a6804dada9452eb691dd84167dd38ebc
--! Message: Issue 17: retention policies, runs and archives; archive restore; audit events by partition; streaming exports; a run asked for from the console

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

--! Included soft-delete/hard-delete.sql
-- The only way rows leave a soft-delete table.

create or replace function governance.current_hard_deletion() returns governance.hard_deletions as $$
  select h.* from governance.hard_deletions h
  where h.id = (select case when s ~ '^[0-9]{1,18}$' then s::bigint end
                from pg_catalog.current_setting('governance.hard_deletion_id', true) s)
    and h.transaction_id = pg_catalog.pg_current_xact_id();
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.current_hard_deletion() is
  E'The governed hard delete running in this transaction, if any. The setting alone proves nothing: the row must exist, and only governance.hard_delete writes it.';

create or replace function governance.hard_delete(target regclass, row_id text, reason text) returns bigint as $$
declare
  config governance.soft_delete_tables;
  deletion_id bigint;
  deleted integer;
begin
  select * into config from governance.soft_delete_tables where table_oid = target;
  if not found then
    raise exception 'Table % does not have soft delete; delete from it directly.', target using errcode = '55000';
  end if;
  if reason is null or length(btrim(reason)) < 3 then
    raise exception 'A hard delete needs a reason (at least 3 characters).' using errcode = '22023';
  end if;
  insert into governance.hard_deletions (table_schema, table_name, row_id, reason)
  select n.nspname, c.relname, row_id, btrim(reason)
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target
  returning id into deletion_id;
  perform pg_catalog.set_config('governance.hard_deletion_id', deletion_id::text, true);
  execute pg_catalog.format('delete from %s where %s', target, governance.key_condition(target)) using row_id;
  get diagnostics deleted = row_count;
  perform pg_catalog.set_config('governance.hard_deletion_id', '', true);
  if deleted = 0 then
    raise exception 'No % with id %.', config.noun, row_id using errcode = 'P0002';
  end if;
  return deletion_id;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.hard_delete(regclass, text, text) is
  E'The only way rows leave a soft-delete table: deletes a row (live or soft-deleted) and its foreign-key cascade for good, recording the reason in governance.hard_deletions and in each audit event (HARD_DELETE). For the owner only: retention and GDPR jobs.';

create or replace function governance.hard_delete_rows(target regclass, row_ids text[], reason text) returns bigint as $$
declare
  config governance.soft_delete_tables;
  first_deletion_id bigint;
  deleted bigint;
begin
  select * into config from governance.soft_delete_tables where table_oid = target;
  if not found then
    raise exception 'Table % does not have soft delete; delete from it directly.', target using errcode = '55000';
  end if;
  if reason is null or length(btrim(reason)) < 3 then
    raise exception 'A hard delete needs a reason (at least 3 characters).' using errcode = '22023';
  end if;
  if row_ids is null or pg_catalog.cardinality(row_ids) = 0 then
    return 0;
  end if;
  if pg_catalog.cardinality(row_ids) <> (select pg_catalog.count(distinct r) from pg_catalog.unnest(row_ids) r) or pg_catalog.array_position(row_ids, null) is not null then
    raise exception 'A hard delete of several rows needs distinct row ids, none null.' using errcode = '22023';
  end if;
  -- One record per row, as governance.hard_delete writes; the audit events of
  -- the one DELETE carry the first record's id and the shared reason.
  with recorded as (
    insert into governance.hard_deletions (table_schema, table_name, row_id, reason)
    select n.nspname, c.relname, r.id, btrim(reason)
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace,
      pg_catalog.unnest(row_ids) with ordinality r(id, o)
    where c.oid = target
    order by r.o
    returning id)
  select pg_catalog.min(recorded.id) into first_deletion_id from recorded;
  perform pg_catalog.set_config('governance.hard_deletion_id', first_deletion_id::text, true);
  execute pg_catalog.format('delete from %s where %I operator(pg_catalog.=) any (cast($1 as %s[]))', target, config.key_column, config.key_type)
    using row_ids;
  get diagnostics deleted = row_count;
  perform pg_catalog.set_config('governance.hard_deletion_id', '', true);
  if deleted <> pg_catalog.cardinality(row_ids) then
    raise exception 'Only % of the % % rows to hard-delete exist; nothing was deleted.', deleted, pg_catalog.cardinality(row_ids), config.noun
      using errcode = 'P0002';
  end if;
  return deleted;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.hard_delete_rows(regclass, text[], text) is
  E'governance.hard_delete for many rows of one soft-delete table at once: records each row and the reason in governance.hard_deletions, then removes them (and their foreign-key cascade) in one DELETE, whose audit events (HARD_DELETE) carry the reason and the first record''s id. All or nothing: a missing row or a repeated id refuses the whole set. For the owner only: retention.';

revoke all on function governance.hard_delete(regclass, text, text) from public;
revoke all on function governance.hard_delete_rows(regclass, text[], text) from public;
--! EndIncluded soft-delete/hard-delete.sql
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
    raise exception 'Retention policy %: % is not a table.', NEW.name, NEW.target_table using errcode = '22023';
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
      using errcode = '22023';
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
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_retention_policies__validate() is
  E'Refuses (for every writer; it reads the catalog and the map of personal data as the owner) a retention policy naming a table or column that does not exist, a clock that is not a timestamptz, an action the table forbids (governance.retention_allowed_actions), or removal from a table without a primary key; fills an anonymize policy''s columns from the map of personal data, and writes the table''s name schema-qualified.';

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
--! Included retention/rows.sql
-- Which rows a retention policy governs, which are past their period, which
-- a legal hold covers, and what their removal takes with it: SQL text built
-- from the policy and the catalog, the one home the preview, the runs and the
-- compliance figure share. Conditions are on alias t; $1 is the cutoff
-- (as_of minus the period), $2 an array of row keys as text.

create or replace function governance.row_key_text_sql(target regclass, alias text) returns text as $$
  select case when k is null then null
    when pg_catalog.cardinality(k) = 1 then pg_catalog.format('%s.%I::text', alias, k[1])
    else pg_catalog.format('row(%s)::text',
      (select pg_catalog.string_agg(pg_catalog.format('%s.%I', alias, c), ', ' order by o) from pg_catalog.unnest(k) with ordinality u(c, o)))
  end
  from (select audit.primary_key_columns(target) as k) x;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_key_text_sql(regclass, text) is
  E'SQL for a row''s primary key as text: the value of a one-column key, the row literal "(a,b)" of a longer one; null without a key.';

create or replace function governance.row_key_text_match_sql(target regclass, alias text, keys_parameter text) returns text as $$
  select case when k is null then null
    when pg_catalog.cardinality(k) = 1
    then pg_catalog.format('%s.%I operator(pg_catalog.=) any (cast(%s as %s[]))', alias, k[1], keys_parameter,
      (select pg_catalog.format_type(a.atttypid, a.atttypmod) from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = k[1]))
    else pg_catalog.format('%s operator(pg_catalog.=) any (%s)', governance.row_key_text_sql(target, alias), keys_parameter)
  end
  from (select audit.primary_key_columns(target) as k) x;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_key_text_match_sql(regclass, text, text) is
  E'SQL true for the rows whose key (as governance.row_key_text_sql gives it) is in the text array keys_parameter; uses the key''s index for a one-column key.';

create or replace function governance.row_subject_sql(target regclass, alias text) returns text as $$
  select coalesce(
    (select case when t.subject_via is null then pg_catalog.format('%s.%I', alias, t.subject_column)
            else pg_catalog.format('(select v.%I from %s v where v.%I operator(pg_catalog.=) %s.%I)',
              t.subject_via_column, t.subject_via, (audit.primary_key_columns(t.subject_via))[1], alias, t.subject_column) end
     from audit.tracked_tables t where t.table_oid = target and t.subject_column is not null),
    (select pg_catalog.format('%s.%I', alias, min(p.subject_column))
     from governance.personal_data_columns p where p.table_oid = target and p.subject_column is not null
     having min(p.subject_column) is not null));
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_subject_sql(regclass, text) is
  E'SQL for the person a row is about (a client or a user id), from the audit trail''s subject configuration (through subject_via when it has one), else the map''s subject_column, as erasure finds a person''s rows; null when nothing says.';

create or replace function app_private.legal_hold_covered_ids() returns uuid[] as $$
  -- Exactly what app_private.hold_for_subject covers, as one set: the client,
  -- user or coach profile a hold names, a held profile's clients and its user.
  select array(
    select x.id from (
      select h.client_id as id from app_public.legal_holds h where h.released_at is null
      union select h.user_id from app_public.legal_holds h where h.released_at is null
      union select h.coach_profile_id from app_public.legal_holds h where h.released_at is null
      union select c.id from app_public.legal_holds h join app_public.clients c on c.coach_profile_id operator(pg_catalog.=) h.coach_profile_id
        where h.released_at is null
      union select cp.user_id from app_public.legal_holds h join app_public.coach_profiles cp on cp.id operator(pg_catalog.=) h.coach_profile_id
        where h.released_at is null) x
    where x.id is not null);
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.legal_hold_covered_ids() is
  E'Every client, user and coach profile id an active legal hold covers (what app_private.hold_for_subject answers for one id), computed once for a whole statement; empty when no hold is active.';

create or replace function governance.row_held_sql(target regclass, alias text) returns text as $$
  -- The covered set is an init plan (computed once per statement); with no
  -- active hold the row's subject is never even looked up.
  select case when pg_catalog.count(e) = 0 then 'false' else pg_catalog.format(
    'case when pg_catalog.cardinality((select app_private.legal_hold_covered_ids())) operator(pg_catalog.=) 0 then false else %s end',
    pg_catalog.string_agg(pg_catalog.format(
      'coalesce(cast(%s as uuid) operator(pg_catalog.=) any (cast((select app_private.legal_hold_covered_ids()) as uuid[])), false)', e), ' or ')) end
  from (select governance.row_subject_sql(target, alias) as e
        union all
        -- The row's coach profile (or the coach's user): a hold on a whole profile covers its rows.
        select pg_catalog.format('%s.%I', alias, t.owner_column) from audit.tracked_tables t
        where t.table_oid = target and t.owner_column is not null) x
  where e is not null;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_held_sql(regclass, text) is
  E'SQL true (never null) for a row an active legal hold covers: a hold on the person it is about, or on its owner (its coach profile, or the coach''s user), as app_private.hold_for_subject decides, against the covered set app_private.legal_hold_covered_ids computes once per statement; false for a table with no path to a person.';

create or replace function governance.anonymized_sql(target regclass, columns name[], alias text) returns text as $$
  select coalesce(pg_catalog.string_agg(case governance.erased_value_sql(target, c)
      when 'null' then pg_catalog.format('%s.%I is null', alias, c)
      when '''erased''' then pg_catalog.format('%s.%I::text operator(pg_catalog.=) ''erased''', alias, c)
      when '''{}''::pg_catalog.jsonb' then pg_catalog.format('%s.%I operator(pg_catalog.=) ''{}''::pg_catalog.jsonb', alias, c)
      else pg_catalog.format('%s.%I::text operator(pg_catalog.~) ''^erased-[0-9a-f-]{36}@erased\.invalid$''', alias, c)
    end, ' and '), 'true')
  from pg_catalog.unnest(columns) c;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.anonymized_sql(regclass, name[], text) is
  E'SQL true for a row whose columns already hold what erasure writes (governance.erased_value_sql): such a row needs no anonymizing.';

create or replace function governance.foreign_key_cascade(target regclass, root_condition text, depth integer default 0)
returns table (table_oid regclass, condition text, level integer) as $$
declare
  child record;
begin
  table_oid := target;
  condition := root_condition;
  level := depth;
  return next;
  for child in
    select c.conrelid::regclass as child_table, c.conname,
      (select pg_catalog.string_agg(pg_catalog.format('p%s.%I operator(pg_catalog.=) {row}.%I', depth, pa.attname, ca.attname), ' and ')
       from rows from (pg_catalog.unnest(c.confkey), pg_catalog.unnest(c.conkey)) k(parent_attnum, child_attnum)
       join pg_catalog.pg_attribute pa on pa.attrelid = c.confrelid and pa.attnum = k.parent_attnum
       join pg_catalog.pg_attribute ca on ca.attrelid = c.conrelid and ca.attnum = k.child_attnum) as joined
    from pg_catalog.pg_constraint c
    where c.contype = 'f' and c.confrelid = target and c.confdeltype = 'c' and c.conrelid <> target
    order by c.conrelid::regclass::text, c.conname
  loop
    return query select * from governance.foreign_key_cascade(child.child_table,
      pg_catalog.format('exists (select from %s p%s where %s and (%s))', target, depth, child.joined,
        pg_catalog.replace(root_condition, '{row}', 'p' || depth)),
      depth + 1);
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.foreign_key_cascade(regclass, text, integer) is
  E'The rows a delete of target''s rows matching root_condition (on the alias {row}) takes with it: target, then every table an on-delete-cascade foreign key reaches, each with its condition on {row} and its depth. What an archive must hold so that a restore can bring a cascade back.';

create or replace function app_private.retention_policy_sql(policy app_public.retention_policies,
  out target regclass, out key_sql text, out key_match_sql text, out scope_sql text, out due_sql text, out held_sql text,
  out cascade_depth integer, out is_soft_delete boolean)
returns record as $$
  -- The audit trail has no primary key and leaves by whole partitions (the
  -- partitions part decides what a hold means there): its events are named by id.
  select t.oid, case when t.is_audit then 't.id::text' else governance.row_key_text_sql(t.oid, 't') end,
    case when t.is_audit then 't.id operator(pg_catalog.=) any (cast($2 as bigint[]))' else governance.row_key_text_match_sql(t.oid, 't', '$2') end,
    pg_catalog.format('t.%I is not null', policy.clock_column),
    pg_catalog.format('t.%I operator(pg_catalog.<=) $1', policy.clock_column)
      || case when policy.action = 'anonymize' then pg_catalog.format(' and not (%s)', governance.anonymized_sql(t.oid, policy.anonymize_columns, 't')) else '' end,
    case when t.is_audit then 'false' else governance.row_held_sql(t.oid, 't') end,
    (select pg_catalog.count(*)::integer from governance.foreign_key_cascade(t.oid, 'true')),
    exists (select from governance.soft_delete_tables s where s.table_oid = t.oid)
  from (select o.oid, o.oid = 'audit.events'::regclass as is_audit from (select pg_catalog.to_regclass(policy.target_table) as oid) o) t;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_policy_sql(app_public.retention_policies) is
  E'A policy''s SQL pieces on alias t: the row key, a match of keys ($2), the rows under the policy (clock set), those past their period ($1 is the cutoff; for anonymize, not anonymized yet), those a legal hold covers; how many tables its removal reaches and whether the table has soft delete.';

create or replace function app_private.retention_counts(policy app_public.retention_policies, as_of timestamptz,
  out rows_under_policy bigint, out rows_due bigint, out oldest_due timestamptz, out newest_due timestamptz, out rows_spared_by_hold bigint)
returns record as $$
declare
  pieces record := app_private.retention_policy_sql(policy);
begin
  if policy.action = 'keep_forever' then
    execute pg_catalog.format('select pg_catalog.count(*) from %s t where %s', pieces.target, pieces.scope_sql) into rows_under_policy;
    rows_due := 0;
    rows_spared_by_hold := 0;
    return;
  end if;
  execute pg_catalog.format(
    'select pg_catalog.count(*), pg_catalog.count(*) filter (where d and not h), pg_catalog.min(c) filter (where d and not h),
            pg_catalog.max(c) filter (where d and not h), pg_catalog.count(*) filter (where d and h)
     from (select t.%1$I as c, (%2$s) as d, case when %2$s then %3$s else false end as h from %4$s t where %5$s) x',
    policy.clock_column, pieces.due_sql, pieces.held_sql, pieces.target, pieces.scope_sql)
    into rows_under_policy, rows_due, oldest_due, newest_due, rows_spared_by_hold
    using as_of - policy.period;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_counts(app_public.retention_policies, timestamptz) is
  E'A policy''s figures at as_of: rows under it (clock set), rows past their period that a run would act on (not held; for anonymize, not anonymized yet) with their oldest and newest clock, and rows past their period a legal hold spares. What the preview, the run log and the compliance figure all count from.';

drop function if exists app_private.retention_due_keys(app_public.retention_policies, timestamptz, integer, text[]);
create or replace function app_private.retention_due_keys(policy app_public.retention_policies, as_of timestamptz,
  batch_size integer, exclude text[] default '{}', after_clock timestamptz default null, after_key text default null)
returns table (key text, clock timestamptz) as $$
declare
  pieces record := app_private.retention_policy_sql(policy);
begin
  if policy.action = 'keep_forever' then
    return;
  end if;
  -- After (after_clock, after_key): a run walks the due rows once, in order,
  -- from an index on the clock, instead of sorting all of them for every batch.
  return query execute pg_catalog.format(
    'select %1$s, t.%2$I from %3$s t where %4$s and not (%5$s) and not (%1$s operator(pg_catalog.=) any ($2))
       and ($3::timestamptz is null or (t.%2$I operator(pg_catalog.>=) $3 and (t.%2$I operator(pg_catalog.>) $3 or %1$s operator(pg_catalog.>) $4)))
     order by t.%2$I, 1 limit %6$s',
    pieces.key_sql, policy.clock_column, pieces.target, pieces.due_sql, pieces.held_sql, batch_size)
    using as_of - policy.period, exclude, after_clock, after_key;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_due_keys(app_public.retention_policies, timestamptz, integer, text[], timestamptz, text) is
  E'The next batch of rows a run acts on under a policy at as_of, oldest first: past their period, not held, not in exclude (rows that failed already in this run), and after (after_clock, after_key) when given (where the previous batch ended); their keys as text and their clock.';

revoke all on function governance.row_key_text_sql(regclass, text), governance.row_key_text_match_sql(regclass, text, text),
  governance.row_subject_sql(regclass, text), governance.row_held_sql(regclass, text),
  governance.anonymized_sql(regclass, name[], text), governance.foreign_key_cascade(regclass, text, integer) from public;
revoke all on function app_private.retention_policy_sql(app_public.retention_policies),
  app_private.retention_counts(app_public.retention_policies, timestamptz),
  app_private.retention_due_keys(app_public.retention_policies, timestamptz, integer, text[], timestamptz, text),
  app_private.legal_hold_covered_ids() from public;
--! EndIncluded retention/rows.sql
--! Included retention/runs.sql
-- The run log: a run starts only when no other is running (an advisory lock
-- held by the runner's session for the whole run, and a unique index on the
-- running row), and a run whose process died is found and closed by the next.

create or replace function app_private.retention_lock_key() returns bigint as $$
  select 1702170217::bigint;
$$ language sql immutable;
comment on function app_private.retention_lock_key() is
  E'The advisory lock a retention run holds on its session from start to finish: a session that ends (a killed process, a terminated backend) lets it go.';

create or replace function app_private.start_retention_run(policy text, dry_run boolean, as_of timestamptz, task text,
  started_by uuid default null)
returns app_public.retention_runs as $$
declare
  running app_public.retention_runs;
  run app_public.retention_runs;
begin
  if policy is not null and not exists (select from app_public.retention_policies p where p.name = start_retention_run.policy) then
    raise exception 'There is no retention policy "%".', policy using errcode = 'P0002',
      hint = 'custodian retention policies lists them.';
  end if;
  if as_of is null then
    raise exception 'A retention run needs the instant its periods are judged at.' using errcode = '22004';
  end if;
  if not dry_run and as_of > pg_catalog.now() then
    raise exception 'A retention run cannot act as of % : that is in the future, and rows would go before their time. Only a dry run may look ahead.', as_of
      using errcode = '22023';
  end if;
  if not pg_catalog.pg_try_advisory_lock(app_private.retention_lock_key()) then
    select * into running from app_public.retention_runs r where r.status = 'running' order by r.started_at desc limit 1;
    raise exception 'Retention run % is running (started at %, by %); only one runs at a time: wait for it to finish.',
      coalesce(running.id::text, '(starting)'), coalesce(running.started_at::text, 'just now'), coalesce(running.task, 'another process')
      using errcode = '55P03';
  end if;
  -- Holding the lock, a row still marked running belongs to a process that died.
  update app_public.retention_runs r set status = 'failed', finished_at = pg_catalog.now(),
    error = 'Abandoned: the process running it ended before it finished. What it archived but had not removed is resumed by the next run.'
  where r.status = 'running';
  insert into app_public.retention_runs (dry_run, as_of, policy_name, task, started_by)
  values (dry_run, as_of, policy, task, started_by)
  returning * into run;
  return run;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.start_retention_run(text, boolean, timestamptz, text, uuid) is
  E'Starts a retention run (one policy, or all when policy is null) as of an instant, taking the run lock on this session: refused with the running run''s id when another holds it, refused for an unknown policy, and refused as of a future instant unless it is a dry run. A run left marked running by a process that died is closed as failed. The runner calls app_private.finish_retention_run on the same session.';

create or replace function app_private.finish_retention_run(run_id uuid, error text default null)
returns app_public.retention_runs as $$
declare
  run app_public.retention_runs;
begin
  update app_public.retention_runs r
  set status = case when finish_retention_run.error is null then 'finished' else 'failed' end,
      finished_at = pg_catalog.now(), error = finish_retention_run.error
  where r.id = finish_retention_run.run_id and r.status = 'running'
  returning * into run;
  perform pg_catalog.pg_advisory_unlock(app_private.retention_lock_key());
  return run;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.finish_retention_run(uuid, text) is
  E'Ends a run (finished, or failed with the error) and lets go of the run lock.';

create or replace function app_private.start_retention_run_policy(run_id uuid, policy_name text, as_of timestamptz)
returns app_public.retention_run_policies as $$
  insert into app_public.retention_run_policies (run_id, policy_name, action, rows_spared_by_hold)
  select start_retention_run_policy.run_id, p.name, p.action, (app_private.retention_counts(p, start_retention_run_policy.as_of)).rows_spared_by_hold
  from app_public.retention_policies p where p.name = start_retention_run_policy.policy_name
  returning *;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.start_retention_run_policy(uuid, text, timestamptz) is
  E'Opens a policy''s row in a run, with the rows past their period that a legal hold spares.';

create or replace function app_private.add_retention_figures(run_id uuid, policy_name text,
  archived bigint default 0, deleted bigint default 0, cascade_deleted bigint default 0, anonymized bigint default 0,
  archives integer default 0, errors integer default 0, error text default null)
returns void as $$
  update app_public.retention_run_policies r set
    rows_archived = r.rows_archived + archived, rows_deleted = r.rows_deleted + deleted,
    cascade_rows_deleted = r.cascade_rows_deleted + cascade_deleted, rows_anonymized = r.rows_anonymized + anonymized,
    archives_written = r.archives_written + archives, errors = r.errors + add_retention_figures.errors,
    error = coalesce(r.error, add_retention_figures.error)
  where r.run_id = add_retention_figures.run_id and r.policy_name = add_retention_figures.policy_name;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.add_retention_figures(uuid, text, bigint, bigint, bigint, bigint, integer, integer, text) is
  E'Adds a batch''s figures to a policy''s row in a run, in the batch''s own transaction (so the log says what committed); the first error''s words are kept.';

create or replace function app_private.finish_retention_run_policy(run_id uuid, policy_name text, status text,
  error text default null, note text default null)
returns app_public.retention_run_policies as $$
  update app_public.retention_run_policies r set status = finish_retention_run_policy.status, finished_at = pg_catalog.now(),
    errors = r.errors + case when finish_retention_run_policy.error is not null then 1 else 0 end,
    error = coalesce(r.error, finish_retention_run_policy.error), note = coalesce(finish_retention_run_policy.note, r.note)
  where r.run_id = finish_retention_run_policy.run_id and r.policy_name = finish_retention_run_policy.policy_name
  returning *;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.finish_retention_run_policy(uuid, text, text, text, text) is
  E'Closes a policy''s row in a run: finished, failed (the error counts as one more) or skipped (with a note).';

revoke all on function app_private.retention_lock_key(), app_private.start_retention_run(text, boolean, timestamptz, text, uuid),
  app_private.finish_retention_run(uuid, text), app_private.start_retention_run_policy(uuid, text, timestamptz),
  app_private.add_retention_figures(uuid, text, bigint, bigint, bigint, bigint, integer, integer, text),
  app_private.finish_retention_run_policy(uuid, text, text, text, text) from public;
--! EndIncluded retention/runs.sql
--! Included retention/enforce.sql
-- What a run does to rows, one batch per transaction: remove (through the
-- governed hard delete for soft-delete tables, so the trail records why),
-- anonymize (with erasure's values), and the archive records that make
-- archive-then-delete resumable. Every step re-checks, at the moment it
-- acts, that a row is still past its period and not held.

drop function if exists app_private.remove_archived_rows(uuid, uuid, timestamptz);
drop function if exists app_private.remove_archived_rows(uuid, uuid, timestamptz, text[], boolean);
drop function if exists app_private.retention_remove_keys(app_public.retention_policies, text[], timestamptz, text);
create function app_private.retention_remove_keys(policy app_public.retention_policies, keys text[], as_of timestamptz, reason text,
  out removed bigint, out cascade_removed bigint, out errors integer, out first_error text, out kept_keys text[])
returns record as $$
declare
  pieces record := app_private.retention_policy_sql(policy);
  cascade_count_sql text;
  before_count bigint;
  after_count bigint;
  key text;
  removable text[];
  removed_keys text[] := '{}';
begin
  removed := 0;
  errors := 0;
  if policy.action not in ('archive_then_delete', 'delete') or pieces.target = 'audit.events'::regclass then
    raise exception 'Retention policy % does not remove rows one by one.', policy.name using errcode = '55000';
  end if;
  select coalesce(pg_catalog.string_agg(pg_catalog.format('(select pg_catalog.count(*) from %s t where %s)', c.table_oid,
           pg_catalog.replace(c.condition, '{row}', 't')), ' + '), '0')
    into cascade_count_sql
  from governance.foreign_key_cascade(pieces.target, governance.row_key_text_match_sql(pieces.target, '{row}', '$2')) c
  where c.level > 0;
  execute 'select ' || cascade_count_sql into before_count using as_of - policy.period, keys;
  -- The rows still due and not held, locked so nothing restores them meanwhile.
  execute pg_catalog.format('select pg_catalog.array_agg(k order by k) from (select %s as k from %s t where %s and %s and not (%s) for update of t) x',
      pieces.key_sql, pieces.target, pieces.key_match_sql, pieces.due_sql, pieces.held_sql)
    into removable using as_of - policy.period, keys;
  removable := coalesce(removable, '{}');
  -- All at once (one DELETE, one record per row); if any row refuses, the set
  -- is undone and the rows go one by one, so the others still go.
  begin
    if pieces.is_soft_delete then
      removed := governance.hard_delete_rows(pieces.target, removable, reason);
    else
      execute pg_catalog.format('delete from %s t where %s', pieces.target, pieces.key_match_sql) using null::timestamptz, removable;
      get diagnostics removed = row_count;
    end if;
    removed_keys := removable;
  exception when others then
    removed := 0;
    foreach key in array removable loop
      begin
        if pieces.is_soft_delete then
          perform governance.hard_delete(pieces.target, key, reason);
        else
          execute pg_catalog.format('delete from %s t where %s', pieces.target, pieces.key_match_sql) using null::timestamptz, array[key];
        end if;
        removed := removed + 1;
        removed_keys := removed_keys || key;
      exception when others then
        -- A row another record must keep (a request on record for the client, say): it stays, the others go on.
        errors := errors + 1;
        first_error := coalesce(first_error, pg_catalog.format('%s %s: %s', pieces.target, key, sqlerrm));
      end;
    end loop;
  end;
  kept_keys := array(select k from pg_catalog.unnest(keys) k except select k from pg_catalog.unnest(removed_keys) k);
  execute 'select ' || cascade_count_sql into after_count using as_of - policy.period, keys;
  cascade_removed := before_count - after_count;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_remove_keys(app_public.retention_policies, text[], timestamptz, text) is
  E'Removes the rows with these keys that are still past the policy''s period at as_of and not held, in one statement: through governance.hard_delete_rows (with the reason) for a soft-delete table, which takes the foreign-key cascade along, else by a plain delete. If the set fails, the rows go one by one (governance.hard_delete): a row whose removal fails stays (the first error is returned); the others go on. kept_keys are the keys not removed (failed, held, restored or gone already).';

create or replace function app_private.retention_archive_tables(policy_name text)
returns table (table_name text, level integer) as $$
  select c.table_oid::text, c.level
  from app_public.retention_policies p,
    governance.foreign_key_cascade(pg_catalog.to_regclass(p.target_table), 'true') c
  where p.name = retention_archive_tables.policy_name
  order by c.level, c.table_oid::text;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_archive_tables(text) is
  E'The tables an archive of a policy''s rows holds, parents first: the policy''s table and every table its removal cascades to.';

create or replace function app_private.retention_archive_rows(policy_name text, keys text[], table_name text)
returns setof text as $$
declare
  policy app_public.retention_policies;
  target regclass;
  source record;
begin
  select * into strict policy from app_public.retention_policies p where p.name = retention_archive_rows.policy_name;
  target := pg_catalog.to_regclass(policy.target_table);
  select c.* into source
  from governance.foreign_key_cascade(target, governance.row_key_text_match_sql(target, '{row}', '$2')) c
  where c.table_oid = pg_catalog.to_regclass(retention_archive_rows.table_name);
  if not found then
    raise exception 'Table % is not among the tables policy % archives.', table_name, policy_name using errcode = '22023';
  end if;
  return query execute pg_catalog.format('select pg_catalog.to_jsonb(t)::text from %s t where %s order by %s',
    source.table_oid, pg_catalog.replace(source.condition, '{row}', 't'), coalesce(governance.row_key_text_sql(source.table_oid, 't'), '1'))
    using null::timestamptz, keys;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_archive_rows(text, text[], text) is
  E'One table''s rows for an archive of a policy''s rows with these keys (the policy''s table, or a table its removal cascades to), each as to_jsonb(row)::text, in key order: what jsonb_populate_record restores exactly.';

create or replace function app_private.create_retention_archive(id uuid, run_id uuid, policy_name text, store text)
returns app_public.retention_archives as $$
  insert into app_public.retention_archives (id, kind, policy_name, run_id, store)
  values (create_retention_archive.id, 'rows', create_retention_archive.policy_name, create_retention_archive.run_id, create_retention_archive.store)
  returning *;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.create_retention_archive(uuid, uuid, text, text) is
  E'Records an archive before its files are written (manifest null), so that a crash while writing is found by the next run.';

create or replace function app_private.record_retention_archive_verified(id uuid, manifest jsonb, archived_rows bigint)
returns app_public.retention_archives as $$
declare
  archive app_public.retention_archives;
begin
  update app_public.retention_archives a set manifest = record_retention_archive_verified.manifest,
    row_count = (select pg_catalog.sum((f ->> 'rows')::bigint) from pg_catalog.jsonb_array_elements(record_retention_archive_verified.manifest -> 'files') f),
    time_from = (record_retention_archive_verified.manifest #>> '{timeRange,from}')::timestamptz,
    time_to = (record_retention_archive_verified.manifest #>> '{timeRange,to}')::timestamptz,
    written_at = pg_catalog.now(), verified_at = pg_catalog.now()
  where a.id = record_retention_archive_verified.id and a.manifest is null
  returning * into archive;
  if not found then
    raise exception 'Archive % is not recorded as being written.', id using errcode = 'P0002';
  end if;
  perform app_private.add_retention_figures(archive.run_id, archive.policy_name, archived => archived_rows, archives => 1);
  return archive;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.record_retention_archive_verified(uuid, jsonb, bigint) is
  E'Records that an archive''s files are written and read back as written (its manifest, rows, time range), and counts the policy''s archived rows in its run. Only after this may its rows be removed.';

create or replace function app_private.discard_retention_archive(id uuid) returns void as $$
  delete from app_public.retention_archives a where a.id = discard_retention_archive.id and a.rows_removed_at is null;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.discard_retention_archive(uuid) is
  E'Forgets an archive whose writing never finished or that no longer verifies; its rows are still in place, and a fresh archive is written for them.';

create function app_private.remove_archived_rows(run_id uuid, archive_id uuid, as_of timestamptz,
  only_keys text[] default null, finish boolean default true,
  out removed bigint, out cascade_removed bigint, out skipped bigint, out errors integer, out first_error text, out kept_keys text[])
returns record as $$
declare
  archive app_public.retention_archives;
  policy app_public.retention_policies;
  keys text[];
  result record;
begin
  select * into archive from app_public.retention_archives a where a.id = archive_id for update;
  if not found then
    raise exception 'There is no archive %.', archive_id using errcode = 'P0002';
  end if;
  removed := 0; cascade_removed := 0; skipped := 0; errors := 0; kept_keys := '{}';
  if archive.rows_removed_at is not null then
    return;  -- Done already: removing again does nothing.
  end if;
  if archive.verified_at is null or archive.kind <> 'rows' then
    raise exception 'Archive % is not a verified archive of rows; its rows stay.', archive_id using errcode = '55000';
  end if;
  select * into strict policy from app_public.retention_policies p where p.name = archive.policy_name;
  keys := array(select pg_catalog.jsonb_array_elements_text(archive.manifest #> '{extra,keys}'));
  if only_keys is not null then
    -- One part of a large archive: never a key the archive does not hold.
    keys := array(select k from pg_catalog.unnest(keys) k where k in (select pg_catalog.unnest(only_keys)));
  end if;
  result := app_private.retention_remove_keys(policy, keys, as_of,
    pg_catalog.format('Retention policy %s: past its period of %s after %s; archived first in %s (run %s).',
      policy.name, policy.period, policy.clock_column, archive_id, run_id));
  removed := result.removed;
  cascade_removed := result.cascade_removed;
  errors := result.errors;
  first_error := result.first_error;
  kept_keys := result.kept_keys;
  skipped := pg_catalog.cardinality(keys) - removed - errors;
  if finish then
    update app_public.retention_archives a set rows_removed_at = pg_catalog.now() where a.id = archive_id;
  end if;
  perform app_private.add_retention_figures(run_id, policy.name, deleted => removed, cascade_deleted => cascade_removed,
    errors => result.errors, error => result.first_error);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.remove_archived_rows(uuid, uuid, timestamptz, text[], boolean) is
  E'Removes exactly the rows a verified archive holds (its manifest''s keys; of those, only only_keys when given, so that a large archive goes in several short transactions) that are still past their period at as_of and not held (a row restored or held since stays, and is counted as skipped), adds the figures to the run and, when finish (the last part, or all at once), marks the archive''s rows removed, in one transaction; kept_keys are the archived keys (of the part) still in place. Removing after the archive is marked does nothing; a run resuming an unmarked archive removes whatever of it is still in place.';

create or replace function app_private.retention_anonymize_batch(run_id uuid, policy_name text, as_of timestamptz, batch_size integer)
returns bigint as $$
declare
  policy app_public.retention_policies;
  pieces record;
  keys text[];
  anonymized bigint;
begin
  select * into strict policy from app_public.retention_policies p where p.name = retention_anonymize_batch.policy_name;
  if policy.action <> 'anonymize' then
    raise exception 'Retention policy % does not anonymize.', policy.name using errcode = '55000';
  end if;
  pieces := app_private.retention_policy_sql(policy);
  keys := array(select k.key from app_private.retention_due_keys(policy, as_of, batch_size) k);
  if pg_catalog.cardinality(keys) = 0 then
    return 0;
  end if;
  execute pg_catalog.format('update %s t set %s where %s and %s and not (%s)', pieces.target,
    (select pg_catalog.string_agg(pg_catalog.format('%I = %s', c, governance.erased_value_sql(pieces.target, c)), ', ')
     from pg_catalog.unnest(policy.anonymize_columns) c),
    pieces.key_match_sql, pieces.due_sql, pieces.held_sql)
    using as_of - policy.period, keys;
  get diagnostics anonymized = row_count;
  perform app_private.add_retention_figures(run_id, policy.name, anonymized => anonymized);
  return anonymized;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_anonymize_batch(uuid, text, timestamptz, integer) is
  E'Anonymizes the next batch of rows past an anonymize policy''s period and not held: their columns get what erasure writes (governance.erased_value_sql), and the trail records the update. Returns how many; 0 when none is left.';

drop function if exists app_private.retention_delete_batch(uuid, text, timestamptz, integer, text[]);
create function app_private.retention_delete_batch(run_id uuid, policy_name text, as_of timestamptz, batch_size integer,
  exclude text[] default '{}', out removed bigint, out kept_keys text[])
returns record as $$
declare
  policy app_public.retention_policies;
  keys text[];
  result record;
begin
  select * into strict policy from app_public.retention_policies p where p.name = retention_delete_batch.policy_name;
  if policy.action <> 'delete' then
    raise exception 'Retention policy % does not delete without an archive.', policy.name using errcode = '55000';
  end if;
  keys := array(select k.key from app_private.retention_due_keys(policy, as_of, batch_size, exclude) k);
  removed := 0;
  kept_keys := '{}';
  if pg_catalog.cardinality(keys) = 0 then
    return;
  end if;
  result := app_private.retention_remove_keys(policy, keys, as_of,
    pg_catalog.format('Retention policy %s: past its period of %s after %s (run %s).', policy.name, policy.period, policy.clock_column, run_id));
  removed := result.removed;
  kept_keys := result.kept_keys;
  perform app_private.add_retention_figures(run_id, policy.name, deleted => result.removed, cascade_deleted => result.cascade_removed,
    errors => result.errors, error => result.first_error);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_delete_batch(uuid, text, timestamptz, integer, text[]) is
  E'Removes the next batch of rows past a delete policy''s period and not held (no archive), skipping keys kept earlier in the run (exclude); returns how many went and the keys that stayed.';

revoke all on function app_private.retention_remove_keys(app_public.retention_policies, text[], timestamptz, text),
  app_private.retention_archive_tables(text), app_private.retention_archive_rows(text, text[], text),
  app_private.create_retention_archive(uuid, uuid, text, text), app_private.record_retention_archive_verified(uuid, jsonb, bigint),
  app_private.discard_retention_archive(uuid), app_private.remove_archived_rows(uuid, uuid, timestamptz, text[], boolean),
  app_private.retention_anonymize_batch(uuid, text, timestamptz, integer),
  app_private.retention_delete_batch(uuid, text, timestamptz, integer, text[]) from public;
--! EndIncluded retention/enforce.sql
--! Included retention/report.sql
-- What retention would do (the dry run) and how compliant the data is: both
-- counted by app_private.retention_counts, which the runs count from too.

create or replace function app_private.retention_policies_in_run_order(policy text default null)
returns setof app_public.retention_policies as $$
  select p.* from app_public.retention_policies p
  where policy is null or p.name = policy
  -- A child before its parent (transcriptions, sessions, clients, profiles), so
  -- that each policy removes its own rows rather than its parent's cascade.
  order by (app_private.retention_policy_sql(p)).cascade_depth, p.name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_policies_in_run_order(text) is
  E'The policies (or the one named) in the order a run applies them: those whose removal reaches fewer tables first.';

drop function if exists app_public.retention_preview(text, timestamptz);
create function app_public.retention_preview(policy text default null, as_of timestamptz default pg_catalog.now())
returns table (
  policy_name text, category text, target_table text, action app_public.retention_action, period interval, enabled boolean,
  cutoff timestamptz, rows_due bigint, oldest_due timestamptz, newest_due timestamptz, sample_keys text[], rows_spared_by_hold bigint
) as $$
declare
  p app_public.retention_policies;
  counts record;
  pieces record;
begin
  if policy is not null and not exists (select from app_public.retention_policies x where x.name = retention_preview.policy) then
    raise exception 'There is no retention policy "%".', policy using errcode = 'P0002';
  end if;
  for p in select * from app_private.retention_policies_in_run_order(retention_preview.policy) loop
    counts := app_private.retention_counts(p, as_of);
    policy_name := p.name; category := p.category; target_table := p.target_table; action := p.action;
    period := p.period; enabled := p.enabled; cutoff := as_of - p.period;
    rows_due := counts.rows_due; oldest_due := counts.oldest_due; newest_due := counts.newest_due;
    rows_spared_by_hold := counts.rows_spared_by_hold;
    sample_keys := array(select k.key from app_private.retention_due_keys(p, as_of, 10) k);
    return next;
  end loop;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retention_preview(text, timestamptz) is
  E'The dry run: per policy (or the one named), at asOf (now by default), the rows a run would act on (past their period, not held; for anonymize, not anonymized yet), their oldest and newest clock, the keys of up to ten of them (oldest first), and the rows past their period that a legal hold spares. In the order a run applies the policies. Admins and auditors.';

drop function if exists app_public.retention_compliance(timestamptz);
create function app_public.retention_compliance(as_of timestamptz default pg_catalog.now())
returns table (
  policy_name text, category text, action app_public.retention_action, period interval,
  rows_under_policy bigint, rows_within_period bigint, rows_past_period bigint, rows_held bigint, compliance_percent numeric
) as $$
  select p.name, p.category, p.action, p.period, c.rows_under_policy,
    c.rows_under_policy - c.rows_due - c.rows_spared_by_hold, c.rows_due, c.rows_spared_by_hold,
    case when c.rows_under_policy - c.rows_spared_by_hold = 0 then 100.0
      else pg_catalog.round(100.0 * (c.rows_under_policy - c.rows_due - c.rows_spared_by_hold) / (c.rows_under_policy - c.rows_spared_by_hold), 1) end
  from app_private.retention_policies_in_run_order() p,
    lateral app_private.retention_counts(p, as_of) c;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retention_compliance(timestamptz) is
  E'Data retention compliance at asOf (now by default), per policy: the rows under it (clock set), those within their period (for anonymize, also those already anonymized), those past it that a run would act on, and those past it kept by a legal hold (counted apart); compliancePercent = within / (under - held), 100 when nothing is under it. Admins and auditors.';

revoke all on function app_private.retention_policies_in_run_order(text) from public;
revoke all on function app_public.retention_preview(text, timestamptz), app_public.retention_compliance(timestamptz) from public;
grant execute on function app_public.retention_preview(text, timestamptz), app_public.retention_compliance(timestamptz)
  to custodian_admin, custodian_auditor;
--! EndIncluded retention/report.sql

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

-- Issue 17 (archive): restoring archived rows through the normal write path.
create table governance.archive_restorations (
  id bigint generated always as identity primary key,
  archive_id uuid not null,
  table_name text not null,
  transaction_id xid8 not null default pg_catalog.pg_current_xact_id(),
  restored_by name not null default session_user,
  started_at timestamptz not null default pg_catalog.now()
);
comment on table governance.archive_restorations is
  E'Every restore of archived rows into their original table (`custodian archive restore`). While one is recorded for the current transaction, insert triggers keep the archived created_at, updated_at and other derived columns, so the rows come back as they were.';
comment on column governance.archive_restorations.id is E'The restore''s id.';
comment on column governance.archive_restorations.archive_id is E'The archive the rows came from (its folder in the archive store).';
comment on column governance.archive_restorations.table_name is E'The table the rows went back into ("schema.table").';
comment on column governance.archive_restorations.transaction_id is E'The transaction that restored.';
comment on column governance.archive_restorations.restored_by is E'The database login that restored.';
comment on column governance.archive_restorations.started_at is E'When.';
alter table governance.archive_restorations enable row level security;

--! Included archive/restore.sql
-- Restoring rows from a verified archive into their original table
-- (`custodian archive restore`): through the normal write path as the owner,
-- so that every constraint and trigger runs and the audit trail records each
-- insert, while the columns the database would derive on insert
-- (created_at, updated_at, a consent's recorded_at, ...) keep their archived
-- values: the row comes back as it was archived.

create or replace function governance.current_archive_restoration() returns governance.archive_restorations as $$
  select r.* from governance.archive_restorations r
  where r.id = (select case when s ~ '^[0-9]{1,18}$' then s::bigint end
                from pg_catalog.current_setting('governance.archive_restoration_id', true) s)
    and r.transaction_id = pg_catalog.pg_current_xact_id();
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.current_archive_restoration() is
  E'The archive restore running in this transaction, if any. The setting alone proves nothing: the row must exist in this transaction, and only governance.begin_archive_restoration writes it.';

create or replace function governance.restoring_archived_rows() returns boolean as $$
  -- The cheap test first: most inserts are not restores and stop at the setting.
  select coalesce(pg_catalog.current_setting('governance.archive_restoration_id', true), '') <> ''
    and (governance.current_archive_restoration()).id is not null;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.restoring_archived_rows() is
  E'Whether this transaction is restoring rows from an archive (governance.begin_archive_restoration): the insert triggers then keep the archived values of the columns they would otherwise derive.';

create or replace function governance.begin_archive_restoration(archive_id uuid, target regclass) returns bigint as $$
declare
  restoration_id bigint;
begin
  insert into governance.archive_restorations (archive_id, table_name)
  select begin_archive_restoration.archive_id, n.nspname || '.' || c.relname
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target
  returning id into restoration_id;
  perform pg_catalog.set_config('governance.archive_restoration_id', restoration_id::text, true);
  return restoration_id;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.begin_archive_restoration(uuid, regclass) is
  E'Records that this transaction restores rows of an archive into a table, and for the rest of it lets the insert triggers keep the archived created_at, updated_at and other derived columns. For the owner only: `custodian archive restore`.';

create or replace function governance.end_archive_restoration() returns void as $$
  select pg_catalog.set_config('governance.archive_restoration_id', '', true);
$$ language sql volatile;
comment on function governance.end_archive_restoration() is
  E'Ends the archive restore of this transaction: later inserts derive their columns again.';

-- An inspection copy holds the same personal data as its original: the map
-- of personal data says so, so that the readiness report, erasure and the
-- records of processing see it until the copy is dropped.
create or replace function governance.classify_inspection_copy(original regclass, copy regclass) returns integer as $$
declare
  classified integer := 0;
  col record;
begin
  for col in
    select a.attname, p.category, p.subject_kind, p.purpose, p.legal_basis,
      coalesce(p.subject_column, case when t.subject_via is null then t.subject_column end) as subject_column
    from governance.personal_data_columns p
    join pg_catalog.pg_attribute a on a.attrelid = p.table_oid and a.attnum = p.column_number
    left join audit.tracked_tables t on t.table_oid = p.table_oid
    where p.table_oid = original
      and exists (select from pg_catalog.pg_attribute c where c.attrelid = copy and c.attname = a.attname and not c.attisdropped)
  loop
    perform governance.classify_column(copy, col.attname, col.category, col.subject_kind, col.purpose, col.legal_basis,
      case when exists (select from pg_catalog.pg_attribute c where c.attrelid = copy and c.attname = col.subject_column and not c.attisdropped)
        then col.subject_column end);
    classified := classified + 1;
  end loop;
  return classified;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.classify_inspection_copy(regclass, regclass) is
  E'Gives an inspection copy of a table (`custodian archive restore --into-schema`) its original''s classification in the map of personal data, column by column: the copy holds the same personal data until it is dropped. Returns how many columns it classified.';

-- Every writer's insert triggers ask (they run as the writer); it says nothing but whether this transaction restores.
grant execute on function governance.restoring_archived_rows() to public;
revoke all on function governance.current_archive_restoration() from public;
create or replace function governance.is_inspection_schema(schema_name name) returns boolean as $$
  select coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace') like 'Inspection copies of archived rows%', false)
  from pg_catalog.pg_namespace n where n.nspname = schema_name;
$$ language sql stable;
comment on function governance.is_inspection_schema(name) is
  E'Whether a schema was made by `custodian archive restore --into-schema` (it says so in its comment); null when there is no such schema.';

create or replace function governance.drop_inspection_schema(schema_name name) returns integer as $$
declare
  unmapped integer;
begin
  if governance.is_inspection_schema(schema_name) is distinct from true then
    raise exception 'Schema % is not an inspection schema made by `custodian archive restore --into-schema`; nothing dropped.', schema_name
      using errcode = '42501';
  end if;
  delete from governance.personal_data_columns p
  using pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where p.table_oid = c.oid and n.nspname = schema_name;
  get diagnostics unmapped = row_count;
  execute pg_catalog.format('drop schema %I cascade', schema_name);
  return unmapped;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.drop_inspection_schema(name) is
  E'Drops an inspection schema of restored archive rows and takes its copies out of the map of personal data; refuses any other schema. Returns how many classified columns left the map. For the owner only.';

revoke all on function governance.drop_inspection_schema(name) from public;
revoke all on function governance.classify_inspection_copy(regclass, regclass) from public;
revoke all on function governance.begin_archive_restoration(uuid, regclass) from public;
revoke all on function governance.end_archive_restoration() from public;

drop policy if exists staff_read on governance.archive_restorations;
create policy staff_read on governance.archive_restorations for select to custodian_admin, custodian_auditor using (true);
grant select on governance.archive_restorations to custodian_admin, custodian_auditor;
--! EndIncluded archive/restore.sql
--! Included domain/timestamps.sql
-- created_at and updated_at are set by the database on every table that has them.

-- A write that changes nothing leaves updated_at alone, so that it changes
-- nothing at all and the audit trail records nothing.
create or replace function app_private.tg__timestamps() returns trigger as $$
begin
  if TG_OP = 'INSERT' then
    if new.created_at is not null and governance.restoring_archived_rows() then
      -- A row restored from an archive keeps the times it had.
      new.updated_at := coalesce(new.updated_at, new.created_at);
      return new;
    end if;
    new.created_at := pg_catalog.now();
    new.updated_at := pg_catalog.now();
    return new;
  end if;
  new.created_at := old.created_at;
  new.updated_at := old.updated_at;
  if new operator(pg_catalog.*<>) old then
    new.updated_at := case
      when old.updated_at >= pg_catalog.now() then old.updated_at + interval '1 millisecond'
      else pg_catalog.now()
    end;
  end if;
  return new;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg__timestamps() is
  E'Keeps created_at fixed and updated_at moving forward, whatever the writer sends (except a row restored from an archive, which keeps its own); an update that changes nothing keeps updated_at.';

drop trigger if exists _100_timestamps on app_public.users;
create trigger _100_timestamps before insert or update on app_public.users
  for each row execute function app_private.tg__timestamps();

drop trigger if exists _100_timestamps on app_public.billing_plans;
create trigger _100_timestamps before insert or update on app_public.billing_plans
  for each row execute function app_private.tg__timestamps();

drop trigger if exists _100_timestamps on app_public.provider_rates;
create trigger _100_timestamps before insert or update on app_public.provider_rates
  for each row execute function app_private.tg__timestamps();

drop trigger if exists _100_timestamps on app_public.coach_profiles;
create trigger _100_timestamps before insert or update on app_public.coach_profiles
  for each row execute function app_private.tg__timestamps();

drop trigger if exists _100_timestamps on app_public.clients;
create trigger _100_timestamps before insert or update on app_public.clients
  for each row execute function app_private.tg__timestamps();

drop trigger if exists _100_timestamps on app_public.coaching_sessions;
create trigger _100_timestamps before insert or update on app_public.coaching_sessions
  for each row execute function app_private.tg__timestamps();

drop trigger if exists _100_timestamps on app_public.transcriptions;
create trigger _100_timestamps before insert or update on app_public.transcriptions
  for each row execute function app_private.tg__timestamps();
--! EndIncluded domain/timestamps.sql
--! Included domain/derived-columns.sql
-- Columns the database derives on insert and update, whatever the writer sends.

create or replace function app_private.tg_clients__require_coach_profile() returns trigger as $$
begin
  if new.coach_profile_id is null then
    raise exception 'A client needs a coach profile: give coachProfileId, or create your coach profile first.'
      using errcode = '23502';
  end if;
  return new;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_clients__require_coach_profile() is
  E'Explains a client without a coach: the column defaults to the caller''s profile, which admins do not have.';

drop trigger if exists _050_require_coach_profile on app_public.clients;
create trigger _050_require_coach_profile before insert on app_public.clients
  for each row execute function app_private.tg_clients__require_coach_profile();

create or replace function app_private.tg_coaching_sessions__set_coach_profile() returns trigger as $$
begin
  if new.coach_profile_id is null then
    select coach_profile_id into new.coach_profile_id from app_public.clients where id = new.client_id;
    if not found then
      raise exception 'Client % does not exist.', new.client_id using errcode = '23503';
    end if;
  end if;
  return new;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_coaching_sessions__set_coach_profile() is
  E'Takes a new session''s coach from its client; runs as the caller, so RLS hides other coaches'' clients.';

drop trigger if exists _050_set_coach_profile on app_public.coaching_sessions;
create trigger _050_set_coach_profile before insert on app_public.coaching_sessions
  for each row execute function app_private.tg_coaching_sessions__set_coach_profile();

-- The check constraints stay as the last word; this says the same before
-- they do, in words, with their names.
create or replace function app_private.tg_transcriptions__derive() returns trigger as $$
begin
  if new.billed_duration_seconds < 0 then
    raise exception 'A billed duration cannot be negative (got % seconds).', new.billed_duration_seconds
      using errcode = '23514', constraint = 'transcriptions_billed_duration_seconds_check', column = 'billed_duration_seconds';
  end if;
  if new.status = 'completed' and new.billed_duration_seconds is null then
    raise exception 'A completed attempt needs its billed duration: set billed_duration_seconds (the audio seconds the provider billed).'
      using errcode = '23514', constraint = 'transcriptions_completed_has_billed_duration', column = 'billed_duration_seconds';
  end if;
  if TG_OP = 'INSERT' then
    if new.coach_profile_id is null then
      select coach_profile_id into new.coach_profile_id from app_public.coaching_sessions where id = new.session_id;
      if not found then
        raise exception 'Coaching session % does not exist.', new.session_id using errcode = '23503';
      end if;
    end if;
    -- A restored attempt keeps what it was: its siblings may come back in any order.
    if new.is_retranscription is null or not governance.restoring_archived_rows() then
      new.is_retranscription := exists (
        select from app_public.transcriptions t
        where t.session_id = new.session_id and t.status = 'completed'
      );
    end if;
  end if;
  if new.status = 'processing' and (TG_OP = 'INSERT' or old.status <> 'processing') then
    new.started_at := coalesce(new.started_at, pg_catalog.now());
  end if;
  if new.status in ('completed', 'failed') and (TG_OP = 'INSERT' or old.status not in ('completed', 'failed')) then
    new.finished_at := coalesce(new.finished_at, pg_catalog.now());
    new.started_at := coalesce(new.started_at, new.finished_at);
  end if;
  return new;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__derive() is
  E'Takes a new attempt''s coach from its session, marks re-transcriptions, and stamps started_at and finished_at as the status moves.';

drop trigger if exists _050_derive on app_public.transcriptions;
create trigger _050_derive before insert or update on app_public.transcriptions
  for each row execute function app_private.tg_transcriptions__derive();
--! EndIncluded domain/derived-columns.sql
--! Included gdpr/consents.sql
-- Consent (GDPR Art. 7): an append-only record per client and purpose of each
-- decision (granted or withdrawn), who recorded it, when, and the wording the
-- client was shown (its version and SHA-256). The latest decision is the
-- state; app_private.tg_transcriptions__require_consent refuses transcribing
-- a session whose client's latest transcription decision is not a grant.

create or replace function app_private.lock_client_processing(client_id uuid) returns void as $$
begin
  perform from app_public.clients c where c.id = lock_client_processing.client_id for update;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.lock_client_processing(uuid) is
  E'Locks a client''s row (FOR UPDATE) until the transaction ends, before a change of their processing state (a consent decision, a restriction): it waits for the transcriptions under way, which hold the row FOR KEY SHARE while they check that state, and a transcription started later waits for the change and sees it. Row locks, so a bulk insert of attempts for many clients needs no lock table entries.';

create or replace function app_private.latest_consent(client_id uuid, purpose app_public.consent_purpose) returns app_public.consents as $$
  select c.* from app_public.consents c
  where c.client_id = latest_consent.client_id and c.purpose = latest_consent.purpose
  order by c.recorded_at desc, c.id desc
  limit 1;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.latest_consent(uuid, app_public.consent_purpose) is
  E'A client''s latest consent decision for a purpose (null when none was ever recorded): the consent is active when its decision is granted.';

create or replace function app_public.tg_consents__recorded() returns trigger as $$
begin
  -- One decision at a time per client: "latest" is then the order in which
  -- they were recorded, and a transcription under way ends first.
  perform app_private.lock_client_processing(NEW.client_id);
  if NEW.recorded_at is not null and governance.restoring_archived_rows() then
    -- A decision restored from an archive keeps who recorded it and when.
    return NEW;
  end if;
  NEW.recorded_by := app_public.current_user_id();
  NEW.recorded_at := pg_catalog.clock_timestamp();
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_consents__recorded() is
  E'Who recorded a consent decision and when come from the caller and the clock, read after waiting for any other decision on the same client and for the transcriptions under way (a decision restored from an archive keeps its own).';

create or replace function app_public.tg_consents__append_only() returns trigger as $$
declare
  latest app_public.consents;
begin
  if TG_OP = 'INSERT' then
    if not governance.caller_is_staff() and not exists (select from app_public.clients c where c.id = NEW.client_id) then
      raise exception 'There is no client % of yours; a coach records consents for their own clients only.', NEW.client_id
        using errcode = '42501';
    end if;
    latest := app_private.latest_consent(NEW.client_id, NEW.purpose);
    if NEW.decision = 'withdrawn' and latest.decision is distinct from 'granted' then
      raise exception 'Client % has no active consent for % to withdraw (%).', NEW.client_id, NEW.purpose,
        case when latest.id is null then 'none was ever granted' else 'withdrawn at ' || latest.recorded_at end
        using errcode = '55000';
    end if;
    return NEW;
  elsif TG_OP = 'DELETE' and governance.current_hard_deletion() is not null then
    -- A consent record leaves only with its client, through the governed hard delete (recorded with its reason).
    return OLD;
  elsif TG_OP = 'DELETE' or TG_OP = 'TRUNCATE' then
    raise exception 'Consent records are never deleted: they prove what the client agreed to. A withdrawal is a new record (decision withdrawn).'
      using errcode = '55000';
  else
    raise exception 'Consent records cannot be changed: a withdrawal or a new grant is a new record.' using errcode = '55000';
  end if;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_consents__append_only() is
  E'Keeps consent records append-only for every writer, the owner included: never updated, deleted or truncated (a row leaves only with its client, through governance.hard_delete). A coach records them for their own clients only; a withdrawal needs an active grant to withdraw.';

drop trigger if exists _100_timestamps on app_public.consents;
create trigger _100_timestamps before insert on app_public.consents
  for each row execute function app_public.tg_consents__recorded();
drop trigger if exists _200_append_only on app_public.consents;
create trigger _200_append_only before insert or update or delete on app_public.consents
  for each row execute function app_public.tg_consents__append_only();
drop trigger if exists _200_append_only_truncate on app_public.consents;
create trigger _200_append_only_truncate before truncate on app_public.consents
  for each statement execute function app_public.tg_consents__append_only();

create or replace function app_public.current_consents(client_id uuid default null) returns setof app_public.consents as $$
  select distinct on (c.client_id, c.purpose) c.*
  from app_public.consents c
  where current_consents.client_id is null or c.client_id = current_consents.client_id
  order by c.client_id, c.purpose, c.recorded_at desc, c.id desc;
$$ language sql stable;
comment on function app_public.current_consents(uuid) is
  E'The state of consent: the latest decision per client and purpose (of one client when clientId is given), among the clients the caller may see. A purpose is consented to when its latest decision is granted; a purpose with no row was never asked.';

grant execute on function app_public.current_consents(uuid) to custodian_coach, custodian_admin, custodian_auditor;

-- The transcription rule: every new attempt (a first one, a retry, a
-- re-transcription) needs the client's active consent for transcription.
-- Checked once per statement over its rows, so bulk inserts stay set-based.
create or replace function app_private.tg_transcriptions__require_consent() returns trigger as $$
declare
  refused record;
begin
  -- Held until commit: a consent decision on these clients waits for this statement's transaction (lock_client_processing).
  perform from app_public.clients c
  where c.id in (select cs.client_id from new_rows t join app_public.coaching_sessions cs on cs.id = t.session_id)
  for key share;
  select t.session_id, cs.client_id, latest.decision, latest.recorded_at into refused
  from new_rows t
  join app_public.coaching_sessions cs on cs.id = t.session_id
  left join lateral (
    select c.decision, c.recorded_at from app_public.consents c
    where c.client_id = cs.client_id and c.purpose = 'transcription'
    order by c.recorded_at desc, c.id desc limit 1) latest on true
  where latest.decision is distinct from 'granted'
  limit 1;
  if found then
    raise exception 'Cannot transcribe session %: client % has no active consent for transcription (%).', refused.session_id, refused.client_id,
      case when refused.decision is null then 'none was ever recorded' else 'withdrawn at ' || refused.recorded_at end
      using errcode = '55000',
        hint = 'Record the client''s consent for transcription first (createConsent with purpose transcription and decision granted).';
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__require_consent() is
  E'Refuses a statement that inserts transcription attempts (first attempts, retries, re-transcriptions) for a session whose client has no active consent for transcription, naming the consent; every writer, the owner included. Earlier attempts stay (a withdrawal is not retroactive, Art. 7(3)).';

drop trigger if exists _050_require_consent on app_public.transcriptions;
create trigger _050_require_consent after insert on app_public.transcriptions
  referencing new table as new_rows
  for each statement execute function app_private.tg_transcriptions__require_consent();

-- For the readiness report: attempts kept (not soft-deleted) whose client
-- has no active consent for transcription now.
create or replace function app_private.transcriptions_without_consent_count() returns bigint as $$
  select pg_catalog.count(*)
  from app_public.transcriptions t
  join app_public.coaching_sessions cs on cs.id = t.session_id
  left join lateral (
    select c.decision from app_public.consents c
    where c.client_id = cs.client_id and c.purpose = 'transcription'
    order by c.recorded_at desc, c.id desc limit 1) latest on true
  where not t.is_deleted and latest.decision is distinct from 'granted';
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.transcriptions_without_consent_count() is
  E'How many transcription attempts that are not soft-deleted belong to a client whose consent for transcription is not active now (withdrawn, or never recorded): the readiness report''s "active transcriptions without consent".';

revoke all on function app_private.lock_client_processing(uuid) from public;
revoke all on function app_private.latest_consent(uuid, app_public.consent_purpose) from public;
revoke all on function app_private.transcriptions_without_consent_count() from public;
-- Called by the consent and restriction triggers, which run as the writer.
grant execute on function app_private.lock_client_processing(uuid),
  app_private.latest_consent(uuid, app_public.consent_purpose) to custodian_coach, custodian_admin;
grant execute on function app_private.transcriptions_without_consent_count() to custodian_admin, custodian_auditor;

-- Admins and the client's coach record consents; auditors read them all; a
-- coach sees their own clients' only.
drop policy if exists admin_all on app_public.consents;
create policy admin_all on app_public.consents for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.consents;
create policy auditor_read on app_public.consents for select to custodian_auditor using (true);
drop policy if exists coach_own_clients on app_public.consents;
create policy coach_own_clients on app_public.consents for all to custodian_coach
  using (client_id in (select c.id from app_public.clients c where c.coach_profile_id = (select app_private.current_coach_profile_id())))
  with check (client_id in (select c.id from app_public.clients c where c.coach_profile_id = (select app_private.current_coach_profile_id())));

grant select on app_public.consents to custodian_coach, custodian_admin, custodian_auditor;
grant insert (client_id, purpose, decision, wording_version, wording_sha256) on app_public.consents to custodian_coach, custodian_admin;
--! EndIncluded gdpr/consents.sql

-- Who restored what, and when, is itself part of the trail.
select audit.enable_tracking('governance.archive_restorations');

-- Issue 17, audit events by partition: a month of the trail past its period
-- leaves whole, after it is archived with its seals; a checkpoint of the hash
-- chain stays, so that verify goes on across the dropped range.

create table audit.chain_checkpoints (
  id bigint generated always as identity primary key,
  partition_name text not null check (partition_name ~ '^events_[0-9]{4}_[0-9]{2}$'),
  month date not null check (extract(day from month) = 1),
  event_count bigint not null check (event_count > 0),
  first_event_id bigint not null,
  last_event_id bigint not null,
  event_ids int8multirange not null,
  first_seal_id bigint not null,
  last_seal_id bigint not null,
  continues_from_seal_id bigint,
  continues_after_event_id bigint,
  continues_from_hash bytea not null check (octet_length(continues_from_hash) = 32),
  archive_id uuid not null unique references app_public.retention_archives (id) on delete restrict,
  archive_store text not null,
  dropped_at timestamptz not null default now(),
  check (lower(event_ids) = first_event_id and upper(event_ids) = last_event_id + 1),
  check (first_seal_id <= last_seal_id),
  check ((continues_from_seal_id is null) = (continues_after_event_id is null))
);
comment on table audit.chain_checkpoints is
  E'One row per month of audit events archived and dropped: which events left, the archive that holds them with their seals, and where the hash chain continues. Append-only for every writer; audit.drop_archived_partition writes it. The seals of dropped months stay in audit.seals.';
comment on column audit.chain_checkpoints.partition_name is E'The partition dropped, e.g. events_2019_01.';
comment on column audit.chain_checkpoints.month is E'The first day of the month the partition held (UTC).';
comment on column audit.chain_checkpoints.event_count is E'How many events left with the partition.';
comment on column audit.chain_checkpoints.first_event_id is E'The lowest id among them.';
comment on column audit.chain_checkpoints.last_event_id is E'The highest id among them.';
comment on column audit.chain_checkpoints.event_ids is E'Exactly the ids that left: verify excuses these, and only these, from the seals that list them.';
comment on column audit.chain_checkpoints.first_seal_id is E'The first seal covering the events (copied into the archive).';
comment on column audit.chain_checkpoints.last_seal_id is E'The last seal covering the events (copied into the archive).';
comment on column audit.chain_checkpoints.continues_from_seal_id is
  E'The newest seal up to which every sealed event has been archived and dropped: verify starts after it. Null while events older than the dropped ones remain (verify then starts from the first seal).';
comment on column audit.chain_checkpoints.continues_after_event_id is E'That seal''s last event: no event at or below it is left in the trail.';
comment on column audit.chain_checkpoints.continues_from_hash is E'That seal''s hash (the genesis hash when there is none): the chain continues from it.';
comment on column audit.chain_checkpoints.archive_id is E'The verified archive (kind audit_partition, recorded in app_public.retention_archives) holding the events and the seals covering them.';
comment on column audit.chain_checkpoints.archive_store is E'Where that archive was written, e.g. "directory /data/archive".';
comment on column audit.chain_checkpoints.dropped_at is E'When the partition was detached and dropped.';
alter table audit.chain_checkpoints enable row level security;

--! Included audit/append-only.sql
-- The audit tables are append-only, even to their owner.

create or replace function audit.tg__refuse_change() returns trigger as $$
begin
  raise exception 'The audit trail is append-only: % on %.% is refused.', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    using errcode = '42501';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg__refuse_change() is
  E'Refuses UPDATE, DELETE and TRUNCATE on audit tables, even to their owner.';

drop trigger if exists _010_append_only on audit.events;
create trigger _010_append_only before update or delete on audit.events
  for each row execute function audit.tg__refuse_change();

-- audit.transactions is a view of the events' attribution: refused the same way.
drop trigger if exists _010_append_only on audit.transactions;
create trigger _010_append_only instead of update or delete on audit.transactions
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _010_append_only on audit.seals;
create trigger _010_append_only before update or delete on audit.seals
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.events;
create trigger _011_no_truncate before truncate on audit.events
  for each statement execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.seals;
create trigger _011_no_truncate before truncate on audit.seals
  for each statement execute function audit.tg__refuse_change();

-- The chain's checkpoints are kept like the seals (audit/chain-checkpoints.sql says why).
drop trigger if exists _010_append_only on audit.chain_checkpoints;
create trigger _010_append_only before update or delete on audit.chain_checkpoints
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.chain_checkpoints;
create trigger _011_no_truncate before truncate on audit.chain_checkpoints
  for each statement execute function audit.tg__refuse_change();
--! EndIncluded audit/append-only.sql
--! Included audit/policies.sql
-- Who reads the audit trail: admins and auditors everything, a coach their own records.

grant usage on schema audit to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.events;
create policy staff_read on audit.events for select to custodian_admin, custodian_auditor using (true);

drop policy if exists coach_own on audit.events;
create policy coach_own on audit.events for select to custodian_coach
  using (owner_id = (select app_private.current_coach_profile_id()) or owner_id = (select app_public.current_user_id()));

grant select on audit.events to custodian_admin, custodian_auditor;
-- Who else touched a coach's records (an admin's address, a job) is not
-- theirs to see: a coach reads an event's attribution only through
-- audit.event_actors (attribution.sql), which shows their own writes.
revoke select on audit.events from custodian_coach;
grant select (id, occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values,
  changed_columns, owner_id, subject_id, old_subject_id, details) on audit.events to custodian_coach;

drop policy if exists staff_read on audit.seals;
create policy staff_read on audit.seals for select to custodian_admin, custodian_auditor using (true);

grant select on audit.seals to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.chain_checkpoints;
create policy staff_read on audit.chain_checkpoints for select to custodian_admin, custodian_auditor using (true);

grant select on audit.chain_checkpoints to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.tracked_tables;
create policy staff_read on audit.tracked_tables for select to custodian_admin, custodian_auditor using (true);

grant select on audit.tracked_tables to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.column_policies;
create policy staff_read on audit.column_policies for select to custodian_admin, custodian_auditor using (true);

grant select on audit.column_policies to custodian_admin, custodian_auditor;
--! EndIncluded audit/policies.sql
--! Included audit/chain-checkpoints.sql
-- Checkpoints of the hash chain: one per month of events archived and dropped
-- (audit.drop_archived_partition writes them; audit.verify_chain starts from them).
--
-- A checkpoint lets verify pass over events that are gone, so a forged one
-- could hide a deleted event. It is guarded in layers, like the seals:
-- 1. No API role writes it: admins and auditors read it, nobody else sees it
--    (policies.sql); only the owner inserts, through drop_archived_partition.
-- 2. It is append-only for every writer, the owner included (append-only.sql).
-- 3. An insert is checked against the chain it describes (the trigger below):
--    the partition is gone, no event it names is still in the trail, the seal
--    it continues from holds its hash, and that point follows from the seals
--    and the ids dropped so far (audit.chain_continues_from).
-- 4. A superuser can switch triggers off. verify_chain checks every checkpoint
--    again (audit.checkpoint_problem): one forged to hide an altered event must
--    name that event as dropped, and the event still in the trail gives it
--    away; one forged after the event was deleted too names an archive that
--    the store does not hold, which `custodian audit verify` checks against
--    the archive store (each checkpoint's manifest must carry the same
--    checkpoint), and `custodian audit verify --archive ID` recomputes the
--    archived events' digests against the seals that are still in the database.

create or replace function audit.dropped_event_ids() returns int8multirange as $$
  select pg_catalog.range_agg(c.event_ids) from audit.chain_checkpoints c;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.dropped_event_ids() is
  E'Every event id that left the trail with an archived and dropped partition (null when none did).';

create or replace function audit.chain_start() returns setof audit.chain_checkpoints as $$
  select c.* from audit.chain_checkpoints c
  where c.continues_from_seal_id is not null
  order by c.continues_from_seal_id desc, c.id
  limit 1;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.chain_start() is
  E'The checkpoint verify starts from: the first that took the chain furthest (a later one whose month lies among remaining events leaves the point where it was). None while events older than every dropped one remain.';

create or replace function audit.chain_continues_from(dropped int8multirange,
  out seal_id bigint, out after_event_id bigint, out hash bytea) as $$
declare
  start audit.chain_checkpoints;
  seal record;
begin
  select * into start from audit.chain_start();
  seal_id := start.continues_from_seal_id;
  after_event_id := start.continues_after_event_id;
  hash := coalesce(start.continues_from_hash, audit.genesis_hash());
  if dropped is null then
    return;
  end if;
  -- Forward from the last checkpoint, seal by seal, while every event a seal lists has left.
  for seal in select s.id, s.last_event_id, s.hash, s.event_ids from audit.seals s where s.id > coalesce(seal_id, 0) order by s.id loop
    exit when exists (select from pg_catalog.unnest(seal.event_ids) i where not (i operator(pg_catalog.<@) dropped));
    seal_id := seal.id;
    after_event_id := seal.last_event_id;
    hash := seal.hash;
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.chain_continues_from(int8multirange) is
  E'Where the chain continues once the events with the given ids have left: the newest seal up to which every sealed event is among them, its last event and its hash (null, null and the genesis hash when the first seal still lists an event that stays).';

create or replace function audit.checkpoint_problem(c audit.chain_checkpoints) returns text as $$
declare
  found_id bigint;
begin
  if c.continues_from_seal_id is null then
    if c.continues_from_hash <> audit.genesis_hash() then
      return pg_catalog.format('checkpoint %s was forged: it continues the chain from no seal, yet not from the genesis hash', c.id);
    end if;
  elsif not exists (select from audit.seals s
                    where s.id = c.continues_from_seal_id and s.hash = c.continues_from_hash
                      and s.last_event_id = c.continues_after_event_id) then
    return pg_catalog.format('checkpoint %s was forged: seal %s does not end at event %s with the hash it continues the chain from',
      c.id, c.continues_from_seal_id, c.continues_after_event_id);
  end if;
  -- Range by range, so that each is an index scan.
  select pg_catalog.min(e.id) into found_id
  from pg_catalog.unnest(c.event_ids) r
  cross join lateral (select e.id from audit.events e
                      where e.id >= pg_catalog.lower(r) and e.id < pg_catalog.upper(r) order by e.id limit 1) e;
  if found_id is not null then
    return pg_catalog.format('checkpoint %s was forged: event %s, which it says left with %s, is still in the trail',
      c.id, found_id, c.partition_name);
  end if;
  if c.continues_after_event_id is not null then
    select pg_catalog.min(e.id) into found_id from audit.events e where e.id <= c.continues_after_event_id;
    if found_id is not null then
      return pg_catalog.format('event %s lies before checkpoint %s, up to which every event was archived and dropped (event %s): it was inserted afterwards',
        found_id, c.id, c.continues_after_event_id);
    end if;
  end if;
  if not exists (select from app_public.retention_archives a
                 where a.id = c.archive_id and a.kind = 'audit_partition' and a.rows_removed_at is not null
                   and a.manifest -> 'extra' -> 'checkpoint' ->> 'eventIds' = c.event_ids::text) then
    return pg_catalog.format('checkpoint %s was forged: no archive of its events is recorded (archive %s)', c.id, c.archive_id);
  end if;
  if not exists (select from audit.seals s where s.id = c.first_seal_id and s.first_event_id <= c.first_event_id)
     or not exists (select from audit.seals s where s.id = c.last_seal_id and s.last_event_id >= c.last_event_id) then
    return pg_catalog.format('checkpoint %s was forged: seals %s to %s do not cover the events it says left', c.id, c.first_seal_id, c.last_seal_id);
  end if;
  return null;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.checkpoint_problem(audit.chain_checkpoints) is
  E'What is wrong with a checkpoint, in words, or null: the seal it continues from must hold its hash, none of the events it says left may still be in the trail, no event may lie at or before the point it continues from, its archive must be recorded with the same events, and its seals must cover its events. Checked when it is written and again by every verify.';

create or replace function audit.tg_chain_checkpoints__check() returns trigger as $$
declare
  problem text := audit.checkpoint_problem(NEW);
  expected record;
begin
  if problem is not null then
    raise exception 'A checkpoint must describe the chain as it is: %.', problem using errcode = '23514';
  end if;
  if pg_catalog.to_regclass('audit.' || pg_catalog.quote_ident(NEW.partition_name)) is not null then
    raise exception 'A checkpoint is written once its partition is dropped: audit.% still exists.', NEW.partition_name using errcode = '23514';
  end if;
  select * into expected
  from audit.chain_continues_from(coalesce(audit.dropped_event_ids() operator(pg_catalog.+) NEW.event_ids, NEW.event_ids));
  if (expected.seal_id, expected.after_event_id, expected.hash)
     is distinct from (NEW.continues_from_seal_id, NEW.continues_after_event_id, NEW.continues_from_hash) then
    raise exception 'A checkpoint must describe the chain as it is: once these events leave, the chain continues from seal % (event %), not seal % (event %).',
      coalesce(expected.seal_id::text, 'none'), coalesce(expected.after_event_id::text, 'none'),
      coalesce(NEW.continues_from_seal_id::text, 'none'), coalesce(NEW.continues_after_event_id::text, 'none')
      using errcode = '23514';
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg_chain_checkpoints__check() is
  E'Refuses a checkpoint that does not describe the chain as it is (see audit.checkpoint_problem and audit.chain_continues_from).';

drop trigger if exists _100_check on audit.chain_checkpoints;
create trigger _100_check before insert on audit.chain_checkpoints
  for each row execute function audit.tg_chain_checkpoints__check();
--! EndIncluded audit/chain-checkpoints.sql
--! Included audit/partition-retention.sql
-- Months of audit.events past their retention period leave whole: archived
-- with their seals (src/retention/audit-partitions.ts), then detached and
-- dropped here, with a checkpoint of the chain (audit.chain_checkpoints).
-- Never row by row: DELETE on the trail stays refused to everyone.

create or replace function audit.partition_month(partition_name text) returns date as $$
  select pg_catalog.to_date(pg_catalog.substr(partition_name, 8), 'YYYY_MM')
  where partition_name ~ '^events_[0-9]{4}_(0[1-9]|1[0-2])$';
$$ language sql immutable;
comment on function audit.partition_month(text) is
  E'The month (its first day) of a month partition of audit.events by its name (events_2019_01), null for any other name.';

create or replace function audit.month_partitions() returns table (partition_name text, month date) as $$
  select c.relname::text, audit.partition_month(c.relname)
  from pg_catalog.pg_inherits i
  join pg_catalog.pg_class c on c.oid = i.inhrelid
  where i.inhparent = 'audit.events'::regclass and audit.partition_month(c.relname) is not null
  order by 2;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.month_partitions() is E'The month partitions of audit.events, oldest first (the default partition is not one).';

create or replace function audit.partition_event_ids(month date) returns int8multirange as $$
  select pg_catalog.range_agg(pg_catalog.int8range(e.id, e.id, '[]'))
  from audit.events e
  where e.occurred_at >= (month::text || ' 00:00:00+00')::timestamptz
    and e.occurred_at < ((month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.partition_event_ids(date) is
  E'The ids of the events of a month (UTC), as ranges: what a checkpoint records as having left.';

create or replace function audit.covering_seals(first_id bigint, last_id bigint,
  out first_seal_id bigint, out last_seal_id bigint) as $$
  select (select s.id from audit.seals s where s.last_event_id >= covering_seals.first_id order by s.id limit 1),
         (select s.id from audit.seals s where s.last_event_id >= covering_seals.last_id order by s.id limit 1);
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.covering_seals(bigint, bigint) is
  E'The first and last seal listing events between two ids (seals list ids in order): the seals an archived month carries.';

create or replace function audit.partition_chain_problem(month date) returns text as $$
declare
  month_start timestamptz := (month::text || ' 00:00:00+00')::timestamptz;
  month_end timestamptz := ((month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
  first_id bigint;
  last_id bigint;
  seal record;
  ids bigint[];
  digests bytea;
  chain bytea[];
  before_hash bytea;
  in_range bigint;
  listed bigint;
  altered_id bigint;
  unlisted_id bigint;
  problem_id bigint;
  unsealed_id bigint;
  event_count bigint;
  covered bigint := 0;
  problem text;
  seal_problem text;
begin
  select pg_catalog.min(e.id), pg_catalog.max(e.id), pg_catalog.count(*) into first_id, last_id, event_count
  from audit.events e where e.occurred_at >= month_start and e.occurred_at < month_end;
  if first_id is null then
    return null;
  end if;
  select p.hash into before_hash from audit.seals p
  where p.id < (select s.id from audit.seals s where s.last_event_id >= first_id order by s.id limit 1)
  order by p.id desc limit 1;
  before_hash := coalesce(before_hash, audit.genesis_hash());
  -- Seal by seal, in id order, so the first problem found is the first by event id.
  -- Each seal's lists are read once into variables: they are toasted, and
  -- reading them per event would fetch them whole for each (quadratic time).
  for seal in
    select s.id, s.version, s.first_event_id, s.last_event_id, s.previous_hash, s.hash from audit.seals s
    where s.last_event_id >= first_id and s.first_event_id <= last_id order by s.id
  loop
    select s.event_ids, s.digests || ''::bytea, s.chain into ids, digests, chain from audit.seals s where s.id = seal.id;
    -- Each event of the month in the seal's range against the digest the seal holds for it
    -- (version 1: the chain step from the hash before it).
    select pg_catalog.count(*) into in_range from audit.events e
    where e.id between seal.first_event_id and seal.last_event_id and e.occurred_at >= month_start and e.occurred_at < month_end;
    select pg_catalog.count(*), pg_catalog.min(e.id) filter (where case seal.version
        when 2 then audit.event_digest_v2(e) <> pg_catalog.substr(digests, 32 * u.n::integer - 31, 32)
        else public.digest(coalesce(chain[u.n - 1], seal.previous_hash) || audit.event_digest(e), 'sha256') <> chain[u.n] end)
      into listed, altered_id
    from pg_catalog.unnest(ids) with ordinality u (event_id, n)
    join audit.events e on e.id = u.event_id
    where e.id between seal.first_event_id and seal.last_event_id and e.occurred_at >= month_start and e.occurred_at < month_end;
    unlisted_id := null;
    if listed < in_range then
      select pg_catalog.min(x.id) into unlisted_id from (
        select e.id from audit.events e
        where e.id between seal.first_event_id and seal.last_event_id and e.occurred_at >= month_start and e.occurred_at < month_end
        except select pg_catalog.unnest(ids)) x;
    end if;
    if altered_id is not null or unlisted_id is not null then
      problem_id := least(altered_id, unlisted_id);
      problem := case when problem_id = unlisted_id then pg_catalog.format('event %s was never sealed', problem_id)
        else pg_catalog.format('event %s was altered after it was sealed in seal %s', problem_id, seal.id) end;
      exit;
    end if;
    -- The seal itself: it follows from its digests and continues the one before it.
    if seal_problem is null and (seal.previous_hash <> before_hash
        or (seal.version = 2 and pg_catalog.sha256(seal.previous_hash || digests) <> seal.hash)
        or (seal.version = 1 and chain[pg_catalog.cardinality(chain)] <> seal.hash)) then
      seal_problem := pg_catalog.format('seal %s was altered: its hash does not follow from the seal before it and the events it seals', seal.id);
    end if;
    before_hash := seal.hash;
    covered := covered + in_range;
  end loop;
  -- Events of the month in no seal's range (past the last seal, or between two), before any problem found so far.
  if problem is not null or covered < event_count then
    select e.id into unsealed_id
    from audit.events e
    where e.occurred_at >= month_start and e.occurred_at < month_end and e.id < coalesce(problem_id, last_id + 1)
      and not exists (select from audit.seals s where s.last_event_id >= e.id and s.first_event_id <= e.id)
    order by e.id limit 1;
    if unsealed_id is not null then
      return pg_catalog.format('event %s was never sealed', unsealed_id);
    end if;
  end if;
  return coalesce(problem, seal_problem);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.partition_chain_problem(date) is
  E'Why the events of a month do not verify against their seals (an event never sealed or altered since, a seal altered), in words; null when they do.';

create or replace function audit.partition_retention_status(period interval, as_of timestamptz)
returns table (
  partition_name text, month date, expired boolean, event_count bigint,
  first_event_id bigint, last_event_id bigint, spared_reason text
) as $$
declare
  part record;
  month_end timestamptz;
  sealed_up_to bigint := (select s.last_event_id from audit.seals s order by s.id desc limit 1);
begin
  if period is null or period <= interval '0' then
    raise exception 'The audit events'' retention period must be positive, not %.', coalesce(period::text, 'null') using errcode = '22023';
  end if;
  if as_of is null then
    raise exception 'as_of must be a time.' using errcode = '22023';
  end if;
  for part in select * from audit.month_partitions() loop
    partition_name := part.partition_name;
    month := part.month;
    month_end := ((part.month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
    expired := month_end + period <= as_of;
    event_count := null;
    first_event_id := null;
    last_event_id := null;
    spared_reason := null;
    if not expired then
      spared_reason := pg_catalog.format('within the retention period: kept until %s',
        pg_catalog.to_char((month_end + period) at time zone 'UTC', 'YYYY-MM-DD'));
      return next;
      continue;
    end if;
    execute pg_catalog.format('select pg_catalog.count(*), pg_catalog.min(id), pg_catalog.max(id) from audit.%I', part.partition_name)
      into event_count, first_event_id, last_event_id;
    spared_reason := case
      when month_end > pg_catalog.now() then 'the month is not over yet'
      when event_count = 0 then 'it holds no events'
      when sealed_up_to is null or last_event_id > sealed_up_to then pg_catalog.format(
        'not sealed yet: %s of its events wait for a seal',
        (select pg_catalog.count(*) from audit.events e where e.id > coalesce(sealed_up_to, -9223372036854775808)
           and e.occurred_at >= (part.month::text || ' 00:00:00+00')::timestamptz and e.occurred_at < month_end))
      else (select 'verify failed: ' || p from audit.partition_chain_problem(part.month) p) end;
    return next;
  end loop;
  -- Events of an expired month with no partition of its own (written after it was dropped, or never moved).
  for part in
    select pg_catalog.date_trunc('month', e.occurred_at at time zone 'UTC')::date as month,
           pg_catalog.count(*) as events, pg_catalog.min(e.id) as first_id, pg_catalog.max(e.id) as last_id
    from audit.events_default e group by 1 order by 1
  loop
    month_end := ((part.month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
    continue when month_end + period > as_of;
    return query select 'events_default'::text, part.month, true, part.events, part.first_id, part.last_id,
      pg_catalog.format('the default partition holds %s events of %s, a month past its period: partition maintenance moves them into a partition of their own, which a later run archives',
        part.events, pg_catalog.to_char(part.month, 'YYYY-MM'));
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.partition_retention_status(interval, timestamptz) is
  E'Each month partition of audit.events: whether its month is entirely past the period as of as_of, and for an expired one its events and why it must stay for now (null when it may be archived and dropped): the month not over, no events, events not sealed yet, or events that do not verify. Events of expired months left in the default partition come as rows of events_default, always spared.';

create or replace function audit.drop_archived_partition(partition_name text, archive_id uuid, archive_store text, archived_ids int8multirange)
returns audit.chain_checkpoints as $$
declare
  month date := audit.partition_month(partition_name);
  first_id bigint := pg_catalog.lower(archived_ids);
  last_id bigint := pg_catalog.upper(archived_ids) - 1;
  seals record;
  point record;
  problem text;
  checkpoint audit.chain_checkpoints;
begin
  if month is null or pg_catalog.to_regclass('audit.' || pg_catalog.quote_ident(partition_name)) is null
     or not exists (select from audit.month_partitions() p where p.partition_name = drop_archived_partition.partition_name) then
    raise exception 'audit.% is not a month partition of audit.events.', partition_name using errcode = '22023';
  end if;
  if archived_ids is null or pg_catalog.isempty(archived_ids) then
    raise exception 'The ids of the archived events are required.' using errcode = '22023';
  end if;
  if not exists (select from app_public.retention_archives a
                 where a.id = archive_id and a.kind = 'audit_partition' and a.verified_at is not null and a.rows_removed_at is null
                   and a.manifest -> 'extra' -> 'checkpoint' ->> 'partition' = partition_name
                   and a.manifest -> 'extra' -> 'checkpoint' ->> 'eventIds' = archived_ids::text) then
    raise exception 'Archive % is not a verified archive of audit.% and its events; archive the partition first.', archive_id, partition_name
      using errcode = '55000';
  end if;
  -- Late writes for the month wait, and the events read below stay what was archived.
  execute pg_catalog.format('lock table audit.%I in share mode', partition_name);
  if audit.partition_event_ids(month) is distinct from archived_ids then
    raise exception 'audit.% changed since it was archived (its events are not those of archive %); archive it again.', partition_name, archive_id
      using errcode = '55000';
  end if;
  if last_id > coalesce((select s.last_event_id from audit.seals s order by s.id desc limit 1), -9223372036854775808) then
    raise exception 'audit.% holds events not sealed yet; it is dropped once they are.', partition_name using errcode = '55000';
  end if;
  problem := audit.partition_chain_problem(month);
  if problem is not null then
    raise exception 'audit.% does not verify against its seals (%); it stays.', partition_name, problem using errcode = '55000';
  end if;
  select * into seals from audit.covering_seals(first_id, last_id);
  -- Detaching locks the whole trail, readers too: give up behind a long reader rather than queue every writer behind it.
  perform pg_catalog.set_config('lock_timeout', '2s', true);
  lock table audit.events in access exclusive mode;
  execute pg_catalog.format('alter table audit.events detach partition audit.%I', partition_name);
  execute pg_catalog.format('drop table audit.%I', partition_name);
  update app_public.retention_archives a set rows_removed_at = pg_catalog.now() where a.id = archive_id;
  select * into point from audit.chain_continues_from(coalesce(audit.dropped_event_ids() operator(pg_catalog.+) archived_ids, archived_ids));
  insert into audit.chain_checkpoints (partition_name, month, event_count, first_event_id, last_event_id, event_ids,
    first_seal_id, last_seal_id, continues_from_seal_id, continues_after_event_id, continues_from_hash, archive_id, archive_store)
  values (partition_name, month,
    (select pg_catalog.sum(pg_catalog.upper(r) - pg_catalog.lower(r)) from pg_catalog.unnest(archived_ids) r),
    first_id, last_id, archived_ids, seals.first_seal_id, seals.last_seal_id,
    point.seal_id, point.after_event_id, point.hash, archive_id, archive_store)
  returning * into checkpoint;
  return checkpoint;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.drop_archived_partition(text, uuid, text, int8multirange) is
  E'Detaches and drops a month partition of audit.events whose events (exactly archived_ids) were archived with their seals, after checking again, with the month locked, that its verified archive is recorded (app_public.retention_archives) and they are those events, all sealed and verifying; marks the archive''s rows removed, records the checkpoint of the chain and returns it. The only governed path that removes audit events; the owner runs it (src/retention/audit-partitions.ts).';

revoke all on function audit.drop_archived_partition(text, uuid, text, int8multirange) from public;
--! EndIncluded audit/partition-retention.sql
--! Included audit/sealing.sql
-- The hash chain: sealing events in id order, and verifying it.

-- Two digests, one per seal version (audit.seals.version). Version 1 hashed
-- each event as jsonb text; seals made with it keep verifying with it. Both
-- are stable rather than immutable (they read stable functions), so that a
-- query inlines them instead of calling a function per event.

-- Version 1. Events without details hash exactly as before, so the sealed
-- chain still verifies; the attribution an event carries hashes as that of
-- its transaction did when it was a row of its own.
create or replace function audit.event_digest(e audit.events) returns bytea as $$
  select public.digest((pg_catalog.jsonb_build_array(
    e.id, extract(epoch from e.occurred_at), e.transaction_id::text, e.table_schema, e.table_name,
    e.record_key, e.operation, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
    e.actor_kind, e.user_id, e.user_role, e.request_id, e.client_ip, e.user_agent, e.task, e.job_id,
    e.database_role, e.session_user_name, e.application_name, e.client_addr::text)
    operator(pg_catalog.||) case when e.details is null then '[]'::jsonb else pg_catalog.jsonb_build_array(e.details) end)::text,
    'sha256');
$$ language sql stable parallel safe;
comment on function audit.event_digest(audit.events) is
  E'Version 1 of an event''s digest (seals made before migration 000006): SHA-256 of the event and its attribution as jsonb text.';

-- Version 2: the binary form PostgreSQL sends a row in (record_send): every
-- field with its type and length, so no two events share a form, and
-- nothing in it depends on session settings (a timestamp is its microseconds,
-- not text in the session's time zone). Enums go as their labels, as their
-- type ids differ between databases. Half the cost of version 1.
create or replace function audit.event_digest_v2(e audit.events) returns bytea as $$
  select pg_catalog.sha256(pg_catalog.record_send(row(
    e.id, e.occurred_at, e.transaction_id, e.table_schema, e.table_name,
    e.record_key, e.operation::text, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
    e.actor_kind::text, e.user_id, e.user_role, e.request_id, e.client_ip, e.user_agent, e.task, e.job_id,
    e.database_role, e.session_user_name, e.application_name, e.client_addr, e.details)));
$$ language sql stable parallel safe;
comment on function audit.event_digest_v2(audit.events) is
  E'Version 2 of an event''s digest (seals from migration 000006 on): SHA-256 of the binary form (record_send) of the event, its attribution and details, enums as their labels.';

create or replace function audit.genesis_hash() returns bytea as $$
  select pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
$$ language sql immutable;
comment on function audit.genesis_hash() is E'The hash the chain starts from.';

-- The audit trail's sealing uses the same horizon.
create or replace function audit.seal_horizon(max_wait interval default '10 seconds') returns bigint as $$
  select app_private.committed_id_horizon('audit.events', 'audit.events_id_seq', max_wait);
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_horizon(interval) is
  E'The highest event id that can be sealed: waits (up to max_wait, else null) until every transaction that may hold a lower id has ended.';

create or replace function audit.seal_batch(horizon bigint, batch_size integer default 10000) returns integer as $$
declare
  head record;
  first_id bigint;
  ids bigint[];
  digests bytea;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be positive.' using errcode = '22023';
  end if;
  -- One sealer at a time: the chain must not fork.
  lock table audit.seals in exclusive mode;
  select s.last_event_id, s.hash into head from audit.seals s order by s.id desc limit 1;
  select pg_catalog.min(e.id) into first_id
  from audit.events e
  where e.id > coalesce(head.last_event_id, -9223372036854775808) and e.id <= horizon;
  if first_id is null then
    return 0;
  end if;
  -- The batch is a range of ids, not the first batch_size events: a query
  -- with a limit is planned on statistics, and before audit.events is first
  -- analyzed it would hash every pending event to keep batch_size of them.
  -- Set-based: the digests in id order, joined; the seal's hash is one
  -- SHA-256 over the previous hash and them (checked by audit.seals itself).
  select pg_catalog.array_agg(e.id order by e.id), pg_catalog.string_agg(audit.event_digest_v2(e), ''::bytea order by e.id)
    into ids, digests
  from audit.events e
  where e.id >= first_id and e.id <= least(horizon, first_id + (batch_size - 1));
  insert into audit.seals (version, first_event_id, last_event_id, event_ids, digests, previous_hash, hash)
  select 2, ids[1], ids[cardinality(ids)], ids, digests, p.hash, pg_catalog.sha256(p.hash || digests)
  from (select coalesce(head.hash, audit.genesis_hash()) as hash) p;
  return cardinality(ids);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_batch(bigint, integer) is
  E'Seals the events among the next batch_size ids after the last seal and not above horizon, in id order, as one version 2 seal; returns how many (0 once nothing is left to seal).';

create or replace function audit.verify_chain() returns table (
  intact boolean, events_verified bigint, seals_verified bigint, events_unsealed bigint,
  first_bad_event_id bigint, problem text, head_hash text
) as $$
declare
  seal record;
  hash bytea := audit.genesis_hash();
  previous_last bigint := -9223372036854775808;
  after_seal bigint := 0;
  start audit.chain_checkpoints;
  checkpoint audit.chain_checkpoints;
  dropped int8multirange := audit.dropped_event_ids();
  skipping boolean;
  ids bigint[];
  digests bytea[];
  joined bytea;
  expected_ids bigint[];
  expected_digests bytea;
  found_id bigint;
  sealed_id bigint;
  sealed_ids bigint[];
  chain bytea[];
  sealed_digests bytea;
  altered boolean;
  j integer;
  verified bigint := 0;
  seals bigint := 0;
  unsealed bigint;
  sequence_last bigint;
begin
  -- Every checkpoint must still describe the chain (audit/chain-checkpoints.sql says why).
  for checkpoint in select * from audit.chain_checkpoints c order by c.id loop
    problem := audit.checkpoint_problem(checkpoint);
    if problem is not null then
      return query select false, verified, seals, null::bigint,
        coalesce(pg_catalog.substring(problem, 'event ([0-9]+)')::bigint, checkpoint.first_event_id), problem, null::text;
      return;
    end if;
  end loop;
  -- Months archived and dropped: start after the last seal all of whose events left.
  select * into start from audit.chain_start();
  if start.id is not null then
    hash := start.continues_from_hash;
    previous_last := start.continues_after_event_id;
    after_seal := start.continues_from_seal_id;
  end if;
  for seal in
    select s.id, s.version, s.first_event_id, s.last_event_id, s.event_ids, s.chain, s.digests, s.previous_hash, s.hash
    from audit.seals s where s.id > after_seal order by s.id
  loop
    if seal.previous_hash <> hash or seal.first_event_id <= previous_last then
      return query select false, verified, seals, null::bigint, seal.first_event_id,
        pg_catalog.format('seal %s does not continue the chain: a seal before it was altered or removed', seal.id), null::text;
      return;
    end if;
    -- A seal listing events of a dropped month: those are excused, and only those.
    skipping := dropped is not null
      and dropped operator(pg_catalog.&&) pg_catalog.int8range(seal.first_event_id, seal.last_event_id, '[]');
    if seal.version = 2 then
      select pg_catalog.array_agg(e.id order by e.id), pg_catalog.string_agg(audit.event_digest_v2(e), ''::bytea order by e.id)
        into ids, joined
      from audit.events e
      where e.id > previous_last and e.id <= seal.last_event_id;
    else
      select pg_catalog.array_agg(e.id order by e.id), pg_catalog.array_agg(audit.event_digest(e) order by e.id)
        into ids, digests
      from audit.events e
      where e.id > previous_last and e.id <= seal.last_event_id;
    end if;
    if skipping then
      select pg_catalog.array_agg(u.id order by u.n), pg_catalog.string_agg(pg_catalog.substr(seal.digests, 32 * u.n::integer - 31, 32), ''::bytea order by u.n)
        into expected_ids, expected_digests
      from pg_catalog.unnest(seal.event_ids) with ordinality u (id, n)
      where not (u.id operator(pg_catalog.<@) dropped);
    else
      expected_ids := seal.event_ids;
      expected_digests := seal.digests;
    end if;
    -- Version 2 compares whole batches, and event by event only to name
    -- the first difference; version 1 follows its chain event by event.
    if seal.version = 1 or ids is distinct from expected_ids or joined is distinct from expected_digests then
      -- Arrays of their own: an element of a record's field is read by copying the field.
      sealed_ids := seal.event_ids;
      chain := seal.chain;
      sealed_digests := seal.digests;
      j := 1;
      for i in 1 .. cardinality(sealed_ids) loop
        sealed_id := sealed_ids[i];
        if skipping and sealed_id operator(pg_catalog.<@) dropped then
          -- Archived with its month; version 1 goes on from the hash the seal kept for it.
          if seal.version = 1 then
            hash := chain[i];
          end if;
          continue;
        end if;
        found_id := ids[j];
        if found_id is null or found_id > sealed_id then
          return query select false, verified, seals, null::bigint, sealed_id,
            pg_catalog.format('event %s is missing: it was sealed in seal %s and has been deleted', sealed_id, seal.id), null::text;
          return;
        elsif found_id < sealed_id then
          return query select false, verified, seals, null::bigint, found_id,
            pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', found_id, seal.id), null::text;
          return;
        end if;
        if seal.version = 1 then
          hash := public.digest(hash || digests[j], 'sha256');
          altered := hash <> chain[i];
        else
          altered := pg_catalog.substr(joined, 32 * j - 31, 32) <> pg_catalog.substr(sealed_digests, 32 * i - 31, 32);
        end if;
        if altered then
          return query select false, verified, seals, null::bigint, found_id,
            pg_catalog.format('event %s was altered after it was sealed in seal %s (its content, attribution or position differs)', found_id, seal.id), null::text;
          return;
        end if;
        verified := verified + 1;
        j := j + 1;
      end loop;
      if j <= coalesce(cardinality(ids), 0) then
        return query select false, verified, seals, null::bigint, ids[j],
          pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', ids[j], seal.id), null::text;
        return;
      end if;
    else
      verified := verified + coalesce(cardinality(ids), 0);
    end if;
    if seal.version = 2 then
      -- audit.seals checks this too, unless someone dropped the check.
      if pg_catalog.octet_length(seal.digests) <> 32 * cardinality(seal.event_ids)
        or pg_catalog.sha256(seal.previous_hash || seal.digests) <> seal.hash then
        return query select false, verified, seals, null::bigint, seal.last_event_id,
          pg_catalog.format('seal %s was altered: its hash does not follow from the events it seals', seal.id), null::text;
        return;
      end if;
      hash := seal.hash;
    end if;
    previous_last := seal.last_event_id;
    seals := seals + 1;
  end loop;
  select case when is_called then last_value else last_value - 1 end into sequence_last from audit.events_id_seq;
  select min(e.id) into found_id from audit.events e where e.id > sequence_last;
  if found_id is not null then
    return query select false, verified, seals, null::bigint, found_id,
      pg_catalog.format('event %s was forged: no write ever received that id', found_id), null::text;
    return;
  end if;
  select count(*) into unsealed from audit.events e where e.id > previous_last;
  return query select true, verified, seals, unsealed, null::bigint, null::text,
    case when seals > 0 or start.id is not null then pg_catalog.encode(hash, 'hex') end;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.verify_chain() is
  E'Recomputes the hash chain over every sealed event and reports the first event whose content, order or presence was altered; intact is false then. Months archived and dropped are passed over by their checkpoints (audit.chain_checkpoints), each checked first: verify starts after the newest seal all of whose events left (audit.chain_start), and excuses from a seal exactly the ids its checkpoints name. head_hash is the newest seal''s hash: kept outside the database, it catches a rewrite of the whole chain.';
--! EndIncluded audit/sealing.sql

-- Issue 17 exports: the queries the streaming exports read through a cursor.
--! Included exports/exports.sql
-- What the streaming exports (GET /api/v1/exports/..., custodian export) read.
--
-- Plain SQL functions, not PL/pgSQL: PL/pgSQL's RETURN QUERY collects its
-- whole result before the first row goes out, where a plain SQL function is
-- inlined into the caller's query, planned for its cursor and read a batch
-- at a time. The range check is immutable, so with the arguments inlined it
-- runs while the query is planned: a null or inverted range is refused before
-- any row. The coach check runs once, before the first row.

create or replace function app_private.usage_events_export(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
  -- Day by day, each day's events in order: the planner cannot merge the
  -- ordered branches of usage_events_visible (a union by caller), so one
  -- sort over the range would hold all of it before the first row; a day's
  -- sort holds one day. The days come in order, and each day's rows after
  -- the one before (a nested loop over the series, no parallel plan under a
  -- cursor), so the whole is in (occurred_at, id) order without a final sort.
  select e.* from pg_catalog.generate_series(from_day, to_day - 1, interval '1 day') d,
    lateral (
      select v.* from app_private.usage_events_visible v
      where v.occurred_at >= (d::timestamp at time zone 'UTC')
        and v.occurred_at < ((d + interval '1 day')::timestamp at time zone 'UTC')
        and (usage_events_export.coach_profile_id is null or v.coach_profile_id = usage_events_export.coach_profile_id)
      order by v.occurred_at, v.id) e
  where app_private.check_range(from_day, to_day)
    -- A void result is never null: this only has the check run.
    and app_private.require_visible_coach_profile(usage_events_export.coach_profile_id) is not null;
$$ language sql stable;
comment on function app_private.usage_events_export(date, date, uuid) is
  E'The usage events of a range of days (UTC, to exclusive), oldest first, of one coach if named: what app_public.usage_in_range returns for the same range and coach, as a query a cursor streams (usage_in_range, PL/pgSQL, collects its whole result first). A coach''s own, or any coach''s for admins and auditors; the provider cost for admins and auditors only.';

grant execute on function app_private.usage_events_export(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;

create or replace function app_private.invoices_export(from_month date, to_month date, coach_profile_id uuid default null)
returns setof app_public.invoices as $$
  -- Month by month, as app_public.invoice_preview gives each (frozen once
  -- closed, else as it stands): it holds one month's invoices at a time, one
  -- per coach, however long the range. The months come in order.
  select i.* from pg_catalog.generate_series(date_trunc('month', from_month), to_month - 1, interval '1 month') m,
    lateral app_public.invoice_preview(invoices_export.coach_profile_id, m::date) i
  where app_private.check_range(from_month, to_month);
$$ language sql stable;
comment on function app_private.invoices_export(date, date, uuid) is
  E'The invoices of the billing months from from_month up to (not including) to_month, month by month as app_public.invoice_preview gives each (frozen once the month is closed, else as it stands), of one coach if named: a coach''s own, every coach''s for admins and auditors.';

grant execute on function app_private.invoices_export(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded exports/exports.sql

-- Issue 17, retention console: an admin queues a retention run from the console.

--! Included retention/request-run.sql
-- A retention run asked for from the console: an admin queues the worker's
-- retention_run job (which the daily crontab entry also runs), naming who asked.

drop function if exists app_public.request_retention_run(text, boolean, timestamptz);
create function app_public.request_retention_run(policy text default null, dry_run boolean default true, as_of timestamptz default null)
returns bigint as $$
declare
  judged_at timestamptz := coalesce(as_of, pg_catalog.now());
  -- Not typed as graphile_worker's row: its schema is installed by the worker, after the migrations.
  job_id bigint;
begin
  -- The grant admits admins only; this says so to anyone it reaches otherwise (an owner's session is an admin too).
  if not governance.caller_is_staff() then
    raise exception 'Only an admin may start a retention run.' using errcode = '42501';
  end if;
  if dry_run is null then
    raise exception 'Say whether the run is a dry run (true: it only counts) or a real one (false).' using errcode = '22004';
  end if;
  if policy is not null and not exists (select from app_public.retention_policies p where p.name = request_retention_run.policy) then
    raise exception 'There is no retention policy "%".', policy using errcode = 'P0002';
  end if;
  -- The same refusal the runner makes (app_private.start_retention_run), said before the job is queued.
  if not dry_run and judged_at > pg_catalog.now() then
    raise exception 'A retention run cannot act as of % : that is in the future, and rows would go before their time. Only a dry run may look ahead.', judged_at
      using errcode = '22023';
  end if;
  -- One queue: runs asked for one after the other run one after the other, not refused by each other.
  select j.id into job_id from graphile_worker.add_job('retention_run',
    pg_catalog.json_strip_nulls(pg_catalog.json_build_object(
      'policy', policy, 'dryRun', dry_run, 'asOf', judged_at, 'startedBy', app_public.current_user_id())),
    queue_name => 'retention_run', max_attempts => 1) j;
  return job_id;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.request_retention_run(text, boolean, timestamptz) is
  E'Queues a retention run for the worker (one policy, or every enabled policy when policy is null), as of asOf (now by default): a dry run by default, which only counts. Admins only; refused for an unknown policy and, unless a dry run, as of a future instant. Returns the worker job''s id; the run appears in the run log, started by the caller, once the worker has done it.';

revoke all on function app_public.request_retention_run(text, boolean, timestamptz) from public;
grant execute on function app_public.request_retention_run(text, boolean, timestamptz) to custodian_admin;
--! EndIncluded retention/request-run.sql

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
--! Included gdpr/classification.sql
-- The map of personal data: one row per classified column. Whether a column's
-- values are sealed as pii in the audit trail is derived from its category
-- here (governance.classify_column sets the audit policy), and the data
-- subject's path comes from the trail's own subject configuration
-- (audit.tracked_tables), so neither fact is kept twice.

create or replace function governance.is_sealed_category(category governance.data_category) returns boolean as $$
  select category in ('identity', 'contact', 'content');
$$ language sql immutable;
comment on function governance.is_sealed_category(governance.data_category) is
  E'Whether a column of this category is pii in the audit trail (sealed under its subject''s key): identity, contact and content are; technical data (keys, addresses, hashes) stays as the trail stores it (plain, or exclude for secrets), and not personal data is plain.';

create or replace function governance.classify_column(
  target regclass,
  column_name name,
  category governance.data_category,
  subject_kind governance.data_subject_kind,
  purpose text,
  legal_basis governance.legal_basis,
  subject_column name default null
) returns void as $$
declare
  attnum smallint;
  current_policy audit.column_policy;
begin
  select a.attnum into attnum from pg_catalog.pg_attribute a
  where a.attrelid = target and a.attname = classify_column.column_name and a.attnum > 0 and not a.attisdropped;
  if not found then
    raise exception 'Table % has no column %.', target, column_name using errcode = '42703';
  end if;
  if subject_column is not null and exists (select from audit.tracked_tables t where t.table_oid = target) then
    raise exception 'Table % is tracked by the audit trail, which names its subject (audit.enable_tracking''s subject_column); give no subject_column here.', target
      using errcode = '22023';
  end if;
  insert into governance.personal_data_columns as p (table_oid, column_number, category, subject_kind, purpose, legal_basis, subject_column)
  values (target, attnum, category, subject_kind, purpose, legal_basis, subject_column)
  on conflict on constraint personal_data_columns_pkey do update set
    category = excluded.category, subject_kind = excluded.subject_kind,
    purpose = excluded.purpose, legal_basis = excluded.legal_basis, subject_column = excluded.subject_column;
  -- The audit trail's policy follows the category (one truth).
  if exists (select from audit.tracked_tables t where t.table_oid = target) then
    current_policy := audit.column_policy_of(target, column_name);
    if governance.is_sealed_category(category) and current_policy <> 'pii' then
      perform audit.set_column_policy(target, column_name, 'pii');
    elsif not governance.is_sealed_category(category) and current_policy = 'pii' then
      perform audit.set_column_policy(target, column_name, 'plain');
    end if;
  end if;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.classify_column(regclass, name, governance.data_category, governance.data_subject_kind, text, governance.legal_basis, name) is
  E'Classifies one column for the map of personal data (category, whose data, purpose, legal basis, and for a table the audit trail does not track, the uuid column naming the person) and derives its audit policy: identity, contact and content become pii in the trail, other categories stop being pii (an excluded secret stays excluded). The one door for both: a migration that adds a text column calls it.';

revoke all on function governance.classify_column(regclass, name, governance.data_category, governance.data_subject_kind, text, governance.legal_basis, name) from public;

-- Every column of every Custodian table, with what the map and the trail say of it.
drop view if exists app_public.records_of_processing;
drop view if exists governance.personal_data_map;
create view governance.personal_data_map with (security_invoker = true) as
  select n.nspname::text as table_schema,
    c.relname::text as table_name,
    a.attname::text as column_name,
    pg_catalog.format_type(a.atttypid, a.atttypmod) as data_type,
    p.category,
    p.subject_kind,
    case
      when p.category is null or p.category = 'not_personal' then null
      when t.subject_via is not null then pg_catalog.format('%s.%s -> %s.%s', c.relname, t.subject_column,
        (select v.relname from pg_catalog.pg_class v where v.oid = t.subject_via), t.subject_via_column)
      when t.subject_column is not null then pg_catalog.format('%s.%s', c.relname, t.subject_column)
      when p.subject_column is not null then pg_catalog.format('%s.%s', c.relname, p.subject_column)
    end as subject_path,
    p.purpose,
    p.legal_basis,
    case when t.table_oid is null then null else coalesce(cp.policy, 'plain') end as audit_policy,
    a.atttypid in ('text'::regtype, 'varchar'::regtype, 'jsonb'::regtype)
      or pg_catalog.format_type(a.atttypid, null) = 'citext' as is_free_text
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join governance.personal_data_columns p on p.table_oid = c.oid and p.column_number = a.attnum
  left join audit.tracked_tables t on t.table_oid = c.oid
  left join audit.column_policies cp on cp.table_oid = c.oid and cp.column_number = a.attnum
  where c.relkind in ('r', 'p') and not c.relispartition
    and n.nspname !~ '^pg_' and n.nspname not in ('information_schema', 'public', 'graphile_worker', 'graphile_migrate');
comment on view governance.personal_data_map is
  E'Every column of every Custodian table: its category (null when not classified), whose data it is and the path to that person (from the audit trail''s subject configuration), purpose, legal basis, and the audit policy derived from the category.';

grant select on governance.personal_data_map to custodian_admin, custodian_auditor;

create view app_public.records_of_processing with (security_invoker = true) as
  select m.table_schema, m.table_name, m.column_name, m.category, m.subject_kind, m.subject_path,
    m.purpose, m.legal_basis, m.audit_policy,
    (select pg_catalog.string_agg(case when r.action = 'keep_forever' then pg_catalog.format('kept forever (%s)', r.name)
         else pg_catalog.format('%s after %s: %s (%s)', r.period, r.clock_column,
           case r.action when 'archive_then_delete' then 'archived, then removed' when 'delete' then 'removed' else 'anonymized' end, r.name) end,
         '; ' order by r.name)
     from app_public.retention_policies r
     where r.target_table = pg_catalog.format('%I.%I', m.table_schema, m.table_name)
       and (r.action <> 'anonymize' or m.column_name::name = any (r.anonymize_columns))) as retention_period
  from governance.personal_data_map m
  where m.category is not null and m.category <> 'not_personal';
comment on view app_public.records_of_processing is
  E'@name processing_record\n@primaryKey table_schema,table_name,column_name\n@behavior -insert -update -delete -single\nThe records of processing (GDPR Art. 30): every column that holds personal data, what kind, whose, the path to that person, why it is kept and on what legal basis, and how the audit trail keeps it. Admins and auditors read it.';
comment on column app_public.records_of_processing.retention_period is
  E'How long the column''s data is kept, from the retention policies on its table (for an anonymize policy, only the columns it blanks): the period, the clock it counts from, the action and the policy, e.g. "90 days after deleted_at: archived, then removed (soft_deleted_clients)"; null when no policy covers it.';

grant select on app_public.records_of_processing to custodian_admin, custodian_auditor;

drop policy if exists staff_read on governance.personal_data_columns;
create policy staff_read on governance.personal_data_columns for select to custodian_admin, custodian_auditor using (true);

grant select on governance.personal_data_columns to custodian_admin, custodian_auditor;
--! EndIncluded gdpr/classification.sql
--! Included gdpr/readiness.sql
-- The readiness report: the planning document's "GDPR audit readiness" as a
-- percentage, and the parts it is made of, one row each.

drop function if exists app_public.gdpr_readiness(timestamptz);
drop function if exists app_public.gdpr_readiness_parts(timestamptz);

create function app_public.gdpr_readiness_parts(as_of timestamptz default pg_catalog.now())
returns table (
  ordinal integer, part text, label text, value numeric, unit text, target text,
  scored boolean, ok boolean
) as $$
  with requests_completed as (
    select extract(epoch from r.closed_at - r.received_at) / 86400 as days
    from app_public.data_subject_requests r
    where r.state = 'completed' and r.closed_at <= as_of and r.closed_at > as_of - interval '365 days'
  ),
  parts (ordinal, part, label, value, unit, target, scored, ok) as (
    select 1, 'unclassified_personal_columns', 'Unclassified personal columns', m.n, 'columns', '0', true, m.n = 0
    from (select pg_catalog.count(*)::numeric as n from governance.personal_data_map
          where is_free_text and category is null) m
    union all
    select 2, 'requests_overdue', 'Requests overdue', o.n, 'requests', '0', true, o.n = 0
    from (select pg_catalog.count(*)::numeric as n from app_public.overdue_data_subject_requests(as_of)) o
    union all
    select 3, 'requests_due_within_7_days', 'Requests due within 7 days', s.n, 'requests', 'informational', false, null::boolean
    from (select pg_catalog.count(*)::numeric as n from app_public.due_soon_data_subject_requests(as_of)) s
    union all
    -- No request completed in the year: nothing was late, so the part is ready.
    select 4, 'median_days_to_complete', 'Median days to complete (last 365 days)', c.median, 'days', '≤ 30', true, coalesce(c.median <= 30, true)
    from (select pg_catalog.round((pg_catalog.percentile_cont(0.5) within group (order by days))::numeric, 1) as median
          from requests_completed) c
    union all
    -- An erasure with residue refuses to commit, so a stored one is 0 unless the rule changes.
    select 5, 'erasures_with_residue', 'Erasures whose residue scan was not zero', x.n, 'erasures', '0', true, x.n = 0
    from (select pg_catalog.count(*)::numeric as n from app_public.data_subject_erasures e
          where e.residue_count > 0 and e.erased_at <= as_of) x
    union all
    -- Consent and restriction are states of now, whatever as_of.
    select 6, 'transcriptions_without_consent', 'Active transcriptions without consent', t.n, 'transcriptions', '0', true, t.n = 0
    from (select app_private.transcriptions_without_consent_count()::numeric as n) t
    union all
    select 7, 'subjects_under_restriction', 'Subjects under restriction', r.n, 'subjects', 'informational', false, null::boolean
    from (select app_private.restricted_subjects_count()::numeric as n) r
    union all
    -- Data retention compliance: rows within their period over rows under a policy, held rows apart.
    select 8, 'retention_compliance', 'Rows within their retention period', k.percent, '%', '100', true, k.percent = 100
    from (select case when pg_catalog.sum(c.rows_under_policy - c.rows_held) = 0 then 100.0
            else pg_catalog.round(100.0 * pg_catalog.sum(c.rows_within_period) / pg_catalog.sum(c.rows_under_policy - c.rows_held), 1) end as percent
          from app_public.retention_compliance(as_of) c) k
  )
  select ordinal, part, label, value, unit, target, scored, ok from parts
  order by 1;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.gdpr_readiness_parts(timestamptz) is
  E'The parts of GDPR audit readiness at asOf (now by default; deadlines are judged against it), one row each, in order: unclassified personal columns (target 0), requests overdue (0), requests due within 7 days (informational), median days from receipt to completion of the requests completed in the 365 days before asOf (at most 30), erasures whose residue scan was not zero (0), active transcriptions without consent (0), subjects under restriction (informational), the share of rows within their retention period (app_public.retention_compliance; held rows apart; target 100 %). scored says whether a part counts toward the percentage; ok says whether the part meets its target. Admins and auditors.';

create function app_public.gdpr_readiness(as_of timestamptz default pg_catalog.now(),
  out readiness_percent numeric, out parts_scored integer, out parts_ready integer)
returns record as $$
  select pg_catalog.round(100.0 * pg_catalog.count(*) filter (where p.ok) / pg_catalog.count(*), 1),
         pg_catalog.count(*)::integer,
         (pg_catalog.count(*) filter (where p.ok))::integer
  from app_public.gdpr_readiness_parts(as_of) p
  where p.scored;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.gdpr_readiness(timestamptz) is
  E'GDPR audit readiness at asOf (now by default): the percentage of the scored parts of gdprReadinessParts that meet their target, one decimal. One row. Admins and auditors.';

revoke all on function app_public.gdpr_readiness_parts(timestamptz), app_public.gdpr_readiness(timestamptz) from public;
grant execute on function app_public.gdpr_readiness_parts(timestamptz), app_public.gdpr_readiness(timestamptz)
  to custodian_admin, custodian_auditor;
--! EndIncluded gdpr/readiness.sql
