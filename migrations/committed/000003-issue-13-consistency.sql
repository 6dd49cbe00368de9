--! Previous: sha1:7897386f1a56fe357b5637ab0ae204d9efb483d1
--! Hash: sha1:3fdbc1c468be6a1fb13451a9e07942216eefc780
--! Message: issue 13 consistency

-- Consistency: enums for the analytics' granularity and the audit trail's
-- operation and actor kind (GraphQL offers their values; a wrong one is
-- refused before any SQL runs), clients searchable and sortable by name and
-- email, and a coach who asks for another coach's usage is told so.

create type app_public.usage_granularity as enum ('day', 'week', 'month');
comment on type app_public.usage_granularity is E'The length of the periods usage is counted by: a day, an ISO week (from Monday) or a calendar month.';

comment on type audit.operation is E'@name AuditOperation\nThe kind of write an event records.';
comment on type audit.actor_kind is
  E'@name AuditActorKind\nWho wrote: an API user, a worker job, a migration, a Custodian command (system), or an unattributed session (unknown).';

-- The readers return the trail's enums, not their text.
alter type app_public.audit_event
  alter attribute operation type audit.operation,
  alter attribute actor_kind type audit.actor_kind;

comment on column app_public.clients.full_name is E'@behavior +orderBy +filterBy\nThe client''s full name.';
comment on column app_public.clients.email is E'@behavior +orderBy +filterBy\nThe client''s email; unique among one coach''s clients.';

--! Included audit/filters.sql
-- The audit readers' filters, checked with errors that name the problem.

create or replace function audit.resolve_table(table_name text) returns text[] as $$
declare
  parts text[] := pg_catalog.string_to_array(table_name, '.');
  found text[];
begin
  if table_name is null then
    return null;
  end if;
  if cardinality(parts) not in (1, 2) or '' = any (parts) then
    raise exception 'tableName must be a table name, optionally with its schema (clients or app_public.clients), not "%".', table_name
      using errcode = '22023';
  end if;
  select array[e.table_schema::text, e.table_name::text] into found
  from (
    select n.nspname as table_schema, c.relname as table_name
    from audit.tracked_tables t
    join pg_catalog.pg_class c on c.oid = t.table_oid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  ) e
  where e.table_name = parts[cardinality(parts)] and (cardinality(parts) = 1 or e.table_schema = parts[1]);
  if found is null then
    -- A table tracked once and dropped since keeps its history.
    select array[e.table_schema, e.table_name] into found from audit.events e
    where e.table_name = parts[cardinality(parts)] and (cardinality(parts) = 1 or e.table_schema = parts[1])
    limit 1;
  end if;
  if found is null then
    raise exception 'Table "%" is not tracked by the audit trail.', table_name using errcode = '42P01';
  end if;
  return found;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.resolve_table(text) is
  E'The schema and name of a tracked table given as name or schema.name; a clear error for anything else.';

create or replace function audit.resolve_record_key(table_name text, record_key jsonb) returns jsonb as $$
declare
  key_columns name[];
begin
  if record_key is null or pg_catalog.jsonb_typeof(record_key) = 'object' then
    return record_key;
  end if;
  if table_name is not null and pg_catalog.jsonb_typeof(record_key) in ('string', 'number') then
    select t.key_columns into key_columns from audit.tracked_tables t
    where t.table_oid = pg_catalog.to_regclass(pg_catalog.array_to_string(audit.resolve_table(table_name), '.'));
    if cardinality(key_columns) = 1 then
      return pg_catalog.jsonb_build_object(key_columns[1], record_key);
    end if;
  end if;
  raise exception 'recordKey must be an object of the primary key''s columns, like {"id": "…"} (a bare value is enough for a one-column key with tableName), not %.', record_key
    using errcode = '22023';
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.resolve_record_key(text, jsonb) is
  E'A record key as stored: an object as given, or a bare value wrapped with the table''s one key column.';

-- operation and actor_kind were text, checked here, before they were the trail's enums.
drop function if exists audit.check_filter(text, text, timestamptz, timestamptz);
create or replace function audit.check_filter(occurred_from timestamptz, occurred_before timestamptz)
returns boolean as $$
begin
  if occurred_from >= occurred_before then
    raise exception 'The time range is empty: occurredFrom (%) must be before occurredBefore (%).', occurred_from, occurred_before
      using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.check_filter(timestamptz, timestamptz) is
  E'Refuses a time range that cannot hold anything, with an error naming the problem. Immutable, so it runs while the query is planned, before partition pruning can make the query skip it. (The operation and actor kind are enums: the caller''s door checks them.)';

grant execute on function audit.resolve_table(text), audit.resolve_record_key(text, jsonb),
  audit.check_filter(timestamptz, timestamptz)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/filters.sql
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
  left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
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
--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.

-- granularity was text before it was app_public.usage_granularity.
drop function if exists app_public.usage_over_time(date, date, text);
create or replace function app_public.usage_over_time(from_day date, to_day date,
  granularity app_public.usage_granularity default 'day')
returns setof app_public.usage_period as $$
begin
  perform app_private.check_range(from_day, to_day), app_private.check_granularity(granularity::text);
  return query
  select pg_catalog.date_trunc(granularity::text, r.day)::date,
    sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint, sum(r.free_retries)::bigint,
    sum(r.retranscriptions)::bigint, pg_catalog.round(sum(r.audio_seconds) / 60.0, 2),
    pg_catalog.round(sum(r.billable_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.revenue_minor) - sum(r.provider_cost_minor)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day
  group by 1 order by 1;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_over_time(date, date, app_public.usage_granularity) is
  E'Usage by day, week or month over a range of days (to exclusive): attempts, outcomes, free retries, re-transcriptions, minutes, revenue, provider cost and gross margin. Admins and auditors see every coach, a coach their own.';

create or replace function app_public.usage_by_provider(from_day date, to_day date)
returns table (provider text, model text, attempts bigint, completed bigint, failed bigint, failure_rate numeric,
               audio_minutes numeric, revenue_minor bigint, provider_cost_minor numeric, unknown_cost_attempts bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select r.provider, r.model, sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    pg_catalog.round(sum(r.audio_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.unknown_cost_attempts)::bigint
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day and r.provider is not null
  group by 1, 2 order by sum(r.attempts) desc, 1, 2;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_by_provider(date, date) is E'Usage per provider and model over a range of days: attempts, failure rate, minutes, revenue, provider cost, attempts without a known cost.';

create or replace function app_public.top_coaches(from_day date, to_day date, max_rows integer default 10)
returns table (coach_profile_id uuid, attempts bigint, billable_minutes numeric, revenue_minor bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  -- A count outside 1 to 1000 is a mistake to name, not one to quietly correct.
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'maxRows must be from 1 to 1000, not %.', coalesce(max_rows::text, 'null') using errcode = '22023';
  end if;
  return query
  select d.coach_profile_id, sum(d.attempts)::bigint, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2),
    sum(d.revenue_minor)::bigint, sum(d.provider_cost_minor), sum(d.revenue_minor) - sum(d.provider_cost_minor)
  from app_private.usage_daily_visible d
  where d.day >= from_day and d.day < to_day
  group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
  limit max_rows;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.top_coaches(date, date, integer) is E'The coaches who brought the most revenue over a range of days (max_rows of them, 10 unless given, from 1 to 1000; any other count is refused); provider cost and margin for admins and auditors only.';

create or replace function app_public.revenue_summary(from_day date, to_day date)
returns table (revenue_minor bigint, provider_cost_minor numeric, gross_margin_minor numeric, gross_margin_ratio numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select s.revenue, s.cost, s.revenue - s.cost, pg_catalog.round((s.revenue - s.cost) / nullif(s.revenue, 0), 4)
  from (
    select coalesce(sum(r.revenue_minor), 0)::bigint as revenue,
      -- A coach's rollups carry no cost: null, not zero, and so no margin.
      case when (select app_private.is_staff()) then coalesce(sum(r.provider_cost_minor), 0) end as cost
    from app_private.usage_rollups r
    where r.day >= from_day and r.day < to_day) s;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date) is E'Usage revenue over a range of days, and for admins and auditors the provider cost and gross margin (null for a coach).';

create or replace function app_public.retranscription_stats(from_day date, to_day date)
returns table (completed bigint, retranscriptions bigint, retranscription_rate numeric, retranscription_revenue_minor bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.completed), 0)::bigint, coalesce(sum(r.retranscriptions), 0)::bigint,
    pg_catalog.round(sum(r.retranscriptions)::numeric / nullif(sum(r.completed), 0), 4),
    coalesce(sum(r.retranscription_revenue_minor), 0)::bigint
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retranscription_stats(date, date) is E'How many successful attempts were re-transcriptions over a range of days, their share, and what they were charged.';

create or replace function app_public.failure_stats(from_day date, to_day date)
returns table (attempts bigint, failed bigint, failure_rate numeric, free_retries bigint, failed_attempts_cost_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.attempts), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    coalesce(sum(r.free_retries), 0)::bigint,
    case when (select app_private.is_staff()) then coalesce(sum(r.failed_cost_minor), 0) end
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.failure_stats(date, date) is
  E'Failure rate over a range of days, the failed retries, and what the failed (free) attempts cost us at the providers (admins and auditors only; null for a coach).';

create or replace function app_public.monthly_revenue(from_month date, to_month date)
returns table (month date, plan_fee_minor bigint, usage_revenue_minor bigint, total_minor bigint, paying_coaches bigint) as $$
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
    select r.billing_month as month, sum(r.revenue_minor)::bigint as revenue
    from app_private.usage_rollups r
    where r.billing_month >= (select min(m.month) from months m) and r.billing_month <= (select max(m.month) from months m)
    group by 1)
  select f.month, f.fees, coalesce(u.revenue, 0)::bigint, (f.fees + coalesce(u.revenue, 0))::bigint, f.coaches
  from fees f left join usage u on u.month = f.month order by f.month;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.monthly_revenue(date, date) is
  E'Monthly recurring revenue from plan fees (coaches live in the month) and usage revenue by billing month, for the months from from_month up to (not including) to_month.';

grant execute on function
  app_public.usage_over_time(date, date, app_public.usage_granularity),
  app_public.usage_by_provider(date, date),
  app_public.top_coaches(date, date, integer),
  app_public.revenue_summary(date, date),
  app_public.retranscription_stats(date, date),
  app_public.failure_stats(date, date),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/analytics.sql
--! Included usage/usage-in-range.sql
-- The usage events of a range of days.

create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
begin
  perform app_private.check_range(from_day, to_day);
  -- Asking for a coach one may not see is an answer, not an empty list.
  if usage_in_range.coach_profile_id is not null
     and not exists (select from app_public.coach_profiles cp where cp.id = usage_in_range.coach_profile_id) then
    raise exception 'There is no coach profile % that you can see.', usage_in_range.coach_profile_id
      using errcode = 'P0002', hint = 'coachProfileId (coach_profile_id over REST) names a coach profile: your own, or any for admins and auditors.';
  end if;
  return query
  select e.* from app_private.usage_events_visible e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
    and (usage_in_range.coach_profile_id is null or e.coach_profile_id = usage_in_range.coach_profile_id)
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date, uuid) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), oldest first, of one coach if given: a coach''s own, or any coach''s for admins and auditors (any other is refused: no coach profile you can see). The provider cost is for admins and auditors only.';

grant execute on function app_public.usage_in_range(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/usage-in-range.sql
--! Included domain/client-search.sql
-- Finding a coach's clients by name or email.

create or replace function app_public.search_clients(term text, include_deleted boolean default false)
returns setof app_public.clients as $$
begin
  if term is null or pg_catalog.length(pg_catalog.btrim(term)) not between 1 and 200 then
    raise exception 'term must be 1 to 200 characters of a client''s name or email.' using errcode = '22023';
  end if;
  return query
  select c.* from app_public.clients c
  where (search_clients.include_deleted or not c.is_deleted)
    and (pg_catalog.strpos(pg_catalog.lower(c.full_name), pg_catalog.lower(pg_catalog.btrim(term))) > 0
      or pg_catalog.strpos(pg_catalog.lower(c.email::text), pg_catalog.lower(pg_catalog.btrim(term))) > 0)
  order by pg_catalog.lower(c.full_name), c.email, c.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.search_clients(text, boolean) is
  E'@behavior +order +orderBy +filter\nThe clients whose name or email contains term (ignoring case), by name unless orderBy says otherwise; under row-level security, so a coach finds only their own. Soft-deleted clients only with includeDeleted (admins and auditors; coaches never see them).';

grant execute on function app_public.search_clients(text, boolean) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded domain/client-search.sql
