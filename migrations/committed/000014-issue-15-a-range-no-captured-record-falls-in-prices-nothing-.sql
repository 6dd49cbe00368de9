--! Previous: sha1:54254a63fecabaa96564e8413114b3006c416034
--! Hash: sha1:c6fdc4f6cd74e0c3ea4c69f3932feeb0a84e5764
--! Message: Issue 15: a range no captured record falls in prices nothing; every card of a range in one call (usage_summary)

-- Console pages at volume (issue 15): a range no captured record falls in
-- prices nothing; every card of a range in one call (usage_summary).
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
  return written;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rebuild_usage_day(date) is
  E'Rates what was captured, then recomputes one day''s rollups (per coach, and the totals) from the raw events, replacing what was there, and clears its dirty mark. Idempotent; one transaction, so a day is never seen half built.';

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

grant execute on function app_private.usage_rollup_rows(date, date), app_private.usage_totals_rows(date, date)
  to custodian_admin, custodian_auditor;
grant execute on function app_private.usage_rollup_rows_of(date, date, boolean, uuid) to custodian_admin, custodian_auditor;
grant execute on function app_private.pending_usage_rollup_rows(uuid), app_private.pending_usage_rollup_rows_between(date, date, uuid)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups.sql
--! Included usage/rollups-view.sql
-- The rollups each caller may read.

-- The rows a caller may read, with the cost columns null unless the caller is
-- staff. These views run as their owner (coaches have no privilege on the
-- cost columns), so each states the visibility its table's policies state:
-- everything for staff, their own rows for a coach.
create or replace view app_private.usage_events_visible as
  select e.id, e.kind, e.occurred_at, e.recorded_at, e.coach_profile_id, e.session_id, e.transcription_id, e.is_retry,
    e.is_retranscription, e.provider, e.model, e.language, e.audio_seconds, e.outcome, e.billable, e.billing_reason,
    e.included_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor, e.provider_cost_minor, e.plan_id,
    e.usage_month, e.billing_month, e.rule_version, e.corrects_event_id, e.note, e.created_by
  from app_public.usage_events e where (select app_private.is_staff())
  union all
  select e.id, e.kind, e.occurred_at, e.recorded_at, e.coach_profile_id, e.session_id, e.transcription_id, e.is_retry,
    e.is_retranscription, e.provider, e.model, e.language, e.audio_seconds, e.outcome, e.billable, e.billing_reason,
    e.included_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor, null::numeric(18, 6), e.plan_id,
    e.usage_month, e.billing_month, e.rule_version, e.corrects_event_id, e.note, e.created_by
  from app_public.usage_events e
  where not (select app_private.is_staff()) and e.coach_profile_id = (select app_private.current_coach_profile_id())
  union all
  -- Captured records not yet rated, priced now by the same SQL as rating will.
  select e.id, e.kind, e.occurred_at, e.recorded_at, e.coach_profile_id, e.session_id, e.transcription_id, e.is_retry,
    e.is_retranscription, e.provider, e.model, e.language, e.audio_seconds, e.outcome, e.billable, e.billing_reason,
    e.included_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor,
    (case when (select app_private.is_staff()) then e.provider_cost_minor end)::numeric(18, 6), e.plan_id,
    e.usage_month, e.billing_month, e.rule_version, e.corrects_event_id, e.note, e.created_by
  from app_private.price_usage_records(
    case when not (select app_private.is_staff()) then coalesce((select app_private.current_coach_profile_id()), '00000000-0000-0000-0000-000000000000'::uuid) end) e;
comment on view app_private.usage_events_visible is
  E'The usage events the caller may read (all for admins and auditors, a coach''s own), with provider_cost_minor only for admins and auditors: the rated ones and, priced on the fly, the captured records not rated yet.';

-- The stored per-coach rollups the caller may read.
create or replace view app_private.usage_daily_stored_visible as
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_public.usage_daily d where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, null::numeric(18, 6), null::numeric(18, 6), null::integer
  from app_public.usage_daily d
  where not (select app_private.is_staff()) and d.coach_profile_id = (select app_private.current_coach_profile_id());
comment on view app_private.usage_daily_stored_visible is
  E'The stored per-coach daily rollups the caller may read (all for admins and auditors, a coach''s own), with the provider cost columns only for admins and auditors.';

-- Captured records not rated yet of a range, rolled up on the fly, as the
-- caller may read them: every coach's (or the one named) for admins and
-- auditors, without provider costs a coach's own.
create or replace function app_private.pending_rollups_visible(from_day date, to_day date, coach_profile_id uuid)
returns setof app_public.usage_daily as $$
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_private.pending_usage_rollup_rows_between(from_day, to_day, pending_rollups_visible.coach_profile_id) d
  where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, null::numeric(18, 6), null::numeric(18, 6), null::integer
  from app_private.pending_usage_rollup_rows_between(from_day, to_day, coalesce(
    case when pending_rollups_visible.coach_profile_id is null
              or pending_rollups_visible.coach_profile_id = (select app_private.current_coach_profile_id())
         then (select app_private.current_coach_profile_id()) end,
    '00000000-0000-0000-0000-000000000000'::uuid)) d
  where not (select app_private.is_staff());
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.pending_rollups_visible(date, date, uuid) is
  E'The rollup rows of the captured records not rated yet in a range of days (to exclusive), priced on the fly, as the caller may read them: every coach''s or the one named for admins and auditors, a coach''s own without provider costs. A range no record falls in prices nothing.';

create or replace view app_private.usage_daily_visible as
  select d.* from app_private.usage_daily_stored_visible d
  union all
  -- Captured records not rated yet, rolled up on the fly (a key may repeat a
  -- stored row's: readers sum).
  select p.* from app_private.pending_rollups_visible('-infinity', 'infinity', null) p;
comment on view app_private.usage_daily_visible is
  E'The per-coach daily rollups the caller may read (all for admins and auditors, a coach''s own), with the provider cost columns only for admins and auditors; captured records not rated yet are added, rolled up on the fly (so a key may appear twice: sum).';

-- Every analytics function reads its rollups here: admins and auditors get
-- the totals, a coach their own rows without provider costs.
create or replace view app_private.usage_rollups with (security_invoker = true) as
  select t.day, null::uuid as coach_profile_id, t.plan_id, t.provider, t.model, t.billing_month, t.attempts, t.completed,
    t.failed, t.free_retries, t.retranscriptions, t.audio_seconds, t.billable_seconds, t.charged_seconds, t.revenue_minor,
    t.retranscription_revenue_minor, t.provider_cost_minor, t.failed_cost_minor, t.unknown_cost_attempts
  from app_private.usage_daily_totals t where (select app_private.is_staff())
  union all
  select p.day, null::uuid, p.plan_id, p.provider, p.model, p.billing_month, p.attempts, p.completed,
    p.failed, p.free_retries, p.retranscriptions, p.audio_seconds, p.billable_seconds, p.charged_seconds, p.revenue_minor,
    p.retranscription_revenue_minor, p.provider_cost_minor, p.failed_cost_minor, p.unknown_cost_attempts
  from app_private.pending_rollups_visible('-infinity', 'infinity', null) p where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed,
    d.failed, d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_private.usage_daily_visible d where not (select app_private.is_staff());
comment on view app_private.usage_rollups is
  E'The daily rollups the caller may read, in the cheapest form: totals for admins and auditors, their own rows (without provider costs) for a coach; captured records not rated yet are added, rolled up on the fly (a key may appear twice: readers sum).';

grant select on app_private.usage_events_visible, app_private.usage_daily_stored_visible, app_private.usage_daily_visible, app_private.usage_rollups
  to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.pending_rollups_visible(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups-view.sql
--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.

-- The rollups a figure sums over a range of days: the caller's (totals for
-- admins and auditors, a coach's own rows), or one coach's when a coach is
-- named, with the captured records not rated yet of that range. The
-- analytics functions take an optional coach_profile_id and read this.
drop function if exists app_private.usage_rollups_of(uuid);
create or replace function app_private.usage_rollups_of(coach_profile_id uuid, from_day date, to_day date)
returns setof app_private.usage_rollups as $$
  select t.day, null::uuid, t.plan_id, t.provider, t.model, t.billing_month, t.attempts, t.completed,
    t.failed, t.free_retries, t.retranscriptions, t.audio_seconds, t.billable_seconds, t.charged_seconds, t.revenue_minor,
    t.retranscription_revenue_minor, t.provider_cost_minor, t.failed_cost_minor, t.unknown_cost_attempts
  from app_private.usage_daily_totals t
  where usage_rollups_of.coach_profile_id is null and (select app_private.is_staff())
    and t.day >= usage_rollups_of.from_day and t.day < usage_rollups_of.to_day
  union all
  select d.* from app_private.usage_daily_stored_visible d
  where (d.coach_profile_id = usage_rollups_of.coach_profile_id
         or (usage_rollups_of.coach_profile_id is null and not (select app_private.is_staff())))
    and d.day >= usage_rollups_of.from_day and d.day < usage_rollups_of.to_day
  union all
  select p.* from app_private.pending_rollups_visible(usage_rollups_of.from_day, usage_rollups_of.to_day, usage_rollups_of.coach_profile_id) p;
$$ language sql stable;
comment on function app_private.usage_rollups_of(uuid, date, date) is
  E'The daily rollups of a range of days (to exclusive) the caller may read: totals for admins and auditors, a coach''s own rows, or only those of one coach profile when given (a coach sees their own, admins and auditors any); the captured records not rated yet of the range are added, priced on the fly (a key may appear twice: readers sum).';

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
  from app_private.usage_rollups_of(usage_over_time.coach_profile_id, from_day, to_day) r
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
  from app_private.usage_rollups_of(usage_by_provider.coach_profile_id, from_day, to_day) r
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
    from (select v.* from app_private.usage_daily_stored_visible v where v.day >= from_day and v.day < to_day
          union all
          select p.* from app_private.pending_rollups_visible(from_day, to_day, null) p) d
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
-- usage_summary is every card of a range at once (the console's overview
-- asks for it twice, the range and the one before): the captured records not
-- rated yet are priced once for all of them. revenue_summary, failure_stats
-- and retranscription_stats are its parts.
create or replace function app_public.usage_summary(from_day date, to_day date, coach_profile_id uuid default null,
  out revenue_minor bigint, out provider_cost_minor numeric, out gross_margin_minor numeric, out gross_margin_ratio numeric,
  out attempts bigint, out failed bigint, out failure_rate numeric, out free_retries bigint, out failed_attempts_cost_minor numeric,
  out completed bigint, out retranscriptions bigint, out retranscription_rate numeric, out retranscription_revenue_minor bigint)
returns record as $$
declare
  -- A coach's rollups carry no cost: null, not zero, and so no margin.
  staff boolean := app_private.is_staff();
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(usage_summary.coach_profile_id);
  select coalesce(sum(r.revenue_minor), 0)::bigint, case when staff then coalesce(sum(r.provider_cost_minor), 0) end,
    coalesce(sum(r.attempts), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4), coalesce(sum(r.free_retries), 0)::bigint,
    case when staff then coalesce(sum(r.failed_cost_minor), 0) end,
    coalesce(sum(r.completed), 0)::bigint, coalesce(sum(r.retranscriptions), 0)::bigint,
    pg_catalog.round(sum(r.retranscriptions)::numeric / nullif(sum(r.completed), 0), 4),
    coalesce(sum(r.retranscription_revenue_minor), 0)::bigint
  into revenue_minor, provider_cost_minor, attempts, failed, failure_rate, free_retries, failed_attempts_cost_minor,
    completed, retranscriptions, retranscription_rate, retranscription_revenue_minor
  from app_private.usage_rollups_of(usage_summary.coach_profile_id, from_day, to_day) r
  where r.day >= from_day and r.day < to_day;
  gross_margin_minor := revenue_minor - provider_cost_minor;
  gross_margin_ratio := pg_catalog.round(gross_margin_minor / nullif(revenue_minor, 0), 4);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_summary(date, date, uuid) is
  E'Every figure of a range of days (of one coach if named) at once: revenue, and for admins and auditors provider cost and gross margin (null for a coach); attempts, failures, failure rate, free retries and what the failed attempts cost us (admins and auditors only); successful attempts, re-transcriptions, their share and what they were charged. One row.';

drop function if exists app_public.revenue_summary(date, date);
create or replace function app_public.revenue_summary(from_day date, to_day date, coach_profile_id uuid default null,
  out revenue_minor bigint, out provider_cost_minor numeric, out gross_margin_minor numeric, out gross_margin_ratio numeric)
returns record as $$
begin
  select s.revenue_minor, s.provider_cost_minor, s.gross_margin_minor, s.gross_margin_ratio
  into revenue_minor, provider_cost_minor, gross_margin_minor, gross_margin_ratio
  from app_public.usage_summary(from_day, to_day, revenue_summary.coach_profile_id) s;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date, uuid) is E'Usage revenue over a range of days (of one coach if named), and for admins and auditors the provider cost and gross margin (null for a coach). One row.';

drop function if exists app_public.retranscription_stats(date, date);
create or replace function app_public.retranscription_stats(from_day date, to_day date, coach_profile_id uuid default null,
  out completed bigint, out retranscriptions bigint, out retranscription_rate numeric, out retranscription_revenue_minor bigint)
returns record as $$
begin
  select s.completed, s.retranscriptions, s.retranscription_rate, s.retranscription_revenue_minor
  into completed, retranscriptions, retranscription_rate, retranscription_revenue_minor
  from app_public.usage_summary(from_day, to_day, retranscription_stats.coach_profile_id) s;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retranscription_stats(date, date, uuid) is E'How many successful attempts were re-transcriptions over a range of days (of one coach if named), their share, and what they were charged. One row.';

drop function if exists app_public.failure_stats(date, date);
create or replace function app_public.failure_stats(from_day date, to_day date, coach_profile_id uuid default null,
  out attempts bigint, out failed bigint, out failure_rate numeric, out free_retries bigint, out failed_attempts_cost_minor numeric)
returns record as $$
begin
  select s.attempts, s.failed, s.failure_rate, s.free_retries, s.failed_attempts_cost_minor
  into attempts, failed, failure_rate, free_retries, failed_attempts_cost_minor
  from app_public.usage_summary(from_day, to_day, failure_stats.coach_profile_id) s;
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
  app_private.usage_rollups_of(uuid, date, date),
  app_public.usage_over_time(date, date, app_public.usage_granularity, uuid),
  app_public.usage_by_provider(date, date, uuid),
  app_public.top_coaches(date, date, integer),
  app_public.usage_summary(date, date, uuid),
  app_public.revenue_summary(date, date, uuid),
  app_public.retranscription_stats(date, date, uuid),
  app_public.failure_stats(date, date, uuid),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/analytics.sql
