--! Previous: sha1:9b6786e0fc53445884e47643af6de72ebb74ad2b
--! Hash: sha1:e9997b52a5d76cbadb4e04a34de527918b0cd85a
--! Message: issue 16 access and portability export

-- Issue 16 (GDPR), point 3: the access and portability export. One export per
-- request (the unique constraint is the rule), its bytes in PostgreSQL in
-- chunks so that the worker and the server reach them without a shared disk,
-- and a record that stays once the expired bytes are deleted.

create type app_public.data_subject_export_state as enum ('building', 'ready', 'expired');
comment on type app_public.data_subject_export_state is
  E'Where an export stands: building (the worker is on it), ready (downloadable until it expires), expired (no longer downloadable; its bytes are deleted).';

create table app_public.data_subject_exports (
  id uuid primary key default gen_random_uuid(),
  request_id uuid not null constraint data_subject_exports_one_per_request unique
    constraint data_subject_exports_request_id_fkey references app_public.data_subject_requests on delete restrict,
  requested_by uuid constraint data_subject_exports_requested_by_fkey references app_public.users on delete restrict,
  requested_at timestamptz not null default now(),
  built_at timestamptz,
  expires_at timestamptz,
  byte_size bigint constraint data_subject_exports_byte_size_check check (byte_size > 0),
  sha256 text constraint data_subject_exports_sha256_check check (sha256 ~ '^[0-9a-f]{64}$'),
  manifest jsonb,
  bytes_deleted_at timestamptz,
  constraint data_subject_exports_built_state check (
    num_nonnulls(built_at, expires_at, byte_size, sha256, manifest) in (0, 5)),
  constraint data_subject_exports_expiry_window check (
    expires_at > built_at and expires_at <= built_at + interval '90 days'),
  constraint data_subject_exports_deleted_after_built check (bytes_deleted_at is null or built_at is not null)
);
create index data_subject_exports_expires_at_idx on app_public.data_subject_exports (expires_at) where bytes_deleted_at is null;
comment on table app_public.data_subject_exports is
  E'@behavior -insert -update -delete\nThe export answering an access or portability request (GDPR Art. 15, 20): a zip of everything the platform holds about the person, built by the worker. One per request. It is personal data itself: its bytes are deleted when it expires, and this record (when, size, hash, deleted when) stays.';
comment on column app_public.data_subject_exports.request_id is E'The access or portability request it answers; one export per request.';
comment on column app_public.data_subject_exports.requested_by is E'Who asked for it: the caller (null when an operator asked from the command line).';
comment on column app_public.data_subject_exports.requested_at is E'When it was asked for.';
comment on column app_public.data_subject_exports.built_at is E'When the worker finished building it; null while it is being built.';
comment on column app_public.data_subject_exports.expires_at is E'When it stops being downloadable and its bytes are deleted (GDPR_EXPORT_TTL_DAYS after builtAt, at most 90 days).';
comment on column app_public.data_subject_exports.byte_size is E'The zip''s size in bytes.';
comment on column app_public.data_subject_exports.sha256 is E'The zip''s SHA-256, in hexadecimal.';
comment on column app_public.data_subject_exports.manifest is E'The zip''s manifest: its files with their row counts, sizes and SHA-256 (no personal data).';
comment on column app_public.data_subject_exports.bytes_deleted_at is E'When its bytes were deleted after it expired; null while they are kept.';
alter table app_public.data_subject_exports enable row level security;

-- Not audit-tracked: the bytes repeat what the tracked tables and the trail
-- already hold, and a copy in the trail would outlive the export's expiry.
create table app_private.data_subject_export_chunks (
  export_id uuid not null references app_public.data_subject_exports on delete cascade,
  chunk_number integer not null check (chunk_number >= 0),
  bytes bytea not null check (length(bytes) between 1 and 16777216),
  primary key (export_id, chunk_number)
);
-- A zip is compressed already: TOAST would only try again.
alter table app_private.data_subject_export_chunks alter column bytes set storage external;
comment on table app_private.data_subject_export_chunks is
  E'The bytes of built exports, in order, a megabyte a row, until the export expires. Not in the audit trail: it would keep a copy of the export after its bytes are deleted.';
comment on column app_private.data_subject_export_chunks.export_id is E'The export these bytes belong to.';
comment on column app_private.data_subject_export_chunks.chunk_number is E'The chunk''s place in the file, from 0.';
comment on column app_private.data_subject_export_chunks.bytes is E'Up to a mebibyte of the zip (16 MiB at most, checked).';
alter table app_private.data_subject_export_chunks enable row level security;

select audit.enable_tracking('app_public.data_subject_exports', subject_column => 'request_id',
  subject_via => 'app_public.data_subject_requests', subject_via_column => 'subject_id');

--! Included gdpr/subject-rows.sql
-- "The rows about subject X": the one home the access export reads (and any
-- later feature that must find a person's rows). The set of tables comes from
-- the map of personal data, so a table classified later is found without a
-- change here: a table is about a kind of person when one of its columns is
-- classified as that kind's (or anyone's) personal data, and the path to the
-- person is the audit trail's subject configuration or the map's
-- subject_column.

create or replace function governance.subject_row_sources(kind governance.data_subject_kind)
returns table (table_oid regclass, table_name text, where_sql text) as $$
declare
  source record;
begin
  if kind not in ('client', 'user') then
    raise exception 'Rows are found for a client or a user, not for %.', kind using errcode = '22023';
  end if;
  for source in
    select c.oid::regclass as oid, pg_catalog.format('%I.%I', n.nspname, c.relname) as qualified,
      t.subject_column as tracked_column, t.subject_via, t.subject_via_column,
      pg_catalog.array_agg(distinct p.subject_column) filter (where p.subject_column is not null) as mapped_columns
    from governance.personal_data_columns p
    join pg_catalog.pg_class c on c.oid = p.table_oid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    left join audit.tracked_tables t on t.table_oid = p.table_oid
    where p.category <> 'not_personal' and p.subject_kind in (kind, 'any')
    group by c.oid, n.nspname, c.relname, t.subject_column, t.subject_via, t.subject_via_column
    order by n.nspname, c.relname
  loop
    table_oid := source.oid;
    table_name := source.qualified;
    if source.tracked_column is not null and source.subject_via is not null then
      where_sql := pg_catalog.format('t.%I operator(pg_catalog.=) any (array(select v.%I from %s v where v.%I operator(pg_catalog.=) $1))',
        source.tracked_column, (audit.primary_key_columns(source.subject_via))[1], source.subject_via, source.subject_via_column);
    elsif source.tracked_column is not null then
      where_sql := pg_catalog.format('t.%I operator(pg_catalog.=) $1', source.tracked_column);
    elsif source.mapped_columns is not null then
      select pg_catalog.string_agg(pg_catalog.format('t.%I operator(pg_catalog.=) $1', m.column_name), ' or ' order by m.column_name)
        into where_sql from pg_catalog.unnest(source.mapped_columns) m(column_name);
      if source.oid = 'audit.events'::regclass then
        -- Also the events whose record an update moved away from the person:
        -- their old values are the person's.
        where_sql := where_sql || ' or t.old_subject_id operator(pg_catalog.=) $1';
      end if;
    else
      -- Personal data with no path to its person (a hard deletion's row id):
      -- named, so that an export can say which tables it could not search.
      where_sql := null;
    end if;
    return next;
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.subject_row_sources(governance.data_subject_kind) is
  E'The tables holding personal data of a kind of person (client or user), from the map of personal data, each with the condition (on alias t, the person''s id as $1) that finds that person''s rows; null when the map gives no path to the person (such a table cannot be searched by person).';

create or replace function governance.reveal_for_subject(stored jsonb, stored_subject_id uuid, subject_id uuid) returns jsonb as $$
  select case
    when stored is null or pg_catalog.strpos(stored::text, '"$pii"') = 0 then stored
    when stored_subject_id = subject_id then audit.reveal(stored, subject_id)
    else (select pg_catalog.jsonb_object_agg(e.key,
            case when pg_catalog.jsonb_typeof(e.value) = 'object' and e.value ? '$pii'
                 then '{"$redacted": "another person''s data"}'::jsonb else e.value end)
          from pg_catalog.jsonb_each(stored) e)
  end;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.reveal_for_subject(jsonb, uuid, uuid) is
  E'An audit event''s stored values as a person''s export shows them: their own pii decrypted (or {"$erased": true} once their key is destroyed), another person''s pii redacted.';

create or replace function governance.subject_rows(kind governance.data_subject_kind, subject_id uuid, only_table regclass default null)
returns table (table_name text, row_data json) as $$
declare
  source record;
  select_list text;
  order_list text;
begin
  for source in
    select * from governance.subject_row_sources(kind) s
    where s.where_sql is not null and (only_table is null or s.table_oid = only_table)
  loop
    -- Every column, soft-deleted rows included; a secret the audit trail never
    -- stores (its policy is exclude: a password hash) is not exported either;
    -- the trail's sealed values are decrypted for this person only.
    select pg_catalog.string_agg(case
        when source.table_oid = 'audit.events'::regclass and a.attname = 'old_values'
          then 'governance.reveal_for_subject(t.old_values, coalesce(t.old_subject_id, t.subject_id), $1) as old_values'
        when source.table_oid = 'audit.events'::regclass and a.attname = 'new_values'
          then 'governance.reveal_for_subject(t.new_values, t.subject_id, $1) as new_values'
        else pg_catalog.format('t.%I', a.attname) end, ', ' order by a.attnum)
      into select_list
    from pg_catalog.pg_attribute a
    left join audit.column_policies cp on cp.table_oid = a.attrelid and cp.column_number = a.attnum
    where a.attrelid = source.table_oid and a.attnum > 0 and not a.attisdropped and cp.policy is distinct from 'exclude';
    select pg_catalog.string_agg(pg_catalog.format('t.%I', k.column_name), ', ')
      into order_list from pg_catalog.unnest(audit.primary_key_columns(source.table_oid)) k(column_name);
    return query execute pg_catalog.format(
      'select %L::text, pg_catalog.to_json(r) from (select %s from %s t where %s order by %s) r',
      source.table_name, select_list, source.table_oid, source.where_sql, coalesce(order_list, '1'))
      using subject_id;
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.subject_rows(governance.data_subject_kind, uuid, regclass) is
  E'Every row the platform holds about one person, soft-deleted rows included, table by table (schema-qualified name, then the row as JSON in column order), from the map of personal data: their rows in every table that holds their kind''s personal data, and the audit trail''s events about them with their pii decrypted. Given only_table, that table''s rows alone. Run by the owner (the worker, the command line): it reads past row-level security.';

revoke all on function governance.subject_rows(governance.data_subject_kind, uuid, regclass) from public;
revoke all on function governance.subject_row_sources(governance.data_subject_kind) from public;
revoke all on function governance.reveal_for_subject(jsonb, uuid, uuid) from public;
--! EndIncluded gdpr/subject-rows.sql
--! Included gdpr/exports.sql
-- The access and portability export: who may ask for one (an admin, or the
-- coach of the client), one per request, built by the worker (gdpr_export),
-- downloaded until it expires, then its bytes deleted (gdpr_export_expire)
-- with the record kept.

create or replace function app_public.tg_data_subject_exports__on_request() returns trigger as $$
declare
  request app_public.data_subject_requests;
begin
  select * into request from app_public.data_subject_requests r where r.id = NEW.request_id;
  if not found then
    raise exception 'There is no data-subject request % of yours.', NEW.request_id using errcode = 'P0002';
  end if;
  if request.kind not in ('access', 'portability') then
    raise exception 'Request % is an % request; only access and portability requests have an export.', request.id, request.kind
      using errcode = '22023';
  end if;
  if request.state not in ('verified', 'in_progress') then
    raise exception 'Request % is %; its export is built once the person''s identity is verified and while the request is open (verified or in_progress).',
      request.id, request.state using errcode = '55000';
  end if;
  NEW.requested_by := app_public.current_user_id();
  NEW.requested_at := pg_catalog.now();
  NEW.built_at := null;
  NEW.expires_at := null;
  NEW.byte_size := null;
  NEW.sha256 := null;
  NEW.manifest := null;
  NEW.bytes_deleted_at := null;
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_data_subject_exports__on_request() is
  E'Lets an export be asked for only for a verified, open access or portability request the caller may see; who asked and when come from the caller and the clock, and it starts unbuilt.';

drop trigger if exists _200_on_request on app_public.data_subject_exports;
create trigger _200_on_request before insert on app_public.data_subject_exports
  for each row execute function app_public.tg_data_subject_exports__on_request();

create or replace function app_private.tg_data_subject_exports__queue_build() returns trigger as $$
begin
  perform graphile_worker.add_job('gdpr_export', pg_catalog.json_build_object('exportId', NEW.id),
    job_key => 'gdpr_export:' || NEW.id::text, max_attempts => 5);
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_data_subject_exports__queue_build() is
  E'Queues the worker''s gdpr_export job for a new export, in the asking transaction (no export without its job).';

drop trigger if exists _900_queue_build on app_public.data_subject_exports;
create trigger _900_queue_build after insert on app_public.data_subject_exports
  for each row execute function app_private.tg_data_subject_exports__queue_build();

create or replace function app_public.request_data_subject_export(request_id uuid) returns app_public.data_subject_exports as $$
declare
  export app_public.data_subject_exports;
begin
  if not exists (select from app_public.data_subject_requests r where r.id = request_id) then
    raise exception 'There is no data-subject request % of yours.', request_id using errcode = 'P0002';
  end if;
  -- Asking twice gives the same export, even once the request is completed;
  -- between two first askers at once, the unique request_id decides.
  select * into export from app_public.data_subject_exports e where e.request_id = request_data_subject_export.request_id;
  if found then
    return export;
  end if;
  insert into app_public.data_subject_exports as e (request_id) values (request_data_subject_export.request_id)
    on conflict on constraint data_subject_exports_one_per_request do nothing;
  select * into export from app_public.data_subject_exports e where e.request_id = request_data_subject_export.request_id;
  return export;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.request_data_subject_export(uuid) is
  E'Asks for the export answering a verified, open access or portability request (an admin, or the coach of the client): the worker builds it. Asking again gives the same export.';

create or replace function app_public.data_subject_exports_state(export app_public.data_subject_exports)
returns app_public.data_subject_export_state as $$
  select case
    when export.built_at is null then 'building'
    when export.bytes_deleted_at is not null or export.expires_at <= pg_catalog.now() then 'expired'
    else 'ready'
  end::app_public.data_subject_export_state;
$$ language sql stable;
comment on function app_public.data_subject_exports_state(app_public.data_subject_exports) is
  E'building until the worker has built it, ready to download until expiresAt, expired after (its bytes deleted soon after).';

create or replace function app_public.data_subject_exports_download_path(export app_public.data_subject_exports) returns text as $$
  select '/api/v1/gdpr/requests/' || export.request_id::text || '/export';
$$ language sql immutable;
comment on function app_public.data_subject_exports_download_path(app_public.data_subject_exports) is
  E'Where the zip is downloaded (GET, with the same bearer token as GraphQL).';

create or replace function app_private.finish_data_subject_export(
  export_id uuid, byte_size bigint, sha256 text, manifest jsonb, time_to_live interval
) returns app_public.data_subject_exports as $$
declare
  export app_public.data_subject_exports;
begin
  update app_public.data_subject_exports e
  set built_at = pg_catalog.now(), expires_at = pg_catalog.now() + time_to_live,
      byte_size = finish_data_subject_export.byte_size, sha256 = finish_data_subject_export.sha256,
      manifest = finish_data_subject_export.manifest
  where e.id = export_id and e.built_at is null
  returning * into export;
  if not found then
    raise exception 'Export % does not exist or is built already.', export_id using errcode = '55000';
  end if;
  if (select pg_catalog.sum(pg_catalog.length(c.bytes)) from app_private.data_subject_export_chunks c where c.export_id = finish_data_subject_export.export_id)
     is distinct from byte_size then
    raise exception 'Export % has not stored the % bytes it reports.', export_id, byte_size using errcode = '55000';
  end if;
  return export;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.finish_data_subject_export(uuid, bigint, text, jsonb, interval) is
  E'Marks an export built once its chunks are stored: its size (checked against the chunks), hash and manifest, and when it expires (now plus time_to_live).';

create or replace function app_private.delete_expired_data_subject_exports(as_of timestamptz default pg_catalog.now())
returns table (export_id uuid, byte_size bigint) as $$
  with expired as (
    update app_public.data_subject_exports e set bytes_deleted_at = pg_catalog.now()
    where e.expires_at <= as_of and e.bytes_deleted_at is null
    returning e.id, e.byte_size
  ), deleted as (
    delete from app_private.data_subject_export_chunks c using expired x where c.export_id = x.id
  )
  select x.id, x.byte_size from expired x order by x.id;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.delete_expired_data_subject_exports(timestamptz) is
  E'Deletes the bytes of every export expired at as_of (now by default) and notes when; the export''s record (when built, size, hash, manifest) stays.';

create or replace function app_private.delete_subject_export_bytes(subject_id uuid) returns integer as $$
  with deleted as (
    update app_public.data_subject_exports e set bytes_deleted_at = pg_catalog.now()
    from app_public.data_subject_requests r
    where r.id = e.request_id and r.subject_id = delete_subject_export_bytes.subject_id
      and e.built_at is not null and e.bytes_deleted_at is null
    returning e.id
  ), chunks as (
    delete from app_private.data_subject_export_chunks c using deleted d where c.export_id = d.id
  )
  select pg_catalog.count(*)::integer from deleted;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.delete_subject_export_bytes(uuid) is
  E'Deletes the bytes of every built export about one person before they expire, keeping the records; returns how many. Erasure calls it: an export is a copy of the person''s data the residue scan cannot read (it is compressed).';

revoke all on function app_private.finish_data_subject_export(uuid, bigint, text, jsonb, interval) from public;
revoke all on function app_private.delete_expired_data_subject_exports(timestamptz) from public;
revoke all on function app_private.delete_subject_export_bytes(uuid) from public;
revoke all on function app_private.tg_data_subject_exports__queue_build() from public;
grant execute on function app_public.request_data_subject_export(uuid) to custodian_coach, custodian_admin;
grant execute on function app_public.data_subject_exports_state(app_public.data_subject_exports),
  app_public.data_subject_exports_download_path(app_public.data_subject_exports) to custodian_coach, custodian_admin, custodian_auditor;

-- Admins and auditors read every export's record, a coach those of the
-- requests they see (their clients'); admins and coaches ask for one and
-- download it (auditors read records, never the bytes). Only the owner (the
-- worker) builds and deletes.
drop policy if exists staff_read on app_public.data_subject_exports;
create policy staff_read on app_public.data_subject_exports for select to custodian_admin, custodian_auditor using (true);
drop policy if exists coach_read on app_public.data_subject_exports;
create policy coach_read on app_public.data_subject_exports for select to custodian_coach
  using (request_id in (select r.id from app_public.data_subject_requests r));
drop policy if exists ask_for_visible_requests on app_public.data_subject_exports;
create policy ask_for_visible_requests on app_public.data_subject_exports for insert to custodian_coach, custodian_admin
  with check (request_id in (select r.id from app_public.data_subject_requests r));

grant select on app_public.data_subject_exports to custodian_coach, custodian_admin, custodian_auditor;
grant insert (request_id) on app_public.data_subject_exports to custodian_coach, custodian_admin;

drop policy if exists download_unexpired on app_private.data_subject_export_chunks;
create policy download_unexpired on app_private.data_subject_export_chunks for select to custodian_coach, custodian_admin
  using (export_id in (select e.id from app_public.data_subject_exports e
                       where e.expires_at > pg_catalog.now() and e.bytes_deleted_at is null));

grant select on app_private.data_subject_export_chunks to custodian_coach, custodian_admin;
--! EndIncluded gdpr/exports.sql
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
  ('app_public.data_subject_exports', 'sha256', 'technical', 'any', 'Proving which file answered an access or portability request (Art. 15, 20), after its bytes are deleted.', 'legal_obligation'),
  ('app_public.data_subject_exports', 'manifest', 'technical', 'any', 'What an export held (files, row counts, hashes; no values), kept as the record that it was answered.', 'legal_obligation')
) as m(target, column_name, category, subject_kind, purpose, legal_basis);
--! EndIncluded gdpr/classify-custodian.sql
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
    -- governance
    ('governance.hard_deletions', 'hard_deletions_reason_check', 'A hard delete''s reason must be 3 to 2,000 characters, not only spaces.')
$$ language sql immutable;
comment on function app_private.constraint_words() is
  E'The sentence a user reads when a write breaks a constraint or unique index: one row per (table, constraint), naming the field as the API spells it and the rule.';

-- The API server reads them once, as itself, before any request role is set.
revoke all on function app_private.constraint_words() from public;
grant execute on function app_private.constraint_words() to custodian_authenticator;
--! EndIncluded domain/constraint-words.sql
