--! Previous: sha1:c7cf90b05ee3c8e977d0d8121eb08dabe8ed7627
--! Hash: sha1:11a733b7f9e91609aa636694a8bf995da616b3fb
--! Message: Issue 14: a capture function has one SET clause (nested loops off), not two: JIT off cost every call and did nothing where PostgreSQL has no JIT

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
  owner_expression text;
  insert_sql text;
  update_sql text;
  delete_sql text;
  truncate_sql text;
  attribution_fields text := pg_catalog.regexp_replace(audit.attribution_columns(), '(\w+)', 'attribution.\1', 'g');
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
  owner_expression := case when config.owner_column is null then 'null::pg_catalog.uuid'
    else pg_catalog.format('r.%I', config.owner_column) end;
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

  -- Each branch is one insert over the transition table, with who wrote
  -- (attribution, evaluated once per statement) on every event: no second
  -- row. UPDATE pairs old and new rows by key with an inner join: a key never
  -- changes (audit.tg__refuse_key_change), so every old row has its new one.
  -- The function turns nested loops off: a session keeps the plan of its
  -- first statement, and a nested loop planned for one row would make a later
  -- 100k-row update quadratic; a hash join is linear at any size. (An inner
  -- hash join rather than the FULL JOIN used before: the FULL JOIN's scan for
  -- unmatched rows walks every bucket of the hash table, 1024 of them for a
  -- one-row statement.) Measured, a separate plan for statements of one row
  -- cost more than it saved: counting the transition table alone took 0.16 of
  -- a one-row update's throughput. @attribution@ stands for the fields of the
  -- statement's attribution.
  insert_sql := pg_catalog.format($sql$insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, owner_id, subject_id, %6$s)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'INSERT'::audit.operation, %4$s, %5$s, s.id, @attribution@
      from new_rows r %7$s$sql$,
    schema_name, table_name, record_key, audit.row_values_sql(target, 'r', 'k.new_key'), owner_expression,
    audit.attribution_columns(), row_subject);
  update_sql := pg_catalog.format($sql$insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values, changed_columns, owner_id, subject_id, old_subject_id, details, %12$s)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %4$s, %5$s, %6$s, %7$s, %8$s, s.id,
        case when s.old_id is distinct from s.id then s.old_id end, %9$s, @attribution@
      from @pairs@ %10$s
      where @changed@$sql$,
    schema_name, table_name, record_key,
    -- On a soft-delete table an UPDATE of is_deleted is a soft delete or a
    -- restore, with its batch; a DELETE can only be governance.hard_delete.
    case when soft_delete then $op$case when o.is_deleted is distinct from r.is_deleted
      then case when r.is_deleted then 'SOFT_DELETE'::audit.operation else 'RESTORE'::audit.operation end
      else 'UPDATE'::audit.operation end$op$ else $op$'UPDATE'::audit.operation$op$ end,
    audit.changes_sql(target, 'o', 'k.old_key'),
    audit.changes_sql(target, 'r', 'k.new_key'),
    audit.changed_names_sql(target),
    owner_expression,
    case when soft_delete then $details$case when o.is_deleted is distinct from r.is_deleted
      then pg_catalog.jsonb_build_object('batch_id', coalesce(r.deletion_batch_id, o.deletion_batch_id)) end$details$
      else 'null::pg_catalog.jsonb' end,
    update_subject, null, audit.attribution_columns());
  -- DELETE and TRUNCATE store the rows removed, whole; @operation@, @details@
  -- and @source@ tell them apart.
  delete_sql := pg_catalog.format($sql$insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id, details, %6$s)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, @operation@, %4$s, %5$s, s.id, @details@, @attribution@
      from @source@ r %7$s$sql$,
    schema_name, table_name, record_key, audit.row_values_sql(target, 'r', 'k.new_key'), owner_expression,
    audit.attribution_columns(), row_subject);
  truncate_sql := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(delete_sql,
    '@operation@', $op$'TRUNCATE'::audit.operation$op$), '@details@', 'null::pg_catalog.jsonb'),
    '@source@', qualified_target), '@attribution@', attribution_fields);
  delete_sql := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(delete_sql,
    '@operation@', case when soft_delete then $op$'HARD_DELETE'::audit.operation$op$ else $op$'DELETE'::audit.operation$op$ end),
    '@details@', case when soft_delete then $details$(select pg_catalog.jsonb_build_object('hard_deletion_id', h.id, 'reason', h.reason)
      from governance.current_hard_deletion() h where h.id is not null)$details$ else 'null::pg_catalog.jsonb' end),
    '@source@', 'old_rows');

  body := pg_catalog.format($body$
declare
  attribution audit.attribution := %1$s;
begin
  if TG_OP = 'INSERT' then
    %2$s;
  elsif TG_OP = 'UPDATE' then
    %3$s;
  elsif TG_OP = 'DELETE' then
    %4$s;
  else
    %5$s;
  end if;
  return null;
end;
$body$,
    audit.attribution_sql(),
    pg_catalog.replace(insert_sql, '@attribution@', attribution_fields),
    pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(update_sql, '@attribution@', attribution_fields),
      '@pairs@', pg_catalog.format('old_rows o join new_rows r on (%s)', key_join)), '@changed@', 'o operator(pg_catalog.*<>) r'),
    pg_catalog.replace(delete_sql, '@attribution@', attribution_fields),
    truncate_sql);

  -- Security definer: writers have no privilege on the audit tables at all,
  -- so none can insert, lock or forge an event outside this function. Every
  -- name in the body is schema-qualified, so it needs no search_path of its
  -- own. Nested loops are off so that UPDATE's pairing is a hash join
  -- whatever the first statement's size (without it, a session whose first
  -- updates were of one row took a 20,000-row update past 15 s). That is the
  -- one SET clause: each costs every call (about 4 µs of a one-row update's
  -- 100), and the JIT setting the function also had did nothing where
  -- PostgreSQL has no JIT (the embedded one) and only spared a large
  -- statement its compilation elsewhere.
  execute pg_catalog.format(
    'create or replace function audit.%I() returns trigger as %L language plpgsql volatile security definer set enable_nestloop = off',
    audit.capture_function_name(target), body);
  execute pg_catalog.format('comment on function audit.%I() is %L', audit.capture_function_name(target),
    pg_catalog.format('Captures writes to %s into audit.events; generated by audit.enable_tracking, regenerated when the table''s columns change.', target));

  update audit.tracked_tables
  set columns_signature = audit.columns_signature(target), key_columns = config.key_columns
  where table_oid = target;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.generate_capture(regclass) is
  E'(Re)writes a tracked table''s capture function: static SQL over the transition tables with the table''s columns, key and policies spelled out, one cached plan per operation that writes the events with their attribution.';
--! EndIncluded audit/capture-generator.sql

-- Every tracked table's capture again: one SET clause instead of two.
select audit.generate_capture(t.table_oid) from audit.tracked_tables t where t.disabled_at is null;
