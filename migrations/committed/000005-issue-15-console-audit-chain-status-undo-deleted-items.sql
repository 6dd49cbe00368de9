--! Previous: sha1:274cee02dd281f6740d7c6cf90ce3a109265278d
--! Hash: sha1:d47fad6782d3d87fd0b48baf82ea68e0b00bdfd9
--! Message: issue 15 console: audit chain status, undo, deleted items

--! Included audit/chain-status.sql
-- The chain's status as the console shows it: the newest seal, and a verification on demand.

create or replace function app_public.audit_chain_status(
  out newest_seal_id bigint,
  out sealed_at timestamptz,
  out last_sealed_event_id bigint,
  out head_hash text,
  out events_unsealed bigint
) as $$
  select s.id, s.sealed_at, s.last_event_id, pg_catalog.encode(s.hash, 'hex'),
    (select pg_catalog.count(*) from audit.events e where e.id > coalesce(s.last_event_id, -9223372036854775808))
  from (select null::integer) nothing
  left join lateral (select * from audit.seals order by id desc limit 1) s on true;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.audit_chain_status() is
  E'The hash chain''s newest seal (its id, when it was made, the last event it covers and its hash, all null before the first seal) and how many events wait for a seal. Admins and auditors.';

create or replace function app_public.audit_verify_chain(
  out intact boolean,
  out events_verified bigint,
  out seals_verified bigint,
  out events_unsealed bigint,
  out first_bad_event_id bigint,
  out problem text,
  out head_hash text
) as $$
  select v.intact, v.events_verified, v.seals_verified, v.events_unsealed, v.first_bad_event_id, v.problem, v.head_hash
  from audit.verify_chain() v limit 1;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.audit_verify_chain() is
  E'Recomputes the hash chain now (audit.verify_chain, as `custodian audit verify` does): intact, how many events and seals it verified, the first event altered, deleted or forged and the problem in words, and the head hash to compare with one kept elsewhere. Admins and auditors.';

revoke all on function app_public.audit_chain_status(), app_public.audit_verify_chain() from public;
grant execute on function app_public.audit_chain_status(), app_public.audit_verify_chain() to custodian_admin, custodian_auditor;
--! EndIncluded audit/chain-status.sql
--! Included audit/undo.sql
-- Undoing one change: the SQL that would put the old values back, and an undo that runs it as the caller.

create or replace function audit.is_hidden_value(value jsonb) returns boolean as $$
  select pg_catalog.jsonb_typeof(value) = 'object' and (value ? '$redacted' or value ? '$erased' or value ? '$corrupt');
$$ language sql immutable;
comment on function audit.is_hidden_value(jsonb) is
  E'Whether a value as the reader got it stands for personal data they may not read, erased data or a damaged value.';

create or replace function audit.value_literal(target regclass, column_name text, row_values jsonb) returns text as $$
declare
  literal text;
begin
  execute pg_catalog.format('select (pg_catalog.jsonb_populate_record(null::%s, $1)).%I::text', target, column_name)
    into literal using row_values;
  return pg_catalog.quote_nullable(literal);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.value_literal(regclass, text, jsonb) is
  E'One column''s value from an event''s values as an SQL literal of the column''s own text form (NULL for null).';

create or replace function app_public.audit_undo_sql(table_name text, record_key jsonb, event_id bigint, out statement text, out problem text) as $$
declare
  e app_public.audit_event;
  target regclass;
  key_column text;
  key_value jsonb;
  column_name text;
  conditions text[] := '{}';
  assignments text[] := '{}';
  columns text[] := '{}';
  literals text[] := '{}';
  hidden text[] := '{}';
  not_writable text[] := '{}';
begin
  select * into e from app_public.audit_record_history(table_name, record_key) h where h.id = event_id;
  if not found then
    problem := pg_catalog.format('There is no event %s of that record that you may read.', event_id);
    return;
  end if;
  if e.operation not in ('UPDATE', 'DELETE') then
    problem := case e.operation
      when 'SOFT_DELETE' then 'A soft delete is undone by restoring its cascade, on the Deleted items page.'
      when 'INSERT' then 'An INSERT is undone by deleting the record through the API, not from the trail.'
      else pg_catalog.format('A %s cannot be undone from the trail: only an UPDATE or a DELETE can.', e.operation)
    end;
    return;
  end if;
  target := pg_catalog.to_regclass(pg_catalog.format('%I.%I', e.table_schema, e.table_name));
  if target is null then
    problem := pg_catalog.format('The table %I.%I no longer exists.', e.table_schema, e.table_name);
    return;
  end if;

  if e.operation = 'UPDATE' then
    for key_column, key_value in select * from pg_catalog.jsonb_each(e.record_key) loop
      conditions := conditions || pg_catalog.format('%I = %L', key_column, key_value #>> '{}');
    end loop;
    foreach column_name in array e.changed_columns loop
      -- Columns the trail excludes are absent; columns only the database sets (updated_at, derived ones) are not written back.
      continue when not e.old_values ? column_name;
      if not pg_catalog.has_column_privilege('custodian_admin', target, column_name, 'UPDATE') then
        not_writable := not_writable || column_name;
        continue;
      end if;
      if audit.is_hidden_value(e.old_values -> column_name) or audit.is_hidden_value(e.new_values -> column_name) then
        hidden := hidden || column_name;
        continue;
      end if;
      assignments := assignments || pg_catalog.format('%I = %s', column_name, audit.value_literal(target, column_name, e.old_values));
      -- Only while the record still holds what this event wrote: a later change is not overwritten.
      conditions := conditions || pg_catalog.format('%I is not distinct from %s', column_name, audit.value_literal(target, column_name, e.new_values));
    end loop;
    if cardinality(hidden) > 0 then
      problem := pg_catalog.format('The values of %s are personal data you may not read, or were erased: this change cannot be undone from here.',
        pg_catalog.array_to_string(hidden, ', '));
      return;
    end if;
    if cardinality(assignments) = 0 then
      problem := pg_catalog.format('None of the columns this UPDATE changed (%s) can be written through the API.',
        pg_catalog.array_to_string(not_writable, ', '));
      return;
    end if;
    statement := pg_catalog.format('update %s set %s where %s', target,
      pg_catalog.array_to_string(assignments, ', '), pg_catalog.array_to_string(conditions, ' and '));
  else
    for column_name in select k from pg_catalog.jsonb_object_keys(e.old_values) k loop
      continue when not pg_catalog.has_column_privilege('custodian_admin', target, column_name, 'INSERT');
      if audit.is_hidden_value(e.old_values -> column_name) then
        hidden := hidden || column_name;
        continue;
      end if;
      columns := columns || pg_catalog.quote_ident(column_name);
      literals := literals || audit.value_literal(target, column_name, e.old_values);
    end loop;
    if cardinality(hidden) > 0 then
      problem := pg_catalog.format('The values of %s are personal data you may not read, or were erased: this delete cannot be undone from here.',
        pg_catalog.array_to_string(hidden, ', '));
      return;
    end if;
    if cardinality(columns) = 0 then
      problem := 'None of the deleted row''s columns can be written through the API.';
      return;
    end if;
    -- The key is the database's to give: the row comes back as a new record with the old values.
    statement := pg_catalog.format('insert into %s (%s) values (%s)', target,
      pg_catalog.array_to_string(columns, ', '), pg_catalog.array_to_string(literals, ', '));
  end if;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.audit_undo_sql(text, jsonb, bigint) is
  E'The SQL that would undo one UPDATE or DELETE of a record, from the values the caller may read: an UPDATE sets the changed columns an admin may write back to their old values, only while the record still holds the new ones; a DELETE inserts the old values again (under a new key). statement is null and problem says why when it cannot be undone from here (another operation, personal data the caller may not read, nothing an admin may write).';

create or replace function app_public.undo_audit_event(table_name text, record_key jsonb, event_id bigint) returns text as $$
declare
  undo record;
  changed integer;
begin
  select * into undo from app_public.audit_undo_sql(table_name, record_key, event_id);
  if undo.problem is not null then
    raise exception '%', undo.problem using errcode = '55000';
  end if;
  -- As the caller: row-level security, the column grants and the triggers (the audit trail among them) apply as to any write.
  execute undo.statement;
  get diagnostics changed = row_count;
  if changed = 0 then
    raise exception 'The record has changed since event % (or no longer exists): nothing was undone.', event_id using errcode = '55000';
  end if;
  return undo.statement;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.undo_audit_event(text, jsonb, bigint) is
  E'Undoes one UPDATE or DELETE of a record by running app_public.audit_undo_sql''s statement as the caller, under the same row-level security, grants and triggers as any write, so the undo is itself audited as the caller''s. Returns the statement it ran; refuses, changing nothing, when the change cannot be undone or the record changed since. Admins.';

grant execute on function audit.is_hidden_value(jsonb), audit.value_literal(regclass, text, jsonb)
  to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_public.audit_undo_sql(text, jsonb, bigint) to custodian_coach, custodian_admin, custodian_auditor;
revoke all on function app_public.undo_audit_event(text, jsonb, bigint) from public;
grant execute on function app_public.undo_audit_event(text, jsonb, bigint) to custodian_admin;
--! EndIncluded audit/undo.sql
--! Included soft-delete/deleted-items.sql
-- The deleted items a person may see and restore, with their cascades.

create or replace function app_public.deleted_items(table_name text default null, deletion_batch_id uuid default null)
returns table (
  table_name text,
  row_id uuid,
  label text,
  coach_profile_id uuid,
  coach_name text,
  deleted_at timestamptz,
  deleted_by uuid,
  deleted_by_name text,
  deletion_batch_id uuid,
  starts_cascade boolean,
  cascade_rows integer,
  restorable_until timestamptz,
  may_restore boolean
) as $$
  with caller as (
    select governance.caller_is_staff() as is_admin,
      pg_catalog.pg_has_role(governance.caller_role(), 'custodian_auditor', 'member') as is_auditor,
      app_public.current_user_id() as user_id
  ),
  deleted as (
    select 'coach_profiles'::text as table_name, 1 as depth, p.id, p.display_name as label, p.id as coach_profile_id,
      p.deleted_at, p.deleted_by, p.deletion_batch_id
    from app_public.coach_profiles p where p.is_deleted
    union all
    select 'clients', 2, c.id, c.full_name, c.coach_profile_id, c.deleted_at, c.deleted_by, c.deletion_batch_id
    from app_public.clients c where c.is_deleted
    union all
    select 'coaching_sessions', 3, s.id, s.title || ' (' || pg_catalog.to_char(s.recorded_at at time zone 'UTC', 'YYYY-MM-DD') || ')',
      s.coach_profile_id, s.deleted_at, s.deleted_by, s.deletion_batch_id
    from app_public.coaching_sessions s where s.is_deleted
    union all
    select 'transcriptions', 4, t.id, t.provider || ' ' || t.model || ', ' || t.status::text, t.coach_profile_id,
      t.deleted_at, t.deleted_by, t.deletion_batch_id
    from app_public.transcriptions t where t.is_deleted
  ),
  visible as (
    select d.*, p.display_name as coach_name,
      -- The row the deletion started from is the highest one of its batch: restoring it restores the batch.
      d.depth = pg_catalog.min(d.depth) over (partition by d.deletion_batch_id) as starts_cascade,
      (pg_catalog.count(*) over (partition by d.deletion_batch_id))::integer as cascade_rows
    from deleted d
    join app_public.coach_profiles p on p.id = d.coach_profile_id
    cross join caller
    -- A coach sees the deleted rows of their own profile only.
    where caller.is_admin or caller.is_auditor or p.user_id = caller.user_id
  )
  select v.table_name, v.id, v.label, v.coach_profile_id, v.coach_name, v.deleted_at, v.deleted_by, u.display_name,
    v.deletion_batch_id, v.starts_cascade, v.cascade_rows,
    case when not caller.is_admin then v.deleted_at + governance.coach_restore_window() end,
    v.starts_cascade and (caller.is_admin
      or (not caller.is_auditor and v.deleted_at >= pg_catalog.now() - governance.coach_restore_window()))
  from visible v
  cross join caller
  left join app_public.users u on u.id = v.deleted_by
  where (deleted_items.table_name is null or v.table_name = deleted_items.table_name)
    and (deleted_items.deletion_batch_id is null or v.deletion_batch_id = deleted_items.deletion_batch_id)
  order by v.deleted_at desc, v.deletion_batch_id, v.depth, v.id;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.deleted_items(text, uuid) is
  E'Soft-deleted rows (coach profiles, clients, coaching sessions, transcriptions), newest deletion first, of one table (coach_profiles, clients, coaching_sessions or transcriptions) or all, of one cascade (deletionBatchId) or all: who deleted each and when, its cascade and whether the row started it (restoring that row brings back exactly the cascade, cascadeRows rows). Admins and auditors see every coach''s, a coach their own. restorableUntil is when a coach''s restore window closes (null for admins, who may restore at any time); mayRestore says whether the caller may restore the cascade now.';

revoke all on function app_public.deleted_items(text, uuid) from public;
grant execute on function app_public.deleted_items(text, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded soft-delete/deleted-items.sql
