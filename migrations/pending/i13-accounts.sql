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

--!include auth/create-user.sql
--!include auth/authenticate.sql
--!include auth/accounts.sql
