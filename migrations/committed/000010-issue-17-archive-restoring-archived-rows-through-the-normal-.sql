--! Previous: sha1:35e81ab7eba6ce1b3f7fe2c6025ba628de40d6fb
--! Hash: sha1:da61d91e2034d12cfec22b3420d7709ae653e0db
--! Message: issue 17 archive: restoring archived rows through the normal write path

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
  ('app_public.data_subject_exports', 'manifest', 'technical', 'any', 'What an export held (files, row counts, hashes; no values), kept as the record that it was answered.', 'legal_obligation')
) as m(target, column_name, category, subject_kind, purpose, legal_basis);
--! EndIncluded gdpr/classify-custodian.sql

-- Who restored what, and when, is itself part of the trail.
select audit.enable_tracking('governance.archive_restorations');
