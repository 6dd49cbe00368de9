--! Previous: sha1:cd7a017833ea6ec3102e79f664114b9d51081437
--! Hash: sha1:a45d9576e2da38ac4e92d3a7a2b4528ba98512cf
--! Message: Both governed hard deletes share their first checks (governance.hard_delete_target)

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

create or replace function governance.hard_delete_target(target regclass, reason text) returns governance.soft_delete_tables as $$
declare
  config governance.soft_delete_tables;
begin
  select * into config from governance.soft_delete_tables where table_oid = target;
  if not found then
    raise exception 'Table % does not have soft delete; delete from it directly.', target using errcode = '55000';
  end if;
  if reason is null or length(btrim(reason)) < 3 then
    raise exception 'A hard delete needs a reason (at least 3 characters).' using errcode = '22023';
  end if;
  return config;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.hard_delete_target(regclass, text) is
  E'What both governed hard deletes check first: the table has soft delete (its configuration is returned) and the reason says something.';

create or replace function governance.hard_delete(target regclass, row_id text, reason text) returns bigint as $$
declare
  config governance.soft_delete_tables;
  deletion_id bigint;
  deleted integer;
begin
  config := governance.hard_delete_target(target, reason);
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

create or replace function governance.hard_delete_rows(target regclass, row_ids text[], reason text) returns bigint as $$
declare
  config governance.soft_delete_tables;
  first_deletion_id bigint;
  deleted bigint;
begin
  config := governance.hard_delete_target(target, reason);
  if row_ids is null or pg_catalog.cardinality(row_ids) = 0 then
    return 0;
  end if;
  if pg_catalog.cardinality(row_ids) <> (select pg_catalog.count(distinct r) from pg_catalog.unnest(row_ids) r) or pg_catalog.array_position(row_ids, null) is not null then
    raise exception 'A hard delete of several rows needs distinct row ids, none null.' using errcode = '22023';
  end if;
  -- One record per row, as governance.hard_delete writes; the audit events of
  -- the one DELETE carry the first record's id and the shared reason.
  with recorded as (
    insert into governance.hard_deletions (table_schema, table_name, row_id, reason)
    select n.nspname, c.relname, r.id, btrim(reason)
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace,
      pg_catalog.unnest(row_ids) with ordinality r(id, o)
    where c.oid = target
    order by r.o
    returning id)
  select pg_catalog.min(recorded.id) into first_deletion_id from recorded;
  perform pg_catalog.set_config('governance.hard_deletion_id', first_deletion_id::text, true);
  execute pg_catalog.format('delete from %s where %I operator(pg_catalog.=) any (cast($1 as %s[]))', target, config.key_column, config.key_type)
    using row_ids;
  get diagnostics deleted = row_count;
  perform pg_catalog.set_config('governance.hard_deletion_id', '', true);
  if deleted <> pg_catalog.cardinality(row_ids) then
    raise exception 'Only % of the % % rows to hard-delete exist; nothing was deleted.', deleted, pg_catalog.cardinality(row_ids), config.noun
      using errcode = 'P0002';
  end if;
  return deleted;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.hard_delete_rows(regclass, text[], text) is
  E'governance.hard_delete for many rows of one soft-delete table at once: records each row and the reason in governance.hard_deletions, then removes them (and their foreign-key cascade) in one DELETE, whose audit events (HARD_DELETE) carry the reason and the first record''s id. All or nothing: a missing row or a repeated id refuses the whole set. For the owner only: retention.';

revoke all on function governance.hard_delete_target(regclass, text) from public;
revoke all on function governance.hard_delete(regclass, text, text) from public;
revoke all on function governance.hard_delete_rows(regclass, text[], text) from public;
--! EndIncluded soft-delete/hard-delete.sql
