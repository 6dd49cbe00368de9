--! Previous: sha1:7897386f1a56fe357b5637ab0ae204d9efb483d1
--! Hash: sha1:6f1b86b1addf19911b2eb8bb08f36d29f6c17152
--! Message: issue 13

-- Accounts: every sign-in attempt in the audit trail, password changes and
-- resets, disabling that ends sessions for good, one password rule.
--
-- A refused sign-in is answered with a row, not an error, so that the record
-- of the attempt is not rolled back with it: app_public.jwt_token carries the
-- refusal's SQLSTATE and words instead of claims (the API turns them into an
-- error and never signs such a row).

alter type app_public.jwt_token
  add attribute refused_code text,
  add attribute refused_message text;
comment on type app_public.jwt_token is
  E'The claims of a signed session token; the server adds the expiry. A refused sign-in has no claims but refused_code (a SQLSTATE: CREDS, 28000) and refused_message, which the API turns into an error.';

create type app_private.sign_in_outcome as enum ('signed_in', 'wrong_password', 'unknown_email', 'disabled');
comment on type app_private.sign_in_outcome is
  E'How a sign-in attempt ended: signed_in, or refused for a wrong password, an email no account has, or a disabled account (right password).';

create table app_private.sign_in_attempts (
  id uuid primary key default gen_random_uuid(),
  attempted_at timestamptz not null default pg_catalog.now(),
  email citext not null check (length(email) <= 320),
  user_id uuid references app_public.users on delete cascade,
  subject_id uuid not null,
  outcome app_private.sign_in_outcome not null,
  session_id uuid,
  check ((outcome = 'unknown_email') = (user_id is null)),
  check (user_id is null or subject_id = user_id),
  check ((outcome = 'signed_in') = (session_id is not null))
);
create index sign_in_attempts_user_id_idx on app_private.sign_in_attempts (user_id);
create index sign_in_attempts_unknown_email_idx on app_private.sign_in_attempts (email) where user_id is null;
comment on table app_private.sign_in_attempts is
  E'One row per sign-in attempt, successful or refused, written by app_public.authenticate for every caller; never the password. Audited: sign-ins are read through the audit trail (table app_private.sign_in_attempts), with who asked from where in its attribution.';
comment on column app_private.sign_in_attempts.email is E'The email as given (at most 320 characters): personal data, sealed in the audit trail under the key of the person it names.';
comment on column app_private.sign_in_attempts.user_id is E'The account the email names; null when none does.';
comment on column app_private.sign_in_attempts.subject_id is
  E'The person the attempt''s personal data is about: the account, or for an unknown email one id per email (app_private.sign_in_subject), so that audit.destroy_subject_key erases it.';
comment on column app_private.sign_in_attempts.outcome is E'signed_in, wrong_password, unknown_email or disabled.';
comment on column app_private.sign_in_attempts.session_id is E'The session a successful attempt opened.';
alter table app_private.sign_in_attempts enable row level security;
select audit.enable_tracking('app_private.sign_in_attempts', owner_column => 'user_id', subject_column => 'subject_id');
select audit.set_column_policy('app_private.sign_in_attempts', 'email', 'pii');

comment on column app_private.user_sessions.signed_out_at is
  E'When the session ended: signed out, the password changed or was reset, or the account was disabled. Its token is refused from then on.';

-- Tokens that outlived a disable would come back when the account is enabled again.
update app_private.user_sessions s set signed_out_at = pg_catalog.now()
from app_public.users u
where u.id = s.user_id and u.disabled_at is not null and s.signed_out_at is null;

--! Included auth/create-user.sql
-- Accounts: created with a bcrypt-hashed password (the CLI and the seed).

create or replace function app_private.assert_acceptable_password(password text) returns void as $$
begin
  if password is null or length(password) < 8 then
    raise exception 'The password must be at least 8 characters long.' using errcode = 'WEAKP';
  end if;
  -- bcrypt reads no further: the rest would be silently ignored.
  if octet_length(password) > 72 then
    raise exception 'The password may be at most 72 bytes long (bcrypt ignores the rest).' using errcode = 'WEAKP';
  end if;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.assert_acceptable_password(text) is
  E'The one password rule, for new accounts, changed and reset passwords alike: 8 characters at least, 72 bytes at most (what bcrypt reads); refused with WEAKP.';

create or replace function app_private.create_user(
  email citext, password text, role app_public.user_role, display_name text default null
) returns app_public.users as $$
declare
  new_user app_public.users;
begin
  perform app_private.assert_acceptable_password(password);
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
--! Included auth/authenticate.sql
-- Sign-in: an email and a password make a session token. Every attempt,
-- refused or not, is a row of app_private.sign_in_attempts (audited), so a
-- refusal is answered with a row rather than an error: an error would roll
-- the record of the attempt back with it.

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
begin
  select u.* into account from app_public.users u where u.email = authenticate.email;
  select s.password_hash into stored_hash from app_private.user_secrets s where s.user_id = account.id;
  if stored_hash is null then
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

  insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, session_id)
  values (attempted_email, account.id, coalesce(account.id, app_private.sign_in_subject(attempted_email)), outcome, new_session_id);

  return case outcome
    when 'signed_in' then (account.role::text, account.id, new_session_id, null, null)::app_public.jwt_token
    when 'disabled' then (null, null, null, '28000', 'This account is disabled; an admin can enable it again.')::app_public.jwt_token
    -- A wrong email and a wrong password read the same.
    else (null, null, null, 'CREDS', 'Incorrect email or password.')::app_public.jwt_token
  end;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.authenticate(citext, text) is
  E'@resultFieldName jwtToken\nChecks an email and password and returns a signed token for a new session. A wrong email and a wrong password give the same error, and a disabled account cannot sign in. Every attempt, successful or refused, is recorded in the audit trail; the password never is.';

grant execute on function app_public.authenticate(citext, text)
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded auth/authenticate.sql
--! Included auth/accounts.sql
-- Keeping an account: changing one's password, an operator's reset, disabling
-- and enabling. A password change or a reset ends the account's other
-- sessions; disabling ends all of them, so that enabling again does not bring
-- old tokens back.

create or replace function app_private.end_sessions(user_id uuid, except_session_id uuid default null) returns integer as $$
  with ended as (
    update app_private.user_sessions s set signed_out_at = pg_catalog.now()
    where s.user_id = end_sessions.user_id and s.signed_out_at is null
      and s.id is distinct from end_sessions.except_session_id
    returning 1)
  select count(*)::integer from ended;
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.end_sessions(uuid, uuid) is
  E'Ends every open session of an account but one (when named): their tokens are refused from the next request on. The number ended.';
revoke all on function app_private.end_sessions(uuid, uuid) from public;

create or replace function app_public.change_password(current_password text, new_password text) returns integer as $$
declare
  me uuid := app_public.current_user_id();
  stored_hash text;
begin
  select s.password_hash into stored_hash from app_private.user_secrets s where s.user_id = me for update;
  if me is null or stored_hash is null or crypt(coalesce(current_password, ''), stored_hash) <> stored_hash then
    raise exception 'The current password is incorrect; the password was not changed.' using errcode = 'CREDS';
  end if;
  perform app_private.assert_acceptable_password(new_password);
  if crypt(new_password, stored_hash) = stored_hash then
    raise exception 'The new password is the current one; choose another.' using errcode = 'WEAKP';
  end if;
  update app_private.user_secrets s
    set password_hash = crypt(new_password, gen_salt('bf', 10)), password_changed_at = pg_catalog.now()
    where s.user_id = me;
  -- Whoever else holds a token of this account is signed out; the session that changed it goes on.
  return app_private.end_sessions(me, nullif(pg_catalog.current_setting('jwt.claims.session_id', true), '')::uuid);
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.change_password(text, text) is
  E'@resultFieldName otherSessionsEnded\nChanges the signed-in user''s own password, given the current one; the new one follows the rule every password follows (8 characters at least, 72 bytes at most). Every other session of the account ends (their tokens are refused from the next request on); this one goes on. The number of sessions ended.';
revoke all on function app_public.change_password(text, text) from public;
grant execute on function app_public.change_password(text, text) to custodian_coach, custodian_admin, custodian_auditor;

create or replace function app_private.account_by_email(email citext) returns app_public.users as $$
declare
  account app_public.users;
begin
  select u.* into account from app_public.users u where u.email = account_by_email.email;
  if not found then
    raise exception 'No account has the email %.', email using errcode = 'P0002';
  end if;
  return account;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.account_by_email(citext) is
  E'The account with an email; an error naming the email when there is none.';
revoke all on function app_private.account_by_email(citext) from public;

create or replace function app_private.set_password(email citext, new_password text) returns app_public.users as $$
declare
  account app_public.users := app_private.account_by_email(email);
begin
  perform app_private.assert_acceptable_password(new_password);
  insert into app_private.user_secrets (user_id, password_hash)
    values (account.id, crypt(new_password, gen_salt('bf', 10)))
    on conflict (user_id) do update set password_hash = excluded.password_hash, password_changed_at = pg_catalog.now();
  perform app_private.end_sessions(account.id);
  return account;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.set_password(citext, text) is
  E'An operator''s reset of an account''s password (custodian users set-password): the same rule as every password; every session of the account ends.';
revoke all on function app_private.set_password(citext, text) from public;

create or replace function app_private.set_disabled(email citext, disabled boolean) returns app_public.users as $$
  update app_public.users u
    set disabled_at = case when set_disabled.disabled then coalesce(u.disabled_at, pg_catalog.now()) end
    where u.id = (app_private.account_by_email(set_disabled.email)).id
    returning u.*;
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.set_disabled(citext, boolean) is
  E'Disables an account (keeping the first time it was disabled) or enables it again (custodian users disable / enable). The account as it is now.';
revoke all on function app_private.set_disabled(citext, boolean) from public;

create or replace function app_private.tg_users__end_sessions_when_disabled() returns trigger as $$
begin
  perform app_private.end_sessions(new.id);
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_users__end_sessions_when_disabled() is
  E'Disabling an account, by whatever writer, ends its sessions: enabling it again lets it sign in anew, but does not bring back the tokens it had.';

drop trigger if exists _900_end_sessions_when_disabled on app_public.users;
create trigger _900_end_sessions_when_disabled after update of disabled_at on app_public.users
  for each row when (old.disabled_at is null and new.disabled_at is not null)
  execute function app_private.tg_users__end_sessions_when_disabled();
--! EndIncluded auth/accounts.sql

-- Issue 13, plain answers: words for every constraint a write can break.
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
    -- governance
    ('governance.hard_deletions', 'hard_deletions_reason_check', 'A hard delete''s reason must be 3 to 2,000 characters, not only spaces.')
$$ language sql immutable;
comment on function app_private.constraint_words() is
  E'The sentence a user reads when a write breaks a constraint or unique index: one row per (table, constraint), naming the field as the API spells it and the rule.';

-- The API server reads them once, as itself, before any request role is set.
revoke all on function app_private.constraint_words() from public;
grant execute on function app_private.constraint_words() to custodian_authenticator;
--! EndIncluded domain/constraint-words.sql

-- Issue 13, correct books.

-- An invoice as it stands (a preview of an open month) has no close time; a
-- frozen invoice always has one.
alter table app_public.invoices alter column closed_at drop not null;
alter table app_public.invoices drop constraint if exists invoices_closed_at_check;
alter table app_public.invoices add constraint invoices_closed_at_check check (closed_at is not null);
comment on column app_public.invoices.closed_at is
  E'When the month was closed; null in a preview of a month not closed yet.';

-- Money an admin types has an upper bound, like credits: a plan's fee and its
-- price per minute (a few digits too many would overflow the month's sums).
alter table app_public.billing_plans drop constraint if exists billing_plans_monthly_fee_minor_bound;
alter table app_public.billing_plans add constraint billing_plans_monthly_fee_minor_bound
  check (monthly_fee_minor <= 100000000);
alter table app_public.billing_plans drop constraint if exists billing_plans_price_per_extra_minute_minor_bound;
alter table app_public.billing_plans add constraint billing_plans_price_per_extra_minute_minor_bound
  check (price_per_extra_minute_minor <= 1000000);

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
  -- Coaches pay the fee of a month in which their profile was live at some
  -- point. Months are UTC months, whatever the session's time zone.
  live as (
    select cp.id as coach_profile_id, cp.plan_id from app_public.coach_profiles cp
    where cp.created_at < ($1 + interval '1 month') at time zone 'UTC'
      and (not cp.is_deleted or cp.deleted_at >= $1::timestamp at time zone 'UTC') and %2$s),
  -- Every coach with a fee or billed events. The fee is due for a month in
  -- which the profile was live, or had attempts billed and was not deleted
  -- before it; credits and voids alone never make one due.
  coaches as (
    select l.coach_profile_id, l.plan_id, true as live from live l
    union all
    select e.coach_profile_id, coalesce(cp.plan_id, e.last_plan_id),
      e.attempts > 0 and coalesce(not cp.is_deleted or cp.deleted_at >= $1::timestamp at time zone 'UTC', false)
    from events e
    left join app_public.coach_profiles cp on cp.id = e.coach_profile_id
    where not exists (select from live l where l.coach_profile_id = e.coach_profile_id))
  select c.coach_profile_id, $1, p.id, p.name, coalesce(p.currency, 'EUR'),
    case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end::bigint, coalesce(p.included_minutes, 0),
    coalesce(e.audio_seconds, 0)::bigint, coalesce(e.included_seconds, 0)::bigint, coalesce(e.charged_seconds, 0)::bigint,
    coalesce(e.usage_minor, 0)::bigint, coalesce(e.credits_minor, 0)::bigint,
    (case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end + coalesce(e.usage_minor, 0) + coalesce(e.credits_minor, 0))::bigint,
    -- Not closed: an invoice as it stands has no close time (close_month stamps it).
    coalesce(e.late_events, 0)::integer, null::timestamptz
  from coaches c
  left join events e on e.coach_profile_id = c.coach_profile_id
  left join app_public.billing_plans p on p.id = c.plan_id$q$,
    case when only_coach is null then 'true' else 'e.coach_profile_id = $2' end,
    case when only_coach is null then 'true' else 'cp.id = $2' end)
  using month, only_coach;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.month_invoices(date, uuid) is
  E'Every coach''s invoice for a billing month as it stands: plan fee, the month''s attempt amounts, credits and voids; closed_at is null (not closed).';

create or replace function app_public.invoice_preview(coach_profile_id uuid default null, month date default null)
returns setof app_public.invoices as $$
begin
  perform app_private.require_visible_coach_profile(invoice_preview.coach_profile_id);
  return query
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
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.invoice_preview(uuid, date) is
  E'Invoices of a month (default: the current one): frozen ones once the month is closed (closed_at says when), else as they stand now (plan fee, included minutes, overage, credits; closed_at null). Admins and auditors see every coach; a coach their own (naming any other is refused: no coach profile you can see).';

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
  insert into app_public.invoices (coach_profile_id, month, plan_id, plan_name, currency, plan_fee_minor, included_minutes,
    audio_seconds, included_seconds, charged_seconds, usage_minor, credits_minor, total_minor, late_events, closed_at)
  select i.coach_profile_id, i.month, i.plan_id, i.plan_name, i.currency, i.plan_fee_minor, i.included_minutes,
    i.audio_seconds, i.included_seconds, i.charged_seconds, i.usage_minor, i.credits_minor, i.total_minor, i.late_events,
    pg_catalog.now()
  from app_private.month_invoices(closing) i;
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

create or replace function app_private.credit_override_ceiling_minor() returns bigint as $$
  select 10000000::bigint;
$$ language sql immutable;
comment on function app_private.credit_override_ceiling_minor() is
  E'The largest credit an admin may issue even with an override reason, in minor units (100,000.00 of the currency): a typo of a few digits is refused whatever the reason.';

create or replace function app_private.credit_limit_minor(coach_profile_id uuid, month date) returns bigint as $$
  -- Frozen invoices of closed months, invoices as they stand for open ones:
  -- both already count earlier credits and voids.
  select greatest(coalesce(sum(total), 0), 0)::bigint from (
    select i.total_minor as total from app_public.invoices i
    where i.coach_profile_id = credit_limit_minor.coach_profile_id
      and i.month > (credit_limit_minor.month - interval '13 months') and i.month <= credit_limit_minor.month
    union all
    select i.total_minor
    from pg_catalog.generate_series(credit_limit_minor.month - interval '12 months', credit_limit_minor.month, interval '1 month') m,
      app_private.month_invoices(m::date, credit_limit_minor.coach_profile_id) i
    where i.coach_profile_id = credit_limit_minor.coach_profile_id
      and not exists (select from app_public.billing_months b where b.month = m::date)) charged;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.credit_limit_minor(uuid, date) is
  E'The most a coach may be credited in a billing month without an override: what the coach was charged (plan fees and usage, net of credits and voids already given) in that month and the 12 before it, never below 0.';

drop function if exists app_public.issue_usage_credit(uuid, bigint, text);
create or replace function app_public.issue_usage_credit(coach_profile_id uuid, amount_minor bigint, reason text,
  override_reason text default null)
returns app_public.usage_events as $$
declare
  event app_public.usage_events;
  month date;
  charged bigint;
  ceiling bigint := app_private.credit_override_ceiling_minor();
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
  if override_reason is not null and length(btrim(override_reason)) < 10 then
    raise exception 'An override needs its own reason of at least 10 characters (why the credit may exceed what the coach was charged).'
      using errcode = '22023';
  end if;
  if not exists (select from app_public.coach_profiles p where p.id = issue_usage_credit.coach_profile_id) then
    raise exception 'No coach profile with id %.', coach_profile_id using errcode = '23503';
  end if;
  -- One credit decision at a time per coach, so that two cannot both fit the same charges.
  perform pg_catalog.pg_advisory_xact_lock('app_public.usage_events'::pg_catalog.regclass::pg_catalog.oid::integer,
    pg_catalog.hashtext(coach_profile_id::text));
  if amount_minor > ceiling then
    raise exception 'A credit of % minor units is above the limit of % minor units for any one credit, even with an override.',
      amount_minor, ceiling
      using errcode = '23514', constraint = 'usage_credit_within_ceiling',
        hint = 'Check the amount: it is in minor units (cents).';
  end if;
  if override_reason is null then
    charged := app_private.credit_limit_minor(coach_profile_id, month);
    if amount_minor > charged then
      raise exception 'A credit of % minor units is above what coach profile % was charged in % and the 12 months before it (% minor units, net of earlier credits): the most it can be credited is %.',
        amount_minor, coach_profile_id, pg_catalog.to_char(month, 'YYYY-MM'), charged, charged
        using errcode = '23514', constraint = 'usage_credit_within_charges',
          hint = 'Credit less, or give override_reason to credit more (up to the limit for any one credit).';
    end if;
  end if;
  insert into app_public.usage_events (kind, occurred_at, coach_profile_id, billable, billing_reason, amount_minor,
                                       usage_month, billing_month, rule_version, note, created_by)
  values ('credit', pg_catalog.now(), coach_profile_id, false, 'credit', -amount_minor, month, month,
          app_public.billing_rule_version(),
          btrim(reason) || case when override_reason is not null then ' (override: ' || btrim(override_reason) || ')' else '' end,
          app_public.current_user_id())
  returning * into event;
  return event;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.issue_usage_credit(uuid, bigint, text, text) is
  E'Credits a coach an amount (minor units) with a reason: a new, negative usage event in the current open month. The credit may not exceed what the coach was charged in that month and the 12 before it, net of earlier credits (SQLSTATE 23514, usage_credit_within_charges), unless override_reason says why; no credit exceeds 10,000,000 minor units (usage_credit_within_ceiling). Admins only.';

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

revoke all on function app_public.issue_usage_credit(uuid, bigint, text, text), app_public.void_usage_event(bigint, text) from public;
grant execute on function app_public.issue_usage_credit(uuid, bigint, text, text), app_public.void_usage_event(bigint, text)
  to custodian_admin;
--! EndIncluded usage/corrections.sql
--! Included domain/transcription-status.sql
-- A transcription's status moves one way: queued -> processing -> completed
-- or failed. A retry or a re-transcription is a new attempt (a new row, with
-- retry_of), never an old one sent back: its first terminal status is what
-- was billed (usage/capture.sql), and so are the facts it was billed on.

create or replace function app_private.tg_transcriptions__status_transition() returns trigger as $$
begin
  -- The transitions an attempt may make; anything else (back to queued, out
  -- of a terminal status, skipping processing) is refused.
  if (old.status, new.status) not in (('queued', 'processing'), ('processing', 'completed'), ('processing', 'failed')) then
    raise exception '%', case
        when old.status in ('completed', 'failed') then pg_catalog.format(
          'Transcription %s is %s, which is final: it cannot go from %s to %s. To try again, create a new attempt with retry_of = %s.',
          old.id, old.status, old.status, new.status, old.id)
        else pg_catalog.format(
          'Transcription %s cannot go from %s to %s: an attempt goes from queued to processing, then to completed or failed.',
          old.id, old.status, new.status)
      end
      using errcode = '55000', column = 'status', table = 'transcriptions', schema = 'app_public',
        hint = 'Allowed: queued -> processing, processing -> completed, processing -> failed.';
  end if;
  return new;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__status_transition() is
  E'Allows a transcription attempt''s status to go from queued to processing and from processing to completed or failed, and refuses any other change, naming the from and to statuses (SQLSTATE 55000), for every writer.';

-- Before the other row triggers (_050_derive stamps the times of a status).
drop trigger if exists _010_status_transition on app_public.transcriptions;
create trigger _010_status_transition before update of status on app_public.transcriptions
  for each row when (old.status is distinct from new.status)
  execute function app_private.tg_transcriptions__status_transition();

-- What a finished attempt was billed on stays as it was billed: the usage
-- event priced it from these columns, once (usage/capture.sql).
create or replace function app_private.tg_transcriptions__billed_facts() returns trigger as $$
declare
  changed text[] := array_remove(array[
    case when new.billed_duration_seconds is distinct from old.billed_duration_seconds then 'billed_duration_seconds' end,
    case when new.provider is distinct from old.provider then 'provider' end,
    case when new.model is distinct from old.model then 'model' end,
    case when new.started_at is distinct from old.started_at then 'started_at' end,
    case when new.finished_at is distinct from old.finished_at then 'finished_at' end,
    case when new.session_id is distinct from old.session_id then 'session_id' end,
    case when new.coach_profile_id is distinct from old.coach_profile_id then 'coach_profile_id' end], null);
begin
  if cardinality(changed) > 0 then
    raise exception 'Transcription % is %, and its usage was billed from what it was then: % cannot change. To correct the charge, void its usage event or issue a credit; to transcribe again, create a new attempt.',
      old.id, old.status, array_to_string(changed, ', ')
      using errcode = '55000', column = changed[1], table = 'transcriptions', schema = 'app_public';
  end if;
  return new;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__billed_facts() is
  E'Refuses, to every writer, a change to what a completed or failed attempt was billed on (billed duration, provider, model, start and finish times, session, coach), naming the columns (SQLSTATE 55000). The transcript text and language may still be corrected.';

-- After _050_derive, whose checks (a negative duration) speak first.
drop trigger if exists _070_billed_facts on app_public.transcriptions;
create trigger _070_billed_facts
  before update of billed_duration_seconds, provider, model, started_at, finished_at, session_id, coach_profile_id
  on app_public.transcriptions
  for each row when (old.status in ('completed', 'failed') and new.status = old.status)
  execute function app_private.tg_transcriptions__billed_facts();
--! EndIncluded domain/transcription-status.sql

-- Consistency: enums for the analytics' granularity and the audit trail's
-- operation and actor kind (GraphQL offers their values; a wrong one is
-- refused before any SQL runs), clients searchable and sortable by name and
-- email, and a coach who asks for another coach's usage is told so.

create type app_public.usage_granularity as enum ('day', 'week', 'month');
comment on type app_public.usage_granularity is E'The length of the periods usage is counted by: a day, an ISO week (from Monday) or a calendar month.';

comment on type audit.operation is E'@name AuditOperation\nThe kind of write an event records.';
comment on type audit.actor_kind is
  E'@name AuditActorKind\nWho wrote: an API user, a worker job, a migration, a Custodian command (system), or an unattributed session (unknown).';

-- The readers return the trail's enums, not their text.
alter type app_public.audit_event
  alter attribute operation type audit.operation,
  alter attribute actor_kind type audit.actor_kind;

comment on column app_public.clients.full_name is E'@behavior +orderBy +filterBy\nThe client''s full name.';
comment on column app_public.clients.email is E'@behavior +orderBy +filterBy\nThe client''s email; unique among one coach''s clients.';

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

-- operation and actor_kind were text, checked here, before they were the trail's enums.
drop function if exists audit.check_filter(text, text, timestamptz, timestamptz);
create or replace function audit.check_filter(occurred_from timestamptz, occurred_before timestamptz)
returns boolean as $$
begin
  if occurred_from >= occurred_before then
    raise exception 'The time range is empty: occurredFrom (%) must be before occurredBefore (%).', occurred_from, occurred_before
      using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.check_filter(timestamptz, timestamptz) is
  E'Refuses a time range that cannot hold anything, with an error naming the problem. Immutable, so it runs while the query is planned, before partition pruning can make the query skip it. (The operation and actor kind are enums: the caller''s door checks them.)';

grant execute on function audit.resolve_table(text), audit.resolve_record_key(text, jsonb),
  audit.check_filter(timestamptz, timestamptz)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/filters.sql
--! Included audit/read-api.sql
-- Reading the trail through the API: events, a record's history, a record as of a time.

-- actor_kind and operation were text before they were the trail's enums.
drop function if exists app_public.audit_events(text, jsonb, uuid, text, text, timestamptz, timestamptz);

create or replace function app_public.audit_events(
  table_name text default null,
  record_key jsonb default null,
  actor_id uuid default null,
  actor_kind audit.actor_kind default null,
  operation audit.operation default null,
  occurred_from timestamptz default null,
  occurred_before timestamptz default null
) returns setof app_public.audit_event as $$
  select e.id, e.occurred_at, e.table_schema, e.table_name, e.record_key, e.operation,
    audit.reveal(e.old_values, coalesce(e.old_subject_id, e.subject_id), e.owner_id),
    audit.reveal(e.new_values, e.subject_id, e.owner_id), e.changed_columns,
    e.transaction_id::text, t.actor_kind, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent,
    t.task, t.job_id, t.database_role, t.session_user_name, t.application_name, t.client_addr::text, e.details
  from audit.events e
  left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
  where (select audit.check_filter(audit_events.occurred_from, audit_events.occurred_before))
    and (audit_events.table_name is null or (
      e.table_schema = ((select audit.resolve_table(audit_events.table_name)))[1]
      and e.table_name = ((select audit.resolve_table(audit_events.table_name)))[2]))
    and (audit_events.record_key is null
      or e.record_key = (select audit.resolve_record_key(audit_events.table_name, audit_events.record_key)))
    and (audit_events.actor_id is null or t.user_id = audit_events.actor_id)
    and (audit_events.actor_kind is null or t.actor_kind = audit_events.actor_kind)
    and (audit_events.operation is null or e.operation = audit_events.operation)
    and (audit_events.occurred_from is null or e.occurred_at >= audit_events.occurred_from)
    and (audit_events.occurred_before is null or e.occurred_at < audit_events.occurred_before)
  order by e.id;
$$ language sql stable;
comment on function app_public.audit_events(text, jsonb, uuid, audit.actor_kind, audit.operation, timestamptz, timestamptz) is
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
  app_public.audit_events(text, jsonb, uuid, audit.actor_kind, audit.operation, timestamptz, timestamptz),
  app_public.audit_record_history(text, jsonb),
  app_public.audit_record_as_of(text, jsonb, timestamptz)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/read-api.sql
--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.

-- granularity was text before it was app_public.usage_granularity.
drop function if exists app_public.usage_over_time(date, date, text);
create or replace function app_public.usage_over_time(from_day date, to_day date,
  granularity app_public.usage_granularity default 'day')
returns setof app_public.usage_period as $$
begin
  perform app_private.check_range(from_day, to_day), app_private.check_granularity(granularity::text);
  return query
  select pg_catalog.date_trunc(granularity::text, r.day)::date,
    sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint, sum(r.free_retries)::bigint,
    sum(r.retranscriptions)::bigint, pg_catalog.round(sum(r.audio_seconds) / 60.0, 2),
    pg_catalog.round(sum(r.billable_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.revenue_minor) - sum(r.provider_cost_minor)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day
  group by 1 order by 1;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_over_time(date, date, app_public.usage_granularity) is
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
  -- A count outside 1 to 1000 is a mistake to name, not one to quietly correct.
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'maxRows must be from 1 to 1000, not %.', coalesce(max_rows::text, 'null') using errcode = '22023';
  end if;
  return query
  select d.coach_profile_id, sum(d.attempts)::bigint, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2),
    sum(d.revenue_minor)::bigint, sum(d.provider_cost_minor), sum(d.revenue_minor) - sum(d.provider_cost_minor)
  from app_private.usage_daily_visible d
  where d.day >= from_day and d.day < to_day
  group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
  limit max_rows;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.top_coaches(date, date, integer) is E'The coaches who brought the most revenue over a range of days (max_rows of them, 10 unless given, from 1 to 1000; any other count is refused); provider cost and margin for admins and auditors only.';

create or replace function app_public.revenue_summary(from_day date, to_day date)
returns table (revenue_minor bigint, provider_cost_minor numeric, gross_margin_minor numeric, gross_margin_ratio numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select s.revenue, s.cost, s.revenue - s.cost, pg_catalog.round((s.revenue - s.cost) / nullif(s.revenue, 0), 4)
  from (
    select coalesce(sum(r.revenue_minor), 0)::bigint as revenue,
      -- A coach's rollups carry no cost: null, not zero, and so no margin.
      case when (select app_private.is_staff()) then coalesce(sum(r.provider_cost_minor), 0) end as cost
    from app_private.usage_rollups r
    where r.day >= from_day and r.day < to_day) s;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date) is E'Usage revenue over a range of days, and for admins and auditors the provider cost and gross margin (null for a coach).';

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
    coalesce(sum(r.free_retries), 0)::bigint,
    case when (select app_private.is_staff()) then coalesce(sum(r.failed_cost_minor), 0) end
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.failure_stats(date, date) is
  E'Failure rate over a range of days, the failed retries, and what the failed (free) attempts cost us at the providers (admins and auditors only; null for a coach).';

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
    -- UTC months, whatever the session's time zone.
    left join app_public.coach_profiles cp on cp.created_at < (m.month + interval '1 month') at time zone 'UTC'
      and (not cp.is_deleted or cp.deleted_at >= m.month::timestamp at time zone 'UTC')
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
  app_public.usage_over_time(date, date, app_public.usage_granularity),
  app_public.usage_by_provider(date, date),
  app_public.top_coaches(date, date, integer),
  app_public.revenue_summary(date, date),
  app_public.retranscription_stats(date, date),
  app_public.failure_stats(date, date),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/analytics.sql
--! Included usage/usage-in-range.sql
-- The usage events of a range of days.

create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(usage_in_range.coach_profile_id);
  return query
  select e.* from app_private.usage_events_visible e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
    and (usage_in_range.coach_profile_id is null or e.coach_profile_id = usage_in_range.coach_profile_id)
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date, uuid) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), oldest first, of one coach if given: a coach''s own, or any coach''s for admins and auditors (any other is refused: no coach profile you can see). The provider cost is for admins and auditors only.';

grant execute on function app_public.usage_in_range(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/usage-in-range.sql
--! Included domain/client-search.sql
-- Finding a coach's clients by name or email.

create or replace function app_public.search_clients(term text, include_deleted boolean default false)
returns setof app_public.clients as $$
begin
  if term is null or pg_catalog.length(pg_catalog.btrim(term)) not between 1 and 200 then
    raise exception 'term must be 1 to 200 characters of a client''s name or email.' using errcode = '22023';
  end if;
  return query
  select c.* from app_public.clients c
  where (search_clients.include_deleted or not c.is_deleted)
    and (pg_catalog.strpos(pg_catalog.lower(c.full_name), pg_catalog.lower(pg_catalog.btrim(term))) > 0
      or pg_catalog.strpos(pg_catalog.lower(c.email::text), pg_catalog.lower(pg_catalog.btrim(term))) > 0)
  order by pg_catalog.lower(c.full_name), c.email, c.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.search_clients(text, boolean) is
  E'@behavior +order +orderBy +filter\nThe clients whose name or email contains term (ignoring case), by name unless orderBy says otherwise; under row-level security, so a coach finds only their own. Soft-deleted clients only with includeDeleted (admins and auditors; coaches never see them).';

grant execute on function app_public.search_clients(text, boolean) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded domain/client-search.sql

-- Integration of issue 13: one rule for naming a coach one may not see; deleting or restoring a row one may not see is "not found" (P0002).
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

create or replace function app_private.require_visible_coach_profile(coach_profile_id uuid) returns void as $$
begin
  -- Asking for a coach one may not see is an answer, not an empty list.
  if coach_profile_id is not null and not exists (
      select from app_public.coach_profiles cp
      where cp.id = coach_profile_id and (app_private.is_staff() or cp.id = app_private.current_coach_profile_id())) then
    raise exception 'There is no coach profile % that you can see.', coach_profile_id
      using errcode = 'P0002', hint = 'coachProfileId (coach_profile_id over REST) names a coach profile: your own, or any for admins and auditors.';
  end if;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.require_visible_coach_profile(uuid) is
  E'Refuses (P0002) a coach profile the caller may not see: a coach sees their own, admins and auditors any, deleted ones included. Null passes (no coach named).';

grant execute on function app_private.is_staff() to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.require_visible_coach_profile(uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/staff.sql
--! Included usage/usage-in-range.sql
-- The usage events of a range of days.

create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(usage_in_range.coach_profile_id);
  return query
  select e.* from app_private.usage_events_visible e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
    and (usage_in_range.coach_profile_id is null or e.coach_profile_id = usage_in_range.coach_profile_id)
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date, uuid) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), oldest first, of one coach if given: a coach''s own, or any coach''s for admins and auditors (any other is refused: no coach profile you can see). The provider cost is for admins and auditors only.';

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
  -- Coaches pay the fee of a month in which their profile was live at some
  -- point. Months are UTC months, whatever the session's time zone.
  live as (
    select cp.id as coach_profile_id, cp.plan_id from app_public.coach_profiles cp
    where cp.created_at < ($1 + interval '1 month') at time zone 'UTC'
      and (not cp.is_deleted or cp.deleted_at >= $1::timestamp at time zone 'UTC') and %2$s),
  -- Every coach with a fee or billed events. The fee is due for a month in
  -- which the profile was live, or had attempts billed and was not deleted
  -- before it; credits and voids alone never make one due.
  coaches as (
    select l.coach_profile_id, l.plan_id, true as live from live l
    union all
    select e.coach_profile_id, coalesce(cp.plan_id, e.last_plan_id),
      e.attempts > 0 and coalesce(not cp.is_deleted or cp.deleted_at >= $1::timestamp at time zone 'UTC', false)
    from events e
    left join app_public.coach_profiles cp on cp.id = e.coach_profile_id
    where not exists (select from live l where l.coach_profile_id = e.coach_profile_id))
  select c.coach_profile_id, $1, p.id, p.name, coalesce(p.currency, 'EUR'),
    case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end::bigint, coalesce(p.included_minutes, 0),
    coalesce(e.audio_seconds, 0)::bigint, coalesce(e.included_seconds, 0)::bigint, coalesce(e.charged_seconds, 0)::bigint,
    coalesce(e.usage_minor, 0)::bigint, coalesce(e.credits_minor, 0)::bigint,
    (case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end + coalesce(e.usage_minor, 0) + coalesce(e.credits_minor, 0))::bigint,
    -- Not closed: an invoice as it stands has no close time (close_month stamps it).
    coalesce(e.late_events, 0)::integer, null::timestamptz
  from coaches c
  left join events e on e.coach_profile_id = c.coach_profile_id
  left join app_public.billing_plans p on p.id = c.plan_id$q$,
    case when only_coach is null then 'true' else 'e.coach_profile_id = $2' end,
    case when only_coach is null then 'true' else 'cp.id = $2' end)
  using month, only_coach;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.month_invoices(date, uuid) is
  E'Every coach''s invoice for a billing month as it stands: plan fee, the month''s attempt amounts, credits and voids; closed_at is null (not closed).';

create or replace function app_public.invoice_preview(coach_profile_id uuid default null, month date default null)
returns setof app_public.invoices as $$
begin
  perform app_private.require_visible_coach_profile(invoice_preview.coach_profile_id);
  return query
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
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.invoice_preview(uuid, date) is
  E'Invoices of a month (default: the current one): frozen ones once the month is closed (closed_at says when), else as they stand now (plan fee, included minutes, overage, credits; closed_at null). Admins and auditors see every coach; a coach their own (naming any other is refused: no coach profile you can see).';

grant execute on function app_public.invoice_preview(uuid, date) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/invoices.sql
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
  -- Another coach's row is answered as one that does not exist: its existence is not theirs to learn.
  if not found or not state.may_manage then
    raise exception 'No % % that you may delete: it does not exist or is not yours to delete. Nothing was deleted.',
      (select noun from governance.soft_delete_tables where table_oid = target), row_id using errcode = 'P0002';
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
  -- Another coach's row is answered as one that does not exist: its existence is not theirs to learn.
  if not found or not state.may_manage then
    raise exception 'No % % that you may restore: it does not exist or is not yours to restore. Nothing was restored.',
      (select noun from governance.soft_delete_tables where table_oid = target), row_id using errcode = 'P0002';
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
