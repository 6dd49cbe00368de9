--! Previous: sha1:88403277ef91912880f8ecee2d3495f549f1119f
--! Hash: sha1:14f670aa6e72b4f01b3d729a1c626745f52edc8c
--! Message: issue 14 and 15: console API

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
