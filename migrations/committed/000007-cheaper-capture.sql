--! Previous: sha1:41dea607d36bd613edbc063154c3616a0e2a66da
--! Hash: sha1:382c63103aec8490e406e4a61bf6cef85a693295
--! Message: cheaper capture

-- Leaner capture. The audit capture becomes one statement per written
-- statement (the events, and their attribution through a data-modifying WITH),
-- with pii sealed inline in SQL and no per-call settings. Soft-delete cascades
-- run only for statements that delete or restore. The usage capture locks the
-- session with an advisory lock, leaving it one statement.

-- Personal data, sealed in SQL -----------------------------------------------------

-- AES-256-CBC with a zero IV over (16 random bytes || value) stores exactly
-- what audit.encrypt_pii stored, base64(iv || ciphertext): the first cipher
-- block is a random IV for the rest, so audit.decrypt_value reads both alike.
-- It needs its random bytes only once, so it can be one inlined expression.
create or replace function audit.seal_pii(value jsonb, key bytea) returns jsonb as $$
  select case
    when value is null or value operator(pg_catalog.=) 'null'::pg_catalog.jsonb then 'null'::pg_catalog.jsonb
    when key is null then '{"$pii": null}'::pg_catalog.jsonb
    else pg_catalog.jsonb_build_object('$pii', pg_catalog.encode(public.encrypt(
      public.gen_random_bytes(16) operator(pg_catalog.||) pg_catalog.convert_to(value::pg_catalog.text, 'UTF8'),
      key, 'aes-cbc/pad:pkcs'), 'base64'))
  end;
$$ language sql volatile;
comment on function audit.seal_pii(jsonb, bytea) is
  E'One pii value as stored: {"$pii": base64(iv || AES-256-CBC ciphertext)} under the subject''s key, {"$pii": null} without a key (no subject, or an erased one); a null stays null. Inlined into the capture functions, which alone hold keys.';
revoke all on function audit.seal_pii(jsonb, bytea) from public;

create or replace function audit.subject_key_sql(subject text) returns text as $$
  select pg_catalog.format(
    'case when %1$s is not null then coalesce((select k.key from app_private.audit_subject_keys k where k.subject_id operator(pg_catalog.=) %1$s), audit.subject_key(%1$s)) end',
    subject);
$$ language sql immutable;
comment on function audit.subject_key_sql(text) is
  E'SQL for the key of a subject: an index lookup, and audit.subject_key (which makes the key) only for a subject not seen before.';

-- Generated SQL --------------------------------------------------------------------

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

create or replace function audit.attribution_sql() returns text as $$
  select $insert$
  insert into audit.transactions (
    xact_id, started_at, actor_kind, user_id, user_role, request_id, client_ip, user_agent, task, job_id,
    database_role, session_user_name, application_name, client_addr)
  select pg_catalog.pg_current_xact_id(), pg_catalog.now(),
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
    pg_catalog.inet_client_addr()
  where exists (select from written)
  on conflict do nothing
  returning 1$insert$;
$$ language sql immutable;
comment on function audit.attribution_sql() is
  E'The insert that ends every capture: it records who is writing (the API''s, the worker''s or a migration''s settings, else the session user, application_name and client address) once per transaction, and only if the capture wrote an event. It runs in the capture''s own statement, as a data-modifying WITH after the one named written.';

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

  -- One statement per branch: the events, then who wrote them (attribution_sql
  -- reads the first WITH). Both are WITHs of a SELECT, so that parsing and a
  -- cached plan alike lock audit.events before audit.transactions, in the
  -- order audit.maintain_partitions locks them: the other order deadlocks
  -- with it. UPDATE pairs old and new rows with a FULL JOIN, which
  -- only a hash or merge join can run: a session keeps the plan of its first
  -- statement, and a nested loop planned for one row would make a later
  -- 100k-row update quadratic. (The row filter is "is not false" so that the
  -- planner cannot turn the FULL JOIN back into an inner one.)
  body := pg_catalog.format($body$
declare
  attributions integer;
begin
  if TG_OP = 'INSERT' then
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, owner_id, subject_id)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'INSERT'::audit.operation, %4$s, %5$s, s.id
      from new_rows r %6$s
      returning 1),
%12$s
  elsif TG_OP = 'UPDATE' then
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values, changed_columns, owner_id, subject_id, old_subject_id, details)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %14$s, %7$s, %8$s, %9$s, %5$s, s.id,
        case when s.old_id is distinct from s.id then s.old_id end, %15$s
      from old_rows o full join new_rows r on (%10$s) %13$s
      where (o operator(pg_catalog.*<>) r) is not false
      returning 1),
%12$s
  elsif TG_OP = 'DELETE' then
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id, details)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %16$s, %4$s, %5$s, s.id, %17$s
      from old_rows r %6$s
      returning 1),
%12$s
  else
    with written as (
      insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'TRUNCATE'::audit.operation, %4$s, %5$s, s.id
      from %11$s r %6$s
      returning 1),
%12$s
  end if;
  return null;
end;
$body$,
    schema_name, table_name, record_key,
    audit.row_values_sql(target, 'r', 'k.new_key'),
    case when config.owner_column is null then 'null::pg_catalog.uuid' else pg_catalog.format('r.%I', config.owner_column) end,
    row_subject,
    audit.changes_sql(target, 'o', 'k.old_key'),
    audit.changes_sql(target, 'r', 'k.new_key'),
    audit.changed_names_sql(target),
    key_join,
    qualified_target,
    pg_catalog.format('    attributed as (%s)
    select count(*) into attributions from attributed;', audit.attribution_sql()),
    update_subject,
    -- On a soft-delete table an UPDATE of is_deleted is a soft delete or a
    -- restore, with its batch; a DELETE can only be governance.hard_delete.
    case when soft_delete then $op$case when o.is_deleted is distinct from r.is_deleted
      then case when r.is_deleted then 'SOFT_DELETE'::audit.operation else 'RESTORE'::audit.operation end
      else 'UPDATE'::audit.operation end$op$ else $op$'UPDATE'::audit.operation$op$ end,
    case when soft_delete then $details$case when o.is_deleted is distinct from r.is_deleted
      then pg_catalog.jsonb_build_object('batch_id', coalesce(r.deletion_batch_id, o.deletion_batch_id)) end$details$
      else 'null::pg_catalog.jsonb' end,
    case when soft_delete then $op$'HARD_DELETE'::audit.operation$op$ else $op$'DELETE'::audit.operation$op$ end,
    case when soft_delete then $details$(select pg_catalog.jsonb_build_object('hard_deletion_id', h.id, 'reason', h.reason)
      from governance.current_hard_deletion() h where h.id is not null)$details$ else 'null::pg_catalog.jsonb' end);

  -- Security definer: writers have no privilege on the audit tables at all,
  -- so none can insert, lock or forge an event outside this function. Every
  -- name in the body is schema-qualified, so it needs no search_path of its
  -- own (a SET clause is paid on every call). JIT is off: a plan kept from a
  -- first large statement would otherwise compile again for every small one.
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
  E'(Re)writes a tracked table''s capture function: static SQL over the transition tables with the table''s columns, key and policies spelled out, one cached plan per operation that writes the events and their attribution together.';

-- The generators they replace.
drop function if exists audit.with_pii(boolean, text, text, text);
drop function if exists audit.values_expression(regclass, text, audit.column_policy);
drop function if exists audit.changed_expression(regclass, text, audit.column_policy);
drop function if exists audit.encrypt_pii(uuid, jsonb);

-- Soft delete: cascade only when a statement deletes or restores ------------------

create or replace function governance.generate_soft_delete(target regclass) returns void as $$
declare
  config governance.soft_delete_tables;
  parent_checks text;
  delete_cascades text;
  restore_cascades text;
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
      where n.is_deleted and not c.is_deleted and %2$s;$cascade$,
      f.child,
      (select pg_catalog.string_agg(pg_catalog.format('c.%I operator(pg_catalog.=) n.%I', cc, pc), ' and ')
       from unnest(f.child_columns, f.parent_columns) x(cc, pc))), ''),
    pg_catalog.string_agg(pg_catalog.format($cascade$
      update %1$s c set is_deleted = false
      from old_rows o join %2$s p on p.%3$I operator(pg_catalog.=) o.%3$I
      where o.is_deleted and not p.is_deleted and c.is_deleted
        and c.deletion_batch_id operator(pg_catalog.=) o.deletion_batch_id and %4$s;$cascade$,
      f.child, target, config.key_column,
      (select pg_catalog.string_agg(pg_catalog.format('c.%I operator(pg_catalog.=) o.%I', cc, pc), ' and ')
       from unnest(f.child_columns, f.parent_columns) x(cc, pc))), '')
    into delete_cascades, restore_cascades
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
    -- Most updates neither delete nor restore. A cascade statement would still
    -- fire its children's statement triggers (and theirs), so each runs only
    -- when the statement has rows that need it.
    if exists (select from new_rows n where n.is_deleted) then%6$s
    end if;
    if exists (select from old_rows o where o.is_deleted) then%7$s
    end if;
    return null;
  end if;
end;
$body$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
$create$,
    governance.trigger_function_name(target), config.noun, config.key_column, target,
    parent_checks, delete_cascades, restore_cascades);
  execute pg_catalog.format('comment on function governance.%I() is %L', governance.trigger_function_name(target),
    pg_catalog.format('Soft delete of %s: turns a DELETE into a soft delete, keeps the deletion columns consistent, requires live parents and cascades to children; generated by governance.enable_soft_delete.', target));
  execute pg_catalog.format('revoke all on function governance.%I() from public', governance.trigger_function_name(target));
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function governance.generate_soft_delete(regclass) is
  E'(Re)writes a soft-delete table''s trigger function: static SQL with its key, its parents and its children spelled out.';

select governance.generate_soft_delete(table_oid) from governance.soft_delete_tables;

-- Usage capture: one statement ------------------------------------------------------

create or replace function app_private.tg_transcriptions__capture_usage() returns trigger as $$
declare
  used_in date := date_trunc('month', new.finished_at at time zone 'UTC')::date;
  session_locked boolean; -- unused: the lock is what counts
begin
  if used_in < date_trunc('month', pg_catalog.now() at time zone 'UTC') then
    -- A late event may meet a month close: wait for one in progress, so that
    -- the statement below sees it and bills the next open month.
    lock table app_private.usage_ledgers in row exclusive mode;
  end if;
  -- Attempts of one session are priced one at a time, and the statement
  -- below starts after the wait: it sees a success committed meanwhile. A
  -- transaction-scoped advisory lock on the session is an expression, not a
  -- statement: cheaper than locking its row, and it blocks no other writer.
  session_locked := pg_catalog.pg_advisory_xact_lock(
    'app_public.coaching_sessions'::pg_catalog.regclass::pg_catalog.oid::integer, pg_catalog.hashtext(new.session_id::text)) is null;

  -- One statement: what the price depends on, the coach's ledger for the
  -- billing month moved on (its row lock prices a coach's completions one at a
  -- time, and ON CONFLICT reads the latest totals), and the event itself.
  with facts as (
    select new.coach_profile_id as coach_profile_id, p.id as plan_id, p.included_minutes::bigint * 60 as included_cap,
      p.price_per_extra_minute_minor as price, new.status::text::app_public.attempt_outcome as outcome,
      case when new.status = 'completed' then new.billed_duration_seconds
           else coalesce(new.billed_duration_seconds, s.audio_duration_seconds, 0) end as seconds,
      (select r.cost_per_minute_minor from app_public.provider_rates r
       where r.provider = new.provider and r.model = new.model and r.effective_from <= new.finished_at
       order by r.effective_from desc limit 1) as rate,
      exists (select from app_public.usage_events e
              where e.session_id = new.session_id and e.outcome = 'completed' and e.kind = 'attempt') as had_success,
      case when exists (select from app_public.billing_months b where b.month = used_in)
        then app_private.first_open_month(used_in) else used_in end as billed_in
    from app_public.coach_profiles cp
    join app_public.billing_plans p on p.id = cp.plan_id
    left join app_public.coaching_sessions s on s.id = new.session_id
    where cp.id = new.coach_profile_id
      -- The first terminal status is the one billed (the unique key enforces it).
      and not exists (select from app_public.usage_events e where e.transcription_id = new.id and e.kind = 'attempt')),
  ledger as (
    insert into app_private.usage_ledgers as l (coach_profile_id, billing_month, included_seconds_used, charged_seconds,
      charge_sixtieths, charged_minor, last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor)
    select f.coach_profile_id, f.billed_in, c.included_seconds, c.charged_seconds, c.charge_sixtieths_after, c.amount_minor,
      c.billing_reason, c.included_seconds, c.charged_seconds, c.amount_minor
    from facts f, app_private.decide_charge(f.outcome, f.seconds, f.had_success, f.included_cap, f.price, 0) c
    on conflict (coach_profile_id, billing_month) do update set
      (included_seconds_used, charged_seconds, charge_sixtieths, charged_minor,
       last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor) = (
        select l.included_seconds_used + c.included_seconds, l.charged_seconds + c.charged_seconds, c.charge_sixtieths_after,
          l.charged_minor + c.amount_minor, c.billing_reason, c.included_seconds, c.charged_seconds, c.amount_minor
        from facts f, app_private.decide_charge(f.outcome, f.seconds, f.had_success,
          f.included_cap - l.included_seconds_used, f.price, l.charge_sixtieths) c)
    returning l.billing_month, l.last_billing_reason, l.last_included_seconds, l.last_charged_seconds, l.last_amount_minor)
  insert into app_public.usage_events (
    kind, occurred_at, coach_profile_id, session_id, transcription_id, is_retry, is_retranscription, provider, model,
    language, audio_seconds, outcome, billable, billing_reason, included_seconds, charged_seconds, unit_price_minor,
    amount_minor, provider_cost_minor, plan_id, usage_month, billing_month, rule_version)
  select 'attempt', new.finished_at, new.coach_profile_id, new.session_id, new.id, new.retry_of is not null,
    f.outcome = 'completed' and f.had_success, new.provider, new.model, new.language, f.seconds, f.outcome,
    f.outcome = 'completed', l.last_billing_reason, l.last_included_seconds, l.last_charged_seconds, f.price,
    l.last_amount_minor, pg_catalog.round(f.seconds * f.rate / 60.0, 6), f.plan_id, used_in, l.billing_month,
    app_public.billing_rule_version()
  from facts f, ledger l;

  if not found and not exists (
    select from app_public.usage_events e where e.transcription_id = new.id and e.kind = 'attempt'
  ) then
    raise exception 'Coach profile % has no billing plan; the attempt cannot be billed.', new.coach_profile_id
      using errcode = '23503';
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__capture_usage() is
  E'Writes the usage event of an attempt that reached completed or failed, in the same transaction and one statement, priced by app_private.decide_charge. Exactly once per attempt: the first terminal status is billed, and the unique key on transcription_id makes a second event for an attempt an error, never a row.';

-- Every tracked table gets the new capture.
select audit.generate_capture(table_oid) from audit.tracked_tables where disabled_at is null;
