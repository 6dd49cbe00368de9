--! Previous: sha1:274cee02dd281f6740d7c6cf90ce3a109265278d
--! Hash: sha1:88403277ef91912880f8ecee2d3495f549f1119f
--! Message: issue 14 audit: attribution on every event, audit.transactions a view

-- Issue 14, the audit side: attribution without a second insert, and a
-- capture that costs a one-row statement as little as the simplest design.
-- Every event carries who wrote it (the columns audit.transactions had);
-- audit.transactions becomes a view of them. Events written before keep
-- their transaction's attribution, copied onto each of them, so that they
-- hash as they did when they were sealed.

create type audit.attribution as (
  actor_kind audit.actor_kind,
  user_id uuid,
  user_role text,
  request_id text,
  client_ip text,
  user_agent text,
  task text,
  job_id text,
  database_role text,
  session_user_name text,
  application_name text,
  client_addr inet
);
comment on type audit.attribution is E'Who is writing, as a capture stores it on each event (see audit.events.actor_kind and after).';

alter table audit.events
  add column actor_kind audit.actor_kind,
  add column user_id uuid,
  add column user_role text,
  add column request_id text,
  add column client_ip text,
  add column user_agent text,
  add column task text,
  add column job_id text,
  add column database_role text,
  add column session_user_name text,
  add column application_name text,
  add column client_addr inet;
comment on column audit.events.transaction_id is E'The writing transaction.';
comment on column audit.events.actor_kind is E'Who wrote: user, worker, migration, system or unknown; null only for an event older than attribution.';
comment on column audit.events.user_id is E'The API user, from the token.';
comment on column audit.events.user_role is E'The API user''s role, from the token.';
comment on column audit.events.request_id is E'The HTTP request id (X-Request-Id).';
comment on column audit.events.client_ip is E'The HTTP client''s address.';
comment on column audit.events.user_agent is E'The HTTP client''s user agent.';
comment on column audit.events.task is E'The worker task that wrote.';
comment on column audit.events.job_id is E'The worker job that wrote.';
comment on column audit.events.database_role is E'The PostgreSQL role in effect (SET ROLE), else the session user.';
comment on column audit.events.session_user_name is E'The role that logged in.';
comment on column audit.events.application_name is E'The connection''s application_name.';
comment on column audit.events.client_addr is E'The connection''s client address; null for a local socket.';

--! Included audit/capture-sql.sql
-- The pieces of SQL a generated capture function is made of.

create or replace function audit.row_values_sql(target regclass, alias text, key text) returns text as $$
  -- jsonb_build_object takes at most 100 arguments: chunks of 50 columns are concatenated.
  select coalesce(pg_catalog.string_agg(chunk, ' operator(pg_catalog.||) '), '''{}''::pg_catalog.jsonb')
  from (
    select 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pair, ', ' order by position) || ')' as chunk
    from (
      select c.position, (c.position - 1) / 50 as chunk_number,
        case c.policy
          when 'pii' then pg_catalog.format('%1$L, audit.seal_pii(pg_catalog.to_jsonb(%2$s.%1$I), %3$s)', c.column_name, alias, key)
          else pg_catalog.format('%1$L, %2$s.%1$I', c.column_name, alias)
        end as pair
      from (
        select t.column_name, audit.column_policy_of(target, t.column_name) as policy, row_number() over () as position
        from audit.table_columns(target) t
      ) c
      where c.policy <> 'exclude'
    ) pairs
    group by chunk_number
  ) chunks;
$$ language sql stable;
comment on function audit.row_values_sql(regclass, text, text) is
  E'SQL for a whole row as stored: plain columns as they are, pii ones sealed with the given key, excluded ones left out.';

create or replace function audit.changed_columns(target regclass)
returns table (column_name name, policy audit.column_policy, changed text) as $$
  select t.column_name, audit.column_policy_of(target, t.column_name),
    case when t.simple_equality then pg_catalog.format('o.%1$I is distinct from r.%1$I', t.column_name)
      else pg_catalog.format('row(o.%1$I)::record operator(pg_catalog.*<>) row(r.%1$I)::record', t.column_name) end
  from audit.table_columns(target) t
  -- A tracked key never changes (audit.tg__refuse_key_change).
  where t.column_name <> all (coalesce(audit.primary_key_columns(target), '{}'));
$$ language sql stable;
comment on function audit.changed_columns(regclass) is
  E'A tracked table''s non-key columns, their policies, and SQL telling whether an old row o and a new row r differ in each.';

create or replace function audit.changes_sql(target regclass, side text, key text) returns text as $$
  -- side: 'o' for the old values of the changed columns, 'r' for the new ones.
  select coalesce(pg_catalog.string_agg(pg_catalog.format(
      'case when %s then pg_catalog.jsonb_build_object(%L, %s) else ''{}''::pg_catalog.jsonb end',
      c.changed, c.column_name,
      case c.policy when 'pii' then pg_catalog.format('audit.seal_pii(pg_catalog.to_jsonb(%s.%I), %s)', side, c.column_name, key)
        else pg_catalog.format('%s.%I', side, c.column_name) end),
    ' operator(pg_catalog.||) '), '''{}''::pg_catalog.jsonb')
  from audit.changed_columns(target) c
  where c.policy <> 'exclude';
$$ language sql stable;
comment on function audit.changes_sql(regclass, text, text) is
  E'SQL for the old (side o) or new (side r) values of the columns an UPDATE changed, pii ones sealed with the given key.';

create or replace function audit.changed_names_sql(target regclass) returns text as $$
  select coalesce('pg_catalog.array_remove(array[' || pg_catalog.string_agg(
      pg_catalog.format('case when %s then %L end', c.changed, c.column_name), ', ')
    || ']::pg_catalog.text[], null)', '''{}''::pg_catalog.text[]')
  from audit.changed_columns(target) c;
$$ language sql stable;
comment on function audit.changed_names_sql(regclass) is
  E'SQL for the names of the columns an UPDATE changed, excluded ones included.';

create or replace function audit.pii_changed_sql(target regclass) returns text as $$
  select coalesce(pg_catalog.string_agg(c.changed, ' or '), 'false')
  from audit.changed_columns(target) c
  where c.policy = 'pii';
$$ language sql stable;
comment on function audit.pii_changed_sql(regclass) is
  E'SQL telling whether an UPDATE changed a pii column, so that a key is looked up only when one is needed.';

create or replace function audit.attribution_columns() returns text as $$
  select 'actor_kind, user_id, user_role, request_id, client_ip, user_agent, task, job_id, '
    'database_role, session_user_name, application_name, client_addr';
$$ language sql immutable;
comment on function audit.attribution_columns() is
  E'The columns of audit.events that say who wrote an event, in the order audit.attribution_sql() gives them.';

create or replace function audit.attribution_sql() returns text as $$
  select $row$row(
    case pg_catalog.current_setting('custodian.actor_kind', true)
      when 'user' then 'user' when 'worker' then 'worker' when 'migration' then 'migration'
      when 'system' then 'system' else 'unknown'
    end::audit.actor_kind,
    case when pg_catalog.current_setting('jwt.claims.user_id', true) operator(pg_catalog.~*) '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
      then pg_catalog.current_setting('jwt.claims.user_id', true)::pg_catalog.uuid end,
    nullif(pg_catalog.current_setting('jwt.claims.role', true), ''),
    nullif(pg_catalog.current_setting('custodian.request_id', true), ''),
    nullif(pg_catalog.current_setting('custodian.client_ip', true), ''),
    nullif(pg_catalog.current_setting('custodian.user_agent', true), ''),
    nullif(pg_catalog.current_setting('custodian.task', true), ''),
    nullif(pg_catalog.current_setting('custodian.job_id', true), ''),
    coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user),
    session_user,
    nullif(pg_catalog.current_setting('application_name'), ''),
    pg_catalog.inet_client_addr())::audit.attribution$row$;
$$ language sql immutable;
comment on function audit.attribution_sql() is
  E'SQL for who is writing, as an audit.attribution: the API''s, the worker''s or a migration''s settings, else the session user, application_name and client address. A capture evaluates it once per statement and stores it on every event it writes, so that attribution costs no row of its own.';
--! EndIncluded audit/capture-sql.sql
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
  -- row. UPDATE pairs old and new rows with a FULL JOIN, which only a hash or
  -- merge join can run: a session keeps the plan of its first statement, and a
  -- nested loop planned for one row would make a later 100k-row update
  -- quadratic. (The row filter is "is not false" so that the planner cannot
  -- turn the FULL JOIN back into an inner one.) Measured, a separate plan for
  -- statements of one row cost more than it saved: counting the transition
  -- table alone took 0.16 of a one-row update's throughput, the hash join's
  -- setup less. @attribution@ stands for the fields of the statement's
  -- attribution.
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
      '@pairs@', pg_catalog.format('old_rows o full join new_rows r on (%s)', key_join)), '@changed@', '(o operator(pg_catalog.*<>) r) is not false'),
    pg_catalog.replace(delete_sql, '@attribution@', attribution_fields),
    truncate_sql);

  -- Security definer: writers have no privilege on the audit tables at all,
  -- so none can insert, lock or forge an event outside this function. Every
  -- name in the body is schema-qualified, so it needs no search_path of its
  -- own. JIT is off: a plan kept from a first large statement would
  -- otherwise compile again for every small one.
  execute pg_catalog.format(
    'create or replace function audit.%I() returns trigger as %L language plpgsql volatile security definer set jit = off',
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

select audit.generate_capture(t.table_oid)
from audit.tracked_tables t join pg_catalog.pg_class c on c.oid = t.table_oid
where t.disabled_at is null;

-- The earlier events take their transaction's attribution: the one change
-- ever made to written events, with the append-only rule off for it alone.
do $move$
declare
  partition regclass;
begin
  for partition in
    select i.inhrelid::regclass from pg_catalog.pg_inherits i where i.inhparent = 'audit.events'::regclass
  loop
    execute pg_catalog.format('alter table %s disable trigger _010_append_only', partition);
  end loop;
  update audit.events e set
    actor_kind = t.actor_kind, user_id = t.user_id, user_role = t.user_role, request_id = t.request_id,
    client_ip = t.client_ip, user_agent = t.user_agent, task = t.task, job_id = t.job_id,
    database_role = t.database_role, session_user_name = t.session_user_name,
    application_name = t.application_name, client_addr = t.client_addr
  from audit.transactions t
  where t.xact_id = e.transaction_id and t.started_at = e.occurred_at and e.actor_kind is null;
  for partition in
    select i.inhrelid::regclass from pg_catalog.pg_inherits i where i.inhparent = 'audit.events'::regclass
  loop
    execute pg_catalog.format('alter table %s enable trigger _010_append_only', partition);
  end loop;
end;
$move$;

drop function audit.event_digest(audit.events, audit.transactions);
drop table audit.transactions;

--! Included audit/attribution.sql
-- Who wrote an event: stored on the event itself (audit.events.actor_kind
-- and the columns after it), read through these views, which keep who else
-- touched a coach's records (an admin's address, a job) from the coach.
-- Not a security barrier: readers join it by event id, and a barrier would
-- stop that join from reaching the id index. A coach reads it only through
-- app_public's functions, never with SQL of their own.

create or replace view audit.event_actors as
  select e.id as event_id, e.occurred_at, e.transaction_id,
    e.actor_kind, e.user_id, e.user_role, e.request_id, e.client_ip, e.user_agent, e.task, e.job_id,
    e.database_role, e.session_user_name, e.application_name, e.client_addr
  from audit.events e
  where e.actor_kind is not null
    and (pg_catalog.pg_has_role('custodian_admin', 'member') or pg_catalog.pg_has_role('custodian_auditor', 'member')
      or pg_catalog.pg_has_role('custodian_owner', 'member') or e.user_id = (select app_public.current_user_id()));
comment on view audit.event_actors is
  E'Who wrote each event, as far as the reader may know it: admins, auditors and the owner see every writer; anyone else only their own writes.';

create or replace view audit.transactions as
  select distinct on (a.transaction_id, a.occurred_at)
    a.transaction_id as xact_id, a.occurred_at as started_at,
    a.actor_kind, a.user_id, a.user_role, a.request_id, a.client_ip, a.user_agent, a.task, a.job_id,
    a.database_role, a.session_user_name, a.application_name, a.client_addr
  from audit.event_actors a
  order by a.transaction_id, a.occurred_at, a.event_id;
comment on view audit.transactions is
  E'Who made the writes of one transaction, once per transaction: the attribution its first event carries. A view since the events carry their attribution (no row of its own to write).';

grant select on audit.event_actors, audit.transactions to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/attribution.sql
--! Included audit/append-only.sql
-- The audit tables are append-only, even to their owner.

create or replace function audit.tg__refuse_change() returns trigger as $$
begin
  raise exception 'The audit trail is append-only: % on %.% is refused.', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    using errcode = '42501';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg__refuse_change() is
  E'Refuses UPDATE, DELETE and TRUNCATE on audit tables, even to their owner.';

drop trigger if exists _010_append_only on audit.events;
create trigger _010_append_only before update or delete on audit.events
  for each row execute function audit.tg__refuse_change();

-- audit.transactions is a view of the events' attribution: refused the same way.
drop trigger if exists _010_append_only on audit.transactions;
create trigger _010_append_only instead of update or delete on audit.transactions
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _010_append_only on audit.seals;
create trigger _010_append_only before update or delete on audit.seals
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.events;
create trigger _011_no_truncate before truncate on audit.events
  for each statement execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.seals;
create trigger _011_no_truncate before truncate on audit.seals
  for each statement execute function audit.tg__refuse_change();
--! EndIncluded audit/append-only.sql
--! Included audit/policies.sql
-- Who reads the audit trail: admins and auditors everything, a coach their own records.

grant usage on schema audit to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.events;
create policy staff_read on audit.events for select to custodian_admin, custodian_auditor using (true);

drop policy if exists coach_own on audit.events;
create policy coach_own on audit.events for select to custodian_coach
  using (owner_id = (select app_private.current_coach_profile_id()) or owner_id = (select app_public.current_user_id()));

grant select on audit.events to custodian_admin, custodian_auditor;
-- Who else touched a coach's records (an admin's address, a job) is not
-- theirs to see: a coach reads an event's attribution only through
-- audit.event_actors (attribution.sql), which shows their own writes.
revoke select on audit.events from custodian_coach;
grant select (id, occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values,
  changed_columns, owner_id, subject_id, old_subject_id, details) on audit.events to custodian_coach;

drop policy if exists staff_read on audit.seals;
create policy staff_read on audit.seals for select to custodian_admin, custodian_auditor using (true);

grant select on audit.seals to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.tracked_tables;
create policy staff_read on audit.tracked_tables for select to custodian_admin, custodian_auditor using (true);

grant select on audit.tracked_tables to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.column_policies;
create policy staff_read on audit.column_policies for select to custodian_admin, custodian_auditor using (true);

grant select on audit.column_policies to custodian_admin, custodian_auditor;
--! EndIncluded audit/policies.sql
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
  left join audit.event_actors t on t.event_id = e.id and t.occurred_at = e.occurred_at
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
--! Included audit/sealing.sql
-- The hash chain: sealing events in id order, and verifying it.

-- Events without details hash exactly as before, so the sealed chain still
-- verifies; the attribution an event carries hashes as that of its
-- transaction did when it was a row of its own.
create or replace function audit.event_digest(e audit.events) returns bytea as $$
  select public.digest((pg_catalog.jsonb_build_array(
    e.id, extract(epoch from e.occurred_at), e.transaction_id::text, e.table_schema, e.table_name,
    e.record_key, e.operation, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
    e.actor_kind, e.user_id, e.user_role, e.request_id, e.client_ip, e.user_agent, e.task, e.job_id,
    e.database_role, e.session_user_name, e.application_name, e.client_addr::text)
    operator(pg_catalog.||) case when e.details is null then '[]'::jsonb else pg_catalog.jsonb_build_array(e.details) end)::text,
    'sha256');
$$ language sql immutable;
comment on function audit.event_digest(audit.events) is
  E'SHA-256 of an event and its attribution in a form that does not depend on session settings.';

create or replace function audit.genesis_hash() returns bytea as $$
  select pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
$$ language sql immutable;
comment on function audit.genesis_hash() is E'The hash the chain starts from.';

-- The audit trail's sealing uses the same horizon.
create or replace function audit.seal_horizon(max_wait interval default '10 seconds') returns bigint as $$
  select app_private.committed_id_horizon('audit.events', 'audit.events_id_seq', max_wait);
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_horizon(interval) is
  E'The highest event id that can be sealed: waits (up to max_wait, else null) until every transaction that may hold a lower id has ended.';

create or replace function audit.seal_batch(horizon bigint, batch_size integer default 10000) returns integer as $$
declare
  head audit.seals;
  ids bigint[];
  digests bytea[];
  chain bytea[] := '{}';
  hash bytea;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be positive.' using errcode = '22023';
  end if;
  -- One sealer at a time: the chain must not fork.
  lock table audit.seals in exclusive mode;
  select * into head from audit.seals order by id desc limit 1;
  select pg_catalog.array_agg(b.id order by b.id), pg_catalog.array_agg(b.digest order by b.id) into ids, digests
  from (
    select e.id, audit.event_digest(e) as digest
    from audit.events e
    where e.id > coalesce(head.last_event_id, -9223372036854775808) and e.id <= horizon
    order by e.id
    limit batch_size
  ) b;
  if ids is null then
    return 0;
  end if;
  hash := coalesce(head.hash, audit.genesis_hash());
  for i in 1 .. cardinality(ids) loop
    hash := public.digest(hash || digests[i], 'sha256');
    chain[i] := hash;
  end loop;
  insert into audit.seals (first_event_id, last_event_id, event_ids, chain, previous_hash, hash)
  values (ids[1], ids[cardinality(ids)], ids, chain, coalesce(head.hash, audit.genesis_hash()), hash);
  return cardinality(ids);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_batch(bigint, integer) is
  E'Seals up to batch_size events after the last seal and not above horizon, in id order; returns how many.';

create or replace function audit.verify_chain() returns table (
  intact boolean, events_verified bigint, seals_verified bigint, events_unsealed bigint,
  first_bad_event_id bigint, problem text, head_hash text
) as $$
declare
  seal audit.seals;
  hash bytea := audit.genesis_hash();
  previous_last bigint := -9223372036854775808;
  ids bigint[];
  digests bytea[];
  found_id bigint;
  sealed_id bigint;
  verified bigint := 0;
  seals bigint := 0;
  unsealed bigint;
  sequence_last bigint;
begin
  for seal in select * from audit.seals order by id loop
    if seal.previous_hash <> hash or seal.first_event_id <= previous_last then
      return query select false, verified, seals, null::bigint, seal.first_event_id,
        pg_catalog.format('seal %s does not continue the chain: a seal before it was altered or removed', seal.id), null::text;
      return;
    end if;
    select pg_catalog.array_agg(e.id order by e.id), pg_catalog.array_agg(audit.event_digest(e) order by e.id)
      into ids, digests
    from audit.events e
    where e.id > previous_last and e.id <= seal.last_event_id;
    for i in 1 .. greatest(coalesce(cardinality(ids), 0), cardinality(seal.event_ids)) loop
      found_id := ids[i];
      sealed_id := seal.event_ids[i];
      if found_id is null or found_id > sealed_id then
        return query select false, verified, seals, null::bigint, sealed_id,
          pg_catalog.format('event %s is missing: it was sealed in seal %s and has been deleted', sealed_id, seal.id), null::text;
        return;
      elsif sealed_id is null or found_id < sealed_id then
        return query select false, verified, seals, null::bigint, found_id,
          pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', found_id, seal.id), null::text;
        return;
      end if;
      hash := public.digest(hash || digests[i], 'sha256');
      if hash <> seal.chain[i] then
        return query select false, verified, seals, null::bigint, found_id,
          pg_catalog.format('event %s was altered after it was sealed in seal %s (its content, attribution or position differs)', found_id, seal.id), null::text;
        return;
      end if;
      verified := verified + 1;
    end loop;
    previous_last := seal.last_event_id;
    seals := seals + 1;
  end loop;
  select case when is_called then last_value else last_value - 1 end into sequence_last from audit.events_id_seq;
  select min(e.id) into found_id from audit.events e where e.id > sequence_last;
  if found_id is not null then
    return query select false, verified, seals, null::bigint, found_id,
      pg_catalog.format('event %s was forged: no write ever received that id', found_id), null::text;
    return;
  end if;
  select count(*) into unsealed from audit.events e where e.id > previous_last;
  return query select true, verified, seals, unsealed, null::bigint, null::text,
    case when seals > 0 then pg_catalog.encode(hash, 'hex') end;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.verify_chain() is
  E'Recomputes the hash chain over every sealed event and reports the first event whose content, order or presence was altered; intact is false then. head_hash is the newest seal''s hash: kept outside the database, it catches a rewrite of the whole chain.';
--! EndIncluded audit/sealing.sql
--! Included audit/partitions.sql
-- Month partitions of audit.events, made ahead and
-- emptied out of the default partitions (the audit_maintain_partitions job).

create or replace function audit.partition_name(parent regclass, month date) returns text as $$
  select pg_catalog.format('%s_%s',
    (select relname from pg_catalog.pg_class where oid = parent),
    pg_catalog.to_char(month, 'YYYY_MM'));
$$ language sql stable;
comment on function audit.partition_name(regclass, date) is E'The name of a parent''s partition for a month, e.g. events_2026_11.';

create or replace function audit.create_month_partition(parent regclass, month date) returns void as $$
declare
  first_day date := pg_catalog.date_trunc('month', month)::date;
  partition_name text := audit.partition_name(parent, first_day);
begin
  if pg_catalog.to_regclass('audit.' || partition_name) is not null then
    return;
  end if;
  -- Month bounds in UTC whatever the session's time zone.
  execute pg_catalog.format(
    'create table audit.%I partition of %s for values from (%L) to (%L)',
    partition_name, parent,
    first_day::text || ' 00:00:00+00', (first_day + interval '1 month')::date::text || ' 00:00:00+00');
  execute pg_catalog.format(
    'create trigger _011_no_truncate before truncate on audit.%I for each statement execute function audit.tg__refuse_change()',
    partition_name);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.create_month_partition(regclass, date) is
  E'Creates the partition of an audit table for the month of a date, unless it exists.';

create or replace function audit.create_default_partition(parent regclass) returns void as $$
declare
  partition_name text := (select relname from pg_catalog.pg_class where oid = parent) || '_default';
begin
  execute pg_catalog.format('create table audit.%I partition of %s default', partition_name, parent);
  execute pg_catalog.format(
    'create trigger _011_no_truncate before truncate on audit.%I for each statement execute function audit.tg__refuse_change()',
    partition_name);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.create_default_partition(regclass) is
  E'Creates the default partition that catches rows no month partition takes, so that a write never fails for a missing partition.';

create or replace function audit.move_strays(parent regclass) returns integer as $$
declare
  default_name text := (select relname from pg_catalog.pg_class where oid = parent) || '_default';
  stray_month date;
  moved integer;
begin
  execute pg_catalog.format('select count(*) from audit.%I', default_name) into moved;
  if moved = 0 then
    return 0;
  end if;
  -- Writers wait for the swap; none fails. The rows are copied, never deleted:
  -- the old default partition is detached and dropped whole.
  execute pg_catalog.format('lock table %s in access exclusive mode', parent);
  execute pg_catalog.format('alter table %s detach partition audit.%I', parent, default_name);
  execute pg_catalog.format('alter table audit.%I rename to %I', default_name, default_name || '_moving');
  for stray_month in execute pg_catalog.format(
    'select distinct pg_catalog.date_trunc(''month'', occurred_at at time zone ''UTC'')::date from audit.%I',
    default_name || '_moving')
  loop
    perform audit.create_month_partition(parent, stray_month);
  end loop;
  perform audit.create_default_partition(parent);
  execute pg_catalog.format('insert into %s overriding system value select * from audit.%I', parent,
    default_name || '_moving');
  execute pg_catalog.format('drop table audit.%I', default_name || '_moving');
  return moved;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.move_strays(regclass) is
  E'Moves rows out of an audit table''s default partition into month partitions made for them. One of the two governed paths that remove audit rows from a table; content and ids are kept, so seals still verify.';

create or replace function audit.maintain_partitions(months_ahead integer default 2) returns integer as $$
declare
  parent regclass;
  month_offset integer;
  moved integer := 0;
begin
  if months_ahead is null or months_ahead < 0 or months_ahead > 24 then
    raise exception 'months_ahead must be between 0 and 24, not %.', months_ahead using errcode = '22023';
  end if;
  -- Making a partition locks the parent exclusively: behind a long export it
  -- would hold up every writer. Give up instead; the hourly job tries again,
  -- and partitions are made months ahead.
  perform pg_catalog.set_config('lock_timeout', '2s', true);
  foreach parent in array array['audit.events']::regclass[] loop
    moved := moved + audit.move_strays(parent);
    for month_offset in 0..months_ahead loop
      perform audit.create_month_partition(parent,
        (pg_catalog.date_trunc('month', pg_catalog.now() at time zone 'UTC') + month_offset * interval '1 month')::date);
    end loop;
  end loop;
  return moved;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.maintain_partitions(integer) is
  E'Makes month partitions from this month to months_ahead months on, and moves strays out of the default partitions; returns how many rows moved. The worker runs it hourly.';
--! EndIncluded audit/partitions.sql
