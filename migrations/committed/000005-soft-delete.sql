--! Previous: sha1:a861776ccfd452a1e5ffef464dfdf9deeca8e4f3
--! Hash: sha1:b930c22c730e13968c2e82f2592438e86d3dc0d1
--! Message: soft delete

-- Soft delete: any writer's DELETE on a governed table becomes a reversible,
-- cascading, audited soft delete. The generic machinery lives in the
-- governance schema; only governance.hard_delete really removes rows.

create schema governance;
comment on schema governance is E'Generic governance machinery: soft delete and the governed hard delete.';
grant usage on schema governance to custodian_coach, custodian_admin, custodian_auditor;

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
create policy staff_read on governance.soft_delete_tables for select to custodian_admin, custodian_auditor using (true);
create policy staff_read on governance.hard_deletions for select to custodian_admin, custodian_auditor using (true);
grant select on governance.soft_delete_tables, governance.hard_deletions to custodian_admin, custodian_auditor;

create function governance.current_hard_deletion() returns governance.hard_deletions as $$
  select h.* from governance.hard_deletions h
  where h.id = (select case when s ~ '^[0-9]{1,18}$' then s::bigint end
                from pg_catalog.current_setting('governance.hard_deletion_id', true) s)
    and h.transaction_id = pg_catalog.pg_current_xact_id();
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.current_hard_deletion() is
  E'The governed hard delete running in this transaction, if any. The setting alone proves nothing: the row must exist, and only governance.hard_delete writes it.';

-- The generated trigger function ------------------------------------------------

create function governance.trigger_function_name(target regclass) returns text as $$
  select 'soft_delete_' || target::oid::text;
$$ language sql immutable;
comment on function governance.trigger_function_name(regclass) is
  E'The name of a table''s generated soft-delete trigger function in the governance schema (by oid, so that it survives renames).';

create function governance.cascading_foreign_keys(target regclass)
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

create function governance.generate_soft_delete(target regclass) returns void as $$
declare
  config governance.soft_delete_tables;
  parent_checks text;
  cascades text;
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
    where n.is_deleted and not c.is_deleted and %2$s;
    update %1$s c set is_deleted = false
    from old_rows o join %3$s p on p.%4$I operator(pg_catalog.=) o.%4$I
    where o.is_deleted and not p.is_deleted and c.is_deleted
      and c.deletion_batch_id operator(pg_catalog.=) o.deletion_batch_id and %5$s;$cascade$,
      f.child,
      (select pg_catalog.string_agg(pg_catalog.format('c.%I operator(pg_catalog.=) n.%I', cc, pc), ' and ')
       from unnest(f.child_columns, f.parent_columns) x(cc, pc)),
      target, config.key_column,
      (select pg_catalog.string_agg(pg_catalog.format('c.%I operator(pg_catalog.=) o.%I', cc, pc), ' and ')
       from unnest(f.child_columns, f.parent_columns) x(cc, pc))), '')
    into cascades
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
%6$s
    return null;
  end if;
end;
$body$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
$create$,
    governance.trigger_function_name(target), config.noun, config.key_column, target,
    parent_checks, cascades);
  execute pg_catalog.format('comment on function governance.%I() is %L', governance.trigger_function_name(target),
    pg_catalog.format('Soft delete of %s: turns a DELETE into a soft delete, keeps the deletion columns consistent, requires live parents and cascades to children; generated by governance.enable_soft_delete.', target));
  execute pg_catalog.format('revoke all on function governance.%I() from public', governance.trigger_function_name(target));
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.generate_soft_delete(regclass) is
  E'(Re)writes a soft-delete table''s trigger function: static SQL with its key, its parents and its children spelled out.';

create function governance.enable_soft_delete(target regclass, owner_column name, noun text default null) returns void as $$
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



create function governance.tg__refuse_truncate() returns trigger as $$
begin
  raise exception 'TRUNCATE of %.% would go around soft delete; delete rows, or use governance.hard_delete.',
    TG_TABLE_SCHEMA, TG_TABLE_NAME using errcode = '0A000';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.tg__refuse_truncate() is
  E'Refuses TRUNCATE on a soft-delete table: it removes rows without firing DELETE triggers.';

create function governance.install_soft_delete_triggers(target regclass) returns void as $$
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

-- The governed paths --------------------------------------------------------------

create function governance.caller_role() returns name as $$
  -- The role the session set (unchanged inside security definer functions),
  -- else the login role.
  select case pg_catalog.current_setting('role') when 'none' then session_user else pg_catalog.current_setting('role') end::name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.caller_role() is
  E'The caller''s role: the one the session set, not the one a security definer function runs as.';

create function governance.caller_is_staff() returns boolean as $$
  select pg_catalog.pg_has_role(governance.caller_role(), 'custodian_admin', 'member')
      or pg_catalog.pg_has_role(governance.caller_role(), 'custodian_owner', 'member');
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.caller_is_staff() is
  E'Whether the caller (governance.caller_role()) is an admin or the owner.';

create function governance.coach_restore_window() returns interval as $$
  select interval '30 days';
$$ language sql immutable;
comment on function governance.coach_restore_window() is E'How long after a deletion the owning coach may still restore a row; admins may restore at any time.';

create function governance.key_condition(target regclass) returns text as $$
  select pg_catalog.format('%I operator(pg_catalog.=) cast($1 as %s)', key_column, key_type)
  from governance.soft_delete_tables where table_oid = target;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.key_condition(regclass) is
  E'SQL matching a soft-delete table''s row by its key, given as text in $1.';

create function governance.row_state(target regclass, row_id text)
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

create function governance.soft_delete(target regclass, row_id text) returns uuid as $$
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

create function governance.restore(target regclass, row_id text) returns uuid as $$
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

create function governance.hard_delete(target regclass, row_id text, reason text) returns bigint as $$
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

create function governance.expose_soft_delete(target regclass, api_name text) returns void as $$
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

create function governance.unique_constraints_over_deleted_rows()
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

-- The audit trail learns the soft-delete operations -----------------------------

alter table audit.events add column details jsonb;
comment on column audit.events.details is
  E'What else the operation needs said: the batch of a SOFT_DELETE or RESTORE, the hard deletion and its reason for a HARD_DELETE.';
comment on column audit.events.operation is
  E'INSERT, UPDATE, DELETE or TRUNCATE; on soft-delete tables an UPDATE that deletes or restores is SOFT_DELETE or RESTORE, and a governed delete HARD_DELETE.';

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
  body text;
begin
  select * into strict config from audit.tracked_tables where table_oid = target;
  select n.nspname, c.relname into schema_name, table_name
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target;
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
      config.subject_via_column, config.subject_via, (audit.primary_key_columns(config.subject_via))[1],
      config.subject_column, schema_name, table_name, record_key);
  elsif config.subject_column is not null then
    subject_expression := pg_catalog.format('r.%I', config.subject_column);
  else
    subject_expression := 'null::uuid';
  end if;
  -- An UPDATE's old values belong to the old row's subject (a session moved
  -- to another client): erasing that person must reach them.
  old_subject_expression := case when config.subject_column is null then subject_expression
    else pg_catalog.replace(subject_expression, pg_catalog.format('r.%I', config.subject_column),
      pg_catalog.format('o.%I', config.subject_column)) end;

  -- Each row's values: the plain columns built in SQL, the pii ones encrypted
  -- by one call per row and side (the key never leaves audit.encrypt_pii).
  body := pg_catalog.format($body$
declare
  noted text;
begin
  if TG_OP = 'INSERT' then
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, owner_id, subject_id)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'INSERT', %4$s, %5$s, subject.id
    from new_rows r cross join lateral (select %6$s as id) subject;
  elsif TG_OP = 'UPDATE' then
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values, changed_columns, owner_id, subject_id, old_subject_id, details)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %14$s, %7$s, %8$s, %9$s, %5$s, subject.id,
      case when subject.old_id is distinct from subject.id then subject.old_id end, %15$s
    from old_rows o join new_rows r on (%10$s) cross join lateral (select %6$s as id, %13$s as old_id) subject
    where o operator(pg_catalog.*<>) r;
  elsif TG_OP = 'DELETE' then
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id, details)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %16$s, %4$s, %5$s, subject.id, %17$s
    from old_rows r cross join lateral (select %6$s as id) subject;
  else
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'TRUNCATE', %4$s, %5$s, subject.id
    from %11$s r cross join lateral (select %6$s as id) subject;
  end if;
%12$s
  return null;
end;
$body$,
    schema_name, table_name, record_key,
    audit.with_pii(has_pii, audit.values_expression(target, 'r', 'plain'), audit.values_expression(target, 'r', 'pii')),
    case when config.owner_column is null then 'null::uuid' else pg_catalog.format('r.%I', config.owner_column) end,
    subject_expression,
    audit.with_pii(has_pii, audit.changed_expression(target, 'old', 'plain'), audit.changed_expression(target, 'old', 'pii'), 'subject.old_id'),
    audit.with_pii(has_pii, audit.changed_expression(target, 'new', 'plain'), audit.changed_expression(target, 'new', 'pii')),
    audit.changed_expression(target, 'columns'),
    key_join,
    target,
    audit.attribution_sql(),
    old_subject_expression,
    -- On a soft-delete table an UPDATE of is_deleted is a soft delete or a
    -- restore, with its batch; a DELETE can only be governance.hard_delete.
    case when soft_delete then $op$case when o.is_deleted is distinct from r.is_deleted
      then case when r.is_deleted then 'SOFT_DELETE'::audit.operation else 'RESTORE'::audit.operation end
      else 'UPDATE'::audit.operation end$op$ else $op$'UPDATE'::audit.operation$op$ end,
    case when soft_delete then $details$case when o.is_deleted is distinct from r.is_deleted
      then pg_catalog.jsonb_build_object('batch_id', coalesce(r.deletion_batch_id, o.deletion_batch_id)) end$details$
      else 'null::jsonb' end,
    case when soft_delete then $op$'HARD_DELETE'::audit.operation$op$ else $op$'DELETE'::audit.operation$op$ end,
    case when soft_delete then $details$(select pg_catalog.jsonb_build_object('hard_deletion_id', h.id, 'reason', h.reason)
      from governance.current_hard_deletion() h where h.id is not null)$details$ else 'null::jsonb' end);

  -- Security definer: writers have no privilege on the audit tables at all,
  -- so none can insert, lock or forge an event outside this function.
  -- A session plans these statements once and keeps the plan, whatever the
  -- size of later statements: a nested loop chosen for a first one-row update
  -- would make a later 100k-row update quadratic, so it is ruled out. JIT
  -- would only compile what runs once.
  execute pg_catalog.format(
    'create or replace function audit.%I() returns trigger as %L language plpgsql volatile security definer'
    ' set search_path = pg_catalog, public, pg_temp set enable_nestloop = off set jit = off',
    audit.capture_function_name(target), body);
  execute pg_catalog.format('comment on function audit.%I() is %L', audit.capture_function_name(target),
    pg_catalog.format('Captures writes to %s into audit.events; generated by audit.enable_tracking, regenerated when the table''s columns change.', target));

  update audit.tracked_tables
  set columns_signature = audit.columns_signature(target), key_columns = config.key_columns
  where table_oid = target;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;

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

alter type app_public.audit_event add attribute details jsonb;
comment on column app_public.audit_event.operation is
  E'INSERT, UPDATE, DELETE or TRUNCATE; SOFT_DELETE, RESTORE or HARD_DELETE on soft-delete tables.';
comment on column app_public.audit_event.details is
  E'For SOFT_DELETE and RESTORE the batch ({"batch_id"}); for HARD_DELETE the hard deletion and its reason ({"hard_deletion_id", "reason"}).';

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

-- Soft delete on the domain ---------------------------------------------------------

select governance.enable_soft_delete('app_public.coach_profiles', owner_column => 'id');
select governance.enable_soft_delete('app_public.clients', owner_column => 'coach_profile_id');
select governance.enable_soft_delete('app_public.coaching_sessions', owner_column => 'coach_profile_id');
select governance.enable_soft_delete('app_public.transcriptions', owner_column => 'coach_profile_id');

-- A coach without a live profile acts as having none.
create or replace function app_private.current_coach_profile_id() returns uuid as $$
  select id from app_public.coach_profiles where user_id = app_public.current_user_id() and not is_deleted;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;

select governance.expose_soft_delete('app_public.coach_profiles', 'coach_profile');
select governance.expose_soft_delete('app_public.clients', 'client');
select governance.expose_soft_delete('app_public.coaching_sessions', 'coaching_session');
select governance.expose_soft_delete('app_public.transcriptions', 'transcription');

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

create function app_public.users_coach_profile(u app_public.users) returns app_public.coach_profiles as $$
  select p.* from app_public.coach_profiles p where p.user_id = u.id and not p.is_deleted;
$$ language sql stable;
comment on function app_public.users_coach_profile(app_public.users) is E'The user''s live coach profile, if any.';
grant execute on function app_public.users_coach_profile(app_public.users) to custodian_coach, custodian_admin, custodian_auditor;

-- The governance tables are audited like the rest.
select audit.enable_tracking('governance.soft_delete_tables');
select audit.enable_tracking('governance.hard_deletions');
