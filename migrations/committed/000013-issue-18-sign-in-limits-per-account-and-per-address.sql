--! Previous: sha1:a45d9576e2da38ac4e92d3a7a2b4528ba98512cf
--! Hash: sha1:cecb3df5bd9b00f9e11318d2ea376a6984cabd37
--! Message: issue 18 sign-in limits per account and per address

-- Sign-in limits (issue 18): refused attempts per account and per address in
-- a sliding window, counted in app_private.sign_in_attempts so that every API
-- server shares them; over a limit the password is not checked.

alter type app_private.sign_in_outcome add value if not exists 'rate_limited';
comment on type app_private.sign_in_outcome is
  E'How a sign-in attempt ended: signed_in, or refused for a wrong password, an email no account has, a disabled account (right password), or too many refused attempts (rate_limited: the password was not checked).';

-- The new enum value cannot be named in this transaction, so the checks compare its text.
alter table app_private.sign_in_attempts
  drop constraint sign_in_attempts_check,
  add constraint sign_in_attempts_unknown_email_check check (outcome <> 'unknown_email' or user_id is null),
  add constraint sign_in_attempts_no_user_check check (user_id is not null or outcome::text in ('unknown_email', 'rate_limited')),
  add column client_address text check (length(client_address) <= 100);
comment on column app_private.sign_in_attempts.client_address is
  E'The address the attempt came from, as the API saw it (custodian.client_ip); null from a session that set none. Personal data, sealed in the audit trail.';
comment on column app_private.sign_in_attempts.outcome is E'signed_in, wrong_password, unknown_email, disabled or rate_limited.';
select audit.set_column_policy('app_private.sign_in_attempts', 'client_address', 'pii');
-- What the limits count: refused attempts for an email, and from an address, in the window.
create index sign_in_attempts_email_recent_idx on app_private.sign_in_attempts (email, attempted_at);
create index sign_in_attempts_address_recent_idx on app_private.sign_in_attempts (client_address, attempted_at) where client_address is not null;

alter type app_public.jwt_token add attribute refused_retry_after integer;
comment on type app_public.jwt_token is
  E'The claims of a signed session token; the server adds the expiry. A refused sign-in has no claims but refused_code (CREDS, 28000, RATE_LIMITED), refused_message and, when rate-limited, refused_retry_after (seconds), which the API turns into an error.';

create table app_private.sign_in_limits (
  id boolean primary key default true check (id),
  max_per_account integer not null default 10 check (max_per_account between 1 and 1000000),
  max_per_address integer not null default 50 check (max_per_address between 1 and 1000000),
  window_seconds integer not null default 900 check (window_seconds between 1 and 86400)
);
comment on table app_private.sign_in_limits is
  E'The one row of sign-in limits app_public.authenticate applies. Only the owner writes it: `custodian start` copies SIGN_IN_MAX_PER_ACCOUNT, SIGN_IN_MAX_PER_ADDRESS and SIGN_IN_WINDOW_SECONDS here, so every API server on the database applies the same and no session can raise them for itself. Not audit-tracked: it is configuration, rewritten from the environment at each start.';
comment on column app_private.sign_in_limits.id is E'Always true: the table has one row.';
comment on column app_private.sign_in_limits.max_per_account is E'Refused attempts for one email in the window before its sign-ins are refused unchecked.';
comment on column app_private.sign_in_limits.max_per_address is E'Refused attempts from one address (any email) in the window before its sign-ins are refused unchecked.';
comment on column app_private.sign_in_limits.window_seconds is E'The sliding window the attempts are counted in, in seconds.';
alter table app_private.sign_in_limits enable row level security;
insert into app_private.sign_in_limits default values;

--! Included auth/sign-in-limits.sql
-- How many refused sign-ins an account and an address may have in a sliding
-- window before app_public.authenticate stops checking passwords for them.
-- The counters are app_private.sign_in_attempts itself, so every API server
-- shares them; the limits are app_private.sign_in_limits, which only the
-- owner writes (`custodian start` copies SIGN_IN_MAX_PER_ACCOUNT,
-- SIGN_IN_MAX_PER_ADDRESS and SIGN_IN_WINDOW_SECONDS there), so no session
-- can raise them for itself.

create or replace function app_private.is_refused_sign_in(outcome app_private.sign_in_outcome) returns boolean as $$
  select outcome::text in ('wrong_password', 'unknown_email');
$$ language sql immutable;
comment on function app_private.is_refused_sign_in(app_private.sign_in_outcome) is
  E'Whether an attempt counts towards the limits: a wrong password or an unknown email. A disabled account''s attempt had the right password, and a rate-limited one checked none, so neither counts: a lock ends at most one window after the last guess.';

create or replace function app_private.sign_in_address_is_known(user_id uuid, address text) returns boolean as $$
  select exists (
    select from app_private.sign_in_attempts a
    where a.user_id = sign_in_address_is_known.user_id and a.client_address = sign_in_address_is_known.address
      and a.outcome = 'signed_in' and a.attempted_at > pg_catalog.now() - interval '30 days');
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.sign_in_address_is_known(uuid, text) is
  E'Whether the account signed in from this address in the last 30 days. Such an address counts only its own refused attempts against the account, so that someone guessing from elsewhere cannot lock the account''s holder out.';
revoke all on function app_private.sign_in_address_is_known(uuid, text) from public;

create or replace function app_private.seconds_until_below(attempted_at timestamptz[], max_attempts integer, window_length interval)
returns integer as $$
  -- attempted_at is in ascending order: once the first (n - max + 1) leave the window, fewer than max remain.
  select case when pg_catalog.cardinality(attempted_at) < max_attempts then null
    else greatest(1, pg_catalog.ceil(extract(epoch from
      attempted_at[pg_catalog.cardinality(attempted_at) - max_attempts + 1] + window_length - pg_catalog.now())))::integer
  end;
$$ language sql stable;
comment on function app_private.seconds_until_below(timestamptz[], integer, interval) is
  E'Null when fewer than max_attempts attempts (ascending) are in the window; otherwise the whole seconds (at least 1) until enough of the oldest leave it for one more attempt.';

create or replace function app_private.sign_in_wait(email citext, user_id uuid, address text,
  out limit_reached text, out retry_after_seconds integer) as $$
declare
  limits app_private.sign_in_limits;
  window_length interval;
  known_address boolean := address is not null and user_id is not null and app_private.sign_in_address_is_known(user_id, address);
begin
  select l.* into strict limits from app_private.sign_in_limits l;
  window_length := pg_catalog.make_interval(secs => limits.window_seconds);
  retry_after_seconds := app_private.seconds_until_below(array(
    select a.attempted_at from app_private.sign_in_attempts a
    where a.email = sign_in_wait.email and a.attempted_at > pg_catalog.now() - window_length
      and app_private.is_refused_sign_in(a.outcome)
      and (not known_address or a.client_address = address)
    order by a.attempted_at), limits.max_per_account, window_length);
  if retry_after_seconds is not null then
    limit_reached := 'account';
    return;
  end if;
  if address is null then return; end if;
  retry_after_seconds := app_private.seconds_until_below(array(
    select a.attempted_at from app_private.sign_in_attempts a
    where a.client_address = address and a.attempted_at > pg_catalog.now() - window_length
      and app_private.is_refused_sign_in(a.outcome)
    order by a.attempted_at), limits.max_per_address, window_length);
  if retry_after_seconds is not null then limit_reached := 'address'; end if;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.sign_in_wait(citext, uuid, text) is
  E'Whether a sign-in with this email, from this address, is over a limit of app_private.sign_in_limits: ''account'' (refused attempts for the email; from an address the account signed in from lately, only that address''s) or ''address'' (refused attempts from the address, any email), with the seconds until one more attempt is allowed; nulls when within both.';
revoke all on function app_private.sign_in_wait(citext, uuid, text) from public;
--! EndIncluded auth/sign-in-limits.sql
--! Included auth/authenticate.sql
-- Sign-in: an email and a password make a session token. Every attempt,
-- refused or not, is a row of app_private.sign_in_attempts (audited), so a
-- refusal is answered with a row rather than an error: an error would roll
-- the record of the attempt back with it. Over a limit of
-- auth/sign-in-limits.sql, the password is not checked and the answer says
-- which limit and how long to wait.

create or replace function app_private.sign_in_subject(email citext) returns uuid as $$
  select coalesce(
    (select a.subject_id from app_private.sign_in_attempts a
     where a.email = sign_in_subject.email and a.user_id is null
     order by a.attempted_at limit 1),
    pg_catalog.gen_random_uuid());
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.sign_in_subject(citext) is
  E'The person the audit trail files an attempt with an unknown email under: the same id for every attempt with that email, so that their pii is sealed under one key and one audit.destroy_subject_key erases it.';
revoke all on function app_private.sign_in_subject(citext) from public;

create or replace function app_public.authenticate(email citext, password text) returns app_public.jwt_token as $$
declare
  account app_public.users;
  stored_hash text;
  outcome app_private.sign_in_outcome;
  new_session_id uuid;
  attempted_email citext := pg_catalog.left(coalesce(email::text, ''), 320);
  -- Set by the API from the request (src/server/auth.ts); a psql session has none unless it sets one.
  address text := nullif(pg_catalog.left(pg_catalog.current_setting('custodian.client_ip', true), 100), '');
  wait record;
begin
  -- One attempt per email at a time, so that attempts sent at once are counted one after another.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('custodian.sign_in:' || pg_catalog.lower(attempted_email::text), 0));
  select u.* into account from app_public.users u where u.email = authenticate.email;
  select s.password_hash into stored_hash from app_private.user_secrets s where s.user_id = account.id;
  select * into wait from app_private.sign_in_wait(attempted_email, account.id, address);
  if wait.limit_reached is not null then
    outcome := 'rate_limited';
  elsif stored_hash is null then
    -- Hash even when the account is missing, so timing does not reveal which emails exist.
    perform crypt(coalesce(password, ''), gen_salt('bf', 10));
    outcome := case when account.id is null then 'unknown_email' else 'wrong_password' end;
  elsif crypt(coalesce(password, ''), stored_hash) <> stored_hash then
    outcome := 'wrong_password';
  elsif account.disabled_at is not null then
    outcome := 'disabled';
  else
    -- No token lives longer than 30 days (JWT_TTL_SECONDS), nor need its session.
    delete from app_private.user_sessions s
      where s.user_id = account.id and s.created_at < pg_catalog.now() - interval '30 days';
    insert into app_private.user_sessions (user_id) values (account.id) returning id into new_session_id;
    outcome := 'signed_in';
  end if;

  insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, session_id, client_address)
  values (attempted_email, account.id, coalesce(account.id, app_private.sign_in_subject(attempted_email)), outcome, new_session_id, address);

  return case outcome
    when 'signed_in' then (account.role::text, account.id, new_session_id, null, null, null)::app_public.jwt_token
    when 'disabled' then (null, null, null, '28000', 'This account is disabled; an admin can enable it again.', null)::app_public.jwt_token
    -- An unknown email is limited like a known one, so the answer does not tell them apart either.
    when 'rate_limited' then (null, null, null, 'RATE_LIMITED',
      pg_catalog.format('Too many sign-in attempts %s; try again in %s seconds.',
        case wait.limit_reached when 'account' then 'for this account' else 'from this address' end, wait.retry_after_seconds),
      wait.retry_after_seconds)::app_public.jwt_token
    -- A wrong email and a wrong password read the same.
    else (null, null, null, 'CREDS', 'Incorrect email or password.', null)::app_public.jwt_token
  end;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.authenticate(citext, text) is
  E'@resultFieldName jwtToken\nChecks an email and password and returns a signed token for a new session. A wrong email and a wrong password give the same error, and a disabled account cannot sign in. Too many refused attempts for the email, or from the caller''s address, in the sign-in window are answered with RATE_LIMITED and the seconds to wait, without checking the password. Every attempt, successful or refused, is recorded in the audit trail; the password never is.';

grant execute on function app_public.authenticate(citext, text)
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded auth/authenticate.sql
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
