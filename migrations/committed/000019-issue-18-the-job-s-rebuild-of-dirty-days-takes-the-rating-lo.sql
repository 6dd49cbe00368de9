--! Previous: sha1:d5cb4194b5b44607140a1aef5b19be33d863903c
--! Hash: sha1:df0392d70e439dd60d3579d9e669e6b0a475ad58
--! Message: Issue 18: the job's rebuild of dirty days takes the rating lock before any day's mark, as a rebuild of one day does (they deadlocked)

--! Included usage/rollups.sql
-- The daily rollups: computed from the raw events, rebuilt one day at a time.

-- The rollup of a set of events, one home for its measures: of the rated
-- events (what rebuilding writes), or of the records not rated yet, priced on
-- the fly (what readers add to the stored rollups).
create or replace function app_private.usage_rollup_rows_of(from_day date, to_day date, pending boolean, only_coach uuid default null)
returns setof app_public.usage_daily as $$
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
  from (
    select * from app_public.usage_events where not pending
    union all
    select * from app_private.price_usage_records(only_coach) where pending) e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
  group by 1, 2, 3, 4, 5, 6;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_rollup_rows_of(date, date, boolean, uuid) is
  E'usage_daily rows of a range of days (to exclusive) computed from usage events: the rated ones, or (pending) the captured records not rated yet, priced on the fly (of one coach if given).';

-- Pricing the queue costs the same whatever range is read, so a range that
-- no record falls in (the previous period of a card, a past month) skips it.
create or replace function app_private.pending_usage_rollup_rows_between(from_day date, to_day date, only_coach uuid)
returns setof app_public.usage_daily as $$
  select * from app_private.usage_rollup_rows_of(from_day, to_day, true, only_coach)
  where exists (
    select from app_private.usage_records r
    where r.finished_at >= (from_day::timestamp at time zone 'UTC') and r.finished_at < (to_day::timestamp at time zone 'UTC')
      and (only_coach is null or r.coach_profile_id = only_coach));
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.pending_usage_rollup_rows_between(date, date, uuid) is
  E'The captured records not rated yet of a range of days (to exclusive; of one coach if given), priced and rolled up on the fly; when no record falls in the range, nothing is priced.';

create or replace function app_private.pending_usage_rollup_rows(only_coach uuid default null) returns setof app_public.usage_daily as $$
  select * from app_private.pending_usage_rollup_rows_between('-infinity', 'infinity', only_coach);
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.pending_usage_rollup_rows(uuid) is
  E'The captured records not rated yet (of one coach if given), priced and rolled up on the fly: what readers add to the stored rollups.';

create or replace function app_private.usage_rollup_rows(from_day date, to_day date) returns setof app_public.usage_daily as $$
  select * from app_private.usage_rollup_rows_of(from_day, to_day, false);
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_rollup_rows(date, date) is
  E'The usage_daily rows of a range of days (to exclusive), computed from the rated usage events: what rebuilding writes and reconciling expects.';

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

create or replace function app_private.usage_coach_daily_rows(from_day date, to_day date) returns setof app_private.usage_coach_daily as $$
  select d.day, d.coach_profile_id, sum(d.attempts)::integer, sum(d.billable_seconds)::bigint, sum(d.revenue_minor)::bigint,
    sum(d.provider_cost_minor)
  from app_public.usage_daily d
  where d.day >= from_day and d.day < to_day
  group by d.day, d.coach_profile_id;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_coach_daily_rows(date, date) is
  E'The usage_coach_daily rows of a range of days (to exclusive), summed per coach and day from usage_daily.';

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
  -- What was captured is rated first, so that the day holds every attempt.
  perform app_private.rate_usage_records(null);
  perform app_private.lock_usage_day(rebuild_usage_day.day, true);
  -- The mark goes first: a day marked again while this runs keeps its new mark.
  delete from app_private.usage_dirty_days d where d.day = rebuild_usage_day.day;
  delete from app_public.usage_daily d where d.day = rebuild_usage_day.day;
  insert into app_public.usage_daily select * from app_private.usage_rollup_rows(rebuild_usage_day.day, rebuild_usage_day.day + 1);
  get diagnostics written = row_count;
  delete from app_private.usage_daily_totals t where t.day = rebuild_usage_day.day;
  insert into app_private.usage_daily_totals select * from app_private.usage_totals_rows(rebuild_usage_day.day, rebuild_usage_day.day + 1);
  delete from app_private.usage_coach_daily c where c.day = rebuild_usage_day.day;
  insert into app_private.usage_coach_daily select * from app_private.usage_coach_daily_rows(rebuild_usage_day.day, rebuild_usage_day.day + 1);
  return written;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rebuild_usage_day(date) is
  E'Rates what was captured, then recomputes one day''s rollups (per coach, per coach and day, and the totals) from the raw events, replacing what was there, and clears its dirty mark. Idempotent; one transaction, so a day is never seen half built.';

create or replace function app_private.rebuild_dirty_usage_days(max_days integer default 31) returns integer as $$
declare
  dirty date;
  rebuilt integer := 0;
begin
  -- Rating first, so that its lock (held to commit) is the first this run
  -- takes, as it is of rebuild_usage_day: taken after the dirty days' rows, a
  -- rebuild of one of those days holding it would wait for this run while
  -- this run waited for it (a deadlock).
  perform app_private.rate_usage_records(null);
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

grant execute on function app_private.usage_rollup_rows(date, date), app_private.usage_totals_rows(date, date),
  app_private.usage_coach_daily_rows(date, date)
  to custodian_admin, custodian_auditor;
grant execute on function app_private.usage_rollup_rows_of(date, date, boolean, uuid) to custodian_admin, custodian_auditor;
grant execute on function app_private.pending_usage_rollup_rows(uuid), app_private.pending_usage_rollup_rows_between(date, date, uuid)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups.sql
