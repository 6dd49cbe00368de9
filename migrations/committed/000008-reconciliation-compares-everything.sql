--! Previous: sha1:382c63103aec8490e406e4a61bf6cef85a693295
--! Hash: sha1:406958d43273c14aeb125f3121f6e535e08e0fa2
--! Message: reconciliation compares everything

-- Reconciliation that compares everything, and clearer refusals.
--
-- usage_reconcile compared four measures of a rollup; it now compares every
-- measure, checks the admins' totals against the per-coach rollups, and an
-- attempt's provider, model and billed seconds against its event. The
-- rollup arithmetic lives in one function that rebuilding and reconciling
-- share. Rebuilds of one day (the job's and the CLI's) no longer collide.
-- Completing an attempt without a billed duration, or with a negative one,
-- is refused in words. usage_in_range takes an optional coach.

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

-- Rebuilds of one day (the job's and a CLI rebuild may meet) run one at a
-- time. The job holds its dirty-day rows while it works through them and
-- skips a day another rebuild holds (it stays dirty for the next run); a
-- rebuild of one day waits. So neither waits for the other in turn.
create or replace function app_private.lock_usage_day(day date, wait boolean) returns boolean as $$
begin
  if wait then
    perform pg_catalog.pg_advisory_xact_lock('app_public.usage_daily'::pg_catalog.regclass::pg_catalog.oid::integer,
                                             lock_usage_day.day - date '2000-01-01');
    return true;
  end if;
  return pg_catalog.pg_try_advisory_xact_lock('app_public.usage_daily'::pg_catalog.regclass::pg_catalog.oid::integer,
                                              lock_usage_day.day - date '2000-01-01');
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.lock_usage_day(date, boolean) is
  E'Takes the transaction-scoped lock on rebuilding one day: waiting for it, or only if free (returns whether it was taken).';

create or replace function app_private.rebuild_usage_day(day date) returns integer as $$
declare
  written integer;
begin
  perform app_private.lock_usage_day(rebuild_usage_day.day, true);
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

create or replace function app_private.rebuild_dirty_usage_days(max_days integer default 31) returns integer as $$
declare
  dirty date;
  rebuilt integer := 0;
begin
  for dirty in
    select d.day from app_private.usage_dirty_days d order by d.day limit max_days for update skip locked
  loop
    continue when not app_private.lock_usage_day(dirty, false);
    perform app_private.rebuild_usage_day(dirty);
    rebuilt := rebuilt + 1;
  end loop;
  return rebuilt;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rebuild_dirty_usage_days(integer) is
  E'Rebuilds up to max_days dirty days (oldest first) in the caller''s transaction; returns how many. Days another run holds, or another rebuild is rebuilding, are skipped and stay dirty.';

-- Reconciliation ---------------------------------------------------------------------

create or replace function app_private.rollup_key_columns() returns text[] as $$
  select array['day', 'coach_profile_id', 'plan_id', 'provider', 'model', 'billing_month'];
$$ language sql immutable;
comment on function app_private.rollup_key_columns() is E'The columns of usage_daily (and usage_daily_totals) that are not measures: a rollup''s key.';

-- Only for rows that differ: it reads the catalog for the column order.
create or replace function app_private.differing_measures(mine jsonb, theirs jsonb) returns text as $$
  select pg_catalog.string_agg(pg_catalog.format('%s %s', m.key, m.value #>> '{}'), ', ' order by a.attnum)
  from pg_catalog.jsonb_each(mine - app_private.rollup_key_columns()) m (key, value)
  left join pg_catalog.pg_attribute a on a.attrelid = 'app_public.usage_daily'::pg_catalog.regclass and a.attname = m.key
  where m.value is distinct from theirs -> m.key;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.differing_measures(jsonb, jsonb) is
  E'"measure value, ..." for each measure of a rollup row (as jsonb) that another row does not have the same, in column order; null when none differs or mine is null.';

create or replace function app_private.describe_attempt(outcome text, seconds integer, provider text, model text) returns text as $$
  select pg_catalog.format('%s, %s, %s %s', outcome, coalesce(seconds || ' s', 'no billed duration'), provider, model);
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.describe_attempt(text, integer, text, text) is E'An attempt or its event in words, for usage_reconcile.';

create or replace function app_public.usage_reconcile(from_day date, to_day date) returns setof app_public.usage_difference as $$
  with checked as (select app_private.check_range(from_day, to_day)),
  bounds as (
    select (from_day::timestamp at time zone 'UTC') as lo, (to_day::timestamp at time zone 'UTC') as hi from checked),
  -- A row's key is the row without its measures (in jsonb, null keys are equal).
  measures (names) as (
    select pg_catalog.array_agg(a.attname::text) from pg_catalog.pg_attribute a
    where a.attrelid = 'app_public.usage_daily'::pg_catalog.regclass and a.attnum > 0 and not a.attisdropped
      and a.attname::text <> all (app_private.rollup_key_columns())),
  -- What the rollups should be, and what they are.
  rollups_of_events as materialized (select u.* from checked, app_private.usage_rollup_rows(from_day, to_day) u),
  rollups as materialized (select d.* from checked, app_public.usage_daily d where d.day >= from_day and d.day < to_day),
  totals_of_rollups as materialized (select t.* from checked, app_private.usage_totals_rows(from_day, to_day) t),
  totals as materialized (
    select t.* from checked, app_private.usage_daily_totals t where t.day >= from_day and t.day < to_day),
  -- Rows on one side only (as sets: equal values, nulls included, match);
  -- usually none, so pairing them up by key costs nothing.
  expected_rollups as (select r.row - m.names as key, r.row from measures m,
    (select * from rollups_of_events except all select * from rollups) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  actual_rollups as (select r.row - m.names as key, r.row from measures m,
    (select * from rollups except all select * from rollups_of_events) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  expected_totals as (select r.row - m.names as key, r.row from measures m,
    (select * from totals_of_rollups except all select * from totals) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  actual_totals as (select r.row - m.names as key, r.row from measures m,
    (select * from totals except all select * from totals_of_rollups) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  -- Every rollup row against its raw events, and every totals row (what
  -- admins read) against the per-coach rows it sums, in every measure.
  comparisons (check_name, key, expected, actual) as (
    select 'rollup_vs_events', coalesce(x.key, a.key), x.row, a.row
    from expected_rollups x full join actual_rollups a on a.key = x.key
    union all
    select 'totals_vs_rollups', coalesce(x.key, a.key), x.row, a.row
    from expected_totals x full join actual_totals a on a.key = x.key)
  select c.check_name, (c.key ->> 'day')::date,
    pg_catalog.concat_ws(' ', c.key ->> 'coach_profile_id', c.key ->> 'provider', c.key ->> 'model',
      'plan ' || coalesce(c.key ->> 'plan_id', 'none'), 'billed in ' || (c.key ->> 'billing_month')),
    coalesce(app_private.differing_measures(c.expected, c.actual), 'no row'),
    coalesce(app_private.differing_measures(c.actual, c.expected), 'no row')
  from comparisons c
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
  E'Shows that rollups, raw usage events and transcription attempts agree for a range of days (to exclusive), listing every difference (a rollup''s subject names its coach, provider, model, plan and billing month): a rollup row that differs from its events in any measure (naming each measure, expected then actual; "no row" where one side has none); a totals row that differs from the per-coach rollups it sums; a terminal attempt without its event, or whose event has another outcome, provider, model or billed duration; an event whose provider cost is unknown. Empty when all agree. Admins and auditors.';

grant execute on function app_private.usage_rollup_rows(date, date), app_private.usage_totals_rows(date, date),
  app_private.rollup_key_columns(), app_private.differing_measures(jsonb, jsonb), app_private.describe_attempt(text, integer, text, text)
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
