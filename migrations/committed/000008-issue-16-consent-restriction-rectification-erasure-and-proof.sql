--! Previous: sha1:9b6786e0fc53445884e47643af6de72ebb74ad2b
--! Hash: sha1:294519e09529408c9707fd6d9d5d69a01a60d3b8
--! Message: issue 16: consent, restriction, rectification, erasure and proof of erasure, access export, readiness report

-- Issue 16 (GDPR): consent (Art. 7), restriction of processing (Art. 18) and rectification (Art. 16).

-- Consent ---------------------------------------------------------------------------
create type app_public.consent_purpose as enum ('recording', 'transcription');
comment on type app_public.consent_purpose is
  E'What a client consents to: recording (their sessions'' audio is recorded) or transcription (the audio is sent to a transcription provider and the transcript kept). A later feature that needs consent adds its purpose.';
create type app_public.consent_decision as enum ('granted', 'withdrawn');
comment on type app_public.consent_decision is E'A consent decision: granted, or withdrawn (Art. 7(3)).';

create table app_public.consents (
  id uuid primary key default gen_random_uuid(),
  client_id uuid not null references app_public.clients on delete cascade,
  purpose app_public.consent_purpose not null,
  decision app_public.consent_decision not null,
  wording_version text constraint consents_wording_version_check check (length(btrim(wording_version)) between 1 and 100),
  wording_sha256 text constraint consents_wording_sha256_check check (wording_sha256 ~ '^[0-9a-f]{64}$'),
  recorded_by uuid references app_public.users on delete restrict,
  recorded_at timestamptz not null default now(),
  constraint consents_grant_has_wording check (decision = 'withdrawn' or wording_version is not null),
  constraint consents_wording_pair check ((wording_version is null) = (wording_sha256 is null))
);
create index consents_client_id_purpose_recorded_at_idx on app_public.consents (client_id, purpose, recorded_at desc, id desc);
create index consents_recorded_by_idx on app_public.consents (recorded_by);
comment on table app_public.consents is
  E'@behavior -update -delete\nA client''s consent decision (GDPR Art. 7) for one purpose: granted or withdrawn, who recorded it, when, and the wording the client was shown. Append-only for every writer: a withdrawal is a new record, and the latest decision per client and purpose is the state (currentConsents). Transcribing a session needs its client''s active consent for transcription. Admins and the client''s coach record them; auditors read them all; a coach sees their own clients''.';
comment on column app_public.consents.client_id is E'The client who decided.';
comment on column app_public.consents.purpose is E'What the decision is about: recording or transcription.';
comment on column app_public.consents.decision is E'granted or withdrawn.';
comment on column app_public.consents.wording_version is E'The version of the consent text the client was shown (1 to 100 characters); required to grant.';
comment on column app_public.consents.wording_sha256 is E'The SHA-256 of the exact text shown, as 64 lowercase hex digits; given with wordingVersion.';
comment on column app_public.consents.recorded_by is E'Who recorded the decision: the caller (null when an operator recorded it from the command line).';
comment on column app_public.consents.recorded_at is E'When the decision was recorded, set by the database.';
alter table app_public.consents enable row level security;

-- Restriction of processing ---------------------------------------------------------
create table app_public.processing_restrictions (
  id uuid primary key default gen_random_uuid(),
  client_id uuid not null references app_public.clients on delete restrict,
  request_id uuid not null references app_public.data_subject_requests on delete restrict,
  reason text not null constraint processing_restrictions_reason_check check (length(btrim(reason)) between 3 and 2000),
  placed_by uuid references app_public.users on delete restrict,
  placed_at timestamptz not null default now(),
  lifted_by uuid references app_public.users on delete restrict,
  lifted_at timestamptz,
  lift_reason text constraint processing_restrictions_lift_reason_check check (length(btrim(lift_reason)) between 3 and 2000),
  constraint processing_restrictions_lift_state check ((lifted_at is null) = (lift_reason is null))
);
create index processing_restrictions_active_client_id_idx on app_public.processing_restrictions (client_id) where lifted_at is null;
create index processing_restrictions_client_id_idx on app_public.processing_restrictions (client_id);
create index processing_restrictions_request_id_idx on app_public.processing_restrictions (request_id);
comment on table app_public.processing_restrictions is
  E'@behavior -update\nA restriction of processing (GDPR Art. 18) on a client, placed under the verified restriction or rectification request that asked for it: while active, new transcriptions of the client''s sessions are refused; reading and exporting stay possible. Placed and lifted by admins, read by auditors and by the client''s coach; never deleted. Its reason describes the ground, not the person.';
comment on column app_public.processing_restrictions.client_id is E'The client restricted: the request''s, set by the database.';
comment on column app_public.processing_restrictions.request_id is E'The data-subject request (restriction or rectification, verified) that asked for it.';
comment on column app_public.processing_restrictions.reason is E'The ground (3 to 2,000 characters), such as accuracy contested until checked (Art. 18(1)(a)); not details of the person.';
comment on column app_public.processing_restrictions.placed_by is E'The admin who placed it.';
comment on column app_public.processing_restrictions.placed_at is E'When it was placed.';
comment on column app_public.processing_restrictions.lifted_by is E'The admin who lifted it.';
comment on column app_public.processing_restrictions.lifted_at is E'When it was lifted; null while active.';
comment on column app_public.processing_restrictions.lift_reason is E'Why it no longer applies.';
alter table app_public.processing_restrictions enable row level security;

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
  NEW.recorded_by := app_public.current_user_id();
  NEW.recorded_at := pg_catalog.clock_timestamp();
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_consents__recorded() is
  E'Who recorded a consent decision and when come from the caller and the clock, read after waiting for any other decision on the same client and for the transcriptions under way.';

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
--! Included gdpr/restrictions.sql
-- Restriction of processing (GDPR Art. 18): placed on a client under the
-- request that asked for it, lifted later with a reason, never deleted or
-- rewritten. While one is active, new transcriptions of the client's
-- sessions are refused; reading and exporting stay possible.

create or replace function app_public.tg_processing_restrictions__append_only() returns trigger as $$
declare
  request app_public.data_subject_requests;
begin
  if TG_OP = 'INSERT' then
    select * into request from app_public.data_subject_requests r where r.id = NEW.request_id;
    if not found then
      raise exception 'There is no data-subject request %.', NEW.request_id using errcode = 'P0002';
    end if;
    if request.kind not in ('restriction', 'rectification') or request.client_id is null then
      raise exception 'Request % is a% % request about %; a restriction is placed under a client''s restriction or rectification request (Art. 18(1)).',
        request.id, case when request.kind in ('access', 'erasure') then 'n' else '' end, request.kind,
        case when request.client_id is null then 'a user account' else 'a client' end
        using errcode = '22023';
    end if;
    if request.state in ('received', 'rejected') then
      raise exception 'Request % is %; a restriction is placed once the person''s identity is verified (verify the request first).', request.id, request.state
        using errcode = '55000';
    end if;
    perform app_private.lock_client_processing(request.client_id);
    NEW.client_id := request.client_id;
    NEW.placed_by := app_public.current_user_id();
    NEW.placed_at := pg_catalog.clock_timestamp();
    NEW.lifted_by := null;
    NEW.lifted_at := null;
    NEW.lift_reason := null;
    return NEW;
  elsif TG_OP = 'UPDATE' then
    if OLD.lifted_at is not null then
      raise exception 'Restriction % was lifted at %; a lifted restriction cannot change. Place a new one instead.', OLD.id, OLD.lifted_at
        using errcode = '55000';
    end if;
    if (NEW.id, NEW.client_id, NEW.request_id, NEW.reason, NEW.placed_by, NEW.placed_at)
       is distinct from (OLD.id, OLD.client_id, OLD.request_id, OLD.reason, OLD.placed_by, OLD.placed_at) then
      raise exception 'A restriction cannot be changed, only lifted with a reason (liftProcessingRestriction).' using errcode = '55000';
    end if;
    if NEW.lift_reason is null then
      raise exception 'Lifting a restriction needs a reason.' using errcode = '23502';
    end if;
    NEW.lifted_by := app_public.current_user_id();
    NEW.lifted_at := pg_catalog.clock_timestamp();
    return NEW;
  else
    raise exception 'Restrictions are never deleted; lift the restriction instead.' using errcode = '55000';
  end if;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_processing_restrictions__append_only() is
  E'Keeps restrictions append-only for every writer: one is placed under a verified restriction or rectification request about a client (whose client it covers comes from the request), who placed it and when come from the caller and the clock; it changes once, when lifted with a reason; it is never deleted or truncated.';

drop trigger if exists _200_append_only on app_public.processing_restrictions;
create trigger _200_append_only before insert or update or delete on app_public.processing_restrictions
  for each row execute function app_public.tg_processing_restrictions__append_only();
drop trigger if exists _200_append_only_truncate on app_public.processing_restrictions;
create trigger _200_append_only_truncate before truncate on app_public.processing_restrictions
  for each statement execute function app_public.tg_processing_restrictions__append_only();

create or replace function app_public.lift_processing_restriction(restriction_id uuid, reason text) returns app_public.processing_restrictions as $$
  update app_public.processing_restrictions set lift_reason = lift_processing_restriction.reason
  where id = lift_processing_restriction.restriction_id
  returning *;
$$ language sql volatile;
comment on function app_public.lift_processing_restriction(uuid, text) is
  E'Lifts an active restriction, with the reason it no longer applies (Art. 18(3): the person is told before); who and when are recorded. Admins only; a lifted restriction stays on record.';

revoke all on function app_public.lift_processing_restriction(uuid, text) from public;
grant execute on function app_public.lift_processing_restriction(uuid, text) to custodian_admin;

-- The transcription rule: no new attempt while the client is restricted.
create or replace function app_private.tg_transcriptions__refuse_restricted() returns trigger as $$
declare
  refused record;
begin
  -- Held until commit: a restriction placed on these clients waits for this statement's transaction (lock_client_processing).
  perform from app_public.clients c
  where c.id in (select cs.client_id from new_rows t join app_public.coaching_sessions cs on cs.id = t.session_id)
  for key share;
  select t.session_id, r.client_id, r.id, r.placed_at, r.reason into refused
  from new_rows t
  join app_public.coaching_sessions cs on cs.id = t.session_id
  join app_public.processing_restrictions r on r.client_id = cs.client_id and r.lifted_at is null
  order by r.placed_at, r.id
  limit 1;
  if found then
    raise exception 'Cannot transcribe session %: processing of client %''s data is restricted (restriction % placed at %: %).',
      refused.session_id, refused.client_id, refused.id, refused.placed_at, refused.reason
      using errcode = '55000',
        hint = 'Reading and exporting stay possible; an admin lifts the restriction (liftProcessingRestriction) when it no longer applies.';
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__refuse_restricted() is
  E'Refuses a statement that inserts transcription attempts (retries included) for a session whose client is under an active restriction of processing (Art. 18), with the restriction''s reason; every writer, the owner included.';

drop trigger if exists _051_refuse_restricted on app_public.transcriptions;
create trigger _051_refuse_restricted after insert on app_public.transcriptions
  referencing new table as new_rows
  for each statement execute function app_private.tg_transcriptions__refuse_restricted();

-- For the readiness report.
create or replace function app_private.restricted_subjects_count() returns bigint as $$
  select pg_catalog.count(distinct r.client_id) from app_public.processing_restrictions r where r.lifted_at is null;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.restricted_subjects_count() is
  E'How many clients are under an active restriction of processing now: the readiness report''s "subjects under restriction".';

revoke all on function app_private.restricted_subjects_count() from public;
grant execute on function app_private.restricted_subjects_count() to custodian_admin, custodian_auditor;

-- Admins place and lift restrictions; auditors read them; a coach reads their
-- own clients' (it tells them why a transcription is refused).
drop policy if exists admin_all on app_public.processing_restrictions;
create policy admin_all on app_public.processing_restrictions for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.processing_restrictions;
create policy auditor_read on app_public.processing_restrictions for select to custodian_auditor using (true);
drop policy if exists coach_own_clients on app_public.processing_restrictions;
create policy coach_own_clients on app_public.processing_restrictions for select to custodian_coach
  using (client_id in (select c.id from app_public.clients c where c.coach_profile_id = (select app_private.current_coach_profile_id())));

grant select on app_public.processing_restrictions to custodian_coach, custodian_admin, custodian_auditor;
grant insert (request_id, reason) on app_public.processing_restrictions to custodian_admin;
grant update (lift_reason) on app_public.processing_restrictions to custodian_admin;
--! EndIncluded gdpr/restrictions.sql
--! Included gdpr/rectification.sql
-- Rectification (GDPR Art. 16): corrected values for the subject's personal
-- columns, applied through a verified rectification request, which it then
-- completes. The old values stay only in the audit trail, where the columns'
-- pii policy (governance.classify_column: identity, contact and content are
-- pii) seals them under the subject's key.

create or replace function app_private.rectifiable_columns(target regclass) returns text[] as $$
  select coalesce(pg_catalog.array_agg(a.attname::text order by a.attnum), '{}')
  from governance.personal_data_columns p
  join pg_catalog.pg_attribute a on a.attrelid = p.table_oid and a.attnum = p.column_number and not a.attisdropped
  where p.table_oid = target and p.category in ('identity', 'contact', 'content');
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rectifiable_columns(regclass) is
  E'The columns of a table a rectification may correct: those the map of personal data classifies as identity, contact or content (never keys, timestamps or technical data).';

create or replace function app_public.rectify_personal_data(request_id uuid, corrections jsonb) returns app_public.data_subject_requests as $$
declare
  request app_public.data_subject_requests;
  target regclass;
  allowed text[];
  unknown text;
  assignments text;
begin
  select * into request from app_public.data_subject_requests r where r.id = rectify_personal_data.request_id;
  if not found then
    raise exception 'There is no data-subject request %.', rectify_personal_data.request_id using errcode = 'P0002';
  end if;
  if request.kind <> 'rectification' then
    raise exception 'Request % is a% % request; corrections are applied through a rectification request.', request.id,
      case when request.kind in ('access', 'erasure') then 'n' else '' end, request.kind using errcode = '22023';
  end if;
  if request.state not in ('verified', 'in_progress') then
    raise exception 'Request % is %; corrections are applied to a verified request that is not closed (%).', request.id, request.state,
      case when request.state = 'received' then 'verify it first' else 'file a new request' end
      using errcode = '55000';
  end if;
  if corrections is null or pg_catalog.jsonb_typeof(corrections) <> 'object' or corrections = '{}'::jsonb then
    raise exception 'Corrections must be a JSON object of at least one column and its corrected value, such as {"email": "ann@example.com"}.'
      using errcode = '22023';
  end if;
  target := case when request.client_id is not null then 'app_public.clients' else 'app_public.users' end;
  allowed := app_private.rectifiable_columns(target);
  select k into unknown from pg_catalog.jsonb_object_keys(corrections) k where k <> all (allowed) order by k limit 1;
  if found then
    raise exception '% is not a personal column of %: a rectification corrects only %.', unknown, target,
      pg_catalog.array_to_string(allowed, ', ')
      using errcode = '42703',
        hint = case when exists (select from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = unknown and a.attnum > 0 and not a.attisdropped)
                    then 'Keys, timestamps and technical columns are not corrected by a request.' else 'Name columns as the database does (full_name, not fullName).' end;
  end if;
  select pg_catalog.string_agg(pg_catalog.format('%1$I = r.%1$I', k), ', ' order by k) into assignments
  from pg_catalog.jsonb_object_keys(corrections) k;
  -- The values take the columns' own types and checks (jsonb_populate_record), as an update would.
  execute pg_catalog.format('update %s t set %s from pg_catalog.jsonb_populate_record(null::%s, $1) r where t.id = $2', target, assignments, target)
    using corrections, request.subject_id;
  if request.state = 'verified' then
    update app_public.data_subject_requests set state = 'in_progress' where id = request.id;
  end if;
  update app_public.data_subject_requests set state = 'completed' where id = request.id returning * into request;
  return request;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.rectify_personal_data(uuid, jsonb) is
  E'Applies a verified rectification request (Art. 16): corrections is a JSON object of the subject''s personal columns (a client''s full_name, email, phone, notes; a user''s email, display_name) and their corrected values; the request is then completed. Anything else (another kind of request, one not verified or already closed, an unknown or non-personal column, a value a column refuses) is refused and nothing changes. The old values stay only in the audit trail, sealed under the subject''s key. Admins only.';

revoke all on function app_public.rectify_personal_data(uuid, jsonb) from public;
revoke all on function app_private.rectifiable_columns(regclass) from public;
grant execute on function app_public.rectify_personal_data(uuid, jsonb), app_private.rectifiable_columns(regclass) to custodian_admin;
--! EndIncluded gdpr/rectification.sql

select audit.enable_tracking('app_public.consents', subject_column => 'client_id');
select audit.enable_tracking('app_public.processing_restrictions', subject_column => 'client_id');



-- The console's request queue filters by kind and state (few rows: no index needed).
comment on column app_public.data_subject_requests.kind is E'@behavior +filterBy\naccess, portability, erasure, rectification or restriction.';
comment on column app_public.data_subject_requests.state is E'@behavior +filterBy\nreceived, verified, in_progress, completed or rejected.';

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

  -- An export already built is a compressed copy of all of it, which the scan cannot read: its bytes go now.
  perform app_private.delete_subject_export_bytes(subject);

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
  E'Runs a verified erasure request, in one transaction: blanks every personal column (identity, contact, content, from the map of personal data) of the person''s rows, soft-deleted ones included; deletes the bytes of their exports; destroys their audit key, so their pii in the trail reads as erased while no audit row changes; leaves usage events, invoices and rollups as they are (Art. 17(3)); runs the residue scan and refuses to commit if any former value can still be read; records the erasure and completes the request. Refused under a legal hold, with its reason, unless an admin gives an override reason (recorded). Admins only.';

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
    -- governance
    ('governance.hard_deletions', 'hard_deletions_reason_check', 'A hard delete''s reason must be 3 to 2,000 characters, not only spaces.')
$$ language sql immutable;
comment on function app_private.constraint_words() is
  E'The sentence a user reads when a write breaks a constraint or unique index: one row per (table, constraint), naming the field as the API spells it and the rule.';

-- The API server reads them once, as itself, before any request role is set.
revoke all on function app_private.constraint_words() from public;
grant execute on function app_private.constraint_words() to custodian_authenticator;
--! EndIncluded domain/constraint-words.sql

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
  )
  select ordinal, part, label, value, unit, target, scored, ok from parts
  order by 1;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.gdpr_readiness_parts(timestamptz) is
  E'The parts of GDPR audit readiness at asOf (now by default; deadlines are judged against it), one row each, in order: unclassified personal columns (target 0), requests overdue (0), requests due within 7 days (informational), median days from receipt to completion of the requests completed in the 365 days before asOf (at most 30), erasures whose residue scan was not zero (0), active transcriptions without consent (0), subjects under restriction (informational). scored says whether a part counts toward the percentage; ok says whether the part meets its target. Admins and auditors.';

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
