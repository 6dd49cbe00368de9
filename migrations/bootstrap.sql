-- Cluster-level setup that migrations cannot do as the owner: roles, extensions
-- and the owner's rights on this database. Run by `custodian migrate` as a
-- superuser (or a role with CREATEROLE on a managed server) before the
-- committed migrations; idempotent. The authenticator's password comes from
-- the session setting custodian.authenticator_password when one is given.

do $$
declare
  persona text;
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'custodian_owner') then
    create role custodian_owner nologin;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'custodian_authenticator') then
    create role custodian_authenticator login noinherit;
  end if;
  foreach persona in array array['anonymous', 'coach', 'admin', 'auditor'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = 'custodian_' || persona) then
      execute pg_catalog.format('create role %I nologin', 'custodian_' || persona);
    end if;
  end loop;

  -- The connecting role runs migrations as the owner (SET ROLE), so it must
  -- be a member; superusers already can.
  if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    execute pg_catalog.format('grant custodian_owner to %I', current_user);
  end if;

  if pg_catalog.current_setting('custodian.authenticator_password', true) <> '' then
    execute pg_catalog.format('alter role custodian_authenticator password %L',
      pg_catalog.current_setting('custodian.authenticator_password'));
  end if;

  execute pg_catalog.format('grant create, connect, temporary on database %I to custodian_owner',
    pg_catalog.current_database());
end
$$;

grant custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor
  to custodian_authenticator;

create extension if not exists pgcrypto with schema public;
create extension if not exists citext with schema public;

-- The audit trail regenerates a tracked table's capture when its name or
-- columns change (a rename, or a column dropped with its type or extension). Event triggers need a superuser; without one (a managed server),
-- run `select audit.refresh_tracking()` after altering a tracked table.
create or replace function public.custodian_after_ddl() returns event_trigger as $$
begin
  if pg_catalog.to_regprocedure('audit.refresh_tracking()') is not null then
    perform audit.refresh_tracking();
    perform audit.forget_dropped_tables();
  end if;
end;
$$ language plpgsql;
comment on function public.custodian_after_ddl() is
  'Keeps the audit trail''s capture in step with ALTER TABLE and DROP TABLE.';

do $$
begin
  if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    raise notice 'Not a superuser: no DDL event trigger; run select audit.refresh_tracking() after altering tracked tables.';
  else
    -- Re-created each time, so that an install gets the current list of tags.
    drop event trigger if exists custodian_after_ddl;
    create event trigger custodian_after_ddl on ddl_command_end
      when tag in ('ALTER TABLE', 'DROP TABLE', 'DROP TYPE', 'DROP DOMAIN', 'DROP EXTENSION', 'DROP SCHEMA')
      execute function public.custodian_after_ddl();
  end if;
end
$$;
