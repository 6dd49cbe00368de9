--! Previous: -
--! Hash: sha1:255359cb827da1ac594388ccb734af4df9732c3b
--! Message: schemas, helpers, users and authentication

create schema app_public;
comment on schema app_public is
  E'Exposed through the GraphQL API; row-level security decides what each caller sees.';
create schema app_private;
comment on schema app_private is
  E'Secrets and internals; never exposed, reached only through security definer functions.';

grant usage on schema app_public
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;

-- Nothing the owner creates is executable by everyone unless granted.
alter default privileges revoke execute on functions from public;

create function app_public.current_user_id() returns uuid as $$
  select nullif(pg_catalog.current_setting('jwt.claims.user_id', true), '')::uuid;
$$ language sql stable;
comment on function app_public.current_user_id() is
  E'The id of the user making the request, from the JWT; null when anonymous.';
grant execute on function app_public.current_user_id()
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;

create function app_private.tg__timestamps() returns trigger as $$
begin
  new.created_at := case when TG_OP = 'INSERT' then pg_catalog.now() else old.created_at end;
  new.updated_at := case
    when TG_OP = 'UPDATE' and old.updated_at >= pg_catalog.now() then old.updated_at + interval '1 millisecond'
    else pg_catalog.now()
  end;
  return new;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg__timestamps() is
  E'Keeps created_at fixed and updated_at moving forward, whatever the writer sends.';

create function app_private.is_valid_timezone(name text) returns boolean as $$
  select exists (select from pg_catalog.pg_timezone_names where pg_timezone_names.name = is_valid_timezone.name);
$$ language sql stable;
comment on function app_private.is_valid_timezone(text) is
  E'True when the name is an IANA time zone PostgreSQL knows.';

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

create trigger _100_timestamps before insert or update on app_public.users
  for each row execute function app_private.tg__timestamps();

create table app_private.user_secrets (
  user_id uuid primary key references app_public.users on delete cascade,
  password_hash text not null,
  password_changed_at timestamptz not null default now()
);
comment on table app_private.user_secrets is E'Credentials, kept apart from users so no API role can read them.';
comment on column app_private.user_secrets.password_hash is E'bcrypt hash from pgcrypto''s crypt().';

alter table app_public.users enable row level security;
create policy read_self on app_public.users for select to custodian_coach
  using (id = app_public.current_user_id());
create policy update_self on app_public.users for update to custodian_coach
  using (id = app_public.current_user_id());
create policy read_all on app_public.users for select to custodian_admin, custodian_auditor
  using (true);
create policy update_all on app_public.users for update to custodian_admin
  using (true);
grant select on app_public.users to custodian_coach, custodian_admin, custodian_auditor;
grant update (display_name) on app_public.users to custodian_coach;
grant update (display_name, email, role) on app_public.users to custodian_admin;

create function app_private.create_user(
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

-- Authentication -----------------------------------------------------------

create type app_public.jwt_token as (
  role text,
  user_id uuid
);
comment on type app_public.jwt_token is
  E'The claims of a signed session token; the server adds the expiry.';

create function app_public.authenticate(email citext, password text) returns app_public.jwt_token as $$
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

create function app_public.current_user() returns app_public.users as $$
  select * from app_public.users where id = app_public.current_user_id();
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.current_user() is
  E'The user making the request; null when anonymous.';
grant execute on function app_public.current_user()
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
