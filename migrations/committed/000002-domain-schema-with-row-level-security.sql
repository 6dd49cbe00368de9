--! Previous: sha1:255359cb827da1ac594388ccb734af4df9732c3b
--! Hash: sha1:14e486cbd8d1fa7a97ad16f9f3755b480713ac26
--! Message: domain schema with row-level security

-- Billing plans and provider rates: reference data every signed-in user reads
-- and only admins change.

create table app_public.billing_plans (
  id uuid primary key default gen_random_uuid(),
  name text not null unique check (length(btrim(name)) between 1 and 100),
  monthly_fee_minor bigint not null check (monthly_fee_minor >= 0),
  included_minutes integer not null check (included_minutes >= 0),
  price_per_extra_minute_minor bigint not null check (price_per_extra_minute_minor >= 0),
  currency text not null default 'EUR' check (currency ~ '^[A-Z]{3}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table app_public.billing_plans is E'What a coach pays: a monthly fee with included minutes, then a price per extra minute.';
comment on column app_public.billing_plans.id is E'The plan''s id.';
comment on column app_public.billing_plans.name is E'The plan''s name, unique.';
comment on column app_public.billing_plans.monthly_fee_minor is E'The monthly fee in minor units of the currency (cents).';
comment on column app_public.billing_plans.included_minutes is E'Transcription minutes included in the fee each month.';
comment on column app_public.billing_plans.price_per_extra_minute_minor is E'The price of each minute past the included ones, in minor units.';
comment on column app_public.billing_plans.currency is E'ISO 4217 currency code.';
comment on column app_public.billing_plans.created_at is E'When the plan was created.';
comment on column app_public.billing_plans.updated_at is E'When the plan last changed.';

create table app_public.provider_rates (
  id uuid primary key default gen_random_uuid(),
  provider text not null check (provider ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  model text not null check (length(btrim(model)) between 1 and 100),
  cost_per_minute_minor numeric(12, 4) not null check (cost_per_minute_minor >= 0),
  currency text not null default 'EUR' check (currency ~ '^[A-Z]{3}$'),
  effective_from timestamptz not null default '-infinity',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (provider, model, effective_from)
);
comment on table app_public.provider_rates is E'What a transcription provider charges us per minute for a model, from a date on.';
comment on column app_public.provider_rates.id is E'The rate''s id.';
comment on column app_public.provider_rates.provider is E'The provider, in lower case (for example deepgram, openai).';
comment on column app_public.provider_rates.model is E'The provider''s model name.';
comment on column app_public.provider_rates.cost_per_minute_minor is E'Our cost per audio minute in minor units; fractions of a cent are kept.';
comment on column app_public.provider_rates.currency is E'ISO 4217 currency code.';
comment on column app_public.provider_rates.effective_from is E'From when the rate applies; the latest rate not after an attempt applies to it.';
comment on column app_public.provider_rates.created_at is E'When the rate was recorded.';
comment on column app_public.provider_rates.updated_at is E'When the rate last changed.';

-- Coach profiles -------------------------------------------------------------

create table app_public.coach_profiles (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique default app_public.current_user_id(),
  user_role app_public.user_role not null default 'coach' check (user_role = 'coach'),
  display_name text not null check (length(btrim(display_name)) between 1 and 200),
  bio text check (length(bio) <= 5000),
  timezone text not null default 'UTC' check (app_private.is_valid_timezone(timezone)),
  plan_id uuid not null references app_public.billing_plans on delete restrict,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (user_id, user_role) references app_public.users (id, role)
    on update restrict on delete restrict
);
create index on app_public.coach_profiles (plan_id);
comment on table app_public.coach_profiles is E'A coach''s profile: one per coach user, owner of clients, sessions and transcriptions.';
comment on column app_public.coach_profiles.id is E'The profile''s id.';
comment on column app_public.coach_profiles.user_id is E'The coach''s account.';
comment on column app_public.coach_profiles.user_role is E'@behavior -*\nAlways coach: with the foreign key it keeps profiles to coach accounts.';
comment on column app_public.coach_profiles.display_name is E'The name clients see.';
comment on column app_public.coach_profiles.bio is E'A short biography.';
comment on column app_public.coach_profiles.timezone is E'The coach''s IANA time zone, for days and months in reports.';
comment on column app_public.coach_profiles.plan_id is E'The billing plan the coach is on.';
comment on column app_public.coach_profiles.created_at is E'When the profile was created.';
comment on column app_public.coach_profiles.updated_at is E'When the profile last changed.';

comment on constraint coach_profiles_user_id_user_role_fkey on app_public.coach_profiles is
  E'@fieldName user\n@foreignFieldName coachProfile';

create function app_private.current_coach_profile_id() returns uuid as $$
  select id from app_public.coach_profiles where user_id = app_public.current_user_id();
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.current_coach_profile_id() is
  E'The coach profile of the user making the request; null for anyone without one. Policies call it once per statement.';
grant usage on schema app_private to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.current_coach_profile_id()
  to custodian_coach, custodian_admin, custodian_auditor;
-- The timezone check runs as the writer.
grant execute on function app_private.is_valid_timezone(text) to custodian_coach, custodian_admin;

-- Clients --------------------------------------------------------------------

create table app_public.clients (
  id uuid primary key default gen_random_uuid(),
  coach_profile_id uuid not null default app_private.current_coach_profile_id()
    references app_public.coach_profiles on delete cascade,
  full_name text not null check (length(btrim(full_name)) between 1 and 200),
  email citext check (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
  phone text check (phone ~ '^\+?[0-9 ().-]{5,30}$'),
  notes text check (length(notes) <= 20000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, coach_profile_id)
);
create index on app_public.clients (coach_profile_id);
create unique index clients_coach_email_key on app_public.clients (coach_profile_id, email) where email is not null;
comment on table app_public.clients is E'A coach''s client. Name, email, phone and notes are personal data.';
comment on column app_public.clients.id is E'The client''s id.';
comment on column app_public.clients.coach_profile_id is E'The coach the client belongs to; defaults to the caller''s profile.';
comment on column app_public.clients.full_name is E'The client''s full name.';
comment on column app_public.clients.email is E'The client''s email; unique among one coach''s clients.';
comment on column app_public.clients.phone is E'The client''s phone number.';
comment on column app_public.clients.notes is E'The coach''s notes about the client.';
comment on column app_public.clients.created_at is E'When the client was added.';
comment on column app_public.clients.updated_at is E'When the client last changed.';
comment on constraint clients_id_coach_profile_id_key on app_public.clients is
  E'@behavior -*\nTarget of the composite keys that keep coach_profile_id consistent.';

-- Coaching sessions ------------------------------------------------------------

create table app_public.coaching_sessions (
  id uuid primary key default gen_random_uuid(),
  coach_profile_id uuid not null,
  client_id uuid not null,
  title text not null check (length(btrim(title)) between 1 and 300),
  recorded_at timestamptz not null,
  audio_object_key text not null check (length(btrim(audio_object_key)) between 1 and 1024),
  audio_duration_seconds integer not null check (audio_duration_seconds >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, coach_profile_id),
  foreign key (client_id, coach_profile_id) references app_public.clients (id, coach_profile_id)
    on update restrict on delete cascade
);
create index on app_public.coaching_sessions (coach_profile_id, recorded_at);
create index on app_public.coaching_sessions (client_id, coach_profile_id);
comment on table app_public.coaching_sessions is E'A recorded coaching session with one client.';
comment on column app_public.coaching_sessions.id is E'The session''s id.';
comment on column app_public.coaching_sessions.coach_profile_id is E'The coach; taken from the client when not given.';
comment on column app_public.coaching_sessions.client_id is E'The client coached in the session.';
comment on column app_public.coaching_sessions.title is E'A title for the session.';
comment on column app_public.coaching_sessions.recorded_at is E'When the session was recorded.';
comment on column app_public.coaching_sessions.audio_object_key is E'Where the recording is stored (object storage key).';
comment on column app_public.coaching_sessions.audio_duration_seconds is E'The recording''s length in seconds.';
comment on column app_public.coaching_sessions.created_at is E'When the session was added.';
comment on column app_public.coaching_sessions.updated_at is E'When the session last changed.';
comment on constraint coaching_sessions_id_coach_profile_id_key on app_public.coaching_sessions is
  E'@behavior -*\nTarget of the composite keys that keep coach_profile_id consistent.';
comment on constraint coaching_sessions_client_id_coach_profile_id_fkey on app_public.coaching_sessions is
  E'@fieldName client\n@foreignFieldName coachingSessions';

-- Transcriptions ---------------------------------------------------------------

create type app_public.transcription_status as enum ('queued', 'processing', 'completed', 'failed');
comment on type app_public.transcription_status is
  E'Where a transcription attempt is: completed and failed are terminal.';

create table app_public.transcriptions (
  id uuid primary key default gen_random_uuid(),
  coach_profile_id uuid not null,
  session_id uuid not null,
  status app_public.transcription_status not null default 'queued',
  provider text not null check (provider ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  model text not null check (length(btrim(model)) between 1 and 100),
  language text check (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
  billed_duration_seconds integer check (billed_duration_seconds >= 0),
  transcript_text text,
  error_message text check (length(error_message) <= 2000),
  requested_by uuid default app_public.current_user_id() references app_public.users on delete set null,
  retry_of uuid check (retry_of <> id),
  is_retranscription boolean not null default false,
  started_at timestamptz,
  finished_at timestamptz check (finished_at >= started_at),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, coach_profile_id),
  unique (id, session_id),
  foreign key (session_id, coach_profile_id) references app_public.coaching_sessions (id, coach_profile_id)
    on update restrict on delete cascade,
  foreign key (retry_of, session_id) references app_public.transcriptions (id, session_id)
    on update restrict on delete set null (retry_of),
  constraint transcriptions_completed_has_billed_duration
    check (status <> 'completed' or billed_duration_seconds is not null)
);
create index on app_public.transcriptions (coach_profile_id, created_at);
create index on app_public.transcriptions (session_id, coach_profile_id);
create index on app_public.transcriptions (retry_of, session_id);
create index on app_public.transcriptions (requested_by);
comment on table app_public.transcriptions is E'One transcription attempt of a session: retries after failures and re-transcriptions are attempts of their own.';
comment on column app_public.transcriptions.id is E'The attempt''s id.';
comment on column app_public.transcriptions.coach_profile_id is E'The coach; taken from the session when not given.';
comment on column app_public.transcriptions.session_id is E'The session transcribed.';
comment on column app_public.transcriptions.status is E'queued, processing, completed or failed.';
comment on column app_public.transcriptions.provider is E'The transcription provider.';
comment on column app_public.transcriptions.model is E'The provider''s model.';
comment on column app_public.transcriptions.language is E'The language of the audio (BCP 47, for example en or pt-BR).';
comment on column app_public.transcriptions.billed_duration_seconds is E'The audio seconds the provider billed; required once completed.';
comment on column app_public.transcriptions.transcript_text is E'The transcript; personal data.';
comment on column app_public.transcriptions.error_message is E'Why the attempt failed.';
comment on column app_public.transcriptions.requested_by is E'The user who asked for the attempt.';
comment on column app_public.transcriptions.retry_of is E'The attempt this one retries, for a retry after a failure.';
comment on column app_public.transcriptions.is_retranscription is E'True when the session already had a completed transcription when this attempt was requested.';
comment on column app_public.transcriptions.started_at is E'When processing started; set when the status becomes processing.';
comment on column app_public.transcriptions.finished_at is E'When the attempt completed or failed; set when the status becomes terminal.';
comment on column app_public.transcriptions.created_at is E'When the attempt was requested.';
comment on column app_public.transcriptions.updated_at is E'When the attempt last changed.';
comment on constraint transcriptions_id_coach_profile_id_key on app_public.transcriptions is
  E'@behavior -*\nLets rows owned by a coach reference an attempt with the same coach.';
comment on constraint transcriptions_id_session_id_key on app_public.transcriptions is
  E'@behavior -*\nTarget of retry_of, which must stay within one session.';
comment on constraint transcriptions_session_id_coach_profile_id_fkey on app_public.transcriptions is
  E'@fieldName session\n@foreignFieldName transcriptions';
comment on constraint transcriptions_requested_by_fkey on app_public.transcriptions is
  E'@fieldName requester\n@foreignFieldName requestedTranscriptions';
comment on constraint transcriptions_retry_of_session_id_fkey on app_public.transcriptions is
  E'@fieldName retriedTranscription\n@foreignFieldName retries';

-- Derived columns: set by the database, whatever the writer sends ---------------

create function app_private.tg_clients__require_coach_profile() returns trigger as $$
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

create function app_private.tg_coaching_sessions__set_coach_profile() returns trigger as $$
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

create function app_private.tg_transcriptions__derive() returns trigger as $$
begin
  if TG_OP = 'INSERT' then
    if new.coach_profile_id is null then
      select coach_profile_id into new.coach_profile_id from app_public.coaching_sessions where id = new.session_id;
      if not found then
        raise exception 'Coaching session % does not exist.', new.session_id using errcode = '23503';
      end if;
    end if;
    new.is_retranscription := exists (
      select from app_public.transcriptions t
      where t.session_id = new.session_id and t.status = 'completed'
    );
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

create trigger _050_require_coach_profile before insert on app_public.clients
  for each row execute function app_private.tg_clients__require_coach_profile();
create trigger _050_set_coach_profile before insert on app_public.coaching_sessions
  for each row execute function app_private.tg_coaching_sessions__set_coach_profile();
create trigger _050_derive before insert or update on app_public.transcriptions
  for each row execute function app_private.tg_transcriptions__derive();

create trigger _100_timestamps before insert or update on app_public.billing_plans
  for each row execute function app_private.tg__timestamps();
create trigger _100_timestamps before insert or update on app_public.provider_rates
  for each row execute function app_private.tg__timestamps();
create trigger _100_timestamps before insert or update on app_public.coach_profiles
  for each row execute function app_private.tg__timestamps();
create trigger _100_timestamps before insert or update on app_public.clients
  for each row execute function app_private.tg__timestamps();
create trigger _100_timestamps before insert or update on app_public.coaching_sessions
  for each row execute function app_private.tg__timestamps();
create trigger _100_timestamps before insert or update on app_public.transcriptions
  for each row execute function app_private.tg__timestamps();

-- Row-level security -------------------------------------------------------------
-- Coaches reach their own rows by comparing one column with their profile
-- (an InitPlan, computed once per statement); admins reach everything;
-- auditors read everything and write nothing.

create function app_private.enable_coach_owned_rls(target regclass) returns void as $$
begin
  if not exists (
    select from pg_catalog.pg_attribute
    where attrelid = target and attname = 'coach_profile_id' and not attisdropped
  ) then
    raise exception 'Table % has no coach_profile_id column; it cannot be coach-owned.', target
      using errcode = '42703';
  end if;
  execute pg_catalog.format('alter table %s enable row level security', target);
  execute pg_catalog.format(
    'create policy coach_own on %s for all to custodian_coach
       using (coach_profile_id = (select app_private.current_coach_profile_id()))
       with check (coach_profile_id = (select app_private.current_coach_profile_id()))', target);
  execute pg_catalog.format(
    'create policy admin_all on %s for all to custodian_admin using (true) with check (true)', target);
  execute pg_catalog.format(
    'create policy auditor_read on %s for select to custodian_auditor using (true)', target);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.enable_coach_owned_rls(regclass) is
  E'Row-level security for a table whose rows belong to a coach (it carries coach_profile_id): coaches reach their own rows, admins all rows, auditors read all rows. Grants stay with each table.';

alter table app_public.billing_plans enable row level security;
create policy read_all on app_public.billing_plans for select
  to custodian_coach, custodian_admin, custodian_auditor using (true);
create policy admin_write on app_public.billing_plans for all to custodian_admin
  using (true) with check (true);
grant select on app_public.billing_plans to custodian_coach, custodian_admin, custodian_auditor;
grant insert (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency),
  update (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency),
  delete on app_public.billing_plans to custodian_admin;

alter table app_public.provider_rates enable row level security;
create policy read_all on app_public.provider_rates for select
  to custodian_coach, custodian_admin, custodian_auditor using (true);
create policy admin_write on app_public.provider_rates for all to custodian_admin
  using (true) with check (true);
grant select on app_public.provider_rates to custodian_coach, custodian_admin, custodian_auditor;
grant insert (provider, model, cost_per_minute_minor, currency, effective_from),
  update (provider, model, cost_per_minute_minor, currency, effective_from),
  delete on app_public.provider_rates to custodian_admin;

alter table app_public.coach_profiles enable row level security;
create policy coach_own on app_public.coach_profiles for all to custodian_coach
  using (user_id = app_public.current_user_id()) with check (user_id = app_public.current_user_id());
create policy admin_all on app_public.coach_profiles for all to custodian_admin
  using (true) with check (true);
create policy auditor_read on app_public.coach_profiles for select to custodian_auditor
  using (true);
grant select, delete on app_public.coach_profiles to custodian_coach, custodian_admin;
grant select on app_public.coach_profiles to custodian_auditor;
grant insert (display_name, bio, timezone, plan_id),
  update (display_name, bio, timezone) on app_public.coach_profiles to custodian_coach;
grant insert (user_id, display_name, bio, timezone, plan_id),
  update (display_name, bio, timezone, plan_id) on app_public.coach_profiles to custodian_admin;

select app_private.enable_coach_owned_rls('app_public.clients');
grant select, delete on app_public.clients to custodian_coach, custodian_admin;
grant select on app_public.clients to custodian_auditor;
grant insert (full_name, email, phone, notes),
  update (full_name, email, phone, notes) on app_public.clients to custodian_coach;
grant insert (coach_profile_id, full_name, email, phone, notes),
  update (full_name, email, phone, notes) on app_public.clients to custodian_admin;

select app_private.enable_coach_owned_rls('app_public.coaching_sessions');
grant select, delete on app_public.coaching_sessions to custodian_coach, custodian_admin;
grant select on app_public.coaching_sessions to custodian_auditor;
grant insert (client_id, title, recorded_at, audio_object_key, audio_duration_seconds),
  update (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
  on app_public.coaching_sessions to custodian_coach, custodian_admin;

select app_private.enable_coach_owned_rls('app_public.transcriptions');
grant select, delete on app_public.transcriptions to custodian_coach, custodian_admin;
grant select on app_public.transcriptions to custodian_auditor;
-- Coaches request attempts and correct transcripts; the status, durations and
-- errors come from the transcription pipeline (admins or the worker).
grant insert (session_id, provider, model, language, retry_of),
  update (transcript_text) on app_public.transcriptions to custodian_coach;
grant insert (session_id, provider, model, language, retry_of, status, billed_duration_seconds,
    transcript_text, error_message, started_at, finished_at),
  update (status, billed_duration_seconds, transcript_text, error_message, started_at, finished_at, language)
  on app_public.transcriptions to custodian_admin;
