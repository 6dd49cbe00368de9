--! Previous: sha1:7897386f1a56fe357b5637ab0ae204d9efb483d1
--! Hash: sha1:7fc440062b41b7638d5750d6ef3bd1782d972b4e
--! Message: issue 13 accounts

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
