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
  E'The address the attempt came from, as the API saw it (custodian.client_ip); null from a session that set none. Personal data of the technical kind: plain in the audit trail, as the attribution''s address is.';
comment on column app_private.sign_in_attempts.outcome is E'signed_in, wrong_password, unknown_email, disabled or rate_limited.';
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

--!include auth/sign-in-limits.sql
--!include auth/authenticate.sql
--!include gdpr/classify-custodian.sql
