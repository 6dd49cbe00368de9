--! Previous: -
--! Hash: sha1:103bf00b8b20025b32805746d425232a8f991c7e
--! Message: baseline

-- The baseline: the schema that migrations 000001 to 000008 built, in one
-- migration. Tables, types and data changes come first, in the order those
-- migrations made them; then the rules, each brought in from its fixture
-- (migrations/fixtures/); then the generator calls that make partitions,
-- capture functions and soft-delete triggers for each table. A database that
-- ran the eight old migrations is recorded as having run this one instead
-- (src/db/migrate.ts), and test/schema/baseline.test.ts shows that both
-- build the same database.

-- Function bodies name tables, columns and functions that come later in this
-- file (as in a pg_dump); each is checked when it first runs.
set local check_function_bodies = off;

-- Schemas, types and tables ---------------------------------------------------------

create schema app_public;
comment on schema app_public is
  E'Exposed through the GraphQL API; row-level security decides what each caller sees.';
create schema app_private;
comment on schema app_private is
  E'Secrets and internals; never exposed, reached only through security definer functions.';

-- Nothing the owner creates is executable by everyone unless granted.
alter default privileges revoke execute on functions from public;

--! Included domain/timezones.sql
-- Time zone names, checked against the ones PostgreSQL knows.

create or replace function app_private.is_valid_timezone(name text) returns boolean as $$
  select exists (select from pg_catalog.pg_timezone_names where pg_timezone_names.name = is_valid_timezone.name);
$$ language sql stable;
comment on function app_private.is_valid_timezone(text) is
  E'True when the name is an IANA time zone PostgreSQL knows.';

-- The timezone check runs as the writer.
grant execute on function app_private.is_valid_timezone(text) to custodian_coach, custodian_admin;
--! EndIncluded domain/timezones.sql


-- Users --------------------------------------------------------------------
create type app_public.user_role as enum ('coach', 'admin', 'auditor');
comment on type app_public.user_role is
  E'What a user may do: coaches own their data, admins manage everything, auditors read everything and write nothing.';

create table app_public.users (
  id uuid primary key default gen_random_uuid(),
  email citext not null unique check (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
  display_name text not null check (length(btrim(display_name)) between 1 and 200),
  role app_public.user_role not null default 'coach',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint users_id_role_key unique (id, role)
);
comment on table app_public.users is E'An account: a coach, an admin or an auditor.';
comment on column app_public.users.id is E'The user''s id.';
comment on column app_public.users.email is E'The address the user signs in with; unique, case-insensitive.';
comment on column app_public.users.display_name is E'The name shown for the user.';
comment on column app_public.users.role is E'What the user may do.';
comment on column app_public.users.created_at is E'When the account was created.';
comment on column app_public.users.updated_at is E'When the account last changed.';
comment on constraint users_id_role_key on app_public.users is
  E'@behavior -*\nLets coach_profiles require that its user is a coach.';

create table app_private.user_secrets (
  user_id uuid primary key references app_public.users on delete cascade,
  password_hash text not null,
  password_changed_at timestamptz not null default now()
);
comment on table app_private.user_secrets is E'Credentials, kept apart from users so no API role can read them.';
comment on column app_private.user_secrets.password_hash is E'bcrypt hash from pgcrypto''s crypt().';

alter table app_public.users enable row level security;

--! Included auth/current-user.sql
-- Who is asking: the request's user, from the token the API set.

create or replace function app_public.current_user_id() returns uuid as $$
  select nullif(pg_catalog.current_setting('jwt.claims.user_id', true), '')::uuid;
$$ language sql stable;
comment on function app_public.current_user_id() is
  E'The id of the user making the request, from the JWT; null when anonymous.';

grant execute on function app_public.current_user_id()
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;

create or replace function app_public.current_user() returns app_public.users as $$
  select * from app_public.users where id = app_public.current_user_id();
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.current_user() is
  E'The user making the request; null when anonymous.';

grant execute on function app_public.current_user()
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded auth/current-user.sql


-- Authentication -----------------------------------------------------------
create type app_public.jwt_token as (
  role text,
  user_id uuid
);
comment on type app_public.jwt_token is
  E'The claims of a signed session token; the server adds the expiry.';

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

--! Included domain/current-coach-profile.sql
-- The caller's live coach profile: what every coach policy compares with.

-- A coach without a live profile acts as having none.
create or replace function app_private.current_coach_profile_id() returns uuid as $$
  select id from app_public.coach_profiles where user_id = app_public.current_user_id() and not is_deleted;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.current_coach_profile_id() is
  E'The coach profile of the user making the request; null for anyone without one. Policies call it once per statement.';

grant usage on schema app_private to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.current_coach_profile_id()
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded domain/current-coach-profile.sql


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

alter table app_public.billing_plans enable row level security;

alter table app_public.provider_rates enable row level security;

alter table app_public.coach_profiles enable row level security;
alter table app_public.clients enable row level security;
alter table app_public.coaching_sessions enable row level security;
alter table app_public.transcriptions enable row level security;

create table app_private.worker_heartbeats (
  task text primary key,
  last_job_id bigint not null,
  last_seen_at timestamptz not null default now()
);
comment on table app_private.worker_heartbeats is
  E'The last job of each heartbeat task the worker ran: proof that the worker is alive.';

-- Internal tables get row-level security too: with no policy, only the owner
-- reaches them, even if a grant slips in later.
alter table app_private.user_secrets enable row level security;
alter table app_private.worker_heartbeats enable row level security;

-- The audit trail. Every write to a tracked table is recorded by PostgreSQL
-- itself, in the writer's transaction, by statement-level triggers with
-- transition tables: one insert per statement, whoever the writer is.
-- Attribution is stored once per transaction. A worker job seals events into
-- a SHA-256 hash chain; verify recomputes it.
create schema audit;
comment on schema audit is
  E'The audit trail: tracking configuration, captured events, per-transaction attribution and seals. Reached by the API only through app_public functions.';

create type audit.operation as enum ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE');
comment on type audit.operation is E'The kind of write an event records.';
create type audit.actor_kind as enum ('user', 'worker', 'migration', 'system', 'unknown');
comment on type audit.actor_kind is
  E'Who wrote: an API user, a worker job, a migration, a Custodian command (system), or an unattributed session (unknown).';
create type audit.column_policy as enum ('plain', 'exclude', 'pii');
comment on type audit.column_policy is
  E'How a column''s values are kept in the trail: plain, exclude (never stored, only the fact that it changed) or pii (encrypted with a key of the person it is about).';

-- Configuration ----------------------------------------------------------------
create table audit.tracked_tables (
  table_oid regclass primary key,
  key_columns name[] not null check (cardinality(key_columns) > 0),
  owner_column name,
  subject_column name,
  subject_via regclass,
  subject_via_column name,
  columns_signature text not null,
  enabled_at timestamptz not null default now(),
  disabled_at timestamptz,
  check ((subject_via is null) = (subject_via_column is null)),
  check (subject_via is null or subject_column is not null)
);
comment on table audit.tracked_tables is
  E'The tables whose writes are captured, and how: their key, whose records they are and whose personal data they hold. Rows stay when tracking is disabled, so that the history stays readable.';
comment on column audit.tracked_tables.key_columns is E'The primary key columns; an event''s record_key holds their values.';
comment on column audit.tracked_tables.owner_column is E'A uuid column naming who owns the record (a coach profile or a user); coaches read the history of the records they own.';
comment on column audit.tracked_tables.subject_column is E'A uuid column naming the person the row''s pii is about, or leading to them through subject_via.';
comment on column audit.tracked_tables.subject_via is E'When set, subject_column references this table''s primary key and the subject is its subject_via_column.';
comment on column audit.tracked_tables.subject_via_column is E'The column of subject_via that names the subject.';
comment on column audit.tracked_tables.columns_signature is E'The columns the capture function was generated for; a change regenerates it.';
comment on column audit.tracked_tables.disabled_at is E'When tracking stopped; null while it runs.';

create table audit.column_policies (
  table_oid regclass not null,
  column_number smallint not null check (column_number > 0),
  policy audit.column_policy not null,
  primary key (table_oid, column_number)
);
comment on table audit.column_policies is
  E'Per column: plain (the default), exclude or pii. Keyed by the column''s number, so that renaming a column keeps its policy; kept when tracking is disabled, so that re-enabling never stores personal data in clear.';

create table app_private.audit_subject_keys (
  subject_id uuid primary key,
  key bytea check (octet_length(key) = 32),
  created_at timestamptz not null default now(),
  destroyed_at timestamptz,
  check ((key is null) = (destroyed_at is not null))
);
comment on table app_private.audit_subject_keys is
  E'One AES-256 key per person whose personal data the audit trail holds. Destroying a key makes that person''s pii in the trail unreadable without touching an audit row.';
alter table app_private.audit_subject_keys enable row level security;

-- Storage ----------------------------------------------------------------------
create table audit.transactions (
  xact_id xid8 not null,
  started_at timestamptz not null,
  actor_kind audit.actor_kind not null,
  user_id uuid,
  user_role text,
  request_id text,
  client_ip text,
  user_agent text,
  task text,
  job_id text,
  database_role text not null,
  session_user_name text not null,
  application_name text,
  client_addr inet,
  primary key (xact_id, started_at)
) partition by range (started_at);
comment on table audit.transactions is
  E'Who made the writes of one transaction, recorded once with its first event. Partitioned by month like the events.';
comment on column audit.transactions.xact_id is E'The transaction''s id (with started_at, unique even after a restore into another cluster).';
comment on column audit.transactions.started_at is E'When the transaction started; the time of each of its events.';
comment on column audit.transactions.actor_kind is E'user, worker, migration, system or unknown.';
comment on column audit.transactions.user_id is E'The API user, from the token.';
comment on column audit.transactions.user_role is E'The API user''s role, from the token.';
comment on column audit.transactions.request_id is E'The HTTP request id (X-Request-Id).';
comment on column audit.transactions.client_ip is E'The HTTP client''s address.';
comment on column audit.transactions.user_agent is E'The HTTP client''s user agent.';
comment on column audit.transactions.task is E'The worker task that wrote.';
comment on column audit.transactions.job_id is E'The worker job that wrote.';
comment on column audit.transactions.database_role is E'The PostgreSQL role in effect (SET ROLE), else the session user.';
comment on column audit.transactions.session_user_name is E'The role that logged in.';
comment on column audit.transactions.application_name is E'The connection''s application_name.';
comment on column audit.transactions.client_addr is E'The connection''s client address; null for a local socket.';

create table audit.events (
  id bigint generated always as identity,
  occurred_at timestamptz not null,
  transaction_id xid8 not null,
  table_schema text not null,
  table_name text not null,
  record_key jsonb not null,
  operation audit.operation not null,
  old_values jsonb,
  new_values jsonb,
  changed_columns text[],
  owner_id uuid,
  subject_id uuid,
  old_subject_id uuid
) partition by range (occurred_at);
comment on table audit.events is
  E'One row per row written in a tracked table. Partitioned by month; append-only; sealed into a hash chain in id order.';
comment on column audit.events.id is E'The event''s position in the trail.';
comment on column audit.events.occurred_at is E'When the writing transaction started.';
comment on column audit.events.transaction_id is E'The writing transaction; with occurred_at it leads to audit.transactions.';
comment on column audit.events.table_schema is E'The schema of the table written.';
comment on column audit.events.table_name is E'The table written.';
comment on column audit.events.record_key is E'The row''s primary key, as an object of column to value.';
comment on column audit.events.operation is E'INSERT, UPDATE, DELETE or TRUNCATE.';
comment on column audit.events.old_values is E'Before: the whole row for DELETE and TRUNCATE, the changed columns for UPDATE. Excluded columns are left out; pii values are encrypted.';
comment on column audit.events.new_values is E'After: the whole row for INSERT, the changed columns for UPDATE.';
comment on column audit.events.changed_columns is E'The columns an UPDATE changed, excluded ones included.';
comment on column audit.events.owner_id is E'Who owns the record (tracked_tables.owner_column).';
comment on column audit.events.subject_id is E'The person the row''s pii is about; their key encrypts it.';
comment on column audit.events.old_subject_id is E'For an UPDATE that moved the row to another person: the person the old values were about, whose key encrypts them.';

-- The only two indexes, as each one costs every write: id (sealing and
-- verifying in order, pagination) and the record key (a record's history).
-- The record index is a hash index: a jsonb btree compares keys field by
-- field and cost three times as much per event (bench/audit.ts).
create index events_id_idx on audit.events (id);
create index events_record_idx on audit.events using hash (record_key);

create table audit.seals (
  id bigint generated always as identity primary key,
  first_event_id bigint not null,
  last_event_id bigint not null,
  event_ids bigint[] not null,
  chain bytea[] not null,
  previous_hash bytea not null check (octet_length(previous_hash) = 32),
  hash bytea not null check (octet_length(hash) = 32),
  sealed_at timestamptz not null default now(),
  check (first_event_id <= last_event_id),
  check (cardinality(event_ids) = cardinality(chain) and cardinality(chain) > 0),
  check (event_ids[1] = first_event_id and event_ids[cardinality(event_ids)] = last_event_id),
  check (chain[cardinality(chain)] = hash)
);
comment on table audit.seals is
  E'The hash chain over the events, one row per sealed batch: h(i) = sha256(h(i-1) || sha256(event i)), starting from the previous seal''s hash.';
comment on column audit.seals.event_ids is E'The ids sealed, in order; an event missing or added later shows against this list.';
comment on column audit.seals.chain is E'The chain hash after each event, so that verify names the first event altered.';
comment on column audit.seals.previous_hash is E'The previous seal''s hash; 32 zero bytes for the first seal.';
comment on column audit.seals.hash is E'The chain hash after the batch''s last event.';

-- Reading ------------------------------------------------------------------------
alter table audit.events enable row level security;

alter table audit.transactions enable row level security;

alter table audit.seals enable row level security;

alter table audit.tracked_tables enable row level security;

alter table audit.column_policies enable row level security;

create type app_public.audit_event as (
  id bigint,
  occurred_at timestamptz,
  table_schema text,
  table_name text,
  record_key jsonb,
  operation text,
  old_values jsonb,
  new_values jsonb,
  changed_columns text[],
  transaction_id text,
  actor_kind text,
  actor_user_id uuid,
  actor_role text,
  request_id text,
  client_ip text,
  user_agent text,
  task text,
  job_id text,
  database_role text,
  session_user_name text,
  application_name text,
  client_addr text
);
comment on type app_public.audit_event is E'One write to a tracked table, with who made it, as the caller may see it.';
comment on column app_public.audit_event.id is E'The event''s position in the trail.';
comment on column app_public.audit_event.occurred_at is E'When the writing transaction started.';
comment on column app_public.audit_event.table_schema is E'The schema of the table written.';
comment on column app_public.audit_event.table_name is E'The table written.';
comment on column app_public.audit_event.record_key is E'The row''s primary key, as an object of column to value.';
comment on column app_public.audit_event.operation is E'INSERT, UPDATE, DELETE or TRUNCATE.';
comment on column app_public.audit_event.old_values is E'Before: the whole row for DELETE and TRUNCATE, the changed columns for UPDATE. Personal data the caller may not read shows as {"$redacted": "pii"}, erased personal data as {"$erased": true}.';
comment on column app_public.audit_event.new_values is E'After: the whole row for INSERT, the changed columns for UPDATE.';
comment on column app_public.audit_event.changed_columns is E'The columns an UPDATE changed.';
comment on column app_public.audit_event.transaction_id is E'The writing transaction''s id.';
comment on column app_public.audit_event.actor_kind is E'user, worker, migration, system or unknown; null when the caller may not see who wrote.';
comment on column app_public.audit_event.actor_user_id is E'The API user who wrote.';
comment on column app_public.audit_event.actor_role is E'The API user''s role.';
comment on column app_public.audit_event.request_id is E'The HTTP request id.';
comment on column app_public.audit_event.client_ip is E'The HTTP client''s address.';
comment on column app_public.audit_event.user_agent is E'The HTTP client''s user agent.';
comment on column app_public.audit_event.task is E'The worker task that wrote.';
comment on column app_public.audit_event.job_id is E'The worker job that wrote.';
comment on column app_public.audit_event.database_role is E'The PostgreSQL role in effect.';
comment on column app_public.audit_event.session_user_name is E'The PostgreSQL role that logged in.';
comment on column app_public.audit_event.application_name is E'The connection''s application_name.';
comment on column app_public.audit_event.client_addr is E'The connection''s client address.';

-- Soft delete: any writer's DELETE on a governed table becomes a reversible,
-- cascading, audited soft delete. The generic machinery lives in the
-- governance schema; only governance.hard_delete really removes rows.
create schema governance;
comment on schema governance is E'Generic governance machinery: soft delete and the governed hard delete.';

-- The audit trail names these operations: an UPDATE that deletes or restores
-- a row, and a DELETE that went through governance.hard_delete.
alter type audit.operation add value 'SOFT_DELETE';
alter type audit.operation add value 'RESTORE';
alter type audit.operation add value 'HARD_DELETE';

create table governance.soft_delete_tables (
  table_oid regclass primary key,
  key_column name not null,
  key_type text not null,
  owner_column name not null,
  noun text not null check (length(btrim(noun)) between 1 and 100),
  enabled_at timestamptz not null default now()
);
comment on table governance.soft_delete_tables is
  E'The tables where a DELETE becomes a soft delete (governance.enable_soft_delete).';
comment on column governance.soft_delete_tables.table_oid is E'The table.';
comment on column governance.soft_delete_tables.key_column is E'Its one-column primary key.';
comment on column governance.soft_delete_tables.key_type is E'Its type, to compare a key given as text.';
comment on column governance.soft_delete_tables.owner_column is E'The column naming the coach profile a row belongs to (id for coach_profiles): who may restore it.';
comment on column governance.soft_delete_tables.noun is E'What one row is called in messages, e.g. client.';
comment on column governance.soft_delete_tables.enabled_at is E'When soft delete was enabled.';

create table governance.hard_deletions (
  id bigint generated always as identity primary key,
  table_schema text not null,
  table_name text not null,
  row_id text not null,
  reason text not null check (length(btrim(reason)) between 3 and 2000),
  transaction_id xid8 not null default pg_catalog.pg_current_xact_id(),
  requested_at timestamptz not null default pg_catalog.now()
);
comment on table governance.hard_deletions is
  E'Every governed hard delete and its reason. A DELETE on a soft-delete table is hard only while governance.hard_delete names one of these rows, in the same transaction.';
comment on column governance.hard_deletions.id is E'The hard delete''s id; audit events of its rows carry it.';
comment on column governance.hard_deletions.table_schema is E'The schema of the table the row was deleted from.';
comment on column governance.hard_deletions.table_name is E'The table the row was deleted from (its cascade reaches further).';
comment on column governance.hard_deletions.row_id is E'The primary key of the row deleted.';
comment on column governance.hard_deletions.reason is E'Why: a retention policy, a GDPR erasure request, ...';
comment on column governance.hard_deletions.transaction_id is E'The transaction that deleted.';
comment on column governance.hard_deletions.requested_at is E'When.';

alter table governance.soft_delete_tables enable row level security;
alter table governance.hard_deletions enable row level security;

-- The audit trail learns the soft-delete operations -----------------------------
alter table audit.events add column details jsonb;
comment on column audit.events.details is
  E'What else the operation needs said: the batch of a SOFT_DELETE or RESTORE, the hard deletion and its reason for a HARD_DELETE.';
comment on column audit.events.operation is
  E'INSERT, UPDATE, DELETE or TRUNCATE; on soft-delete tables an UPDATE that deletes or restores is SOFT_DELETE or RESTORE, and a governed delete HARD_DELETE.';

alter type app_public.audit_event add attribute details jsonb;
comment on column app_public.audit_event.operation is
  E'INSERT, UPDATE, DELETE or TRUNCATE; SOFT_DELETE, RESTORE or HARD_DELETE on soft-delete tables.';
comment on column app_public.audit_event.details is
  E'For SOFT_DELETE and RESTORE the batch ({"batch_id"}); for HARD_DELETE the hard deletion and its reason ({"hard_deletion_id", "reason"}).';

-- Usage capture and billing: every transcription attempt that reaches a
-- terminal status becomes one permanent usage event, priced in the same
-- transaction by one documented rule; a worker rolls events up per day; SQL
-- functions answer the billing questions.
create type app_public.usage_kind as enum ('attempt', 'credit', 'void');
comment on type app_public.usage_kind is E'attempt: a transcription attempt reached completed or failed; credit and void: compensating events an admin issued.';
create type app_public.attempt_outcome as enum ('completed', 'failed');
comment on type app_public.attempt_outcome is E'How an attempt ended.';
create type app_public.billing_reason as enum ('failed_free', 'first_success', 'retranscription', 'included_minutes', 'credit', 'void');
comment on type app_public.billing_reason is
  E'Why an event costs what it costs: failed_free (failed attempts are free), first_success (the first successful attempt of a session), retranscription (a success on a session that already had one), included_minutes (wholly within the plan''s included minutes), credit, void.';

-- Usage events ------------------------------------------------------------------

-- No check constraints: PostgreSQL prepares every check expression again in
-- each INSERT statement, and on this one-row-per-statement table they cost
-- more than the insert itself (bench/usage.ts). Only three security definer
-- functions write here (the capture, credits and voids); the tests hold
-- their shapes.
create table app_public.usage_events (
  id bigint generated always as identity primary key,
  kind app_public.usage_kind not null,
  occurred_at timestamptz not null,
  recorded_at timestamptz not null default pg_catalog.now(),
  coach_profile_id uuid not null,
  session_id uuid,
  transcription_id uuid,
  is_retry boolean not null default false,
  is_retranscription boolean not null default false,
  provider text,
  model text,
  language text,
  audio_seconds integer not null default 0,
  outcome app_public.attempt_outcome,
  billable boolean not null,
  billing_reason app_public.billing_reason not null,
  included_seconds integer not null default 0,
  charged_seconds integer not null default 0,
  unit_price_minor bigint,
  amount_minor bigint not null,
  provider_cost_minor numeric(18, 6),
  plan_id uuid,
  usage_month date not null,
  billing_month date not null,
  rule_version text not null,
  corrects_event_id bigint references app_public.usage_events on delete restrict,
  note text,
  created_by uuid
);
-- Exactly once per attempt, whoever races: a unique key, not a check.
create unique index usage_events_one_per_attempt on app_public.usage_events (transcription_id) where kind = 'attempt';
create unique index usage_events_one_void_per_event on app_public.usage_events (corrects_event_id) where kind = 'void';
create index usage_events_coach_month_idx on app_public.usage_events (coach_profile_id, billing_month);
create index usage_events_session_success_idx on app_public.usage_events (session_id) where outcome = 'completed';
create index usage_events_occurred_at_idx on app_public.usage_events (occurred_at);

comment on table app_public.usage_events is
  E'Permanent, append-only usage: one event per transcription attempt that reached completed or failed, priced when it happened, plus admins'' credits and voids. References people by key only, so every figure survives deletion and anonymization.';
comment on column app_public.usage_events.id is E'The event''s id.';
comment on column app_public.usage_events.kind is E'attempt, credit or void.';
comment on column app_public.usage_events.occurred_at is E'When the attempt finished (or the credit or void was issued).';
comment on column app_public.usage_events.recorded_at is E'When the event was written.';
comment on column app_public.usage_events.coach_profile_id is E'The coach billed (a key, not a reference).';
comment on column app_public.usage_events.session_id is E'The session transcribed.';
comment on column app_public.usage_events.transcription_id is E'The attempt.';
comment on column app_public.usage_events.is_retry is E'The attempt retried an earlier one.';
comment on column app_public.usage_events.is_retranscription is E'A completed attempt on a session that already had one (billed as retranscription, or under included_minutes).';
comment on column app_public.usage_events.provider is E'The transcription provider.';
comment on column app_public.usage_events.model is E'The provider''s model.';
comment on column app_public.usage_events.language is E'The audio''s language.';
comment on column app_public.usage_events.audio_seconds is E'Audio seconds: the provider''s billed duration (for a failed attempt without one, the recording''s length).';
comment on column app_public.usage_events.outcome is E'completed or failed.';
comment on column app_public.usage_events.billable is E'Counts as billable usage (a completed attempt), whether included minutes or the per-minute price pays for it.';
comment on column app_public.usage_events.billing_reason is E'Why the event costs what it does.';
comment on column app_public.usage_events.included_seconds is E'Seconds paid for by the plan''s included minutes of the billing month.';
comment on column app_public.usage_events.charged_seconds is E'Seconds charged at the per-minute price.';
comment on column app_public.usage_events.unit_price_minor is E'The plan''s price per minute past the included ones, in minor units.';
comment on column app_public.usage_events.amount_minor is E'What the event adds to the invoice, in minor units (negative for credits and voids). The amounts of a month add up to its invoice exactly.';
comment on column app_public.usage_events.provider_cost_minor is E'What the provider charges us for the attempt, in minor units with 6 decimals; null when the provider and model have no rate.';
comment on column app_public.usage_events.plan_id is E'The coach''s plan when the event was priced.';
comment on column app_public.usage_events.usage_month is E'The month (UTC) the usage belongs to.';
comment on column app_public.usage_events.billing_month is E'The month it is billed in: its own, or for a late event the first month not yet closed.';
comment on column app_public.usage_events.rule_version is E'The version of app_private.decide_charge that priced it.';
comment on column app_public.usage_events.corrects_event_id is E'For a void: the event it cancels.';
comment on column app_public.usage_events.note is E'For a credit or void: the admin''s reason.';
comment on column app_public.usage_events.created_by is E'For a credit or void: the admin who issued it.';

-- Months, ledgers and invoices -----------------------------------------------------
create table app_public.billing_months (
  month date primary key check (month = date_trunc('month', month)),
  closed_at timestamptz not null default pg_catalog.now(),
  closed_by uuid default app_public.current_user_id()
);
comment on table app_public.billing_months is E'Closed months: their invoices are frozen, and a late event is billed in the next open month.';
comment on column app_public.billing_months.month is E'The month closed (its first day).';
comment on column app_public.billing_months.closed_at is E'When it was closed.';
comment on column app_public.billing_months.closed_by is E'The admin who closed it.';

create table app_private.usage_ledgers (
  coach_profile_id uuid not null,
  billing_month date not null,
  included_seconds_used bigint not null default 0,
  charged_seconds bigint not null default 0,
  charge_sixtieths bigint not null default 0,
  charged_minor bigint not null default 0,
  last_billing_reason app_public.billing_reason,
  last_included_seconds integer,
  last_charged_seconds integer,
  last_amount_minor bigint,
  primary key (coach_profile_id, billing_month)
);
comment on table app_private.usage_ledgers is
  E'Running totals per coach and billing month: the included minutes used so far and the exact charge in sixtieths of a minor unit, so that each event''s amount is the growth of the rounded total. Each capture updates its row in the statement that writes the event (the row lock prices a coach''s completions one at a time) and reads its own share back from the last_ columns.';

create table app_public.invoices (
  coach_profile_id uuid not null,
  month date not null references app_public.billing_months on delete restrict,
  plan_id uuid,
  plan_name text,
  currency text not null,
  plan_fee_minor bigint not null,
  included_minutes integer not null,
  audio_seconds bigint not null,
  included_seconds bigint not null,
  charged_seconds bigint not null,
  usage_minor bigint not null,
  credits_minor bigint not null,
  total_minor bigint not null,
  late_events integer not null,
  closed_at timestamptz not null default pg_catalog.now(),
  primary key (coach_profile_id, month)
);
comment on table app_public.invoices is E'Frozen invoices of closed months: one per coach with a plan fee or usage that month. Never changed once written.';
comment on column app_public.invoices.coach_profile_id is E'The coach.';
comment on column app_public.invoices.month is E'The billing month.';
comment on column app_public.invoices.plan_id is E'The coach''s plan.';
comment on column app_public.invoices.plan_name is E'Its name when the month closed.';
comment on column app_public.invoices.currency is E'ISO 4217 currency code.';
comment on column app_public.invoices.plan_fee_minor is E'The plan''s monthly fee.';
comment on column app_public.invoices.included_minutes is E'The plan''s included minutes.';
comment on column app_public.invoices.audio_seconds is E'Billable (completed) audio seconds billed this month.';
comment on column app_public.invoices.included_seconds is E'Of those, the seconds the included minutes paid for.';
comment on column app_public.invoices.charged_seconds is E'And the seconds charged at the per-minute price.';
comment on column app_public.invoices.usage_minor is E'The per-minute charges: the sum of the month''s attempt amounts.';
comment on column app_public.invoices.credits_minor is E'Credits and voids (zero or negative).';
comment on column app_public.invoices.total_minor is E'plan_fee_minor + usage_minor + credits_minor.';
comment on column app_public.invoices.late_events is E'Events that belonged to an earlier, closed month and are billed here.';
comment on column app_public.invoices.closed_at is E'When the month was closed.';

-- Daily rollups ---------------------------------------------------------------------
create table app_private.usage_dirty_days (
  day date primary key
);
comment on table app_private.usage_dirty_days is E'Days waiting to be rolled up into usage_daily: those of events past the watermark, and ranges marked by hand.';

create table app_private.usage_rollup_watermark (
  singleton boolean primary key default true check (singleton),
  last_event_id bigint not null default 0
);
comment on table app_private.usage_rollup_watermark is
  E'The last usage event id whose day has been marked dirty: new and late events lie above it, so capture pays nothing for dirty-day tracking.';
insert into app_private.usage_rollup_watermark default values;

create table app_public.usage_daily (
  day date not null,
  coach_profile_id uuid not null,
  plan_id uuid,
  provider text,
  model text,
  billing_month date not null,
  attempts integer not null,
  completed integer not null,
  failed integer not null,
  free_retries integer not null,
  retranscriptions integer not null,
  audio_seconds bigint not null,
  billable_seconds bigint not null,
  charged_seconds bigint not null,
  revenue_minor bigint not null,
  retranscription_revenue_minor bigint not null,
  provider_cost_minor numeric(18, 6) not null,
  failed_cost_minor numeric(18, 6) not null,
  unknown_cost_attempts integer not null
);
create unique index usage_daily_key on app_public.usage_daily (day, coach_profile_id, plan_id, provider, model, billing_month) nulls not distinct;
create index usage_daily_coach_day_idx on app_public.usage_daily (coach_profile_id, day);
comment on table app_public.usage_daily is
  E'@behavior -*\nUsage rolled up per day (UTC), coach, plan, provider, model and billing month, by the usage_aggregate job; read it through the analytics functions.';

-- The same rollups across coaches, for the analytics admins and auditors
-- read: a day is a handful of rows here, however many coaches there are.
create table app_private.usage_daily_totals (like app_public.usage_daily);
alter table app_private.usage_daily_totals drop column coach_profile_id;
create unique index usage_daily_totals_key on app_private.usage_daily_totals (day, plan_id, provider, model, billing_month) nulls not distinct;
comment on table app_private.usage_daily_totals is E'usage_daily summed over coaches; rebuilt with it, day by day.';

create type app_public.usage_difference as (
  check_name text,
  day date,
  subject text,
  expected text,
  actual text
);
comment on type app_public.usage_difference is E'One disagreement found by usage_reconcile.';

create type app_public.usage_period as (
  period_start date,
  attempts bigint,
  completed bigint,
  failed bigint,
  free_retries bigint,
  retranscriptions bigint,
  audio_minutes numeric,
  billable_minutes numeric,
  revenue_minor bigint,
  provider_cost_minor numeric,
  gross_margin_minor numeric
);
comment on type app_public.usage_period is E'Usage of one day, week (starting Monday) or month.';

-- Row-level security and grants --------------------------------------------------------
alter table app_public.usage_events enable row level security;

alter table app_public.usage_daily enable row level security;

alter table app_public.invoices enable row level security;

alter table app_public.billing_months enable row level security;

alter table app_private.usage_ledgers enable row level security;
alter table app_private.usage_daily_totals enable row level security;
alter table app_private.usage_dirty_days enable row level security;
alter table app_private.usage_rollup_watermark enable row level security;

-- The rules: every function, trigger, view, policy and grant -------------------------

--! Included auth/authenticate.sql
-- Sign-in: an email and a password make a session token.

create or replace function app_public.authenticate(email citext, password text) returns app_public.jwt_token as $$
declare
  account app_public.users;
  stored_hash text;
begin
  select u.* into account from app_public.users u where u.email = authenticate.email;
  select s.password_hash into stored_hash from app_private.user_secrets s where s.user_id = account.id;
  -- Hash even when the account is missing, so timing does not reveal which emails exist.
  if stored_hash is null then
    perform crypt(coalesce(password, ''), gen_salt('bf', 10));
  elsif crypt(coalesce(password, ''), stored_hash) = stored_hash then
    return (account.role::text, account.id)::app_public.jwt_token;
  end if;
  raise exception 'Incorrect email or password.' using errcode = 'CREDS';
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.authenticate(citext, text) is
  E'@resultFieldName jwtToken\nChecks an email and password and returns a signed token; a wrong email and a wrong password give the same error.';

grant execute on function app_public.authenticate(citext, text)
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded auth/authenticate.sql

--! Included auth/create-user.sql
-- Accounts: created with a bcrypt-hashed password (the CLI and the seed).

create or replace function app_private.create_user(
  email citext, password text, role app_public.user_role, display_name text default null
) returns app_public.users as $$
declare
  new_user app_public.users;
begin
  if password is null or length(password) < 8 then
    raise exception 'The password must be at least 8 characters long.' using errcode = 'WEAKP';
  end if;
  insert into app_public.users (email, display_name, role)
    values (email, coalesce(display_name, split_part(email::text, '@', 1)), role)
    returning * into new_user;
  insert into app_private.user_secrets (user_id, password_hash)
    values (new_user.id, crypt(password, gen_salt('bf', 10)));
  return new_user;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.create_user(citext, text, app_public.user_role, text) is
  E'Creates an account with a bcrypt-hashed password; the CLI and the seed use it.';
--! EndIncluded auth/create-user.sql

--! Included auth/policies.sql
-- Who reaches app_public, and which users each role sees and changes.

grant usage on schema app_public
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists read_self on app_public.users;
create policy read_self on app_public.users for select to custodian_coach
  using (id = app_public.current_user_id());

drop policy if exists update_self on app_public.users;
create policy update_self on app_public.users for update to custodian_coach
  using (id = app_public.current_user_id());

drop policy if exists read_all on app_public.users;
create policy read_all on app_public.users for select to custodian_admin, custodian_auditor
  using (true);

drop policy if exists update_all on app_public.users;
create policy update_all on app_public.users for update to custodian_admin
  using (true);

grant select on app_public.users to custodian_coach, custodian_admin, custodian_auditor;
grant update (display_name) on app_public.users to custodian_coach;
grant update (display_name, email, role) on app_public.users to custodian_admin;
--! EndIncluded auth/policies.sql

--! Included domain/timestamps.sql
-- created_at and updated_at are set by the database on every table that has them.

-- A write that changes nothing leaves updated_at alone, so that it changes
-- nothing at all and the audit trail records nothing.
create or replace function app_private.tg__timestamps() returns trigger as $$
begin
  if TG_OP = 'INSERT' then
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
  E'Keeps created_at fixed and updated_at moving forward, whatever the writer sends; an update that changes nothing keeps updated_at.';

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

drop trigger if exists _050_derive on app_public.transcriptions;
create trigger _050_derive before insert or update on app_public.transcriptions
  for each row execute function app_private.tg_transcriptions__derive();
--! EndIncluded domain/derived-columns.sql

--! Included domain/coach-owned-rls.sql
-- The row-level security of a coach-owned table, installed by one call (domain/policies.sql
-- spells out what it made for clients, sessions and transcriptions).

-- Coaches reach their own rows by comparing one column with their profile
-- (an InitPlan, computed once per statement); admins reach everything;
-- auditors read everything and write nothing.
create or replace function app_private.enable_coach_owned_rls(target regclass) returns void as $$
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
--! EndIncluded domain/coach-owned-rls.sql

--! Included domain/users-coach-profile.sql
-- A user's coach profile in the API (users.coachProfile).

create or replace function app_public.users_coach_profile(u app_public.users) returns app_public.coach_profiles as $$
  select p.* from app_public.coach_profiles p where p.user_id = u.id and not p.is_deleted;
$$ language sql stable;
comment on function app_public.users_coach_profile(app_public.users) is E'The user''s live coach profile, if any.';

grant execute on function app_public.users_coach_profile(app_public.users) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded domain/users-coach-profile.sql

--! Included domain/policies.sql
-- Row-level security and grants of the domain tables. Coaches reach their own rows by
-- comparing one column with their profile; admins reach everything; auditors read
-- everything and write nothing. Soft delete adds a restrictive policy of its own
-- (soft-delete/policies.sql).

drop policy if exists read_all on app_public.billing_plans;
create policy read_all on app_public.billing_plans for select
  to custodian_coach, custodian_admin, custodian_auditor using (true);

drop policy if exists admin_write on app_public.billing_plans;
create policy admin_write on app_public.billing_plans for all to custodian_admin
  using (true) with check (true);

grant select on app_public.billing_plans to custodian_coach, custodian_admin, custodian_auditor;
grant insert (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency),
  update (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency),
  delete on app_public.billing_plans to custodian_admin;

drop policy if exists read_all on app_public.provider_rates;
create policy read_all on app_public.provider_rates for select
  to custodian_coach, custodian_admin, custodian_auditor using (true);

drop policy if exists admin_write on app_public.provider_rates;
create policy admin_write on app_public.provider_rates for all to custodian_admin
  using (true) with check (true);

grant select on app_public.provider_rates to custodian_coach, custodian_admin, custodian_auditor;
grant insert (provider, model, cost_per_minute_minor, currency, effective_from),
  update (provider, model, cost_per_minute_minor, currency, effective_from),
  delete on app_public.provider_rates to custodian_admin;

drop policy if exists coach_own on app_public.coach_profiles;
create policy coach_own on app_public.coach_profiles for all to custodian_coach
  using (user_id = app_public.current_user_id()) with check (user_id = app_public.current_user_id());

drop policy if exists admin_all on app_public.coach_profiles;
create policy admin_all on app_public.coach_profiles for all to custodian_admin
  using (true) with check (true);

drop policy if exists auditor_read on app_public.coach_profiles;
create policy auditor_read on app_public.coach_profiles for select to custodian_auditor
  using (true);

grant select, delete on app_public.coach_profiles to custodian_coach, custodian_admin;
grant select on app_public.coach_profiles to custodian_auditor;
grant insert (display_name, bio, timezone, plan_id),
  update (display_name, bio, timezone) on app_public.coach_profiles to custodian_coach;
grant insert (user_id, display_name, bio, timezone, plan_id),
  update (display_name, bio, timezone, plan_id) on app_public.coach_profiles to custodian_admin;

drop policy if exists coach_own on app_public.clients;
create policy coach_own on app_public.clients for all to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()))
  with check (coach_profile_id = (select app_private.current_coach_profile_id()));
drop policy if exists admin_all on app_public.clients;
create policy admin_all on app_public.clients for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.clients;
create policy auditor_read on app_public.clients for select to custodian_auditor using (true);

grant select, delete on app_public.clients to custodian_coach, custodian_admin;
grant select on app_public.clients to custodian_auditor;
grant insert (full_name, email, phone, notes),
  update (full_name, email, phone, notes) on app_public.clients to custodian_coach;
grant insert (coach_profile_id, full_name, email, phone, notes),
  update (full_name, email, phone, notes) on app_public.clients to custodian_admin;

drop policy if exists coach_own on app_public.coaching_sessions;
create policy coach_own on app_public.coaching_sessions for all to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()))
  with check (coach_profile_id = (select app_private.current_coach_profile_id()));
drop policy if exists admin_all on app_public.coaching_sessions;
create policy admin_all on app_public.coaching_sessions for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.coaching_sessions;
create policy auditor_read on app_public.coaching_sessions for select to custodian_auditor using (true);

grant select, delete on app_public.coaching_sessions to custodian_coach, custodian_admin;
grant select on app_public.coaching_sessions to custodian_auditor;
grant insert (client_id, title, recorded_at, audio_object_key, audio_duration_seconds),
  update (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
  on app_public.coaching_sessions to custodian_coach, custodian_admin;

drop policy if exists coach_own on app_public.transcriptions;
create policy coach_own on app_public.transcriptions for all to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()))
  with check (coach_profile_id = (select app_private.current_coach_profile_id()));
drop policy if exists admin_all on app_public.transcriptions;
create policy admin_all on app_public.transcriptions for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.transcriptions;
create policy auditor_read on app_public.transcriptions for select to custodian_auditor using (true);

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
--! EndIncluded domain/policies.sql

--! Included worker/heartbeat.sql
-- The worker's heartbeat, and how /healthz reads it.

create or replace function app_private.record_worker_heartbeat(job_id bigint) returns void as $$
  insert into app_private.worker_heartbeats (task, last_job_id, last_seen_at)
    values ('worker_heartbeat', job_id, pg_catalog.now())
  on conflict (task) do update set last_job_id = excluded.last_job_id, last_seen_at = excluded.last_seen_at;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.record_worker_heartbeat(bigint) is
  E'Notes that the worker ran a heartbeat job just now.';

create or replace function app_public.worker_last_seen_at() returns timestamptz as $$
  select max(last_seen_at) from app_private.worker_heartbeats;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.worker_last_seen_at() is
  E'When the job worker last ran a heartbeat; null if it never has.';

-- /healthz asks as the authenticator itself, before any request role is set.
grant usage on schema app_public to custodian_authenticator;

grant execute on function app_public.worker_last_seen_at()
  to custodian_authenticator, custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded worker/heartbeat.sql

--! Included worker/committed-id-horizon.sql
-- Reading an append-only table in id order without skipping a row a running
-- transaction may still commit (audit sealing, usage rollups).

create or replace function app_private.committed_id_horizon(target regclass, id_sequence regclass, max_wait interval default '10 seconds')
returns bigint as $$
declare
  horizon bigint;
  writers text[];
  give_up_at timestamptz := pg_catalog.clock_timestamp() + max_wait;
begin
  if pg_catalog.pg_current_xact_id_if_assigned() is not null then
    raise exception 'committed_id_horizon must run before any write in its transaction.' using errcode = '25000';
  end if;
  -- Ids are drawn before commit, so a transaction still running may hold an
  -- id below ones already committed. A writer locks the table before it draws
  -- an id, so every id up to the horizon belongs to a transaction that has
  -- ended or holds that lock now; once those have ended, no row at or below
  -- the horizon can still appear. Readers and other databases do not matter.
  execute pg_catalog.format('select case when is_called then last_value else last_value - 1 end from %s', id_sequence)
    into horizon;
  select pg_catalog.array_agg(l.virtualtransaction) into writers
  from pg_catalog.pg_locks l
  where l.locktype = 'relation' and l.relation = target and l.mode = 'RowExclusiveLock'
    and l.database = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
    and l.pid is distinct from pg_catalog.pg_backend_pid();
  while exists (
    select from pg_catalog.pg_locks l
    where l.locktype = 'relation' and l.relation = target and l.virtualtransaction = any (writers)
  ) loop
    if pg_catalog.clock_timestamp() > give_up_at then
      return null;
    end if;
    perform pg_catalog.pg_sleep(0.01);
  end loop;
  return horizon;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.committed_id_horizon(regclass, regclass, interval) is
  E'The highest id of an append-only table below which no row can still appear (waiting up to max_wait for writers still running; null if they do not finish). Sealing the audit trail and rolling up usage read in id order up to it.';
--! EndIncluded worker/committed-id-horizon.sql

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

drop trigger if exists _010_append_only on audit.transactions;
create trigger _010_append_only before update or delete on audit.transactions
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _010_append_only on audit.seals;
create trigger _010_append_only before update or delete on audit.seals
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.events;
create trigger _011_no_truncate before truncate on audit.events
  for each statement execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.transactions;
create trigger _011_no_truncate before truncate on audit.transactions
  for each statement execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.seals;
create trigger _011_no_truncate before truncate on audit.seals
  for each statement execute function audit.tg__refuse_change();
--! EndIncluded audit/append-only.sql

--! Included audit/partitions.sql
-- Month partitions of audit.events and audit.transactions, made ahead and
-- emptied out of the default partitions (the audit_maintain_partitions job).

create or replace function audit.partition_name(parent regclass, month date) returns text as $$
  select pg_catalog.format('%s_%s',
    (select relname from pg_catalog.pg_class where oid = parent),
    pg_catalog.to_char(month, 'YYYY_MM'));
$$ language sql stable;
comment on function audit.partition_name(regclass, date) is E'The name of a parent''s partition for a month, e.g. events_2026_11.';

create or replace function audit.create_month_partition(parent regclass, month date) returns void as $$
declare
  first_day date := pg_catalog.date_trunc('month', month)::date;
  partition_name text := audit.partition_name(parent, first_day);
begin
  if pg_catalog.to_regclass('audit.' || partition_name) is not null then
    return;
  end if;
  -- Month bounds in UTC whatever the session's time zone.
  execute pg_catalog.format(
    'create table audit.%I partition of %s for values from (%L) to (%L)',
    partition_name, parent,
    first_day::text || ' 00:00:00+00', (first_day + interval '1 month')::date::text || ' 00:00:00+00');
  execute pg_catalog.format(
    'create trigger _011_no_truncate before truncate on audit.%I for each statement execute function audit.tg__refuse_change()',
    partition_name);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.create_month_partition(regclass, date) is
  E'Creates the partition of an audit table for the month of a date, unless it exists.';

create or replace function audit.create_default_partition(parent regclass) returns void as $$
declare
  partition_name text := (select relname from pg_catalog.pg_class where oid = parent) || '_default';
begin
  execute pg_catalog.format('create table audit.%I partition of %s default', partition_name, parent);
  execute pg_catalog.format(
    'create trigger _011_no_truncate before truncate on audit.%I for each statement execute function audit.tg__refuse_change()',
    partition_name);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.create_default_partition(regclass) is
  E'Creates the default partition that catches rows no month partition takes, so that a write never fails for a missing partition.';

create or replace function audit.move_strays(parent regclass) returns integer as $$
declare
  default_name text := (select relname from pg_catalog.pg_class where oid = parent) || '_default';
  time_column text := case parent when 'audit.events'::regclass then 'occurred_at' else 'started_at' end;
  stray_month date;
  moved integer;
begin
  execute pg_catalog.format('select count(*) from audit.%I', default_name) into moved;
  if moved = 0 then
    return 0;
  end if;
  -- Writers wait for the swap; none fails. The rows are copied, never deleted:
  -- the old default partition is detached and dropped whole.
  execute pg_catalog.format('lock table %s in access exclusive mode', parent);
  execute pg_catalog.format('alter table %s detach partition audit.%I', parent, default_name);
  execute pg_catalog.format('alter table audit.%I rename to %I', default_name, default_name || '_moving');
  for stray_month in execute pg_catalog.format(
    'select distinct pg_catalog.date_trunc(''month'', %I at time zone ''UTC'')::date from audit.%I',
    time_column, default_name || '_moving')
  loop
    perform audit.create_month_partition(parent, stray_month);
  end loop;
  perform audit.create_default_partition(parent);
  execute pg_catalog.format('insert into %s %s select * from audit.%I', parent,
    case parent when 'audit.events'::regclass then 'overriding system value' else '' end,
    default_name || '_moving');
  execute pg_catalog.format('drop table audit.%I', default_name || '_moving');
  return moved;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.move_strays(regclass) is
  E'Moves rows out of an audit table''s default partition into month partitions made for them. One of the two governed paths that remove audit rows from a table; content and ids are kept, so seals still verify.';

create or replace function audit.maintain_partitions(months_ahead integer default 2) returns integer as $$
declare
  parent regclass;
  month_offset integer;
  moved integer := 0;
begin
  if months_ahead is null or months_ahead < 0 or months_ahead > 24 then
    raise exception 'months_ahead must be between 0 and 24, not %.', months_ahead using errcode = '22023';
  end if;
  -- Making a partition locks the parent exclusively: behind a long export it
  -- would hold up every writer. Give up instead; the hourly job tries again,
  -- and partitions are made months ahead.
  perform pg_catalog.set_config('lock_timeout', '2s', true);
  foreach parent in array array['audit.events', 'audit.transactions']::regclass[] loop
    moved := moved + audit.move_strays(parent);
    for month_offset in 0..months_ahead loop
      perform audit.create_month_partition(parent,
        (pg_catalog.date_trunc('month', pg_catalog.now() at time zone 'UTC') + month_offset * interval '1 month')::date);
    end loop;
  end loop;
  return moved;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.maintain_partitions(integer) is
  E'Makes month partitions from this month to months_ahead months on, and moves strays out of the default partitions; returns how many rows moved. The worker runs it hourly.';
--! EndIncluded audit/partitions.sql

--! Included audit/subject-keys.sql
-- One key per person whose personal data the trail holds; destroying it erases them.

create or replace function audit.subject_key(subject_id uuid) returns bytea as $$
declare
  found_key bytea;
begin
  if subject_id is null then
    return null;
  end if;
  select key into found_key from app_private.audit_subject_keys k where k.subject_id = subject_key.subject_id;
  if not found then
    insert into app_private.audit_subject_keys (subject_id, key)
      values (subject_key.subject_id, public.gen_random_bytes(32))
      on conflict do nothing;
    select key into found_key from app_private.audit_subject_keys k where k.subject_id = subject_key.subject_id;
  end if;
  return found_key;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.subject_key(uuid) is
  E'The key that encrypts a person''s pii in the trail, made on first use; null once destroyed. Only security definer functions call it: keys never reach a caller.';

create or replace function audit.subject_key_sql(subject text) returns text as $$
  select pg_catalog.format(
    'case when %1$s is not null then coalesce((select k.key from app_private.audit_subject_keys k where k.subject_id operator(pg_catalog.=) %1$s), audit.subject_key(%1$s)) end',
    subject);
$$ language sql immutable;
comment on function audit.subject_key_sql(text) is
  E'SQL for the key of a subject: an index lookup, and audit.subject_key (which makes the key) only for a subject not seen before.';

create or replace function audit.destroy_subject_key(subject_id uuid) returns boolean as $$
  with destroyed as (
    insert into app_private.audit_subject_keys (subject_id, key, destroyed_at)
      values (destroy_subject_key.subject_id, null, pg_catalog.now())
    on conflict (subject_id) do update set key = null, destroyed_at = pg_catalog.now()
      where audit_subject_keys.destroyed_at is null
    returning 1
  )
  select exists (select from destroyed);
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.destroy_subject_key(uuid) is
  E'Makes one person''s pii in the trail unreadable for good, without rewriting any audit row; the GDPR erasure calls it. True when a key was destroyed now.';
--! EndIncluded audit/subject-keys.sql

--! Included audit/seal-pii.sql
-- How a pii value is stored in the trail.

-- AES-256-CBC with a zero IV over (16 random bytes || value) stores exactly
-- what audit.encrypt_pii stored, base64(iv || ciphertext): the first cipher
-- block is a random IV for the rest, so audit.decrypt_value reads both alike.
-- It needs its random bytes only once, so it can be one inlined expression.
create or replace function audit.seal_pii(value jsonb, key bytea) returns jsonb as $$
  select case
    when value is null or value operator(pg_catalog.=) 'null'::pg_catalog.jsonb then 'null'::pg_catalog.jsonb
    when key is null then '{"$pii": null}'::pg_catalog.jsonb
    else pg_catalog.jsonb_build_object('$pii', pg_catalog.encode(public.encrypt(
      public.gen_random_bytes(16) operator(pg_catalog.||) pg_catalog.convert_to(value::pg_catalog.text, 'UTF8'),
      key, 'aes-cbc/pad:pkcs'), 'base64'))
  end;
$$ language sql volatile;
comment on function audit.seal_pii(jsonb, bytea) is
  E'One pii value as stored: {"$pii": base64(iv || AES-256-CBC ciphertext)} under the subject''s key, {"$pii": null} without a key (no subject, or an erased one); a null stays null. Inlined into the capture functions, which alone hold keys.';

revoke all on function audit.seal_pii(jsonb, bytea) from public;
--! EndIncluded audit/seal-pii.sql

--! Included audit/reveal.sql
-- Reading pii back: decrypted, redacted or erased, depending on the caller.

create or replace function audit.may_reveal(subject_id uuid, owner_id uuid) returns boolean as $$
  select coalesce(case coalesce(nullif(pg_catalog.current_setting('role'), 'none'), current_user)
    when 'custodian_admin' then true
    when 'custodian_auditor' then true
    -- A coach reads the personal data in their own records (their clients',
    -- even once deleted) and their own; nobody else's.
    when 'custodian_coach' then
      owner_id = app_private.current_coach_profile_id()
      or owner_id = app_public.current_user_id()
      or subject_id = app_public.current_user_id()
      or exists (select from app_public.clients c
                 where c.id = subject_id and c.coach_profile_id = app_private.current_coach_profile_id())
    when 'custodian_anonymous' then false
    else true -- the owner and superusers hold the keys anyway
  end, false);
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.may_reveal(uuid, uuid) is
  E'Whether the caller may read a person''s pii in an event: admins and auditors may; a coach in the records they own, and their own.';

create or replace function audit.decrypt_value(sealed text, key bytea) returns jsonb as $$
begin
  return pg_catalog.convert_from(public.decrypt_iv(
    pg_catalog.substr(pg_catalog.decode(sealed, 'base64'), 17), key,
    pg_catalog.substr(pg_catalog.decode(sealed, 'base64'), 1, 16), 'aes-cbc/pad:pkcs'), 'UTF8')::jsonb;
exception when others then
  -- One damaged value must not hide every other event from the reader.
  return '{"$corrupt": true}'::jsonb;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.decrypt_value(text, bytea) is
  E'One stored pii value decrypted; {"$corrupt": true} when it cannot be (a forged or damaged value).';

create or replace function audit.reveal(stored jsonb, subject_id uuid, owner_id uuid default null) returns jsonb as $$
declare
  may_read boolean;
  subject_key bytea;
  result jsonb := stored;
  entry record;
  sealed text;
begin
  if stored is null or pg_catalog.strpos(stored::text, '"$pii"') = 0 then
    return stored;
  end if;
  may_read := audit.may_reveal(subject_id, owner_id);
  if may_read then
    select k.key into subject_key from app_private.audit_subject_keys k where k.subject_id = reveal.subject_id;
  end if;
  for entry in select e.key, e.value from pg_catalog.jsonb_each(stored) e
    where pg_catalog.jsonb_typeof(e.value) = 'object' and e.value ? '$pii'
  loop
    sealed := entry.value ->> '$pii';
    result := result || pg_catalog.jsonb_build_object(entry.key,
      case
        when not may_read then '{"$redacted": "pii"}'::jsonb
        when sealed is null or subject_key is null then '{"$erased": true}'::jsonb
        else audit.decrypt_value(sealed, subject_key)
      end);
  end loop;
  return result;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.reveal(jsonb, uuid, uuid) is
  E'Stored values as the caller may read them: pii decrypted when allowed, {"$redacted": "pii"} when not, {"$erased": true} once the person''s key is destroyed.';

grant execute on function audit.reveal(jsonb, uuid, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/reveal.sql

--! Included audit/table-columns.sql
-- What the capture generator reads about a tracked table.

create or replace function audit.primary_key_columns(target regclass) returns name[] as $$
  select pg_catalog.array_agg(a.attname order by k.ordinality)
  from pg_catalog.pg_index i
  cross join lateral pg_catalog.unnest(i.indkey) with ordinality k(attnum, ordinality)
  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  where i.indrelid = target and i.indisprimary;
$$ language sql stable;
comment on function audit.primary_key_columns(regclass) is E'A table''s primary key columns in key order; null without a primary key.';

create or replace function audit.table_columns(target regclass) returns table (column_name name, simple_equality boolean) as $$
  select a.attname,
    a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'bool'::regtype, 'uuid'::regtype,
                   'text'::regtype, 'varchar'::regtype, 'date'::regtype, 'timestamp'::regtype,
                   'timestamptz'::regtype, 'bytea'::regtype, 'oid'::regtype)
    or (select t.typtype = 'e' from pg_catalog.pg_type t where t.oid = a.atttypid)
  from pg_catalog.pg_attribute a
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped
  order by a.attnum;
$$ language sql stable;
comment on function audit.table_columns(regclass) is
  E'A table''s live columns in order, and whether equality of their type means identical values (else a change is noticed by comparing stored images: citext ''A'' to ''a'' is a change).';

create or replace function audit.column_policy_of(target regclass, column_name name) returns audit.column_policy as $$
  select coalesce(
    (select p.policy from audit.column_policies p
     join pg_catalog.pg_attribute a on a.attrelid = p.table_oid and a.attnum = p.column_number
     where p.table_oid = target and a.attname = column_policy_of.column_name),
    'plain');
$$ language sql stable;
comment on function audit.column_policy_of(regclass, name) is E'A column''s policy; plain unless set.';

create or replace function audit.columns_signature(target regclass) returns text as $$
  select (select n.nspname || '.' || c.relname from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target)
    || '(' || pg_catalog.string_agg(pg_catalog.format('%s:%s', a.attname, a.atttypid::regtype), ',' order by a.attnum) || ')'
  from pg_catalog.pg_attribute a
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped;
$$ language sql stable;
comment on function audit.columns_signature(regclass) is E'A table''s qualified name, columns and types, to notice renames and schema changes.';
--! EndIncluded audit/table-columns.sql

--! Included audit/capture-sql.sql
-- The pieces of SQL a generated capture function is made of.

create or replace function audit.row_values_sql(target regclass, alias text, key text) returns text as $$
  -- jsonb_build_object takes at most 100 arguments: chunks of 50 columns are concatenated.
  select coalesce(pg_catalog.string_agg(chunk, ' operator(pg_catalog.||) '), '''{}''::pg_catalog.jsonb')
  from (
    select 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pair, ', ' order by position) || ')' as chunk
    from (
      select c.position, (c.position - 1) / 50 as chunk_number,
        case c.policy
          when 'pii' then pg_catalog.format('%1$L, audit.seal_pii(pg_catalog.to_jsonb(%2$s.%1$I), %3$s)', c.column_name, alias, key)
          else pg_catalog.format('%1$L, %2$s.%1$I', c.column_name, alias)
        end as pair
      from (
        select t.column_name, audit.column_policy_of(target, t.column_name) as policy, row_number() over () as position
        from audit.table_columns(target) t
      ) c
      where c.policy <> 'exclude'
    ) pairs
    group by chunk_number
  ) chunks;
$$ language sql stable;
comment on function audit.row_values_sql(regclass, text, text) is
  E'SQL for a whole row as stored: plain columns as they are, pii ones sealed with the given key, excluded ones left out.';

create or replace function audit.changed_columns(target regclass)
returns table (column_name name, policy audit.column_policy, changed text) as $$
  select t.column_name, audit.column_policy_of(target, t.column_name),
    case when t.simple_equality then pg_catalog.format('o.%1$I is distinct from r.%1$I', t.column_name)
      else pg_catalog.format('row(o.%1$I)::record operator(pg_catalog.*<>) row(r.%1$I)::record', t.column_name) end
  from audit.table_columns(target) t
  -- A tracked key never changes (audit.tg__refuse_key_change).
  where t.column_name <> all (coalesce(audit.primary_key_columns(target), '{}'));
$$ language sql stable;
comment on function audit.changed_columns(regclass) is
  E'A tracked table''s non-key columns, their policies, and SQL telling whether an old row o and a new row r differ in each.';

create or replace function audit.changes_sql(target regclass, side text, key text) returns text as $$
  -- side: 'o' for the old values of the changed columns, 'r' for the new ones.
  select coalesce(pg_catalog.string_agg(pg_catalog.format(
      'case when %s then pg_catalog.jsonb_build_object(%L, %s) else ''{}''::pg_catalog.jsonb end',
      c.changed, c.column_name,
      case c.policy when 'pii' then pg_catalog.format('audit.seal_pii(pg_catalog.to_jsonb(%s.%I), %s)', side, c.column_name, key)
        else pg_catalog.format('%s.%I', side, c.column_name) end),
    ' operator(pg_catalog.||) '), '''{}''::pg_catalog.jsonb')
  from audit.changed_columns(target) c
  where c.policy <> 'exclude';
$$ language sql stable;
comment on function audit.changes_sql(regclass, text, text) is
  E'SQL for the old (side o) or new (side r) values of the columns an UPDATE changed, pii ones sealed with the given key.';

create or replace function audit.changed_names_sql(target regclass) returns text as $$
  select coalesce('pg_catalog.array_remove(array[' || pg_catalog.string_agg(
      pg_catalog.format('case when %s then %L end', c.changed, c.column_name), ', ')
    || ']::pg_catalog.text[], null)', '''{}''::pg_catalog.text[]')
  from audit.changed_columns(target) c;
$$ language sql stable;
comment on function audit.changed_names_sql(regclass) is
  E'SQL for the names of the columns an UPDATE changed, excluded ones included.';

create or replace function audit.pii_changed_sql(target regclass) returns text as $$
  select coalesce(pg_catalog.string_agg(c.changed, ' or '), 'false')
  from audit.changed_columns(target) c
  where c.policy = 'pii';
$$ language sql stable;
comment on function audit.pii_changed_sql(regclass) is
  E'SQL telling whether an UPDATE changed a pii column, so that a key is looked up only when one is needed.';

create or replace function audit.attribution_sql() returns text as $$
  select $insert$
  insert into audit.transactions (
    xact_id, started_at, actor_kind, user_id, user_role, request_id, client_ip, user_agent, task, job_id,
    database_role, session_user_name, application_name, client_addr)
  select pg_catalog.pg_current_xact_id(), pg_catalog.now(),
    case pg_catalog.current_setting('custodian.actor_kind', true)
      when 'user' then 'user' when 'worker' then 'worker' when 'migration' then 'migration'
      when 'system' then 'system' else 'unknown'
    end::audit.actor_kind,
    case when pg_catalog.current_setting('jwt.claims.user_id', true) operator(pg_catalog.~*) '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
      then pg_catalog.current_setting('jwt.claims.user_id', true)::pg_catalog.uuid end,
    nullif(pg_catalog.current_setting('jwt.claims.role', true), ''),
    nullif(pg_catalog.current_setting('custodian.request_id', true), ''),
    nullif(pg_catalog.current_setting('custodian.client_ip', true), ''),
    nullif(pg_catalog.current_setting('custodian.user_agent', true), ''),
    nullif(pg_catalog.current_setting('custodian.task', true), ''),
    nullif(pg_catalog.current_setting('custodian.job_id', true), ''),
    coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user),
    session_user,
    nullif(pg_catalog.current_setting('application_name'), ''),
    pg_catalog.inet_client_addr()
  where exists (select from written)
  on conflict do nothing
  returning 1$insert$;
$$ language sql immutable;
comment on function audit.attribution_sql() is
  E'The insert that ends every capture: it records who is writing (the API''s, the worker''s or a migration''s settings, else the session user, application_name and client address) once per transaction, and only if the capture wrote an event. It runs in the capture''s own statement, as a data-modifying WITH after the one named written.';
--! EndIncluded audit/capture-sql.sql

--! Included audit/capture-generator.sql
-- The generated capture function of a tracked table (audit.capture_<oid>).

create or replace function audit.capture_function_name(target regclass) returns text as $$
  select 'capture_' || target::oid::text;
$$ language sql immutable;
comment on function audit.capture_function_name(regclass) is
  E'The name of a table''s generated capture function in the audit schema: by the table''s oid, so that it survives renames (its comment names the table).';

create or replace function audit.last_subject_id(table_schema text, table_name text, record_key jsonb) returns uuid as $$
  select e.subject_id from audit.events e
  where e.table_name = last_subject_id.table_name and e.record_key = last_subject_id.record_key
    and e.table_schema = last_subject_id.table_schema and e.subject_id is not null
  order by e.id desc limit 1;
$$ language sql stable;
comment on function audit.last_subject_id(text, text, jsonb) is
  E'The subject a record''s latest event named; used when a row''s subject can no longer be looked up.';

create or replace function audit.generate_capture(target regclass) returns void as $$
declare
  config audit.tracked_tables;
  schema_name text;
  table_name text;
  has_pii boolean;
  key_join text;
  record_key text;
  subject_expression text;
  old_subject_expression text;
  soft_delete boolean := exists (select from governance.soft_delete_tables s where s.table_oid = target);
  -- Laterals naming each row's subject (s.id, and s.old_id for an UPDATE) and,
  -- with pii, its key (k.new_key, k.old_key).
  row_subject text;
  update_subject text;
  -- The body runs under the writer's search_path: every table it names is qualified.
  qualified_target text;
  qualified_subject_via text;
  body text;
begin
  select * into strict config from audit.tracked_tables where table_oid = target;
  select n.nspname, c.relname into schema_name, table_name
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target;
  qualified_target := pg_catalog.format('%I.%I', schema_name, table_name);
  select pg_catalog.format('%I.%I', n.nspname, c.relname) into qualified_subject_via
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = config.subject_via;
  -- A schema change must not leave the capture naming a column that is gone:
  -- refuse it here, so that the ALTER TABLE fails with this message.
  config.key_columns := audit.primary_key_columns(target);
  if config.key_columns is null then
    raise exception 'Table % is tracked by the audit trail and needs a primary key; disable tracking first.', target
      using errcode = '55000';
  end if;
  if exists (
    select from pg_catalog.unnest(array[config.owner_column, config.subject_column]) named(column_name)
    where named.column_name is not null and not exists (
      select from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = named.column_name and not a.attisdropped)
  ) or (config.subject_via is not null and not exists (
      select from pg_catalog.pg_attribute a
      where a.attrelid = config.subject_via and a.attname = config.subject_via_column and not a.attisdropped)) then
    raise exception 'The audit trail names a column of % (owner %, subject %) that no longer exists; call audit.enable_tracking with the new names in the same transaction.',
      target, config.owner_column, config.subject_column using errcode = '42703';
  end if;

  has_pii := exists (
    select from audit.table_columns(target) t where audit.column_policy_of(target, t.column_name) = 'pii');
  select pg_catalog.string_agg(pg_catalog.format('o.%1$I operator(pg_catalog.=) r.%1$I', k), ' and '),
         'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format('%1$L, r.%1$I', k), ', ') || ')'
    into key_join, record_key
  from pg_catalog.unnest(config.key_columns) k;

  -- The subject of the row's pii: a column, or a column of a referenced row.
  -- When the referenced row is gone (a cascade), the record's last known
  -- subject in the trail is used.
  if config.subject_via is not null then
    subject_expression := pg_catalog.format(
      'coalesce((select v.%I from %s v where v.%I operator(pg_catalog.=) r.%I), audit.last_subject_id(%L, %L, %s))',
      config.subject_via_column, qualified_subject_via, (audit.primary_key_columns(config.subject_via))[1],
      config.subject_column, schema_name, table_name, record_key);
  elsif config.subject_column is not null then
    subject_expression := pg_catalog.format('r.%I', config.subject_column);
  else
    subject_expression := 'null::pg_catalog.uuid';
  end if;
  -- An UPDATE's old values belong to the old row's subject (a session moved
  -- to another client): erasing that person must reach them.
  old_subject_expression := case when config.subject_column is null then subject_expression
    else pg_catalog.replace(subject_expression, pg_catalog.format('r.%I', config.subject_column),
      pg_catalog.format('o.%I', config.subject_column)) end;

  row_subject := pg_catalog.format('cross join lateral (select %s as id) s', subject_expression)
    || case when has_pii then pg_catalog.format(' cross join lateral (select %s as new_key) k', audit.subject_key_sql('s.id')) else '' end;
  update_subject := pg_catalog.format('cross join lateral (select %s as id, %s as old_id) s', subject_expression, old_subject_expression)
    -- Keys only when a pii column changed; the old side's only for a row moved to another subject.
    || case when has_pii then pg_catalog.format(
      ' cross join lateral (select case when %1$s then %2$s end as new_key) kn'
      ' cross join lateral (select kn.new_key, case when not (%1$s) then null when s.old_id is not distinct from s.id then kn.new_key else %3$s end as old_key) k',
      audit.pii_changed_sql(target), audit.subject_key_sql('s.id'), audit.subject_key_sql('s.old_id')) else '' end;

  -- One statement per branch: the events, then who wrote them (attribution_sql
  -- reads the first WITH). Both are WITHs of a SELECT, so that parsing and a
  -- cached plan alike lock audit.events before audit.transactions, in the
  -- order audit.maintain_partitions locks them: the other order deadlocks
  -- with it. UPDATE pairs old and new rows with a FULL JOIN, which
  -- only a hash or merge join can run: a session keeps the plan of its first
  -- statement, and a nested loop planned for one row would make a later
  -- 100k-row update quadratic. (The row filter is "is not false" so that the
  -- planner cannot turn the FULL JOIN back into an inner one.)
  body := pg_catalog.format($body$
declare
  attributions integer;
begin
  if TG_OP = 'INSERT' then
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, owner_id, subject_id)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'INSERT'::audit.operation, %4$s, %5$s, s.id
      from new_rows r %6$s
      returning 1),
%12$s
  elsif TG_OP = 'UPDATE' then
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values, changed_columns, owner_id, subject_id, old_subject_id, details)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %14$s, %7$s, %8$s, %9$s, %5$s, s.id,
        case when s.old_id is distinct from s.id then s.old_id end, %15$s
      from old_rows o full join new_rows r on (%10$s) %13$s
      where (o operator(pg_catalog.*<>) r) is not false
      returning 1),
%12$s
  elsif TG_OP = 'DELETE' then
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id, details)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %16$s, %4$s, %5$s, s.id, %17$s
      from old_rows r %6$s
      returning 1),
%12$s
  else
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'TRUNCATE'::audit.operation, %4$s, %5$s, s.id
      from %11$s r %6$s
      returning 1),
%12$s
  end if;
  return null;
end;
$body$,
    schema_name, table_name, record_key,
    audit.row_values_sql(target, 'r', 'k.new_key'),
    case when config.owner_column is null then 'null::pg_catalog.uuid' else pg_catalog.format('r.%I', config.owner_column) end,
    row_subject,
    audit.changes_sql(target, 'o', 'k.old_key'),
    audit.changes_sql(target, 'r', 'k.new_key'),
    audit.changed_names_sql(target),
    key_join,
    qualified_target,
    pg_catalog.format('    attributed as (%s)
    select count(*) into attributions from attributed;', audit.attribution_sql()),
    update_subject,
    -- On a soft-delete table an UPDATE of is_deleted is a soft delete or a
    -- restore, with its batch; a DELETE can only be governance.hard_delete.
    case when soft_delete then $op$case when o.is_deleted is distinct from r.is_deleted
      then case when r.is_deleted then 'SOFT_DELETE'::audit.operation else 'RESTORE'::audit.operation end
      else 'UPDATE'::audit.operation end$op$ else $op$'UPDATE'::audit.operation$op$ end,
    case when soft_delete then $details$case when o.is_deleted is distinct from r.is_deleted
      then pg_catalog.jsonb_build_object('batch_id', coalesce(r.deletion_batch_id, o.deletion_batch_id)) end$details$
      else 'null::pg_catalog.jsonb' end,
    case when soft_delete then $op$'HARD_DELETE'::audit.operation$op$ else $op$'DELETE'::audit.operation$op$ end,
    case when soft_delete then $details$(select pg_catalog.jsonb_build_object('hard_deletion_id', h.id, 'reason', h.reason)
      from governance.current_hard_deletion() h where h.id is not null)$details$ else 'null::pg_catalog.jsonb' end);

  -- Security definer: writers have no privilege on the audit tables at all,
  -- so none can insert, lock or forge an event outside this function. Every
  -- name in the body is schema-qualified, so it needs no search_path of its
  -- own (a SET clause is paid on every call). JIT is off: a plan kept from a
  -- first large statement would otherwise compile again for every small one.
  execute pg_catalog.format(
    'create or replace function audit.%I() returns trigger as %L language plpgsql volatile security definer set jit = off',
    audit.capture_function_name(target), body);
  execute pg_catalog.format('comment on function audit.%I() is %L', audit.capture_function_name(target),
    pg_catalog.format('Captures writes to %s into audit.events; generated by audit.enable_tracking, regenerated when the table''s columns change.', target));

  update audit.tracked_tables
  set columns_signature = audit.columns_signature(target), key_columns = config.key_columns
  where table_oid = target;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.generate_capture(regclass) is
  E'(Re)writes a tracked table''s capture function: static SQL over the transition tables with the table''s columns, key and policies spelled out, one cached plan per operation that writes the events and their attribution together.';
--! EndIncluded audit/capture-generator.sql

--! Included audit/tracking.sql
-- Starting, stopping and configuring the capture of a table.

create or replace function audit.tg__refuse_key_change() returns trigger as $$
begin
  raise exception 'The primary key of %.% cannot change while it is tracked by the audit trail; insert a new row instead.',
    TG_TABLE_SCHEMA, TG_TABLE_NAME using errcode = '0A000';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg__refuse_key_change() is
  E'Refuses a primary key change on a tracked table: an event is keyed by its record, and a key that moves would split a history in two.';

create or replace function audit.drop_capture_triggers(target regclass) returns void as $$
declare
  trigger_name text;
begin
  foreach trigger_name in array array['_500_audit_insert', '_500_audit_update', '_500_audit_delete',
                                       '_500_audit_truncate', '_500_audit_key_change'] loop
    execute pg_catalog.format('drop trigger if exists %I on %s', trigger_name, target);
  end loop;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.drop_capture_triggers(regclass) is E'Removes the audit trail''s triggers from a table, if there.';

create or replace function audit.enable_tracking(
  target regclass,
  owner_column name default null,
  subject_column name default null,
  subject_via regclass default null,
  subject_via_column name default null
) returns void as $$
declare
  key_columns name[] := audit.primary_key_columns(target);
  capture text;
  key_changed text;
  uuid_column name;
begin
  if (select relkind from pg_catalog.pg_class where oid = target) <> 'r' then
    raise exception '% is not a plain table; only plain tables can be tracked (writes aimed at a partition would bypass a partitioned table''s triggers).', target
      using errcode = '42809';
  end if;
  if key_columns is null then
    raise exception 'Table % has no primary key; the audit trail needs one to key each record''s history.', target
      using errcode = '55000';
  end if;
  if not pg_catalog.pg_has_role((select relowner from pg_catalog.pg_class where oid = target), 'USAGE') then
    raise exception 'Table % must be owned by %, which installs and runs its capture.', target, current_user
      using errcode = '42501';
  end if;
  foreach uuid_column in array array[owner_column, subject_column] loop
    if uuid_column is not null and not exists (
      select from pg_catalog.pg_attribute
      where attrelid = target and attname = uuid_column and not attisdropped and atttypid = 'uuid'::regtype
    ) then
      raise exception 'Table % has no uuid column %.', target, uuid_column using errcode = '42703';
    end if;
  end loop;
  if (subject_via is null) <> (subject_via_column is null) or (subject_via is not null and subject_column is null) then
    raise exception 'subject_via needs both subject_column and subject_via_column.' using errcode = '22023';
  end if;
  if subject_via is not null and (
    cardinality(audit.primary_key_columns(subject_via)) is distinct from 1
    or not exists (select from pg_catalog.pg_attribute where attrelid = subject_via and attname = subject_via_column
                   and not attisdropped and atttypid = 'uuid'::regtype)
  ) then
    raise exception 'Table % needs a one-column primary key and a uuid column % to name a subject.', subject_via, subject_via_column
      using errcode = '42703';
  end if;

  insert into audit.tracked_tables (table_oid, key_columns, owner_column, subject_column, subject_via, subject_via_column, columns_signature)
  values (target, key_columns, owner_column, subject_column, subject_via, subject_via_column, '')
  on conflict (table_oid) do update set
    key_columns = excluded.key_columns, owner_column = excluded.owner_column,
    subject_column = excluded.subject_column, subject_via = excluded.subject_via,
    subject_via_column = excluded.subject_via_column, disabled_at = null,
    enabled_at = case when tracked_tables.disabled_at is null then tracked_tables.enabled_at else pg_catalog.now() end;

  perform audit.generate_capture(target);
  capture := audit.capture_function_name(target);
  perform audit.drop_capture_triggers(target);
  execute pg_catalog.format(
    'create trigger _500_audit_insert after insert on %s referencing new table as new_rows for each statement execute function audit.%I()',
    target, capture);
  execute pg_catalog.format(
    'create trigger _500_audit_update after update on %s referencing old table as old_rows new table as new_rows for each statement execute function audit.%I()',
    target, capture);
  execute pg_catalog.format(
    'create trigger _500_audit_delete after delete on %s referencing old table as old_rows for each statement execute function audit.%I()',
    target, capture);
  execute pg_catalog.format(
    'create trigger _500_audit_truncate before truncate on %s for each statement execute function audit.%I()',
    target, capture);
  -- Fires only when an UPDATE names a key column, so ordinary updates pay nothing.
  select pg_catalog.string_agg(pg_catalog.format('old.%1$I is distinct from new.%1$I', k), ' or ')
    into key_changed from pg_catalog.unnest(key_columns) k;
  execute pg_catalog.format(
    'create trigger _500_audit_key_change before update of %s on %s for each row when (%s) execute function audit.tg__refuse_key_change()',
    (select pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ') from pg_catalog.unnest(key_columns) k),
    target, key_changed);
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.enable_tracking(regclass, name, name, regclass, name) is
  E'Starts capturing every write to a table with a primary key (composite keys too). owner_column names who owns a record (coaches read the history of what they own); subject_column, optionally through subject_via.subject_via_column, names the person its pii is about. Idempotent: calling it again updates the configuration.';

create or replace function audit.disable_tracking(target regclass) returns void as $$
begin
  perform audit.drop_capture_triggers(target);
  execute pg_catalog.format('drop function if exists audit.%I()', audit.capture_function_name(target));
  update audit.tracked_tables set disabled_at = pg_catalog.now()
  where table_oid = target and disabled_at is null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.disable_tracking(regclass) is
  E'Stops capturing writes to a table; its history and column policies stay. Idempotent.';

create or replace function audit.set_column_policy(target regclass, column_name name, policy audit.column_policy) returns void as $$
begin
  if not exists (select from audit.tracked_tables t where t.table_oid = target) then
    raise exception 'Table % is not tracked; enable tracking before setting column policies.', target using errcode = '55000';
  end if;
  if not exists (select from audit.table_columns(target) c where c.column_name = set_column_policy.column_name) then
    raise exception 'Table % has no column %.', target, column_name using errcode = '42703';
  end if;
  if policy <> 'plain' and column_name = any (audit.primary_key_columns(target)) then
    raise exception 'Column % is part of the primary key of %; key columns are stored as they are.', column_name, target
      using errcode = '22023';
  end if;
  insert into audit.column_policies (table_oid, column_number, policy)
  select target, a.attnum, set_column_policy.policy
  from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = set_column_policy.column_name
  on conflict on constraint column_policies_pkey do update set policy = excluded.policy;
  if exists (select from audit.tracked_tables t where t.table_oid = target and t.disabled_at is null) then
    perform audit.generate_capture(target);
  end if;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.set_column_policy(regclass, name, audit.column_policy) is
  E'Sets how a column''s values are kept in the trail: plain, exclude or pii. Applies to writes from now on.';

create or replace function audit.refresh_tracking() returns integer as $$
declare
  tracked regclass;
  refreshed integer := 0;
begin
  for tracked in
    select t.table_oid from audit.tracked_tables t
    join pg_catalog.pg_class c on c.oid = t.table_oid
    where t.disabled_at is null and t.columns_signature is distinct from audit.columns_signature(t.table_oid)
  loop
    perform audit.generate_capture(tracked);
    refreshed := refreshed + 1;
  end loop;
  return refreshed;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.refresh_tracking() is
  E'Regenerates the capture of every tracked table whose columns changed; the DDL event trigger calls it after each ALTER TABLE.';

create or replace function audit.forget_dropped_tables() returns void as $$
  update audit.tracked_tables t set disabled_at = pg_catalog.now()
  where t.disabled_at is null and not exists (select from pg_catalog.pg_class c where c.oid = t.table_oid);
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.forget_dropped_tables() is E'Marks tracked tables that were dropped as no longer tracked.';

grant execute on function audit.refresh_tracking(), audit.forget_dropped_tables() to public;
--! EndIncluded audit/tracking.sql

--! Included audit/policies.sql
-- Who reads the audit trail: admins and auditors everything, a coach their own records.

grant usage on schema audit to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.events;
create policy staff_read on audit.events for select to custodian_admin, custodian_auditor using (true);

drop policy if exists coach_own on audit.events;
create policy coach_own on audit.events for select to custodian_coach
  using (owner_id = (select app_private.current_coach_profile_id()) or owner_id = (select app_public.current_user_id()));

grant select on audit.events to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.transactions;
create policy staff_read on audit.transactions for select to custodian_admin, custodian_auditor using (true);

-- Who else touched a coach's records (an admin's address, a job) is not theirs to see.
drop policy if exists coach_own on audit.transactions;
create policy coach_own on audit.transactions for select to custodian_coach
  using (user_id = (select app_public.current_user_id()));

grant select on audit.transactions to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.seals;
create policy staff_read on audit.seals for select to custodian_admin, custodian_auditor using (true);

grant select on audit.seals to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.tracked_tables;
create policy staff_read on audit.tracked_tables for select to custodian_admin, custodian_auditor using (true);

grant select on audit.tracked_tables to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.column_policies;
create policy staff_read on audit.column_policies for select to custodian_admin, custodian_auditor using (true);

grant select on audit.column_policies to custodian_admin, custodian_auditor;
--! EndIncluded audit/policies.sql

--! Included audit/filters.sql
-- The audit readers' filters, checked with errors that name the problem.

create or replace function audit.resolve_table(table_name text) returns text[] as $$
declare
  parts text[] := pg_catalog.string_to_array(table_name, '.');
  found text[];
begin
  if table_name is null then
    return null;
  end if;
  if cardinality(parts) not in (1, 2) or '' = any (parts) then
    raise exception 'tableName must be a table name, optionally with its schema (clients or app_public.clients), not "%".', table_name
      using errcode = '22023';
  end if;
  select array[e.table_schema::text, e.table_name::text] into found
  from (
    select n.nspname as table_schema, c.relname as table_name
    from audit.tracked_tables t
    join pg_catalog.pg_class c on c.oid = t.table_oid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  ) e
  where e.table_name = parts[cardinality(parts)] and (cardinality(parts) = 1 or e.table_schema = parts[1]);
  if found is null then
    -- A table tracked once and dropped since keeps its history.
    select array[e.table_schema, e.table_name] into found from audit.events e
    where e.table_name = parts[cardinality(parts)] and (cardinality(parts) = 1 or e.table_schema = parts[1])
    limit 1;
  end if;
  if found is null then
    raise exception 'Table "%" is not tracked by the audit trail.', table_name using errcode = '42P01';
  end if;
  return found;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.resolve_table(text) is
  E'The schema and name of a tracked table given as name or schema.name; a clear error for anything else.';

create or replace function audit.resolve_record_key(table_name text, record_key jsonb) returns jsonb as $$
declare
  key_columns name[];
begin
  if record_key is null or pg_catalog.jsonb_typeof(record_key) = 'object' then
    return record_key;
  end if;
  if table_name is not null and pg_catalog.jsonb_typeof(record_key) in ('string', 'number') then
    select t.key_columns into key_columns from audit.tracked_tables t
    where t.table_oid = pg_catalog.to_regclass(pg_catalog.array_to_string(audit.resolve_table(table_name), '.'));
    if cardinality(key_columns) = 1 then
      return pg_catalog.jsonb_build_object(key_columns[1], record_key);
    end if;
  end if;
  raise exception 'recordKey must be an object of the primary key''s columns, like {"id": "…"} (a bare value is enough for a one-column key with tableName), not %.', record_key
    using errcode = '22023';
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.resolve_record_key(text, jsonb) is
  E'A record key as stored: an object as given, or a bare value wrapped with the table''s one key column.';

create or replace function audit.check_filter(operation text, actor_kind text, occurred_from timestamptz, occurred_before timestamptz)
returns boolean as $$
begin
  if operation is not null and pg_catalog.upper(operation) <> all (pg_catalog.enum_range(null::audit.operation)::text[]) then
    raise exception 'operation must be one of %, not "%".',
      pg_catalog.array_to_string(pg_catalog.enum_range(null::audit.operation)::text[], ', '), operation using errcode = '22023';
  end if;
  if actor_kind is not null and actor_kind not in ('user', 'worker', 'migration', 'system', 'unknown') then
    raise exception 'actorKind must be user, worker, migration, system or unknown, not "%".', actor_kind using errcode = '22023';
  end if;
  if occurred_from >= occurred_before then
    raise exception 'The time range is empty: occurredFrom (%) must be before occurredBefore (%).', occurred_from, occurred_before
      using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.check_filter(text, text, timestamptz, timestamptz) is
  E'Refuses a filter that cannot mean anything, with an error naming the problem. Immutable, so it runs while the query is planned, before partition pruning can make the query skip it.';

grant execute on function audit.resolve_table(text), audit.resolve_record_key(text, jsonb),
  audit.check_filter(text, text, timestamptz, timestamptz)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/filters.sql

--! Included audit/read-api.sql
-- Reading the trail through the API: events, a record's history, a record as of a time.

create or replace function app_public.audit_events(
  table_name text default null,
  record_key jsonb default null,
  actor_id uuid default null,
  actor_kind text default null,
  operation text default null,
  occurred_from timestamptz default null,
  occurred_before timestamptz default null
) returns setof app_public.audit_event as $$
  select e.id, e.occurred_at, e.table_schema, e.table_name, e.record_key, e.operation::text,
    audit.reveal(e.old_values, coalesce(e.old_subject_id, e.subject_id), e.owner_id),
    audit.reveal(e.new_values, e.subject_id, e.owner_id), e.changed_columns,
    e.transaction_id::text, t.actor_kind::text, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent,
    t.task, t.job_id, t.database_role, t.session_user_name, t.application_name, t.client_addr::text, e.details
  from audit.events e
  left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
  where (select audit.check_filter(audit_events.operation, audit_events.actor_kind, audit_events.occurred_from, audit_events.occurred_before))
    and (audit_events.table_name is null or (
      e.table_schema = ((select audit.resolve_table(audit_events.table_name)))[1]
      and e.table_name = ((select audit.resolve_table(audit_events.table_name)))[2]))
    and (audit_events.record_key is null
      or e.record_key = (select audit.resolve_record_key(audit_events.table_name, audit_events.record_key)))
    and (audit_events.actor_id is null or t.user_id = audit_events.actor_id)
    and (audit_events.actor_kind is null or t.actor_kind::text = audit_events.actor_kind)
    and (audit_events.operation is null or e.operation::text = pg_catalog.upper(audit_events.operation))
    and (audit_events.occurred_from is null or e.occurred_at >= audit_events.occurred_from)
    and (audit_events.occurred_before is null or e.occurred_at < audit_events.occurred_before)
  order by e.id;
$$ language sql stable;
comment on function app_public.audit_events(text, jsonb, uuid, text, text, timestamptz, timestamptz) is
  E'The audit trail, oldest first, filtered by table (name or schema.name), record key, acting user, actor kind, operation and time (from inclusive, before exclusive). Admins and auditors read every event; coaches the events of their own records.';

create or replace function app_public.audit_record_history(table_name text, record_key jsonb) returns setof app_public.audit_event as $$
  select * from app_public.audit_events(
    table_name => coalesce(audit_record_history.table_name, ''),
    record_key => coalesce(audit_record_history.record_key, 'null'::jsonb));
$$ language sql stable;
comment on function app_public.audit_record_history(text, jsonb) is
  E'Every event of one record, oldest first; recordKey may be a bare value for a one-column key.';

create or replace function app_public.audit_record_as_of(table_name text, record_key jsonb, at timestamptz) returns jsonb as $$
declare
  state jsonb;
  event record;
begin
  if at is null then
    raise exception 'at is required: the time to rebuild the record at.' using errcode = '22023';
  end if;
  for event in
    select h.operation, h.old_values, h.new_values
    from app_public.audit_record_history(table_name, record_key) h
    where h.occurred_at <= at
    order by h.id
  loop
    state := case
      when event.operation = 'INSERT' then event.new_values
      -- A record older than its tracking starts from the values its first update replaced.
      when event.operation in ('UPDATE', 'SOFT_DELETE', 'RESTORE') then coalesce(state, event.old_values) || event.new_values
      else null
    end;
  end loop;
  return state;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.audit_record_as_of(text, jsonb, timestamptz) is
  E'A record as it was at a time, rebuilt from its events; null when it did not exist then. Excluded columns are absent.';

grant execute on function
  app_public.audit_events(text, jsonb, uuid, text, text, timestamptz, timestamptz),
  app_public.audit_record_history(text, jsonb),
  app_public.audit_record_as_of(text, jsonb, timestamptz)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/read-api.sql

--! Included audit/sealing.sql
-- The hash chain: sealing events in id order, and verifying it.

-- Events without details hash exactly as before, so the sealed chain still verifies.
create or replace function audit.event_digest(e audit.events, t audit.transactions) returns bytea as $$
  select public.digest((pg_catalog.jsonb_build_array(
    e.id, extract(epoch from e.occurred_at), e.transaction_id::text, e.table_schema, e.table_name,
    e.record_key, e.operation, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
    t.actor_kind, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent, t.task, t.job_id,
    t.database_role, t.session_user_name, t.application_name, t.client_addr::text)
    operator(pg_catalog.||) case when e.details is null then '[]'::jsonb else pg_catalog.jsonb_build_array(e.details) end)::text,
    'sha256');
$$ language sql immutable;
comment on function audit.event_digest(audit.events, audit.transactions) is
  E'SHA-256 of an event and its attribution in a form that does not depend on session settings.';

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
  head audit.seals;
  ids bigint[];
  digests bytea[];
  chain bytea[] := '{}';
  hash bytea;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be positive.' using errcode = '22023';
  end if;
  -- One sealer at a time: the chain must not fork.
  lock table audit.seals in exclusive mode;
  select * into head from audit.seals order by id desc limit 1;
  select pg_catalog.array_agg(b.id order by b.id), pg_catalog.array_agg(b.digest order by b.id) into ids, digests
  from (
    select e.id, audit.event_digest(e, t) as digest
    from audit.events e
    left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
    where e.id > coalesce(head.last_event_id, -9223372036854775808) and e.id <= horizon
    order by e.id
    limit batch_size
  ) b;
  if ids is null then
    return 0;
  end if;
  hash := coalesce(head.hash, audit.genesis_hash());
  for i in 1 .. cardinality(ids) loop
    hash := public.digest(hash || digests[i], 'sha256');
    chain[i] := hash;
  end loop;
  insert into audit.seals (first_event_id, last_event_id, event_ids, chain, previous_hash, hash)
  values (ids[1], ids[cardinality(ids)], ids, chain, coalesce(head.hash, audit.genesis_hash()), hash);
  return cardinality(ids);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_batch(bigint, integer) is
  E'Seals up to batch_size events after the last seal and not above horizon, in id order; returns how many.';

create or replace function audit.verify_chain() returns table (
  intact boolean, events_verified bigint, seals_verified bigint, events_unsealed bigint,
  first_bad_event_id bigint, problem text, head_hash text
) as $$
declare
  seal audit.seals;
  hash bytea := audit.genesis_hash();
  previous_last bigint := -9223372036854775808;
  ids bigint[];
  digests bytea[];
  found_id bigint;
  sealed_id bigint;
  verified bigint := 0;
  seals bigint := 0;
  unsealed bigint;
  sequence_last bigint;
begin
  for seal in select * from audit.seals order by id loop
    if seal.previous_hash <> hash or seal.first_event_id <= previous_last then
      return query select false, verified, seals, null::bigint, seal.first_event_id,
        pg_catalog.format('seal %s does not continue the chain: a seal before it was altered or removed', seal.id), null::text;
      return;
    end if;
    select pg_catalog.array_agg(e.id order by e.id), pg_catalog.array_agg(audit.event_digest(e, t) order by e.id)
      into ids, digests
    from audit.events e
    left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
    where e.id > previous_last and e.id <= seal.last_event_id;
    for i in 1 .. greatest(coalesce(cardinality(ids), 0), cardinality(seal.event_ids)) loop
      found_id := ids[i];
      sealed_id := seal.event_ids[i];
      if found_id is null or found_id > sealed_id then
        return query select false, verified, seals, null::bigint, sealed_id,
          pg_catalog.format('event %s is missing: it was sealed in seal %s and has been deleted', sealed_id, seal.id), null::text;
        return;
      elsif sealed_id is null or found_id < sealed_id then
        return query select false, verified, seals, null::bigint, found_id,
          pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', found_id, seal.id), null::text;
        return;
      end if;
      hash := public.digest(hash || digests[i], 'sha256');
      if hash <> seal.chain[i] then
        return query select false, verified, seals, null::bigint, found_id,
          pg_catalog.format('event %s was altered after it was sealed in seal %s (its content, attribution or position differs)', found_id, seal.id), null::text;
        return;
      end if;
      verified := verified + 1;
    end loop;
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
    case when seals > 0 then pg_catalog.encode(hash, 'hex') end;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.verify_chain() is
  E'Recomputes the hash chain over every sealed event and reports the first event whose content, order or presence was altered; intact is false then. head_hash is the newest seal''s hash: kept outside the database, it catches a rewrite of the whole chain.';
--! EndIncluded audit/sealing.sql

--! Included soft-delete/caller.sql
-- Who is calling, seen from inside a security definer function.

create or replace function governance.caller_role() returns name as $$
  -- The role the session set (unchanged inside security definer functions),
  -- else the login role.
  select case pg_catalog.current_setting('role') when 'none' then session_user else pg_catalog.current_setting('role') end::name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.caller_role() is
  E'The caller''s role: the one the session set, not the one a security definer function runs as.';

create or replace function governance.caller_is_staff() returns boolean as $$
  select pg_catalog.pg_has_role(governance.caller_role(), 'custodian_admin', 'member')
      or pg_catalog.pg_has_role(governance.caller_role(), 'custodian_owner', 'member');
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.caller_is_staff() is
  E'Whether the caller (governance.caller_role()) is an admin or the owner.';

grant execute on function governance.caller_is_staff(), governance.caller_role() to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded soft-delete/caller.sql

--! Included soft-delete/trigger-generator.sql
-- The generated soft-delete trigger function of a table (governance.soft_delete_<oid>).

create or replace function governance.trigger_function_name(target regclass) returns text as $$
  select 'soft_delete_' || target::oid::text;
$$ language sql immutable;
comment on function governance.trigger_function_name(regclass) is
  E'The name of a table''s generated soft-delete trigger function in the governance schema (by oid, so that it survives renames).';

create or replace function governance.cascading_foreign_keys(target regclass)
returns table (child regclass, child_columns name[], parent regclass, parent_columns name[]) as $$
  select c.conrelid::regclass,
    array(select a.attname from pg_catalog.unnest(c.conkey) with ordinality k(attnum, n)
          join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum order by k.n),
    c.confrelid::regclass,
    array(select a.attname from pg_catalog.unnest(c.confkey) with ordinality k(attnum, n)
          join pg_catalog.pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum order by k.n)
  from pg_catalog.pg_constraint c
  where c.contype = 'f' and c.confdeltype = 'c' and (c.conrelid = target or c.confrelid = target)
    and c.conrelid <> c.confrelid
    and c.conrelid in (select table_oid from governance.soft_delete_tables)
    and c.confrelid in (select table_oid from governance.soft_delete_tables)
  order by c.conname;
$$ language sql stable;
comment on function governance.cascading_foreign_keys(regclass) is
  E'The foreign keys between soft-delete tables that cascade on delete, where the table is child or parent: a soft delete follows the same paths a hard delete would.';

create or replace function governance.generate_soft_delete(target regclass) returns void as $$
declare
  config governance.soft_delete_tables;
  parent_checks text;
  delete_cascades text;
  restore_cascades text;
begin
  select * into strict config from governance.soft_delete_tables where table_oid = target;

  -- A live row needs live parents: checked on insert, on restore and when it
  -- moves to another parent.
  select pg_catalog.string_agg(pg_catalog.format($check$
      -- FOR SHARE: a cascade deleting the parent meanwhile waits for this
      -- row, then takes it along; it never leaves it live under a deleted parent.
      if (TG_OP = 'INSERT' or old.is_deleted or (%1$s)) and coalesce((
        select p.is_deleted from %2$s p where (%3$s) for share of p
      ), false) then
        raise exception 'The %% %% is deleted; restore it first.', %4$L, new.%5$I
          using errcode = '23503', table = %6$L,
                detail = pg_catalog.format('%%s %%s cannot reference it while it is deleted.', %7$L, new.%8$I);
      end if;$check$,
      (select pg_catalog.string_agg(pg_catalog.format('old.%1$I is distinct from new.%1$I', col), ' or ')
       from pg_catalog.unnest(f.child_columns) col),
      f.parent,
      (select pg_catalog.string_agg(pg_catalog.format('p.%I operator(pg_catalog.=) new.%I', pc, cc), ' and ')
       from unnest(f.parent_columns, f.child_columns) x(pc, cc)),
      (select s.noun from governance.soft_delete_tables s where s.table_oid = f.parent),
      f.child_columns[1],
      (select c.relname from pg_catalog.pg_class c where c.oid = target),
      pg_catalog.initcap(config.noun), config.key_column), '')
    into parent_checks
  from governance.cascading_foreign_keys(target) f where f.child = target;

  -- Deleting a row deletes its live children in the same batch; restoring it
  -- restores exactly the children of that batch.
  select pg_catalog.string_agg(pg_catalog.format($cascade$
      update %1$s c set is_deleted = true, deleted_at = n.deleted_at, deleted_by = n.deleted_by,
        deletion_batch_id = n.deletion_batch_id
      from new_rows n
      where n.is_deleted and not c.is_deleted and %2$s;$cascade$,
      f.child,
      (select pg_catalog.string_agg(pg_catalog.format('c.%I operator(pg_catalog.=) n.%I', cc, pc), ' and ')
       from unnest(f.child_columns, f.parent_columns) x(cc, pc))), ''),
    pg_catalog.string_agg(pg_catalog.format($cascade$
      update %1$s c set is_deleted = false
      from old_rows o join %2$s p on p.%3$I operator(pg_catalog.=) o.%3$I
      where o.is_deleted and not p.is_deleted and c.is_deleted
        and c.deletion_batch_id operator(pg_catalog.=) o.deletion_batch_id and %4$s;$cascade$,
      f.child, target, config.key_column,
      (select pg_catalog.string_agg(pg_catalog.format('c.%I operator(pg_catalog.=) o.%I', cc, pc), ' and ')
       from unnest(f.child_columns, f.parent_columns) x(cc, pc))), '')
    into delete_cascades, restore_cascades
  from governance.cascading_foreign_keys(target) f where f.parent = target;

  execute pg_catalog.format($create$
create or replace function governance.%1$I() returns trigger as $body$
begin
  if TG_OP = 'DELETE' then
    -- Hard only inside governance.hard_delete; otherwise the row is marked.
    if (governance.current_hard_deletion()).id is not null then
      return old;
    end if;
    if old.is_deleted then
      raise notice 'The %2$s %% is already deleted (at %%, batch %%); nothing changed.', old.%3$I, old.deleted_at, old.deletion_batch_id;
    else
      update %4$s set is_deleted = true where %3$I operator(pg_catalog.=) old.%3$I;
    end if;
    return null;
  elsif TG_LEVEL = 'ROW' then
    if not new.is_deleted then
      new.deleted_at := null;
      new.deleted_by := null;
      new.deletion_batch_id := null;
%5$s
    elsif TG_OP = 'INSERT' or not old.is_deleted then
      new.deleted_at := coalesce(new.deleted_at, pg_catalog.now());
      new.deleted_by := coalesce(new.deleted_by, app_public.current_user_id());
      new.deletion_batch_id := coalesce(new.deletion_batch_id, public.gen_random_uuid());
    end if;
    return new;
  else
    -- Most updates neither delete nor restore. A cascade statement would still
    -- fire its children's statement triggers (and theirs), so each runs only
    -- when the statement has rows that need it.
    if exists (select from new_rows n where n.is_deleted) then%6$s
    end if;
    if exists (select from old_rows o where o.is_deleted) then%7$s
    end if;
    return null;
  end if;
end;
$body$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
$create$,
    governance.trigger_function_name(target), config.noun, config.key_column, target,
    parent_checks, delete_cascades, restore_cascades);
  execute pg_catalog.format('comment on function governance.%I() is %L', governance.trigger_function_name(target),
    pg_catalog.format('Soft delete of %s: turns a DELETE into a soft delete, keeps the deletion columns consistent, requires live parents and cascades to children; generated by governance.enable_soft_delete.', target));
  execute pg_catalog.format('revoke all on function governance.%I() from public', governance.trigger_function_name(target));
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.generate_soft_delete(regclass) is
  E'(Re)writes a soft-delete table''s trigger function: static SQL with its key, its parents and its children spelled out.';
--! EndIncluded soft-delete/trigger-generator.sql

--! Included soft-delete/enable.sql
-- Making a table's DELETE a soft delete, and its triggers.

create or replace function governance.enable_soft_delete(target regclass, owner_column name, noun text default null) returns void as $$
declare
  key_columns name[] := audit.primary_key_columns(target);
  table_name name := (select relname from pg_catalog.pg_class where oid = target);
  related regclass;
begin
  if (select relkind from pg_catalog.pg_class where oid = target) <> 'r' then
    raise exception '% is not a plain table; soft delete needs one.', target using errcode = '42809';
  end if;
  if cardinality(key_columns) is distinct from 1 then
    raise exception 'Table % needs a one-column primary key for soft delete.', target using errcode = '55000';
  end if;
  if not exists (select from pg_catalog.pg_attribute where attrelid = target and attname = owner_column and not attisdropped) then
    raise exception 'Table % has no column %.', target, owner_column using errcode = '42703';
  end if;

  execute pg_catalog.format($alter$
    alter table %1$s
      add column if not exists is_deleted boolean not null default false,
      add column if not exists deleted_at timestamptz,
      add column if not exists deleted_by uuid references app_public.users on delete set null,
      add column if not exists deletion_batch_id uuid$alter$, target);
  if not exists (select from pg_catalog.pg_constraint where conrelid = target and conname = table_name || '_deletion_state') then
    execute pg_catalog.format(
      'alter table %s add constraint %I check (is_deleted = (deleted_at is not null) and is_deleted = (deletion_batch_id is not null))',
      target, table_name || '_deletion_state');
  end if;
  execute pg_catalog.format('comment on constraint %I on %s is %L',
    (select c.conname from pg_catalog.pg_constraint c join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
     where c.conrelid = target and c.contype = 'f' and a.attname = 'deleted_by'),
    target, E'@behavior -*\nWho deleted the row: a column, not a relation, in the API.');
  execute pg_catalog.format('create index if not exists %I on %s (deletion_batch_id) where deletion_batch_id is not null',
    table_name || '_deletion_batch_idx', target);
  execute pg_catalog.format($comments$
    comment on column %1$s.is_deleted is 'True once the row is soft-deleted: hidden from coaches, kept for restore, retention and GDPR.';
    comment on column %1$s.deleted_at is 'When the row was soft-deleted.';
    comment on column %1$s.deleted_by is 'The user who deleted it (directly or by deleting a parent); null for writers outside the API.';
    comment on column %1$s.deletion_batch_id is 'The cascade the row was deleted in: restoring the row that started it restores exactly this batch.';
  $comments$, target);

  -- Coaches never see, change or delete a deleted row, whatever other policy says.
  execute pg_catalog.format('drop policy if exists live_rows_only on %s', target);
  execute pg_catalog.format(
    'create policy live_rows_only on %s as restrictive for all to custodian_coach using (not is_deleted) with check (not is_deleted)',
    target);

  insert into governance.soft_delete_tables (table_oid, key_column, key_type, owner_column, noun)
  values (target, key_columns[1],
          (select pg_catalog.format_type(atttypid, atttypmod) from pg_catalog.pg_attribute
           where attrelid = target and attname = key_columns[1]),
          owner_column,
          coalesce(noun, pg_catalog.regexp_replace(pg_catalog.replace(table_name, '_', ' '), 's$', '')))
  on conflict (table_oid) do update set owner_column = excluded.owner_column, noun = excluded.noun;

  -- This table, and its soft-delete parents and children, get their triggers (re)written.
  for related in
    select target union
    select f.parent from governance.cascading_foreign_keys(target) f union
    select f.child from governance.cascading_foreign_keys(target) f
  loop
    perform governance.install_soft_delete_triggers(related);
  end loop;
  if exists (select from audit.tracked_tables where table_oid = target and disabled_at is null) then
    perform audit.generate_capture(target);
  end if;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.enable_soft_delete(regclass, name, text) is
  E'Makes every DELETE on a table a soft delete: adds is_deleted, deleted_at, deleted_by and deletion_batch_id, hides deleted rows from coaches, refuses live rows under deleted parents, and cascades along the foreign keys that cascade on delete. owner_column names the coach profile that owns a row. Idempotent.';

create or replace function governance.tg__refuse_truncate() returns trigger as $$
begin
  raise exception 'TRUNCATE of %.% would go around soft delete; delete rows, or use governance.hard_delete.',
    TG_TABLE_SCHEMA, TG_TABLE_NAME using errcode = '0A000';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.tg__refuse_truncate() is
  E'Refuses TRUNCATE on a soft-delete table: it removes rows without firing DELETE triggers.';

create or replace function governance.install_soft_delete_triggers(target regclass) returns void as $$
declare
  trigger_function text := governance.trigger_function_name(target);
begin
  perform governance.generate_soft_delete(target);
  execute pg_catalog.format('drop trigger if exists _040_soft_delete on %s', target);
  execute pg_catalog.format('drop trigger if exists _200_soft_delete_state on %s', target);
  execute pg_catalog.format('drop trigger if exists _040_soft_delete_no_truncate on %s', target);
  execute pg_catalog.format('drop trigger if exists _900_soft_delete_cascade on %s', target);
  execute pg_catalog.format(
    'create trigger _040_soft_delete before delete on %s for each row execute function governance.%I()',
    target, trigger_function);
  execute pg_catalog.format(
    'create trigger _200_soft_delete_state before insert or update on %s for each row execute function governance.%I()',
    target, trigger_function);
  execute pg_catalog.format(
    'create trigger _040_soft_delete_no_truncate before truncate on %s for each statement execute function governance.tg__refuse_truncate()',
    target);
  if exists (select from governance.cascading_foreign_keys(target) f where f.parent = target) then
    execute pg_catalog.format(
      'create trigger _900_soft_delete_cascade after update on %s referencing old table as old_rows new table as new_rows'
      ' for each statement execute function governance.%I()', target, trigger_function);
  end if;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.install_soft_delete_triggers(regclass) is
  E'(Re)creates a soft-delete table''s trigger function and its triggers: DELETE becomes a soft delete (_040), the deletion columns and live parents are kept (_200, after the columns other triggers derive), TRUNCATE is refused, and deletes and restores cascade (_900).';
--! EndIncluded soft-delete/enable.sql

--! Included soft-delete/delete-and-restore.sql
-- The governed soft delete and restore, with their permissions.

create or replace function governance.coach_restore_window() returns interval as $$
  select interval '30 days';
$$ language sql immutable;
comment on function governance.coach_restore_window() is E'How long after a deletion the owning coach may still restore a row; admins may restore at any time.';

create or replace function governance.key_condition(target regclass) returns text as $$
  select pg_catalog.format('%I operator(pg_catalog.=) cast($1 as %s)', key_column, key_type)
  from governance.soft_delete_tables where table_oid = target;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.key_condition(regclass) is
  E'SQL matching a soft-delete table''s row by its key, given as text in $1.';

create or replace function governance.row_state(target regclass, row_id text)
returns table (is_deleted boolean, deleted_at timestamptz, deletion_batch_id uuid, may_manage boolean, noun text) as $$
declare
  config governance.soft_delete_tables;
begin
  select * into config from governance.soft_delete_tables where table_oid = target;
  if not found then
    raise exception 'Table % does not have soft delete.', target using errcode = '55000';
  end if;
  -- A coach manages the rows of their own profiles, deleted ones included.
  return query execute pg_catalog.format($q$
    select t.is_deleted, t.deleted_at, t.deletion_batch_id,
      governance.caller_is_staff() or exists (
        select from app_public.coach_profiles p
        where p.id operator(pg_catalog.=) t.%1$I and p.user_id operator(pg_catalog.=) app_public.current_user_id()),
      %2$L::text
    from %3$s t where %4$s$q$,
    config.owner_column, config.noun, target, governance.key_condition(target)) using row_id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_state(regclass, text) is
  E'A soft-delete table''s row as the governed paths need it: deleted or not, and whether the caller may delete or restore it.';

create or replace function governance.soft_delete(target regclass, row_id text) returns uuid as $$
declare
  state record;
begin
  select * into state from governance.row_state(target, row_id);
  if not found or not state.may_manage then
    raise exception 'You cannot delete % %: it does not exist or is not yours.',
      (select noun from governance.soft_delete_tables where table_oid = target), row_id using errcode = '42501';
  end if;
  if state.is_deleted then
    raise exception 'The % % is already deleted (at %, batch %); nothing changed.',
      state.noun, row_id, state.deleted_at, state.deletion_batch_id using errcode = '55000';
  end if;
  execute pg_catalog.format('delete from %s where %s', target, governance.key_condition(target)) using row_id;
  select * into state from governance.row_state(target, row_id);
  return state.deletion_batch_id;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.soft_delete(regclass, text) is
  E'Soft-deletes a row and its cascade for an admin or the owning coach; returns the batch id. Deleting a deleted row changes nothing and says so.';

create or replace function governance.restore(target regclass, row_id text) returns uuid as $$
declare
  state record;
begin
  select * into state from governance.row_state(target, row_id);
  if not found or not state.may_manage then
    raise exception 'You cannot restore % %: it does not exist or is not yours.',
      (select noun from governance.soft_delete_tables where table_oid = target), row_id using errcode = '42501';
  end if;
  if not state.is_deleted then
    raise exception 'The % % is not deleted; nothing changed.', state.noun, row_id using errcode = '55000';
  end if;
  if not governance.caller_is_staff() and state.deleted_at < pg_catalog.now() - governance.coach_restore_window() then
    raise exception 'The % % was deleted at %, more than % ago; only an admin can restore it now.',
      state.noun, row_id, state.deleted_at, governance.coach_restore_window() using errcode = '42501';
  end if;
  begin
    execute pg_catalog.format('update %s set is_deleted = false where %s', target, governance.key_condition(target)) using row_id;
  exception when unique_violation then
    raise exception 'The % % cannot be restored: a live row already holds one of its unique values.', state.noun, row_id
      using errcode = '23505', detail = sqlerrm;
  end;
  return state.deletion_batch_id;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.restore(regclass, text) is
  E'Restores a soft-deleted row and exactly the rows its deletion cascaded to (its batch); returns the batch id. For admins, and for the owning coach within governance.coach_restore_window() of the deletion. A row under a deleted parent cannot be restored before the parent.';
--! EndIncluded soft-delete/delete-and-restore.sql

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

revoke all on function governance.hard_delete(regclass, text, text) from public;
--! EndIncluded soft-delete/hard-delete.sql

--! Included soft-delete/lint.sql
-- Checks that keep soft delete sound.

create or replace function governance.unique_constraints_over_deleted_rows()
returns table (table_name regclass, index_name regclass, definition text) as $$
  select i.indrelid::regclass, i.indexrelid::regclass, pg_catalog.pg_get_indexdef(i.indexrelid)
  from pg_catalog.pg_index i
  join governance.soft_delete_tables s on s.table_oid = i.indrelid
  where i.indisunique
    -- the primary key, and unique keys that contain it, restrict nothing more
    and not i.indisprimary
    and not (select pg_catalog.array_agg(a.attnum) from pg_catalog.pg_attribute a
             where a.attrelid = i.indrelid and a.attname = s.key_column) <@ i.indkey::smallint[]
    and coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '') !~ '\mNOT is_deleted\M'
  order by 1, 2;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.unique_constraints_over_deleted_rows() is
  E'Lint: unique indexes on soft-delete tables that also cover deleted rows (they need "where not is_deleted"), so a deleted row blocks a new live one. Keep it empty.';
--! EndIncluded soft-delete/lint.sql

--! Included usage/append-only.sql
-- Usage events, closed months and invoices are append-only, even to their owner.

create or replace function app_private.tg__append_only() returns trigger as $$
begin
  raise exception '%.% is append-only: corrections are new rows.', TG_TABLE_SCHEMA, TG_TABLE_NAME using errcode = '42501';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg__append_only() is E'Refuses UPDATE, DELETE and TRUNCATE on a permanent table, to every role, the owner included.';

drop trigger if exists _010_append_only on app_public.usage_events;
create trigger _010_append_only before update or delete on app_public.usage_events
  for each row execute function app_private.tg__append_only();

drop trigger if exists _011_no_truncate on app_public.usage_events;
create trigger _011_no_truncate before truncate on app_public.usage_events
  for each statement execute function app_private.tg__append_only();

drop trigger if exists _010_append_only on app_public.billing_months;
create trigger _010_append_only before update or delete on app_public.billing_months
  for each row execute function app_private.tg__append_only();

drop trigger if exists _011_no_truncate on app_public.billing_months;
create trigger _011_no_truncate before truncate on app_public.billing_months
  for each statement execute function app_private.tg__append_only();

drop trigger if exists _010_append_only on app_public.invoices;
create trigger _010_append_only before update or delete on app_public.invoices
  for each row execute function app_private.tg__append_only();

drop trigger if exists _011_no_truncate on app_public.invoices;
create trigger _011_no_truncate before truncate on app_public.invoices
  for each statement execute function app_private.tg__append_only();
--! EndIncluded usage/append-only.sql

--! Included usage/staff.sql
-- Whether the caller is staff, for the usage functions.

create or replace function app_private.is_staff() returns boolean as $$
  select governance.caller_is_staff() or pg_catalog.pg_has_role(governance.caller_role(), 'custodian_auditor', 'member');
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.is_staff() is E'Whether the caller (governance.caller_role()) is an admin, an auditor or the owner.';

create or replace function app_private.require_admin(action text) returns void as $$
begin
  if not governance.caller_is_staff() then
    raise exception 'Only admins may %.', action using errcode = '42501';
  end if;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.require_admin(text) is E'Refuses the caller unless an admin or the owner, naming what they tried.';

grant execute on function app_private.is_staff() to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/staff.sql

--! Included usage/ranges.sql
-- Checks of the ranges and granularities the usage functions take.

create or replace function app_private.check_range(from_day date, to_day date) returns boolean as $$
begin
  if from_day is null or to_day is null then
    raise exception 'A range needs both ends: from and to (dates, to exclusive).' using errcode = '22023';
  end if;
  if from_day >= to_day then
    raise exception 'The range is empty or inverted: from (%) must be before to (%).', from_day, to_day using errcode = '22023';
  end if;
  if to_day - from_day > 3660 then
    raise exception 'The range is longer than 10 years (% to %); ask for less.', from_day, to_day using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.check_range(date, date) is E'Refuses a range that is unbounded, empty, inverted or longer than 10 years, naming the problem.';

create or replace function app_private.check_granularity(granularity text) returns boolean as $$
begin
  if granularity is null or granularity not in ('day', 'week', 'month') then
    raise exception 'granularity must be day, week or month, not "%".', granularity using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.check_granularity(text) is E'Refuses a granularity other than day, week or month.';

grant execute on function app_private.check_range(date, date), app_private.check_granularity(text)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/ranges.sql

--! Included usage/billing-rule.sql
-- THE billing rule and its version.

create or replace function app_public.billing_rule_version() returns text as $$
  select 'billing-rules-2026-11-v1'::text;
$$ language sql immutable;
comment on function app_public.billing_rule_version() is E'The version of the billing rule (app_private.decide_charge) that prices new events.';

create or replace function app_private.decide_charge(
  outcome app_public.attempt_outcome,
  audio_seconds integer,
  session_had_success boolean,
  included_seconds_left bigint,
  price_per_minute_minor bigint,
  charge_sixtieths_before bigint
) returns table (
  billable boolean, billing_reason app_public.billing_reason, included_seconds integer, charged_seconds integer,
  charge_sixtieths_after bigint, amount_minor bigint
) as $$
  select outcome = 'completed',
    case
      when outcome = 'failed' then 'failed_free'
      when covered.seconds > 0 and covered.seconds = audio_seconds then 'included_minutes'
      when session_had_success then 'retranscription'
      else 'first_success'
    end::app_public.billing_reason,
    covered.seconds,
    charged.seconds,
    charge_sixtieths_before + charged.seconds * price_per_minute_minor,
    (pg_catalog.round((charge_sixtieths_before + charged.seconds * price_per_minute_minor) / 60.0)
      - pg_catalog.round(charge_sixtieths_before / 60.0))::bigint
  from (select case when outcome = 'completed' then least(audio_seconds, greatest(included_seconds_left, 0))::integer else 0 end as seconds) covered,
  lateral (select case when outcome = 'completed' then audio_seconds - covered.seconds else 0 end as seconds) charged;
$$ language sql immutable;
comment on function app_private.decide_charge(app_public.attempt_outcome, integer, boolean, bigint, bigint, bigint) is
  E'THE billing rule (version app_public.billing_rule_version()). A failed attempt is free (failed_free). A completed attempt is billable: the first on its session is first_success (failed retries before it stay free), a later one a retranscription. Its seconds use the billing month''s included minutes first (wholly covered: included_minutes, charge 0), the rest is charged at the plan''s price per minute, pro rata per second. Rounding: the month''s charge is kept exactly, as an integer number of sixtieths of a minor unit (seconds × price per minute), and each event''s amount is the growth of its rounded total (half away from zero), so the amounts of a month add up to round(total charge) exactly.';

grant execute on function app_public.billing_rule_version() to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/billing-rule.sql

--! Included usage/capture.sql
-- Every attempt that reaches completed or failed becomes one priced usage event.

create or replace function app_private.first_open_month(month date) returns date as $$
  select min(m)::date
  from pg_catalog.generate_series(month, month + interval '10 years', interval '1 month') m
  where not exists (select from app_public.billing_months b where b.month = m::date);
$$ language sql stable;
comment on function app_private.first_open_month(date) is E'The month an event of a month is billed in: that month, or the first after it not closed.';

create or replace function app_private.tg_transcriptions__capture_usage() returns trigger as $$
declare
  used_in date := date_trunc('month', new.finished_at at time zone 'UTC')::date;
  session_locked boolean; -- unused: the lock is what counts
begin
  if used_in < date_trunc('month', pg_catalog.now() at time zone 'UTC') then
    -- A late event may meet a month close: wait for one in progress, so that
    -- the statement below sees it and bills the next open month.
    lock table app_private.usage_ledgers in row exclusive mode;
  end if;
  -- Attempts of one session are priced one at a time, and the statement
  -- below starts after the wait: it sees a success committed meanwhile. A
  -- transaction-scoped advisory lock on the session is an expression, not a
  -- statement: cheaper than locking its row, and it blocks no other writer.
  session_locked := pg_catalog.pg_advisory_xact_lock(
    'app_public.coaching_sessions'::pg_catalog.regclass::pg_catalog.oid::integer, pg_catalog.hashtext(new.session_id::text)) is null;

  -- One statement: what the price depends on, the coach's ledger for the
  -- billing month moved on (its row lock prices a coach's completions one at a
  -- time, and ON CONFLICT reads the latest totals), and the event itself.
  with facts as (
    select new.coach_profile_id as coach_profile_id, p.id as plan_id, p.included_minutes::bigint * 60 as included_cap,
      p.price_per_extra_minute_minor as price, new.status::text::app_public.attempt_outcome as outcome,
      case when new.status = 'completed' then new.billed_duration_seconds
           else coalesce(new.billed_duration_seconds, s.audio_duration_seconds, 0) end as seconds,
      (select r.cost_per_minute_minor from app_public.provider_rates r
       where r.provider = new.provider and r.model = new.model and r.effective_from <= new.finished_at
       order by r.effective_from desc limit 1) as rate,
      exists (select from app_public.usage_events e
              where e.session_id = new.session_id and e.outcome = 'completed' and e.kind = 'attempt') as had_success,
      case when exists (select from app_public.billing_months b where b.month = used_in)
        then app_private.first_open_month(used_in) else used_in end as billed_in
    from app_public.coach_profiles cp
    join app_public.billing_plans p on p.id = cp.plan_id
    left join app_public.coaching_sessions s on s.id = new.session_id
    where cp.id = new.coach_profile_id
      -- The first terminal status is the one billed (the unique key enforces it).
      and not exists (select from app_public.usage_events e where e.transcription_id = new.id and e.kind = 'attempt')),
  ledger as (
    insert into app_private.usage_ledgers as l (coach_profile_id, billing_month, included_seconds_used, charged_seconds,
      charge_sixtieths, charged_minor, last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor)
    select f.coach_profile_id, f.billed_in, c.included_seconds, c.charged_seconds, c.charge_sixtieths_after, c.amount_minor,
      c.billing_reason, c.included_seconds, c.charged_seconds, c.amount_minor
    from facts f, app_private.decide_charge(f.outcome, f.seconds, f.had_success, f.included_cap, f.price, 0) c
    on conflict (coach_profile_id, billing_month) do update set
      (included_seconds_used, charged_seconds, charge_sixtieths, charged_minor,
       last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor) = (
        select l.included_seconds_used + c.included_seconds, l.charged_seconds + c.charged_seconds, c.charge_sixtieths_after,
          l.charged_minor + c.amount_minor, c.billing_reason, c.included_seconds, c.charged_seconds, c.amount_minor
        from facts f, app_private.decide_charge(f.outcome, f.seconds, f.had_success,
          f.included_cap - l.included_seconds_used, f.price, l.charge_sixtieths) c)
    returning l.billing_month, l.last_billing_reason, l.last_included_seconds, l.last_charged_seconds, l.last_amount_minor)
  insert into app_public.usage_events (
    kind, occurred_at, coach_profile_id, session_id, transcription_id, is_retry, is_retranscription, provider, model,
    language, audio_seconds, outcome, billable, billing_reason, included_seconds, charged_seconds, unit_price_minor,
    amount_minor, provider_cost_minor, plan_id, usage_month, billing_month, rule_version)
  select 'attempt', new.finished_at, new.coach_profile_id, new.session_id, new.id, new.retry_of is not null,
    f.outcome = 'completed' and f.had_success, new.provider, new.model, new.language, f.seconds, f.outcome,
    f.outcome = 'completed', l.last_billing_reason, l.last_included_seconds, l.last_charged_seconds, f.price,
    l.last_amount_minor, pg_catalog.round(f.seconds * f.rate / 60.0, 6), f.plan_id, used_in, l.billing_month,
    app_public.billing_rule_version()
  from facts f, ledger l;

  if not found and not exists (
    select from app_public.usage_events e where e.transcription_id = new.id and e.kind = 'attempt'
  ) then
    raise exception 'Coach profile % has no billing plan; the attempt cannot be billed.', new.coach_profile_id
      using errcode = '23503';
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__capture_usage() is
  E'Writes the usage event of an attempt that reached completed or failed, in the same transaction and one statement, priced by app_private.decide_charge. Exactly once per attempt: the first terminal status is billed, and the unique key on transcription_id makes a second event for an attempt an error, never a row.';

drop trigger if exists _600_capture_usage on app_public.transcriptions;
create trigger _600_capture_usage after insert on app_public.transcriptions
  for each row when (new.status in ('completed', 'failed'))
  execute function app_private.tg_transcriptions__capture_usage();

drop trigger if exists _600_capture_usage_on_finish on app_public.transcriptions;
create trigger _600_capture_usage_on_finish after update of status on app_public.transcriptions
  for each row when (new.status in ('completed', 'failed') and old.status not in ('completed', 'failed'))
  execute function app_private.tg_transcriptions__capture_usage();
--! EndIncluded usage/capture.sql

--! Included usage/dirty-days.sql
-- Which days the usage_aggregate job must roll up again.

create or replace function app_private.mark_new_usage_days_dirty() returns integer as $$
declare
  horizon bigint := app_private.committed_id_horizon('app_public.usage_events', 'app_public.usage_events_id_seq');
  marked integer;
begin
  if horizon is null then
    return null;
  end if;
  insert into app_private.usage_dirty_days (day)
  select distinct (e.occurred_at at time zone 'UTC')::date
  from app_public.usage_events e, app_private.usage_rollup_watermark w
  where e.id > w.last_event_id and e.id <= horizon
  on conflict (day) do nothing;
  get diagnostics marked = row_count;
  update app_private.usage_rollup_watermark set last_event_id = horizon where last_event_id < horizon;
  return marked;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.mark_new_usage_days_dirty() is
  E'Marks the days of every usage event written since the last call (late ones included) for rolling up, and moves the watermark. Run first in its own transaction; null when writers did not finish in 10 s (the next run catches up).';

create or replace function app_private.mark_usage_days_dirty(from_day date, to_day date) returns integer as $$
  with marked as (
    insert into app_private.usage_dirty_days (day)
    select d::date from pg_catalog.generate_series(from_day, to_day, interval '1 day') d
    on conflict (day) do nothing
    returning 1)
  select count(*)::integer from marked;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.mark_usage_days_dirty(date, date) is E'Marks every day of a range (both ends included) for rebuilding.';

create or replace function app_private.usage_event_days() returns table (first_day date, last_day date) as $$
  select (min(occurred_at) at time zone 'UTC')::date, (max(occurred_at) at time zone 'UTC')::date from app_public.usage_events;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_event_days() is E'The first and last day that have usage events.';
--! EndIncluded usage/dirty-days.sql

--! Included usage/rollups.sql
-- The daily rollups: computed from the raw events, rebuilt one day at a time.

create or replace function app_private.usage_rollup_rows(from_day date, to_day date) returns setof app_public.usage_daily as $$
  select (e.occurred_at at time zone 'UTC')::date, e.coach_profile_id, e.plan_id, e.provider, e.model, e.billing_month,
    (count(*) filter (where e.kind = 'attempt'))::integer,
    (count(*) filter (where e.outcome = 'completed'))::integer,
    (count(*) filter (where e.outcome = 'failed'))::integer,
    (count(*) filter (where e.outcome = 'failed' and e.is_retry))::integer,
    (count(*) filter (where e.is_retranscription))::integer,
    coalesce(sum(e.audio_seconds) filter (where e.kind = 'attempt'), 0),
    coalesce(sum(e.included_seconds + e.charged_seconds) filter (where e.billable), 0),
    coalesce(sum(e.charged_seconds), 0),
    coalesce(sum(e.amount_minor), 0)::bigint,
    coalesce(sum(e.amount_minor) filter (where e.is_retranscription), 0)::bigint,
    coalesce(sum(e.provider_cost_minor), 0),
    coalesce(sum(e.provider_cost_minor) filter (where e.outcome = 'failed'), 0),
    (count(*) filter (where e.kind = 'attempt' and e.provider_cost_minor is null))::integer
  from app_public.usage_events e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
  group by 1, 2, 3, 4, 5, 6;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_rollup_rows(date, date) is
  E'The usage_daily rows of a range of days (to exclusive), computed from the raw usage events: what rebuilding writes and reconciling expects.';

create or replace function app_private.usage_totals_rows(from_day date, to_day date) returns setof app_private.usage_daily_totals as $$
  select d.day, d.plan_id, d.provider, d.model, d.billing_month, sum(d.attempts)::integer, sum(d.completed)::integer,
    sum(d.failed)::integer, sum(d.free_retries)::integer, sum(d.retranscriptions)::integer, sum(d.audio_seconds)::bigint,
    sum(d.billable_seconds)::bigint, sum(d.charged_seconds)::bigint, sum(d.revenue_minor)::bigint,
    sum(d.retranscription_revenue_minor)::bigint, sum(d.provider_cost_minor), sum(d.failed_cost_minor),
    sum(d.unknown_cost_attempts)::integer
  from app_public.usage_daily d
  where d.day >= from_day and d.day < to_day
  group by d.day, d.plan_id, d.provider, d.model, d.billing_month;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_totals_rows(date, date) is
  E'The usage_daily_totals rows of a range of days (to exclusive), summed over coaches from usage_daily.';

-- Rebuilds of one day (the job's and a CLI rebuild may meet) run one at a
-- time. The job holds its dirty-day rows while it works through them and
-- skips a day another rebuild holds (it stays dirty for the next run); a
-- rebuild of one day waits. So neither waits for the other in turn.
create or replace function app_private.lock_usage_day(day date, wait boolean) returns boolean as $$
begin
  if wait then
    perform pg_catalog.pg_advisory_xact_lock('app_public.usage_daily'::pg_catalog.regclass::pg_catalog.oid::integer,
                                             lock_usage_day.day - date '2000-01-01');
    return true;
  end if;
  return pg_catalog.pg_try_advisory_xact_lock('app_public.usage_daily'::pg_catalog.regclass::pg_catalog.oid::integer,
                                              lock_usage_day.day - date '2000-01-01');
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.lock_usage_day(date, boolean) is
  E'Takes the transaction-scoped lock on rebuilding one day: waiting for it, or only if free (returns whether it was taken).';

create or replace function app_private.rebuild_usage_day(day date) returns integer as $$
declare
  written integer;
begin
  perform app_private.lock_usage_day(rebuild_usage_day.day, true);
  -- The mark goes first: a day marked again while this runs keeps its new mark.
  delete from app_private.usage_dirty_days d where d.day = rebuild_usage_day.day;
  delete from app_public.usage_daily d where d.day = rebuild_usage_day.day;
  insert into app_public.usage_daily select * from app_private.usage_rollup_rows(rebuild_usage_day.day, rebuild_usage_day.day + 1);
  get diagnostics written = row_count;
  delete from app_private.usage_daily_totals t where t.day = rebuild_usage_day.day;
  insert into app_private.usage_daily_totals select * from app_private.usage_totals_rows(rebuild_usage_day.day, rebuild_usage_day.day + 1);
  return written;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rebuild_usage_day(date) is
  E'Recomputes one day''s rollups (per coach, and the totals) from the raw events, replacing what was there, and clears its dirty mark. Idempotent; one transaction, so a day is never seen half built.';

create or replace function app_private.rebuild_dirty_usage_days(max_days integer default 31) returns integer as $$
declare
  dirty date;
  rebuilt integer := 0;
begin
  for dirty in
    select d.day from app_private.usage_dirty_days d order by d.day limit max_days for update skip locked
  loop
    continue when not app_private.lock_usage_day(dirty, false);
    perform app_private.rebuild_usage_day(dirty);
    rebuilt := rebuilt + 1;
  end loop;
  return rebuilt;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rebuild_dirty_usage_days(integer) is
  E'Rebuilds up to max_days dirty days (oldest first) in the caller''s transaction; returns how many. Days another run holds, or another rebuild is rebuilding, are skipped and stay dirty.';

grant execute on function app_private.usage_rollup_rows(date, date), app_private.usage_totals_rows(date, date)
  to custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups.sql

--! Included usage/rollups-view.sql
-- The rollups each caller may read.

-- Every analytics function reads its rollups here: admins and auditors get
-- the totals, anyone else their own rows of usage_daily (row-level security,
-- as the view runs as its caller).
create or replace view app_private.usage_rollups with (security_invoker = true) as
  select t.day, null::uuid as coach_profile_id, t.plan_id, t.provider, t.model, t.billing_month, t.attempts, t.completed,
    t.failed, t.free_retries, t.retranscriptions, t.audio_seconds, t.billable_seconds, t.charged_seconds, t.revenue_minor,
    t.retranscription_revenue_minor, t.provider_cost_minor, t.failed_cost_minor, t.unknown_cost_attempts
  from app_private.usage_daily_totals t where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed,
    d.failed, d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_public.usage_daily d where not (select app_private.is_staff());
comment on view app_private.usage_rollups is E'The daily rollups the caller may read, in the cheapest form: totals for admins and auditors, their own rows for a coach.';

grant select on app_private.usage_rollups to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups-view.sql

--! Included usage/reconcile.sql
-- usage_reconcile: rollups, raw events and attempts agree, or every difference is listed.

create or replace function app_private.rollup_key_columns() returns text[] as $$
  select array['day', 'coach_profile_id', 'plan_id', 'provider', 'model', 'billing_month'];
$$ language sql immutable;
comment on function app_private.rollup_key_columns() is E'The columns of usage_daily (and usage_daily_totals) that are not measures: a rollup''s key.';

-- Only for rows that differ: it reads the catalog for the column order.
create or replace function app_private.differing_measures(mine jsonb, theirs jsonb) returns text as $$
  select pg_catalog.string_agg(pg_catalog.format('%s %s', m.key, m.value #>> '{}'), ', ' order by a.attnum)
  from pg_catalog.jsonb_each(mine - app_private.rollup_key_columns()) m (key, value)
  left join pg_catalog.pg_attribute a on a.attrelid = 'app_public.usage_daily'::pg_catalog.regclass and a.attname = m.key
  where m.value is distinct from theirs -> m.key;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.differing_measures(jsonb, jsonb) is
  E'"measure value, ..." for each measure of a rollup row (as jsonb) that another row does not have the same, in column order; null when none differs or mine is null.';

create or replace function app_private.describe_attempt(outcome text, seconds integer, provider text, model text) returns text as $$
  select pg_catalog.format('%s, %s, %s %s', outcome, coalesce(seconds || ' s', 'no billed duration'), provider, model);
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.describe_attempt(text, integer, text, text) is E'An attempt or its event in words, for usage_reconcile.';

create or replace function app_public.usage_reconcile(from_day date, to_day date) returns setof app_public.usage_difference as $$
  with checked as (select app_private.check_range(from_day, to_day)),
  bounds as (
    select (from_day::timestamp at time zone 'UTC') as lo, (to_day::timestamp at time zone 'UTC') as hi from checked),
  -- A row's key is the row without its measures (in jsonb, null keys are equal).
  measures (names) as (
    select pg_catalog.array_agg(a.attname::text) from pg_catalog.pg_attribute a
    where a.attrelid = 'app_public.usage_daily'::pg_catalog.regclass and a.attnum > 0 and not a.attisdropped
      and a.attname::text <> all (app_private.rollup_key_columns())),
  -- What the rollups should be, and what they are.
  rollups_of_events as materialized (select u.* from checked, app_private.usage_rollup_rows(from_day, to_day) u),
  rollups as materialized (select d.* from checked, app_public.usage_daily d where d.day >= from_day and d.day < to_day),
  totals_of_rollups as materialized (select t.* from checked, app_private.usage_totals_rows(from_day, to_day) t),
  totals as materialized (
    select t.* from checked, app_private.usage_daily_totals t where t.day >= from_day and t.day < to_day),
  -- Rows on one side only (as sets: equal values, nulls included, match);
  -- usually none, so pairing them up by key costs nothing.
  expected_rollups as (select r.row - m.names as key, r.row from measures m,
    (select * from rollups_of_events except all select * from rollups) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  actual_rollups as (select r.row - m.names as key, r.row from measures m,
    (select * from rollups except all select * from rollups_of_events) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  expected_totals as (select r.row - m.names as key, r.row from measures m,
    (select * from totals_of_rollups except all select * from totals) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  actual_totals as (select r.row - m.names as key, r.row from measures m,
    (select * from totals except all select * from totals_of_rollups) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  -- Every rollup row against its raw events, and every totals row (what
  -- admins read) against the per-coach rows it sums, in every measure.
  comparisons (check_name, key, expected, actual) as (
    select 'rollup_vs_events', coalesce(x.key, a.key), x.row, a.row
    from expected_rollups x full join actual_rollups a on a.key = x.key
    union all
    select 'totals_vs_rollups', coalesce(x.key, a.key), x.row, a.row
    from expected_totals x full join actual_totals a on a.key = x.key)
  select c.check_name, (c.key ->> 'day')::date,
    pg_catalog.concat_ws(' ', c.key ->> 'coach_profile_id', c.key ->> 'provider', c.key ->> 'model',
      'plan ' || coalesce(c.key ->> 'plan_id', 'none'), 'billed in ' || (c.key ->> 'billing_month')),
    coalesce(app_private.differing_measures(c.expected, c.actual), 'no row'),
    coalesce(app_private.differing_measures(c.actual, c.expected), 'no row')
  from comparisons c
  union all
  -- Every terminal attempt has its event, with the same outcome, provider,
  -- model and billed seconds (a failed attempt without billed seconds counts
  -- its recording's length).
  select 'attempt_vs_event', (t.finished_at at time zone 'UTC')::date, t.id::text,
    app_private.describe_attempt(t.status::text, t.billed_duration_seconds, t.provider, t.model),
    case when e.id is null then 'no usage event'
      else app_private.describe_attempt(e.outcome::text, case when t.billed_duration_seconds is not null then e.audio_seconds end,
                                        e.provider, e.model) end
  from app_public.transcriptions t
  cross join bounds b
  left join app_public.usage_events e on e.transcription_id = t.id and e.kind = 'attempt'
  where t.status in ('completed', 'failed') and t.finished_at >= b.lo and t.finished_at < b.hi
    and (e.id is null or e.outcome::text <> t.status::text
         or (t.billed_duration_seconds is not null and e.audio_seconds is distinct from t.billed_duration_seconds)
         or e.provider is distinct from t.provider or e.model is distinct from t.model)
  union all
  -- Events whose provider cost is unknown (no rate for the provider and model).
  select 'unknown_provider_cost', (e.occurred_at at time zone 'UTC')::date, e.id::text,
    pg_catalog.format('a rate for %s %s', e.provider, e.model), 'none'
  from app_public.usage_events e, bounds b
  where e.kind = 'attempt' and e.provider_cost_minor is null and e.occurred_at >= b.lo and e.occurred_at < b.hi
  order by 1, 2, 3, 4;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_reconcile(date, date) is
  E'Shows that rollups, raw usage events and transcription attempts agree for a range of days (to exclusive), listing every difference (a rollup''s subject names its coach, provider, model, plan and billing month): a rollup row that differs from its events in any measure (naming each measure, expected then actual; "no row" where one side has none); a totals row that differs from the per-coach rollups it sums; a terminal attempt without its event, or whose event has another outcome, provider, model or billed duration; an event whose provider cost is unknown. Empty when all agree. Admins and auditors.';

grant execute on function app_private.rollup_key_columns(), app_private.differing_measures(jsonb, jsonb),
  app_private.describe_attempt(text, integer, text, text)
  to custodian_admin, custodian_auditor;
revoke all on function app_public.usage_reconcile(date, date) from public;
grant execute on function app_public.usage_reconcile(date, date) to custodian_admin, custodian_auditor;
--! EndIncluded usage/reconcile.sql

--! Included usage/usage-in-range.sql
-- The usage events of a range of days.

create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select e.* from app_public.usage_events e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
    and (usage_in_range.coach_profile_id is null or e.coach_profile_id = usage_in_range.coach_profile_id)
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date, uuid) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), oldest first, of one coach if given: a coach''s own, or any coach''s for admins and auditors.';

grant execute on function app_public.usage_in_range(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/usage-in-range.sql

--! Included usage/invoices.sql
-- Invoices as they stand, and as frozen.

create or replace function app_private.month_invoices(month date, only_coach uuid default null) returns setof app_public.invoices as $$
begin
  -- Planned for this call, so that one coach's invoice reads that coach's
  -- events through their index rather than the whole month's.
  return query execute pg_catalog.format($q$
  with events as (
    select e.coach_profile_id,
      coalesce(sum(e.amount_minor) filter (where e.kind = 'attempt'), 0) as usage_minor,
      coalesce(sum(e.amount_minor) filter (where e.kind <> 'attempt'), 0) as credits_minor,
      coalesce(sum(e.audio_seconds) filter (where e.billable), 0) as audio_seconds,
      coalesce(sum(e.included_seconds), 0) as included_seconds,
      coalesce(sum(e.charged_seconds), 0) as charged_seconds,
      count(*) filter (where e.usage_month < e.billing_month) as late_events,
      count(*) filter (where e.kind = 'attempt') as attempts,
      (pg_catalog.array_agg(e.plan_id order by e.id desc) filter (where e.plan_id is not null))[1] as last_plan_id
    from app_public.usage_events e
    where e.billing_month = $1 and %1$s
    group by e.coach_profile_id),
  -- Coaches pay the fee of a month in which their profile was live at some point.
  live as (
    select cp.id as coach_profile_id, cp.plan_id from app_public.coach_profiles cp
    where cp.created_at < $1 + interval '1 month' and (not cp.is_deleted or cp.deleted_at >= $1) and %2$s),
  -- Every coach with a fee or billed events. The fee is due for a month in
  -- which the profile was live, or had attempts billed and was not deleted
  -- before it; credits and voids alone never make one due.
  coaches as (
    select l.coach_profile_id, l.plan_id, true as live from live l
    union all
    select e.coach_profile_id, coalesce(cp.plan_id, e.last_plan_id),
      e.attempts > 0 and coalesce(not cp.is_deleted or cp.deleted_at >= $1, false)
    from events e
    left join app_public.coach_profiles cp on cp.id = e.coach_profile_id
    where not exists (select from live l where l.coach_profile_id = e.coach_profile_id))
  select c.coach_profile_id, $1, p.id, p.name, coalesce(p.currency, 'EUR'),
    case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end::bigint, coalesce(p.included_minutes, 0),
    coalesce(e.audio_seconds, 0)::bigint, coalesce(e.included_seconds, 0)::bigint, coalesce(e.charged_seconds, 0)::bigint,
    coalesce(e.usage_minor, 0)::bigint, coalesce(e.credits_minor, 0)::bigint,
    (case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end + coalesce(e.usage_minor, 0) + coalesce(e.credits_minor, 0))::bigint,
    coalesce(e.late_events, 0)::integer, pg_catalog.now()
  from coaches c
  left join events e on e.coach_profile_id = c.coach_profile_id
  left join app_public.billing_plans p on p.id = c.plan_id$q$,
    case when only_coach is null then 'true' else 'e.coach_profile_id = $2' end,
    case when only_coach is null then 'true' else 'cp.id = $2' end)
  using month, only_coach;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.month_invoices(date, uuid) is
  E'Every coach''s invoice for a billing month as it stands: plan fee, the month''s attempt amounts, credits and voids.';

create or replace function app_public.invoice_preview(coach_profile_id uuid default null, month date default null)
returns setof app_public.invoices as $$
  with wanted as (
    select date_trunc('month', coalesce(invoice_preview.month, pg_catalog.now() at time zone 'UTC'))::date as month),
  invoices as (
    select i.* from app_public.invoices i, wanted w where i.month = w.month
    union all
    select i.* from wanted w,
      app_private.month_invoices(w.month, coalesce(invoice_preview.coach_profile_id,
        case when not app_private.is_staff() then app_private.current_coach_profile_id() end)) i
    where not exists (select from app_public.billing_months b where b.month = w.month))
  select i.* from invoices i
  where (invoice_preview.coach_profile_id is null or i.coach_profile_id = invoice_preview.coach_profile_id)
    and (app_private.is_staff() or i.coach_profile_id = app_private.current_coach_profile_id())
  order by i.total_minor desc, i.coach_profile_id;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.invoice_preview(uuid, date) is
  E'Invoices of a month (default: the current one): frozen ones once the month is closed, else as they stand now (plan fee, included minutes, overage, credits). Admins and auditors see every coach; a coach their own.';

grant execute on function app_public.invoice_preview(uuid, date) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/invoices.sql

--! Included usage/close-month.sql
-- Closing a month freezes its invoices.

create or replace function app_public.close_month(month date) returns integer as $$
declare
  closing date := date_trunc('month', month)::date;
  frozen integer;
begin
  perform app_private.require_admin('close months');
  if month is null or month <> closing then
    raise exception 'Give the first day of the month to close (like 2026-10-01), not %.', month using errcode = '22023';
  end if;
  if closing >= date_trunc('month', pg_catalog.now() at time zone 'UTC') then
    raise exception 'Month % has not ended yet; only past months can be closed.', pg_catalog.to_char(closing, 'YYYY-MM')
      using errcode = '22023';
  end if;
  if exists (select from app_public.billing_months b where b.month = closing) then
    raise exception 'Month % is already closed; its invoices are frozen.', pg_catalog.to_char(closing, 'YYYY-MM')
      using errcode = '55000';
  end if;
  -- Waits for captures pricing into this month, and keeps new ones out until
  -- the close commits; they then go to the next open month.
  lock table app_private.usage_ledgers in exclusive mode;
  insert into app_public.billing_months (month) values (closing);
  insert into app_public.invoices select * from app_private.month_invoices(closing);
  get diagnostics frozen = row_count;
  return frozen;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.close_month(date) is
  E'Closes a past month: freezes its invoices (returns how many). Afterwards they never change; a late event of that month is billed in the next open month and says which month it belonged to. Admins only.';

revoke all on function app_public.close_month(date) from public;
grant execute on function app_public.close_month(date) to custodian_admin;
--! EndIncluded usage/close-month.sql

--! Included usage/corrections.sql
-- Credits and voids: corrections are new, negative events.

create or replace function app_public.issue_usage_credit(coach_profile_id uuid, amount_minor bigint, reason text)
returns app_public.usage_events as $$
declare
  event app_public.usage_events;
  month date;
begin
  perform app_private.require_admin('issue credits');
  -- As a late capture does: wait for a month close in progress, then choose the month.
  lock table app_private.usage_ledgers in row exclusive mode;
  month := app_private.first_open_month(date_trunc('month', pg_catalog.now() at time zone 'UTC')::date);
  if amount_minor is null or amount_minor <= 0 then
    raise exception 'A credit is a positive amount in minor units (got %).', amount_minor using errcode = '22023';
  end if;
  if reason is null or length(btrim(reason)) < 3 then
    raise exception 'A credit needs a reason (at least 3 characters).' using errcode = '22023';
  end if;
  if not exists (select from app_public.coach_profiles p where p.id = issue_usage_credit.coach_profile_id) then
    raise exception 'No coach profile with id %.', coach_profile_id using errcode = '23503';
  end if;
  insert into app_public.usage_events (kind, occurred_at, coach_profile_id, billable, billing_reason, amount_minor,
                                       usage_month, billing_month, rule_version, note, created_by)
  values ('credit', pg_catalog.now(), coach_profile_id, false, 'credit', -amount_minor, month, month,
          app_public.billing_rule_version(), btrim(reason), app_public.current_user_id())
  returning * into event;
  return event;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.issue_usage_credit(uuid, bigint, text) is
  E'Credits a coach an amount (minor units) with a reason: a new, negative usage event in the current open month. Admins only.';

create or replace function app_public.void_usage_event(usage_event_id bigint, reason text) returns app_public.usage_events as $$
declare
  original app_public.usage_events;
  event app_public.usage_events;
  month date;
begin
  perform app_private.require_admin('void usage events');
  lock table app_private.usage_ledgers in row exclusive mode;
  month := app_private.first_open_month(date_trunc('month', pg_catalog.now() at time zone 'UTC')::date);
  if reason is null or length(btrim(reason)) < 3 then
    raise exception 'A void needs a reason (at least 3 characters).' using errcode = '22023';
  end if;
  select * into original from app_public.usage_events e where e.id = usage_event_id;
  if not found then
    raise exception 'No usage event %.', usage_event_id using errcode = 'P0002';
  end if;
  if original.kind <> 'attempt' then
    raise exception 'Usage event % is a %; only attempts can be voided.', usage_event_id, original.kind using errcode = '22023';
  end if;
  if original.amount_minor = 0 then
    raise exception 'Usage event % charged nothing; there is nothing to void.', usage_event_id using errcode = '55000';
  end if;
  insert into app_public.usage_events (kind, occurred_at, coach_profile_id, session_id, transcription_id, provider, model,
                                       billable, billing_reason, amount_minor, plan_id, usage_month, billing_month,
                                       rule_version, corrects_event_id, note, created_by)
  values ('void', pg_catalog.now(), original.coach_profile_id, original.session_id, original.transcription_id,
          original.provider, original.model, false, 'void', -original.amount_minor, original.plan_id,
          greatest(original.usage_month, month), greatest(original.usage_month, month),
          app_public.billing_rule_version(), original.id, btrim(reason), app_public.current_user_id())
  on conflict (corrects_event_id) where kind = 'void' do nothing
  returning * into event;
  if event.id is null then
    raise exception 'Usage event % is already voided; nothing changed.', usage_event_id using errcode = '55000';
  end if;
  return event;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.void_usage_event(bigint, text) is
  E'Cancels an attempt''s charge with a reason: a new event of the opposite amount, billed in the current open month. Once per event. Admins only.';

revoke all on function app_public.issue_usage_credit(uuid, bigint, text), app_public.void_usage_event(bigint, text) from public;
grant execute on function app_public.issue_usage_credit(uuid, bigint, text), app_public.void_usage_event(bigint, text)
  to custodian_admin;
--! EndIncluded usage/corrections.sql

--! Included usage/explain-charge.sql
-- Why a usage event costs what it does.

create or replace function app_public.explain_charge(usage_event_id bigint) returns jsonb as $$
  select pg_catalog.jsonb_build_object(
    'usage_event_id', e.id,
    'kind', e.kind,
    'rule', e.billing_reason,
    'rule_version', e.rule_version,
    'explanation', case
      when e.kind = 'credit' then pg_catalog.format('A credit of %s minor units issued by an admin: %s', -e.amount_minor, e.note)
      when e.kind = 'void' then pg_catalog.format('Cancels the %s minor units charged by usage event %s: %s', -e.amount_minor, e.corrects_event_id, e.note)
      when e.billing_reason = 'failed_free' then pg_catalog.format(
        'The attempt failed, and failed attempts are free. It still cost us %s minor units at the provider.', coalesce(e.provider_cost_minor::text, 'an unknown amount of'))
      when e.billing_reason = 'included_minutes' then pg_catalog.format(
        'A successful attempt of %s seconds%s, wholly within the plan''s included minutes of %s: no charge.',
        e.audio_seconds, case when e.is_retranscription then ' (a re-transcription)' else '' end, pg_catalog.to_char(e.billing_month, 'YYYY-MM'))
      when e.billing_reason = 'retranscription' then pg_catalog.format(
        'A successful re-transcription: the session already had a successful transcription, so this attempt is charged. %s of its %s seconds used included minutes; %s seconds at %s minor units per minute came to %s minor units.',
        e.included_seconds, e.audio_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor)
      else pg_catalog.format(
        'The session''s first successful transcription%s is charged. %s of its %s seconds used included minutes; %s seconds at %s minor units per minute came to %s minor units.',
        case when prior.failed > 0 then pg_catalog.format(' (after %s failed attempts, which were free)', prior.failed) else '' end,
        e.included_seconds, e.audio_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor)
    end,
    'outcome', e.outcome,
    'billable', e.billable,
    'audio_seconds', e.audio_seconds,
    'audio_minutes', pg_catalog.round(e.audio_seconds / 60.0, 4),
    'included_seconds', e.included_seconds,
    'charged_seconds', e.charged_seconds,
    'unit_price_minor', e.unit_price_minor,
    'amount_minor', e.amount_minor,
    'provider_cost_minor', e.provider_cost_minor,
    'plan', pg_catalog.jsonb_build_object('id', e.plan_id, 'name', p.name, 'included_minutes', p.included_minutes,
                                          'price_per_extra_minute_minor', p.price_per_extra_minute_minor),
    'usage_month', e.usage_month,
    'billing_month', e.billing_month,
    'late', e.billing_month > e.usage_month,
    'prior_attempts', coalesce(prior.attempts, '[]'::jsonb))
  from app_public.usage_events e
  left join app_public.billing_plans p on p.id = e.plan_id
  left join lateral (
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('usage_event_id', x.id, 'transcription_id', x.transcription_id,
             'occurred_at', x.occurred_at, 'outcome', x.outcome, 'billing_reason', x.billing_reason, 'amount_minor', x.amount_minor)
             order by x.id) as attempts,
           count(*) filter (where x.outcome = 'failed') as failed
    from app_public.usage_events x
    where x.session_id = e.session_id and x.kind = 'attempt' and x.id < e.id) prior on e.kind = 'attempt'
  where e.id = usage_event_id;
$$ language sql stable;
comment on function app_public.explain_charge(bigint) is
  E'Why a usage event costs what it does, in words and data: the rule and its version, the earlier attempts of the session considered, minutes, included minutes, price and amount. Null for an event the caller may not see.';

grant execute on function app_public.explain_charge(bigint) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/explain-charge.sql

--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.
create or replace function app_public.usage_over_time(from_day date, to_day date, granularity text default 'day')
returns setof app_public.usage_period as $$
begin
  perform app_private.check_range(from_day, to_day), app_private.check_granularity(granularity);
  return query
  select pg_catalog.date_trunc(granularity, r.day)::date,
    sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint, sum(r.free_retries)::bigint,
    sum(r.retranscriptions)::bigint, pg_catalog.round(sum(r.audio_seconds) / 60.0, 2),
    pg_catalog.round(sum(r.billable_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.revenue_minor) - sum(r.provider_cost_minor)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day
  group by 1 order by 1;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_over_time(date, date, text) is
  E'Usage by day, week or month over a range of days (to exclusive): attempts, outcomes, free retries, re-transcriptions, minutes, revenue, provider cost and gross margin. Admins and auditors see every coach, a coach their own.';

create or replace function app_public.usage_by_provider(from_day date, to_day date)
returns table (provider text, model text, attempts bigint, completed bigint, failed bigint, failure_rate numeric,
               audio_minutes numeric, revenue_minor bigint, provider_cost_minor numeric, unknown_cost_attempts bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select r.provider, r.model, sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    pg_catalog.round(sum(r.audio_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.unknown_cost_attempts)::bigint
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day and r.provider is not null
  group by 1, 2 order by sum(r.attempts) desc, 1, 2;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_by_provider(date, date) is E'Usage per provider and model over a range of days: attempts, failure rate, minutes, revenue, provider cost, attempts without a known cost.';

create or replace function app_public.top_coaches(from_day date, to_day date, max_rows integer default 10)
returns table (coach_profile_id uuid, attempts bigint, billable_minutes numeric, revenue_minor bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select d.coach_profile_id, sum(d.attempts)::bigint, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2),
    sum(d.revenue_minor)::bigint, sum(d.provider_cost_minor), sum(d.revenue_minor) - sum(d.provider_cost_minor)
  from app_public.usage_daily d
  where d.day >= from_day and d.day < to_day
  group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
  limit least(greatest(coalesce(max_rows, 10), 1), 1000);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.top_coaches(date, date, integer) is E'The coaches who brought the most revenue over a range of days (up to max_rows, at most 1000).';

create or replace function app_public.revenue_summary(from_day date, to_day date)
returns table (revenue_minor bigint, provider_cost_minor numeric, gross_margin_minor numeric, gross_margin_ratio numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.revenue_minor), 0)::bigint, coalesce(sum(r.provider_cost_minor), 0),
    coalesce(sum(r.revenue_minor), 0) - coalesce(sum(r.provider_cost_minor), 0),
    pg_catalog.round((sum(r.revenue_minor) - sum(r.provider_cost_minor)) / nullif(sum(r.revenue_minor), 0), 4)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date) is E'Usage revenue, provider cost and gross margin over a range of days.';

create or replace function app_public.retranscription_stats(from_day date, to_day date)
returns table (completed bigint, retranscriptions bigint, retranscription_rate numeric, retranscription_revenue_minor bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.completed), 0)::bigint, coalesce(sum(r.retranscriptions), 0)::bigint,
    pg_catalog.round(sum(r.retranscriptions)::numeric / nullif(sum(r.completed), 0), 4),
    coalesce(sum(r.retranscription_revenue_minor), 0)::bigint
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retranscription_stats(date, date) is E'How many successful attempts were re-transcriptions over a range of days, their share, and what they were charged.';

create or replace function app_public.failure_stats(from_day date, to_day date)
returns table (attempts bigint, failed bigint, failure_rate numeric, free_retries bigint, failed_attempts_cost_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.attempts), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    coalesce(sum(r.free_retries), 0)::bigint, coalesce(sum(r.failed_cost_minor), 0)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.failure_stats(date, date) is
  E'Failure rate over a range of days, the failed retries, and what the failed (free) attempts cost us at the providers.';

create or replace function app_public.monthly_revenue(from_month date, to_month date)
returns table (month date, plan_fee_minor bigint, usage_revenue_minor bigint, total_minor bigint, paying_coaches bigint) as $$
begin
  perform app_private.check_range(from_month, to_month);
  return query
  with months as (
    select m::date as month from pg_catalog.generate_series(
      date_trunc('month', from_month), date_trunc('month', to_month) - interval '1 month', interval '1 month') m),
  fees as (
    select m.month, coalesce(sum(p.monthly_fee_minor), 0)::bigint as fees, count(cp.id) as coaches
    from months m
    left join app_public.coach_profiles cp on cp.created_at < m.month + interval '1 month'
      and (not cp.is_deleted or cp.deleted_at >= m.month)
    left join app_public.billing_plans p on p.id = cp.plan_id
    group by m.month),
  usage as (
    select r.billing_month as month, sum(r.revenue_minor)::bigint as revenue
    from app_private.usage_rollups r
    where r.billing_month >= (select min(m.month) from months m) and r.billing_month <= (select max(m.month) from months m)
    group by 1)
  select f.month, f.fees, coalesce(u.revenue, 0)::bigint, (f.fees + coalesce(u.revenue, 0))::bigint, f.coaches
  from fees f left join usage u on u.month = f.month order by f.month;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.monthly_revenue(date, date) is
  E'Monthly recurring revenue from plan fees (coaches live in the month) and usage revenue by billing month, for the months from from_month up to (not including) to_month.';

grant execute on function
  app_public.usage_over_time(date, date, text),
  app_public.usage_by_provider(date, date),
  app_public.top_coaches(date, date, integer),
  app_public.revenue_summary(date, date),
  app_public.retranscription_stats(date, date),
  app_public.failure_stats(date, date),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/analytics.sql

--! Included usage/policies.sql
-- Who reads usage: admins and auditors every coach, a coach their own.

drop policy if exists coach_own on app_public.usage_events;
create policy coach_own on app_public.usage_events for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));

drop policy if exists staff_read on app_public.usage_events;
create policy staff_read on app_public.usage_events for select to custodian_admin, custodian_auditor using (true);

grant select on app_public.usage_events to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists coach_own on app_public.usage_daily;
create policy coach_own on app_public.usage_daily for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));

drop policy if exists staff_read on app_public.usage_daily;
create policy staff_read on app_public.usage_daily for select to custodian_admin, custodian_auditor using (true);

grant select on app_public.usage_daily to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists coach_own on app_public.invoices;
create policy coach_own on app_public.invoices for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));

drop policy if exists staff_read on app_public.invoices;
create policy staff_read on app_public.invoices for select to custodian_admin, custodian_auditor using (true);

grant select on app_public.invoices to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists read_all on app_public.billing_months;
create policy read_all on app_public.billing_months for select to custodian_coach, custodian_admin, custodian_auditor using (true);

grant select on app_public.billing_months to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on app_private.usage_daily_totals;
create policy staff_read on app_private.usage_daily_totals for select to custodian_admin, custodian_auditor using (true);

grant select on app_private.usage_daily_totals to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/policies.sql

-- Partitions, tracking and soft delete, made by the generators above -------------------

select audit.create_default_partition('audit.events');
select audit.create_default_partition('audit.transactions');
select audit.maintain_partitions(1);

-- Tracking the domain --------------------------------------------------------------

-- Changes to the tracking configuration are themselves audited.
select audit.enable_tracking('audit.tracked_tables');
select audit.enable_tracking('audit.column_policies');

select audit.enable_tracking('app_public.users', owner_column => 'id', subject_column => 'id');
select audit.set_column_policy('app_public.users', column_name, 'pii')
from unnest(array['email', 'display_name']) column_name;

select audit.enable_tracking('app_private.user_secrets', owner_column => 'user_id', subject_column => 'user_id');
select audit.set_column_policy('app_private.user_secrets', 'password_hash', 'exclude');

select audit.enable_tracking('app_public.billing_plans');
select audit.enable_tracking('app_public.provider_rates');

select audit.enable_tracking('app_public.coach_profiles', owner_column => 'id', subject_column => 'user_id');
select audit.set_column_policy('app_public.coach_profiles', column_name, 'pii')
from unnest(array['display_name', 'bio']) column_name;

select audit.enable_tracking('app_public.clients', owner_column => 'coach_profile_id', subject_column => 'id');
select audit.set_column_policy('app_public.clients', column_name, 'pii')
from unnest(array['full_name', 'email', 'phone', 'notes']) column_name;

select audit.enable_tracking('app_public.coaching_sessions', owner_column => 'coach_profile_id', subject_column => 'client_id');
select audit.set_column_policy('app_public.coaching_sessions', 'title', 'pii');

select audit.enable_tracking('app_public.transcriptions', owner_column => 'coach_profile_id',
  subject_column => 'session_id', subject_via => 'app_public.coaching_sessions', subject_via_column => 'client_id');
select audit.set_column_policy('app_public.transcriptions', column_name, 'pii')
from unnest(array['transcript_text', 'error_message']) column_name;

-- Soft delete on the domain ---------------------------------------------------------
select governance.enable_soft_delete('app_public.coach_profiles', owner_column => 'id');
select governance.enable_soft_delete('app_public.clients', owner_column => 'coach_profile_id');
select governance.enable_soft_delete('app_public.coaching_sessions', owner_column => 'coach_profile_id');
select governance.enable_soft_delete('app_public.transcriptions', owner_column => 'coach_profile_id');

-- Uniqueness holds among live rows: a coach may add a client again with the
-- email of one they deleted, and a coach whose profile was deleted may start a new one.
alter table app_public.coach_profiles drop constraint coach_profiles_user_id_key;
create unique index coach_profiles_user_id_key on app_public.coach_profiles (user_id) where not is_deleted;
drop index app_public.clients_coach_email_key;
create unique index clients_coach_email_key on app_public.clients (coach_profile_id, email)
  where email is not null and not is_deleted;
comment on constraint coach_profiles_user_id_user_role_fkey on app_public.coach_profiles is
  E'@fieldName user\n@foreignFieldName coachProfiles';

-- The API's delete mutations are the soft ones above (a generated DELETE
-- mutation would report the row as not deleted).
comment on table app_public.coach_profiles is
  E'@behavior -delete\nA coach''s profile: one live profile per coach user, owner of clients, sessions and transcriptions. Deleting it soft-deletes everything under it.';
comment on table app_public.clients is
  E'@behavior -delete\nA coach''s client. Name, email, phone and notes are personal data. Deleting a client soft-deletes its sessions and their transcriptions.';
comment on table app_public.coaching_sessions is
  E'@behavior -delete\nA recorded coaching session with one client. Deleting it soft-deletes its transcriptions.';
comment on table app_public.transcriptions is
  E'@behavior -delete\nOne transcription attempt of a session: retries after failures and re-transcriptions are attempts of their own.';

-- The governance tables are audited like the rest.
select audit.enable_tracking('governance.soft_delete_tables');
select audit.enable_tracking('governance.hard_deletions');

-- Month closes and frozen invoices are governed data; the usage events are an
-- append-only ledger of their own, and the rollups, ledgers and dirty days are
-- derived from them.
select audit.enable_tracking('app_public.billing_months', owner_column => 'closed_by');
select audit.enable_tracking('app_public.invoices', owner_column => 'coach_profile_id');

--! Included soft-delete/policies.sql
-- Who reads the governance tables; coaches never see, change or delete a deleted
-- row, whatever other policy says (governance.enable_soft_delete creates
-- live_rows_only on each table it enables).

grant usage on schema governance to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on governance.soft_delete_tables;
create policy staff_read on governance.soft_delete_tables for select to custodian_admin, custodian_auditor using (true);

drop policy if exists staff_read on governance.hard_deletions;
create policy staff_read on governance.hard_deletions for select to custodian_admin, custodian_auditor using (true);

grant select on governance.soft_delete_tables, governance.hard_deletions to custodian_admin, custodian_auditor;

drop policy if exists live_rows_only on app_public.coach_profiles;
create policy live_rows_only on app_public.coach_profiles as restrictive for all to custodian_coach
  using (not is_deleted) with check (not is_deleted);

drop policy if exists live_rows_only on app_public.clients;
create policy live_rows_only on app_public.clients as restrictive for all to custodian_coach
  using (not is_deleted) with check (not is_deleted);

drop policy if exists live_rows_only on app_public.coaching_sessions;
create policy live_rows_only on app_public.coaching_sessions as restrictive for all to custodian_coach
  using (not is_deleted) with check (not is_deleted);

drop policy if exists live_rows_only on app_public.transcriptions;
create policy live_rows_only on app_public.transcriptions as restrictive for all to custodian_coach
  using (not is_deleted) with check (not is_deleted);
--! EndIncluded soft-delete/policies.sql

--! Included soft-delete/api.sql
-- The API's delete_<name> and restore_<name> mutations, generated per table.

create or replace function governance.expose_soft_delete(target regclass, api_name text) returns void as $$
declare
  config governance.soft_delete_tables;
  action text;
  field_name text := pg_catalog.replace(pg_catalog.initcap(pg_catalog.replace(api_name, '_', ' ')), ' ', '');
begin
  select * into strict config from governance.soft_delete_tables where table_oid = target;
  foreach action in array array['delete', 'restore'] loop
    execute pg_catalog.format($fn$
      create or replace function app_public.%1$I(row_id uuid) returns %2$s as $body$
        select governance.%3$I(%4$L, row_id::text);
        select * from %2$s where %5$I = row_id;
      $body$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp$fn$,
      action || '_' || api_name, target, case action when 'delete' then 'soft_delete' else 'restore' end,
      target, config.key_column);
    -- The payload names the row as the generated mutations do (deleteClient { client }).
    execute pg_catalog.format('comment on function app_public.%I(uuid) is %L', action || '_' || api_name,
      pg_catalog.format(E'@resultFieldName %s\n', pg_catalog.lower(pg_catalog.left(field_name, 1)) || pg_catalog.substr(field_name, 2)) ||
      case action
        when 'delete' then pg_catalog.format('Soft-deletes a %1$s and everything under it in one batch; admins, or the owning coach. Restore it with restore%2$s.',
          config.noun, pg_catalog.replace(pg_catalog.initcap(config.noun), ' ', ''))
        else pg_catalog.format('Restores a deleted %1$s and exactly the rows its deletion took with it; admins, or the owning coach within 30 days.',
          config.noun) end);
    execute pg_catalog.format('revoke all on function app_public.%I(uuid) from public', action || '_' || api_name);
    execute pg_catalog.format('grant execute on function app_public.%I(uuid) to custodian_coach, custodian_admin', action || '_' || api_name);
  end loop;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.expose_soft_delete(regclass, text) is
  E'Creates the API''s delete_<name> and restore_<name> mutations for a soft-delete table.';

select governance.expose_soft_delete('app_public.coach_profiles', 'coach_profile');
select governance.expose_soft_delete('app_public.clients', 'client');
select governance.expose_soft_delete('app_public.coaching_sessions', 'coaching_session');
select governance.expose_soft_delete('app_public.transcriptions', 'transcription');
--! EndIncluded soft-delete/api.sql
