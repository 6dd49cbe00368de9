--! Previous: sha1:382c63103aec8490e406e4a61bf6cef85a693295
--! Hash: sha1:ca86997f15117505f5f7b05fbc504f03df67f081
--! Message: reconciliation compares everything

-- Reconciliation that compares everything, and clearer refusals.
--
-- usage_reconcile compared four measures of a rollup; it now compares every
-- measure, checks the admins' totals against the per-coach rollups, and an
-- attempt's provider, model and billed seconds against its event. The
-- rollup arithmetic lives in one function that rebuilding and reconciling
-- share. Rebuilds of one day (the worker's and the CLI's) wait for each
-- other instead of colliding. Completing an attempt without a billed
-- duration, or with a negative one, is refused in words.

-- The rollups, computed from raw data -----------------------------------------------

create or replace function app_private.usage_rollup_rows(from_day date, to_day date) returns setof app_public.usage_daily as $$
  select (e.occurred_at at time zone 'UTC')::date, e.coach_profile_id, e.plan_id, e.provider, e.model, e.billing_month,
    (count(*) filter (where e.kind = 'attempt'))::integer,
    (count(*) filter (where e.outcome = 'completed'))::integer,
    (count(*) filter (where e.outcome = 'failed'))::integer,
    (count(*) filter (where e.outcome = 'failed' and e.is_retry))::integer,
    (count(*) filter (where e.is_retranscription))::integer,
    coalesce(sum(e.audio_seconds) filter (where e.kind = 'attempt'), 0),
    coalesce(sum(e.included_seconds + e.charged_seconds) filter (where e.billable), 0),
    coalesce(sum(e.charged_seconds), 0),
    coalesce(sum(e.amount_minor), 0)::bigint,
    coalesce(sum(e.amount_minor) filter (where e.is_retranscription), 0)::bigint,
    coalesce(sum(e.provider_cost_minor), 0),
    coalesce(sum(e.provider_cost_minor) filter (where e.outcome = 'failed'), 0),
    (count(*) filter (where e.kind = 'attempt' and e.provider_cost_minor is null))::integer
  from app_public.usage_events e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
  group by 1, 2, 3, 4, 5, 6;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_rollup_rows(date, date) is
  E'The usage_daily rows of a range of days (to exclusive), computed from the raw usage events: what rebuilding writes and reconciling expects.';

create or replace function app_private.usage_totals_rows(from_day date, to_day date) returns setof app_private.usage_daily_totals as $$
  select d.day, d.plan_id, d.provider, d.model, d.billing_month, sum(d.attempts)::integer, sum(d.completed)::integer,
    sum(d.failed)::integer, sum(d.free_retries)::integer, sum(d.retranscriptions)::integer, sum(d.audio_seconds)::bigint,
    sum(d.billable_seconds)::bigint, sum(d.charged_seconds)::bigint, sum(d.revenue_minor)::bigint,
    sum(d.retranscription_revenue_minor)::bigint, sum(d.provider_cost_minor), sum(d.failed_cost_minor),
    sum(d.unknown_cost_attempts)::integer
  from app_public.usage_daily d
  where d.day >= from_day and d.day < to_day
  group by d.day, d.plan_id, d.provider, d.model, d.billing_month;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_totals_rows(date, date) is
  E'The usage_daily_totals rows of a range of days (to exclusive), summed over coaches from usage_daily.';

create or replace function app_private.rebuild_usage_day(day date) returns integer as $$
declare
  written integer;
begin
  -- One rebuild of a day at a time (the worker's and a CLI rebuild may meet):
  -- the second waits, then replaces what the first wrote.
  perform pg_catalog.pg_advisory_xact_lock('app_public.usage_daily'::pg_catalog.regclass::pg_catalog.oid::integer,
                                           rebuild_usage_day.day - date '2000-01-01');
  -- The mark goes first: a day marked again while this runs keeps its new mark.
  delete from app_private.usage_dirty_days d where d.day = rebuild_usage_day.day;
  delete from app_public.usage_daily d where d.day = rebuild_usage_day.day;
  insert into app_public.usage_daily select * from app_private.usage_rollup_rows(rebuild_usage_day.day, rebuild_usage_day.day + 1);
  get diagnostics written = row_count;
  delete from app_private.usage_daily_totals t where t.day = rebuild_usage_day.day;
  insert into app_private.usage_daily_totals select * from app_private.usage_totals_rows(rebuild_usage_day.day, rebuild_usage_day.day + 1);
  return written;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;

-- Reconciliation ---------------------------------------------------------------------

create or replace function app_private.rollup_key(rollup jsonb) returns jsonb as $$
  select pg_catalog.jsonb_build_object('day', rollup -> 'day', 'coach_profile_id', rollup -> 'coach_profile_id',
    'plan_id', rollup -> 'plan_id', 'provider', rollup -> 'provider', 'model', rollup -> 'model', 'billing_month', rollup -> 'billing_month');
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rollup_key(jsonb) is E'The key of a usage_daily or usage_daily_totals row (as jsonb): the columns that are not measures.';

create or replace function app_private.differing_measures(mine jsonb, theirs jsonb) returns text as $$
  select pg_catalog.string_agg(pg_catalog.format('%s %s', m.key, m.value #>> '{}'), ', ' order by m.number)
  from pg_catalog.jsonb_each(mine) with ordinality m (key, value, number)
  where not (app_private.rollup_key(mine) ? m.key) and m.value is distinct from theirs -> m.key;
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.differing_measures(jsonb, jsonb) is
  E'"measure value, ..." for each measure of a rollup row (as jsonb) that another row does not have the same; null when mine is null.';

create or replace function app_private.describe_attempt(outcome text, seconds integer, provider text, model text) returns text as $$
  select pg_catalog.format('%s, %s, %s %s', outcome, coalesce(seconds || ' s', 'no billed duration'), provider, model);
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.describe_attempt(text, integer, text, text) is E'An attempt or its event in words, for usage_reconcile.';

create or replace function app_public.usage_reconcile(from_day date, to_day date) returns setof app_public.usage_difference as $$
  with checked as (select app_private.check_range(from_day, to_day)),
  bounds as (
    select (from_day::timestamp at time zone 'UTC') as lo, (to_day::timestamp at time zone 'UTC') as hi from checked),
  expected_rollups as (select pg_catalog.to_jsonb(r) as row from checked, app_private.usage_rollup_rows(from_day, to_day) r),
  actual_rollups as (
    select pg_catalog.to_jsonb(d) as row from checked, app_public.usage_daily d where d.day >= from_day and d.day < to_day),
  expected_totals as (select pg_catalog.to_jsonb(t) as row from checked, app_private.usage_totals_rows(from_day, to_day) t),
  actual_totals as (
    select pg_catalog.to_jsonb(t) as row from checked, app_private.usage_daily_totals t where t.day >= from_day and t.day < to_day),
  -- Every rollup row against its raw events, and every totals row (what
  -- admins read) against the per-coach rows it sums, in every measure.
  comparisons (check_name, expected, actual) as (
    select 'rollup_vs_events', x.row, a.row
    from expected_rollups x full join actual_rollups a on app_private.rollup_key(a.row) = app_private.rollup_key(x.row)
    union all
    select 'totals_vs_rollups', x.row, a.row
    from expected_totals x full join actual_totals a on app_private.rollup_key(a.row) = app_private.rollup_key(x.row))
  select c.check_name, (coalesce(c.expected, c.actual) ->> 'day')::date,
    pg_catalog.concat_ws(' ', coalesce(c.expected, c.actual) ->> 'coach_profile_id', coalesce(c.expected, c.actual) ->> 'provider',
                         coalesce(c.expected, c.actual) ->> 'model'),
    coalesce(app_private.differing_measures(c.expected, c.actual), 'no row'),
    coalesce(app_private.differing_measures(c.actual, c.expected), 'no row')
  from comparisons c
  where c.expected is null or app_private.differing_measures(c.expected, c.actual) is not null
  union all
  -- Every terminal attempt has its event, with the same outcome, provider,
  -- model and billed seconds (a failed attempt without billed seconds counts
  -- its recording's length).
  select 'attempt_vs_event', (t.finished_at at time zone 'UTC')::date, t.id::text,
    app_private.describe_attempt(t.status::text, t.billed_duration_seconds, t.provider, t.model),
    case when e.id is null then 'no usage event'
      else app_private.describe_attempt(e.outcome::text, case when t.billed_duration_seconds is not null then e.audio_seconds end,
                                        e.provider, e.model) end
  from app_public.transcriptions t
  cross join bounds b
  left join app_public.usage_events e on e.transcription_id = t.id and e.kind = 'attempt'
  where t.status in ('completed', 'failed') and t.finished_at >= b.lo and t.finished_at < b.hi
    and (e.id is null or e.outcome::text <> t.status::text
         or (t.billed_duration_seconds is not null and e.audio_seconds is distinct from t.billed_duration_seconds)
         or e.provider is distinct from t.provider or e.model is distinct from t.model)
  union all
  -- Events whose provider cost is unknown (no rate for the provider and model).
  select 'unknown_provider_cost', (e.occurred_at at time zone 'UTC')::date, e.id::text,
    pg_catalog.format('a rate for %s %s', e.provider, e.model), 'none'
  from app_public.usage_events e, bounds b
  where e.kind = 'attempt' and e.provider_cost_minor is null and e.occurred_at >= b.lo and e.occurred_at < b.hi
  order by 1, 2, 3, 4;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_reconcile(date, date) is
  E'Shows that rollups, raw usage events and transcription attempts agree for a range of days (to exclusive), listing every difference: a rollup row that differs from its events in any measure (naming each measure, expected then actual; "no row" where one side has none); a totals row that differs from the per-coach rollups it sums; a terminal attempt without its event, or whose event has another outcome, provider, model or billed duration; an event whose provider cost is unknown. Empty when all agree. Admins and auditors.';

grant execute on function app_private.usage_rollup_rows(date, date), app_private.usage_totals_rows(date, date),
  app_private.rollup_key(jsonb), app_private.differing_measures(jsonb, jsonb), app_private.describe_attempt(text, integer, text, text)
  to custodian_admin, custodian_auditor;

-- Refusals in words ------------------------------------------------------------------

-- The check constraints stay as the last word; this says the same before
-- they do, in words, with their names.
create or replace function app_private.tg_transcriptions__derive() returns trigger as $$
begin
  if new.billed_duration_seconds < 0 then
    raise exception 'A billed duration cannot be negative (got % seconds).', new.billed_duration_seconds
      using errcode = '23514', constraint = 'transcriptions_billed_duration_seconds_check', column = 'billed_duration_seconds';
  end if;
  if new.status = 'completed' and new.billed_duration_seconds is null then
    raise exception 'A completed attempt needs its billed duration: set billed_duration_seconds (the audio seconds the provider billed).'
      using errcode = '23514', constraint = 'transcriptions_completed_has_billed_duration', column = 'billed_duration_seconds';
  end if;
  if TG_OP = 'INSERT' then
    if new.coach_profile_id is null then
      select coach_profile_id into new.coach_profile_id from app_public.coaching_sessions where id = new.session_id;
      if not found then
        raise exception 'Coaching session % does not exist.', new.session_id using errcode = '23503';
      end if;
    end if;
    new.is_retranscription := exists (
      select from app_public.transcriptions t
      where t.session_id = new.session_id and t.status = 'completed'
    );
  end if;
  if new.status = 'processing' and (TG_OP = 'INSERT' or old.status <> 'processing') then
    new.started_at := coalesce(new.started_at, pg_catalog.now());
  end if;
  if new.status in ('completed', 'failed') and (TG_OP = 'INSERT' or old.status not in ('completed', 'failed')) then
    new.finished_at := coalesce(new.finished_at, pg_catalog.now());
    new.started_at := coalesce(new.started_at, new.finished_at);
  end if;
  return new;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;

-- Usage events of one coach ----------------------------------------------------------

-- An admin's "any" coach: the range may be narrowed to one coach.
drop function if exists app_public.usage_in_range(date, date);
create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select e.* from app_public.usage_events e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
    and (usage_in_range.coach_profile_id is null or e.coach_profile_id = usage_in_range.coach_profile_id)
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date, uuid) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), oldest first, of one coach if given: a coach''s own, or any coach''s for admins and auditors.';
grant execute on function app_public.usage_in_range(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
