--! Previous: sha1:88403277ef91912880f8ecee2d3495f549f1119f
--! Hash: sha1:ed722db556d0709a98c7fb6a02b3667c98eb4ebd
--! Message: issue 14 and 15: console API

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

--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.

-- The rollups a figure sums: the caller's (totals for admins and auditors, a
-- coach's own rows), or one coach's when a coach is named. The analytics
-- functions take an optional coach_profile_id and read this.
create or replace function app_private.usage_rollups_of(coach_profile_id uuid) returns setof app_private.usage_rollups as $$
  select r.* from app_private.usage_rollups r where usage_rollups_of.coach_profile_id is null
  union all
  select d.* from app_private.usage_daily_visible d where d.coach_profile_id = usage_rollups_of.coach_profile_id;
$$ language sql stable;
comment on function app_private.usage_rollups_of(uuid) is
  E'The daily rollups the caller may read (app_private.usage_rollups), or only those of one coach profile when given (usage_daily_visible: a coach sees their own, admins and auditors any).';

-- granularity was text before it was app_public.usage_granularity; there was no coach before issue 15.
drop function if exists app_public.usage_over_time(date, date, text);
drop function if exists app_public.usage_over_time(date, date, app_public.usage_granularity);
create or replace function app_public.usage_over_time(from_day date, to_day date,
  granularity app_public.usage_granularity default 'day', coach_profile_id uuid default null)
returns setof app_public.usage_period as $$
begin
  perform app_private.check_range(from_day, to_day), app_private.check_granularity(granularity::text);
  perform app_private.require_visible_coach_profile(usage_over_time.coach_profile_id);
  return query
  select pg_catalog.date_trunc(granularity::text, r.day)::date,
    sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint, sum(r.free_retries)::bigint,
    sum(r.retranscriptions)::bigint, pg_catalog.round(sum(r.audio_seconds) / 60.0, 2),
    pg_catalog.round(sum(r.billable_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.revenue_minor) - sum(r.provider_cost_minor)
  from app_private.usage_rollups_of(usage_over_time.coach_profile_id) r
  where r.day >= from_day and r.day < to_day
  group by 1 order by 1;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_over_time(date, date, app_public.usage_granularity, uuid) is
  E'Usage by day, week or month over a range of days (to exclusive): attempts, outcomes, free retries, re-transcriptions, minutes, revenue, provider cost and gross margin. Admins and auditors see every coach (or the one named), a coach their own.';

drop function if exists app_public.usage_by_provider(date, date);
create or replace function app_public.usage_by_provider(from_day date, to_day date, coach_profile_id uuid default null)
returns table (provider text, model text, attempts bigint, completed bigint, failed bigint, failure_rate numeric,
               audio_minutes numeric, revenue_minor bigint, provider_cost_minor numeric, unknown_cost_attempts bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(usage_by_provider.coach_profile_id);
  return query
  select r.provider, r.model, sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    pg_catalog.round(sum(r.audio_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.unknown_cost_attempts)::bigint
  from app_private.usage_rollups_of(usage_by_provider.coach_profile_id) r
  where r.day >= from_day and r.day < to_day and r.provider is not null
  group by 1, 2 order by sum(r.attempts) desc, 1, 2;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_by_provider(date, date, uuid) is E'Usage per provider and model over a range of days (of one coach if named): attempts, failure rate, minutes, revenue, provider cost, attempts without a known cost.';

-- The coach's name rides along: a page of top coaches must not look the names up in a page of every coach.
drop function if exists app_public.top_coaches(date, date, integer);
create function app_public.top_coaches(from_day date, to_day date, max_rows integer default 10)
returns table (coach_profile_id uuid, display_name text, is_deleted boolean, attempts bigint, billable_minutes numeric, revenue_minor bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  -- A count outside 1 to 1000 is a mistake to name, not one to quietly correct.
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'maxRows must be from 1 to 1000, not %.', coalesce(max_rows::text, 'null') using errcode = '22023';
  end if;
  return query
  select t.coach_profile_id, cp.display_name, cp.is_deleted, t.attempts, t.billable_minutes, t.revenue_minor, t.provider_cost_minor, t.gross_margin_minor
  from (
    select d.coach_profile_id, sum(d.attempts)::bigint as attempts, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2) as billable_minutes,
      sum(d.revenue_minor)::bigint as revenue_minor, sum(d.provider_cost_minor) as provider_cost_minor,
      sum(d.revenue_minor) - sum(d.provider_cost_minor) as gross_margin_minor, sum(d.billable_seconds) as billable_seconds
    from app_private.usage_daily_visible d
    where d.day >= from_day and d.day < to_day
    group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
    limit max_rows) t
  -- The name as the caller may read it (a coach profile deleted for good has none).
  left join app_public.coach_profiles cp on cp.id = t.coach_profile_id
  order by t.revenue_minor desc, t.billable_seconds desc, t.coach_profile_id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.top_coaches(date, date, integer) is E'The coaches who brought the most revenue over a range of days, with their names and whether their profile is deleted (max_rows of them, 10 unless given, from 1 to 1000; any other count is refused); provider cost and margin for admins and auditors only.';

-- One row each, not a set: the summaries below are one figure per range, and
-- the API serves them as one object (OUT parameters, returns record).
drop function if exists app_public.revenue_summary(date, date);
create or replace function app_public.revenue_summary(from_day date, to_day date, coach_profile_id uuid default null,
  out revenue_minor bigint, out provider_cost_minor numeric, out gross_margin_minor numeric, out gross_margin_ratio numeric)
returns record as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(revenue_summary.coach_profile_id);
  select s.revenue, s.cost, s.revenue - s.cost, pg_catalog.round((s.revenue - s.cost) / nullif(s.revenue, 0), 4)
  into revenue_minor, provider_cost_minor, gross_margin_minor, gross_margin_ratio
  from (
    select coalesce(sum(r.revenue_minor), 0)::bigint as revenue,
      -- A coach's rollups carry no cost: null, not zero, and so no margin.
      case when (select app_private.is_staff()) then coalesce(sum(r.provider_cost_minor), 0) end as cost
    from app_private.usage_rollups_of(revenue_summary.coach_profile_id) r
    where r.day >= from_day and r.day < to_day) s;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date, uuid) is E'Usage revenue over a range of days (of one coach if named), and for admins and auditors the provider cost and gross margin (null for a coach). One row.';

drop function if exists app_public.retranscription_stats(date, date);
create or replace function app_public.retranscription_stats(from_day date, to_day date, coach_profile_id uuid default null,
  out completed bigint, out retranscriptions bigint, out retranscription_rate numeric, out retranscription_revenue_minor bigint)
returns record as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(retranscription_stats.coach_profile_id);
  select coalesce(sum(r.completed), 0)::bigint, coalesce(sum(r.retranscriptions), 0)::bigint,
    pg_catalog.round(sum(r.retranscriptions)::numeric / nullif(sum(r.completed), 0), 4),
    coalesce(sum(r.retranscription_revenue_minor), 0)::bigint
  into completed, retranscriptions, retranscription_rate, retranscription_revenue_minor
  from app_private.usage_rollups_of(retranscription_stats.coach_profile_id) r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retranscription_stats(date, date, uuid) is E'How many successful attempts were re-transcriptions over a range of days (of one coach if named), their share, and what they were charged. One row.';

drop function if exists app_public.failure_stats(date, date);
create or replace function app_public.failure_stats(from_day date, to_day date, coach_profile_id uuid default null,
  out attempts bigint, out failed bigint, out failure_rate numeric, out free_retries bigint, out failed_attempts_cost_minor numeric)
returns record as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(failure_stats.coach_profile_id);
  select coalesce(sum(r.attempts), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    coalesce(sum(r.free_retries), 0)::bigint,
    case when (select app_private.is_staff()) then coalesce(sum(r.failed_cost_minor), 0) end
  into attempts, failed, failure_rate, free_retries, failed_attempts_cost_minor
  from app_private.usage_rollups_of(failure_stats.coach_profile_id) r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.failure_stats(date, date, uuid) is
  E'Failure rate over a range of days (of one coach if named), the failed retries, and what the failed (free) attempts cost us at the providers (admins and auditors only; null for a coach). One row.';

-- Provider cost and margin per month came with issue 15.
drop function if exists app_public.monthly_revenue(date, date);
create or replace function app_public.monthly_revenue(from_month date, to_month date)
returns table (month date, plan_fee_minor bigint, usage_revenue_minor bigint, total_minor bigint, paying_coaches bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_month, to_month);
  return query
  with months as (
    select m::date as month from pg_catalog.generate_series(
      date_trunc('month', from_month), date_trunc('month', to_month) - interval '1 month', interval '1 month') m),
  fees as (
    select m.month, coalesce(sum(p.monthly_fee_minor), 0)::bigint as fees, count(cp.id) as coaches
    from months m
    -- UTC months, whatever the session's time zone.
    left join app_public.coach_profiles cp on cp.created_at < (m.month + interval '1 month') at time zone 'UTC'
      and (not cp.is_deleted or cp.deleted_at >= m.month::timestamp at time zone 'UTC')
    left join app_public.billing_plans p on p.id = cp.plan_id
    group by m.month),
  usage as (
    select r.billing_month as month, sum(r.revenue_minor)::bigint as revenue, sum(r.provider_cost_minor) as cost
    from app_private.usage_rollups r
    where r.billing_month >= (select min(m.month) from months m) and r.billing_month <= (select max(m.month) from months m)
    group by 1)
  select f.month, f.fees, coalesce(u.revenue, 0)::bigint, (f.fees + coalesce(u.revenue, 0))::bigint, f.coaches,
    -- The platform's cost and margin: for admins and auditors only (null for a coach).
    case when (select app_private.is_staff()) then coalesce(u.cost, 0) end,
    case when (select app_private.is_staff()) then f.fees + coalesce(u.revenue, 0) - coalesce(u.cost, 0) end
  from fees f left join usage u on u.month = f.month order by f.month;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.monthly_revenue(date, date) is
  E'Monthly recurring revenue from plan fees (coaches live in the month) and usage revenue by billing month, for the months from from_month up to (not including) to_month; for admins and auditors also the provider cost of the usage billed in the month and the gross margin (fees and usage less that cost), null for a coach.';

grant execute on function
  app_private.usage_rollups_of(uuid),
  app_public.usage_over_time(date, date, app_public.usage_granularity, uuid),
  app_public.usage_by_provider(date, date, uuid),
  app_public.top_coaches(date, date, integer),
  app_public.revenue_summary(date, date, uuid),
  app_public.retranscription_stats(date, date, uuid),
  app_public.failure_stats(date, date, uuid),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/analytics.sql
--! Included usage/usage-in-range.sql
-- The usage events of a range of days, or of a billing month.

-- billing_month, provider and model came with issue 15 (an invoice's lines are its billing month's events).
drop function if exists app_public.usage_in_range(date, date, uuid);
create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null,
  billing_month date default null, provider text default null, model text default null)
returns setof app_public.usage_events as $$
begin
  -- A billing month alone is enough; otherwise the range must be whole.
  if usage_in_range.billing_month is null or from_day is not null or to_day is not null then
    perform app_private.check_range(from_day, to_day);
  end if;
  if usage_in_range.billing_month is not null and usage_in_range.billing_month <> date_trunc('month', usage_in_range.billing_month)::date then
    raise exception 'A billing month is its first day (like 2026-10-01), not %.', usage_in_range.billing_month using errcode = '22023';
  end if;
  perform app_private.require_visible_coach_profile(usage_in_range.coach_profile_id);
  return query
  select e.* from app_private.usage_events_visible e
  where (from_day is null or e.occurred_at >= (from_day::timestamp at time zone 'UTC'))
    and (to_day is null or e.occurred_at < (to_day::timestamp at time zone 'UTC'))
    and (usage_in_range.coach_profile_id is null or e.coach_profile_id = usage_in_range.coach_profile_id)
    and (usage_in_range.billing_month is null or e.billing_month = usage_in_range.billing_month)
    and (usage_in_range.provider is null or e.provider = usage_in_range.provider)
    and (usage_in_range.model is null or e.model = usage_in_range.model)
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date, uuid, date, text, text) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), or were billed in a billing month (its first day; the range may then be left out), or both; oldest first, of one coach, provider or model if given: a coach''s own, or any coach''s for admins and auditors (any other is refused: no coach profile you can see). The provider cost is for admins and auditors only. The events a revenue figure sums over a range, and an invoice''s lines for a month.';

grant execute on function app_public.usage_in_range(date, date, uuid, date, text, text) to custodian_coach, custodian_admin, custodian_auditor;

create or replace function app_public.usage_in_range_totals(from_day date, to_day date, coach_profile_id uuid default null,
  billing_month date default null, provider text default null, model text default null,
  out events bigint, out amount_minor bigint, out provider_cost_minor numeric)
returns record as $$
  select count(*), coalesce(sum(e.amount_minor), 0)::bigint,
    case when (select app_private.is_staff()) then coalesce(sum(e.provider_cost_minor), 0) end
  from app_public.usage_in_range(from_day, to_day, coach_profile_id, billing_month, provider, model) e;
$$ language sql stable;
comment on function app_public.usage_in_range_totals(date, date, uuid, date, text, text) is
  E'What the events of usage_in_range (same arguments, same refusals) add up to: how many, their amounts, and for admins and auditors their provider cost (null for a coach). The revenue and cost figures of a range, or an invoice''s usage and credits of a billing month, are these sums. One row.';

grant execute on function app_public.usage_in_range_totals(date, date, uuid, date, text, text) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/usage-in-range.sql

--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.

-- The rollups a figure sums: the caller's (totals for admins and auditors, a
-- coach's own rows), or one coach's when a coach is named. The analytics
-- functions take an optional coach_profile_id and read this.
create or replace function app_private.usage_rollups_of(coach_profile_id uuid) returns setof app_private.usage_rollups as $$
  select r.* from app_private.usage_rollups r where usage_rollups_of.coach_profile_id is null
  union all
  select d.* from app_private.usage_daily_visible d where d.coach_profile_id = usage_rollups_of.coach_profile_id;
$$ language sql stable;
comment on function app_private.usage_rollups_of(uuid) is
  E'The daily rollups the caller may read (app_private.usage_rollups), or only those of one coach profile when given (usage_daily_visible: a coach sees their own, admins and auditors any).';

-- granularity was text before it was app_public.usage_granularity; there was no coach before issue 15.
drop function if exists app_public.usage_over_time(date, date, text);
drop function if exists app_public.usage_over_time(date, date, app_public.usage_granularity);
create or replace function app_public.usage_over_time(from_day date, to_day date,
  granularity app_public.usage_granularity default 'day', coach_profile_id uuid default null)
returns setof app_public.usage_period as $$
begin
  perform app_private.check_range(from_day, to_day), app_private.check_granularity(granularity::text);
  perform app_private.require_visible_coach_profile(usage_over_time.coach_profile_id);
  return query
  select pg_catalog.date_trunc(granularity::text, r.day)::date,
    sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint, sum(r.free_retries)::bigint,
    sum(r.retranscriptions)::bigint, pg_catalog.round(sum(r.audio_seconds) / 60.0, 2),
    pg_catalog.round(sum(r.billable_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.revenue_minor) - sum(r.provider_cost_minor)
  from app_private.usage_rollups_of(usage_over_time.coach_profile_id) r
  where r.day >= from_day and r.day < to_day
  group by 1 order by 1;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_over_time(date, date, app_public.usage_granularity, uuid) is
  E'Usage by day, week or month over a range of days (to exclusive): attempts, outcomes, free retries, re-transcriptions, minutes, revenue, provider cost and gross margin. Admins and auditors see every coach (or the one named), a coach their own.';

drop function if exists app_public.usage_by_provider(date, date);
create or replace function app_public.usage_by_provider(from_day date, to_day date, coach_profile_id uuid default null)
returns table (provider text, model text, attempts bigint, completed bigint, failed bigint, failure_rate numeric,
               audio_minutes numeric, revenue_minor bigint, provider_cost_minor numeric, unknown_cost_attempts bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(usage_by_provider.coach_profile_id);
  return query
  select r.provider, r.model, sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    pg_catalog.round(sum(r.audio_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.unknown_cost_attempts)::bigint
  from app_private.usage_rollups_of(usage_by_provider.coach_profile_id) r
  where r.day >= from_day and r.day < to_day and r.provider is not null
  group by 1, 2 order by sum(r.attempts) desc, 1, 2;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_by_provider(date, date, uuid) is E'Usage per provider and model over a range of days (of one coach if named): attempts, failure rate, minutes, revenue, provider cost, attempts without a known cost.';

-- The coach's name rides along: a page of top coaches must not look the names up in a page of every coach.
drop function if exists app_public.top_coaches(date, date, integer);
create function app_public.top_coaches(from_day date, to_day date, max_rows integer default 10)
returns table (coach_profile_id uuid, display_name text, is_deleted boolean, attempts bigint, billable_minutes numeric, revenue_minor bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  -- A count outside 1 to 1000 is a mistake to name, not one to quietly correct.
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'maxRows must be from 1 to 1000, not %.', coalesce(max_rows::text, 'null') using errcode = '22023';
  end if;
  return query
  select t.coach_profile_id, cp.display_name, cp.is_deleted, t.attempts, t.billable_minutes, t.revenue_minor, t.provider_cost_minor, t.gross_margin_minor
  from (
    select d.coach_profile_id, sum(d.attempts)::bigint as attempts, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2) as billable_minutes,
      sum(d.revenue_minor)::bigint as revenue_minor, sum(d.provider_cost_minor) as provider_cost_minor,
      sum(d.revenue_minor) - sum(d.provider_cost_minor) as gross_margin_minor, sum(d.billable_seconds) as billable_seconds
    from app_private.usage_daily_visible d
    where d.day >= from_day and d.day < to_day
    group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
    limit max_rows) t
  -- The name as the caller may read it (a coach profile deleted for good has none).
  left join app_public.coach_profiles cp on cp.id = t.coach_profile_id
  order by t.revenue_minor desc, t.billable_seconds desc, t.coach_profile_id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.top_coaches(date, date, integer) is E'The coaches who brought the most revenue over a range of days, with their names and whether their profile is deleted (max_rows of them, 10 unless given, from 1 to 1000; any other count is refused); provider cost and margin for admins and auditors only.';

-- One row each, not a set: the summaries below are one figure per range, and
-- the API serves them as one object (OUT parameters, returns record).
drop function if exists app_public.revenue_summary(date, date);
create or replace function app_public.revenue_summary(from_day date, to_day date, coach_profile_id uuid default null,
  out revenue_minor bigint, out provider_cost_minor numeric, out gross_margin_minor numeric, out gross_margin_ratio numeric)
returns record as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(revenue_summary.coach_profile_id);
  select s.revenue, s.cost, s.revenue - s.cost, pg_catalog.round((s.revenue - s.cost) / nullif(s.revenue, 0), 4)
  into revenue_minor, provider_cost_minor, gross_margin_minor, gross_margin_ratio
  from (
    select coalesce(sum(r.revenue_minor), 0)::bigint as revenue,
      -- A coach's rollups carry no cost: null, not zero, and so no margin.
      case when (select app_private.is_staff()) then coalesce(sum(r.provider_cost_minor), 0) end as cost
    from app_private.usage_rollups_of(revenue_summary.coach_profile_id) r
    where r.day >= from_day and r.day < to_day) s;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date, uuid) is E'Usage revenue over a range of days (of one coach if named), and for admins and auditors the provider cost and gross margin (null for a coach). One row.';

drop function if exists app_public.retranscription_stats(date, date);
create or replace function app_public.retranscription_stats(from_day date, to_day date, coach_profile_id uuid default null,
  out completed bigint, out retranscriptions bigint, out retranscription_rate numeric, out retranscription_revenue_minor bigint)
returns record as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(retranscription_stats.coach_profile_id);
  select coalesce(sum(r.completed), 0)::bigint, coalesce(sum(r.retranscriptions), 0)::bigint,
    pg_catalog.round(sum(r.retranscriptions)::numeric / nullif(sum(r.completed), 0), 4),
    coalesce(sum(r.retranscription_revenue_minor), 0)::bigint
  into completed, retranscriptions, retranscription_rate, retranscription_revenue_minor
  from app_private.usage_rollups_of(retranscription_stats.coach_profile_id) r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retranscription_stats(date, date, uuid) is E'How many successful attempts were re-transcriptions over a range of days (of one coach if named), their share, and what they were charged. One row.';

drop function if exists app_public.failure_stats(date, date);
create or replace function app_public.failure_stats(from_day date, to_day date, coach_profile_id uuid default null,
  out attempts bigint, out failed bigint, out failure_rate numeric, out free_retries bigint, out failed_attempts_cost_minor numeric)
returns record as $$
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(failure_stats.coach_profile_id);
  select coalesce(sum(r.attempts), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    coalesce(sum(r.free_retries), 0)::bigint,
    case when (select app_private.is_staff()) then coalesce(sum(r.failed_cost_minor), 0) end
  into attempts, failed, failure_rate, free_retries, failed_attempts_cost_minor
  from app_private.usage_rollups_of(failure_stats.coach_profile_id) r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.failure_stats(date, date, uuid) is
  E'Failure rate over a range of days (of one coach if named), the failed retries, and what the failed (free) attempts cost us at the providers (admins and auditors only; null for a coach). One row.';

-- Provider cost and margin per month came with issue 15.
drop function if exists app_public.monthly_revenue(date, date);
create or replace function app_public.monthly_revenue(from_month date, to_month date)
returns table (month date, plan_fee_minor bigint, usage_revenue_minor bigint, total_minor bigint, paying_coaches bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_month, to_month);
  return query
  with months as (
    select m::date as month from pg_catalog.generate_series(
      date_trunc('month', from_month), date_trunc('month', to_month) - interval '1 month', interval '1 month') m),
  fees as (
    select m.month, coalesce(sum(p.monthly_fee_minor), 0)::bigint as fees, count(cp.id) as coaches
    from months m
    -- UTC months, whatever the session's time zone.
    left join app_public.coach_profiles cp on cp.created_at < (m.month + interval '1 month') at time zone 'UTC'
      and (not cp.is_deleted or cp.deleted_at >= m.month::timestamp at time zone 'UTC')
    left join app_public.billing_plans p on p.id = cp.plan_id
    group by m.month),
  usage as (
    select r.billing_month as month, sum(r.revenue_minor)::bigint as revenue, sum(r.provider_cost_minor) as cost
    from app_private.usage_rollups r
    where r.billing_month >= (select min(m.month) from months m) and r.billing_month <= (select max(m.month) from months m)
    group by 1)
  select f.month, f.fees, coalesce(u.revenue, 0)::bigint, (f.fees + coalesce(u.revenue, 0))::bigint, f.coaches,
    -- The platform's cost and margin: for admins and auditors only (null for a coach).
    case when (select app_private.is_staff()) then coalesce(u.cost, 0) end,
    case when (select app_private.is_staff()) then f.fees + coalesce(u.revenue, 0) - coalesce(u.cost, 0) end
  from fees f left join usage u on u.month = f.month order by f.month;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.monthly_revenue(date, date) is
  E'Monthly recurring revenue from plan fees (coaches live in the month) and usage revenue by billing month, for the months from from_month up to (not including) to_month; for admins and auditors also the provider cost of the usage billed in the month and the gross margin (fees and usage less that cost), null for a coach.';

grant execute on function
  app_private.usage_rollups_of(uuid),
  app_public.usage_over_time(date, date, app_public.usage_granularity, uuid),
  app_public.usage_by_provider(date, date, uuid),
  app_public.top_coaches(date, date, integer),
  app_public.revenue_summary(date, date, uuid),
  app_public.retranscription_stats(date, date, uuid),
  app_public.failure_stats(date, date, uuid),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/analytics.sql
