--! Previous: sha1:441eff801c3c16d403256c92de3de8cbecf7c0e6
--! Hash: sha1:d5cb4194b5b44607140a1aef5b19be33d863903c
--! Message: Issue 15: the usage pages at volume: a page of usage events reads a page, their totals the settled rollups; the overview prices the unrated records once (usage_overview); top coaches read a row per coach and day

-- The figures of the console's overview as named types, so that one call can
-- return them all (app_public.usage_overview).
create type app_public.usage_card_figures as (
  revenue_minor bigint, provider_cost_minor numeric, gross_margin_minor numeric, gross_margin_ratio numeric,
  attempts bigint, failed bigint, failure_rate numeric, free_retries bigint, failed_attempts_cost_minor numeric,
  completed bigint, retranscriptions bigint, retranscription_rate numeric, retranscription_revenue_minor bigint);
comment on type app_public.usage_card_figures is
  E'Every card of the overview for a range of days: revenue, provider cost and margin (admins and auditors only), attempts and failures, free retries and what failed attempts cost, re-transcriptions and their revenue.';
create type app_public.usage_provider_figures as (
  provider text, model text, attempts bigint, completed bigint, failed bigint, failure_rate numeric,
  audio_minutes numeric, revenue_minor bigint, provider_cost_minor numeric, unknown_cost_attempts bigint);
comment on type app_public.usage_provider_figures is E'Usage of one provider and model over a range of days.';
create type app_public.top_coach_figures as (
  coach_profile_id uuid, display_name text, is_deleted boolean, attempts bigint, billable_minutes numeric,
  revenue_minor bigint, provider_cost_minor numeric, gross_margin_minor numeric);
comment on type app_public.top_coach_figures is E'One coach among those who brought the most revenue over a range of days.';
create type app_public.usage_overview as (
  current app_public.usage_card_figures, previous app_public.usage_card_figures, periods app_public.usage_period[],
  providers app_public.usage_provider_figures[], top_coaches app_public.top_coach_figures[]);
comment on type app_public.usage_overview is
  E'The console''s overview of a range of days: the cards of the range and of the period before it, usage over time, by provider, and the top coaches (none when one coach is named).';

-- Each coach's usage of each day, summed from usage_daily: the top coaches of
-- a month read a row per coach and day instead of one per plan, provider,
-- model and billing month as well (a third as many). Kept by
-- app_private.rebuild_usage_day with usage_daily; checked by usage_reconcile.
create table app_private.usage_coach_daily (
  day date not null,
  coach_profile_id uuid not null,
  attempts integer not null,
  billable_seconds bigint not null,
  revenue_minor bigint not null,
  provider_cost_minor numeric(18, 6) not null,
  primary key (day, coach_profile_id)
);
comment on table app_private.usage_coach_daily is
  E'Usage per day (UTC) and coach, summed from usage_daily by app_private.rebuild_usage_day: what the top coaches of a range read.';
alter table app_private.usage_coach_daily enable row level security;
insert into app_private.usage_coach_daily
select d.day, d.coach_profile_id, sum(d.attempts)::integer, sum(d.billable_seconds)::bigint, sum(d.revenue_minor)::bigint,
  sum(d.provider_cost_minor)
from app_public.usage_daily d
group by d.day, d.coach_profile_id;
comment on column app_public.usage_reconcile_differences.check_name is
  E'Which check differs (rollup_vs_events, totals_vs_rollups, coach_days_vs_rollups, attempt_vs_event, unrated_record, unknown_provider_cost).';

--! Included usage/policies.sql
-- Who reads usage: admins and auditors every coach, a coach their own. What a
-- provider charges the platform, and the margin on it, are the platform's: a
-- coach has no privilege on the cost columns (the functions they call read
-- app_private.usage_events_visible and usage_daily_visible instead).

drop policy if exists coach_own on app_public.usage_events;
create policy coach_own on app_public.usage_events for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));

drop policy if exists staff_read on app_public.usage_events;
create policy staff_read on app_public.usage_events for select to custodian_admin, custodian_auditor using (true);

grant select on app_public.usage_events to custodian_admin, custodian_auditor;
revoke select on app_public.usage_events from custodian_coach;
grant select (id, kind, occurred_at, recorded_at, coach_profile_id, session_id, transcription_id, is_retry,
  is_retranscription, provider, model, language, audio_seconds, outcome, billable, billing_reason, included_seconds,
  charged_seconds, unit_price_minor, amount_minor, plan_id, usage_month, billing_month, rule_version,
  corrects_event_id, note, created_by) on app_public.usage_events to custodian_coach;

drop policy if exists coach_own on app_public.usage_daily;
create policy coach_own on app_public.usage_daily for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));

drop policy if exists staff_read on app_public.usage_daily;
create policy staff_read on app_public.usage_daily for select to custodian_admin, custodian_auditor using (true);

grant select on app_public.usage_daily to custodian_admin, custodian_auditor;
revoke select on app_public.usage_daily from custodian_coach;
grant select (day, coach_profile_id, plan_id, provider, model, billing_month, attempts, completed, failed, free_retries,
  retranscriptions, audio_seconds, billable_seconds, charged_seconds, revenue_minor, retranscription_revenue_minor)
  on app_public.usage_daily to custodian_coach;

drop policy if exists coach_own on app_public.invoices;
create policy coach_own on app_public.invoices for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));

drop policy if exists staff_read on app_public.invoices;
create policy staff_read on app_public.invoices for select to custodian_admin, custodian_auditor using (true);

grant select on app_public.invoices to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists read_all on app_public.billing_months;
create policy read_all on app_public.billing_months for select to custodian_coach, custodian_admin, custodian_auditor using (true);

grant select on app_public.billing_months to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on app_private.usage_daily_totals;
create policy staff_read on app_private.usage_daily_totals for select to custodian_admin, custodian_auditor using (true);

grant select on app_private.usage_daily_totals to custodian_coach, custodian_admin, custodian_auditor;

-- Read through app_private.usage_coach_daily_visible (coaches without costs).
drop policy if exists staff_read on app_private.usage_coach_daily;
create policy staff_read on app_private.usage_coach_daily for select to custodian_admin, custodian_auditor using (true);

grant select on app_private.usage_coach_daily to custodian_admin, custodian_auditor;
--! EndIncluded usage/policies.sql
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
--! Included usage/rollups-view.sql
-- The rollups each caller may read.

-- The rows a caller may read, with the cost columns null unless the caller is
-- staff. These views run as their owner (coaches have no privilege on the
-- cost columns), so each states the visibility its table's policies state:
-- everything for staff, their own rows for a coach. The rated events come in
-- two views, one per kind of reader (the other's is empty), so that a query
-- can order each on its own and merge them (usage_in_range).
create or replace view app_private.rated_usage_events_for_staff as
  select e.id, e.kind, e.occurred_at, e.recorded_at, e.coach_profile_id, e.session_id, e.transcription_id, e.is_retry,
    e.is_retranscription, e.provider, e.model, e.language, e.audio_seconds, e.outcome, e.billable, e.billing_reason,
    e.included_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor, e.provider_cost_minor, e.plan_id,
    e.usage_month, e.billing_month, e.rule_version, e.corrects_event_id, e.note, e.created_by
  from app_public.usage_events e where (select app_private.is_staff());
comment on view app_private.rated_usage_events_for_staff is
  E'Every rated usage event, with its provider cost, for admins and auditors; nothing for anyone else.';

create or replace view app_private.rated_usage_events_for_coach as
  select e.id, e.kind, e.occurred_at, e.recorded_at, e.coach_profile_id, e.session_id, e.transcription_id, e.is_retry,
    e.is_retranscription, e.provider, e.model, e.language, e.audio_seconds, e.outcome, e.billable, e.billing_reason,
    e.included_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor, null::numeric(18, 6) as provider_cost_minor,
    e.plan_id, e.usage_month, e.billing_month, e.rule_version, e.corrects_event_id, e.note, e.created_by
  from app_public.usage_events e
  where not (select app_private.is_staff()) and e.coach_profile_id = (select app_private.current_coach_profile_id());
comment on view app_private.rated_usage_events_for_coach is
  E'A coach''s own rated usage events, without provider costs; nothing for admins and auditors (they read rated_usage_events_for_staff).';

-- Captured records not rated yet, priced now by the same SQL as rating will.
-- Pricing the queue costs the same whatever range is read, so a range that no
-- record falls in (a past month) skips it.
create or replace function app_private.pending_usage_events_visible(from_day date, to_day date)
returns setof app_public.usage_events as $$
  select e.id, e.kind, e.occurred_at, e.recorded_at, e.coach_profile_id, e.session_id, e.transcription_id, e.is_retry,
    e.is_retranscription, e.provider, e.model, e.language, e.audio_seconds, e.outcome, e.billable, e.billing_reason,
    e.included_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor,
    (case when (select app_private.is_staff()) then e.provider_cost_minor end)::numeric(18, 6), e.plan_id,
    e.usage_month, e.billing_month, e.rule_version, e.corrects_event_id, e.note, e.created_by
  from app_private.price_usage_records(
    case when not (select app_private.is_staff()) then coalesce((select app_private.current_coach_profile_id()), '00000000-0000-0000-0000-000000000000'::uuid) end) e
  where exists (
    select from app_private.usage_records r
    where (from_day is null or r.finished_at >= (from_day::timestamp at time zone 'UTC'))
      and (to_day is null or r.finished_at < (to_day::timestamp at time zone 'UTC')));
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.pending_usage_events_visible(date, date) is
  E'The usage events the captured records not rated yet will become, priced now, as the caller may read them (every coach''s with provider costs for admins and auditors, a coach''s own without); nothing is priced when no record finished in the range of days given (to exclusive; a null end is open).';

create or replace view app_private.rated_usage_events_visible as
  select * from app_private.rated_usage_events_for_staff
  union all
  select * from app_private.rated_usage_events_for_coach;
comment on view app_private.rated_usage_events_visible is
  E'The rated usage events the caller may read (all for admins and auditors, a coach''s own), with provider_cost_minor only for admins and auditors.';

create or replace view app_private.usage_events_visible as
  select * from app_private.rated_usage_events_visible
  union all
  select * from app_private.pending_usage_events_visible(null, null);
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

-- The stored per-coach-and-day sums the caller may read.
create or replace view app_private.usage_coach_daily_visible as
  select c.day, c.coach_profile_id, c.attempts, c.billable_seconds, c.revenue_minor, c.provider_cost_minor
  from app_private.usage_coach_daily c where (select app_private.is_staff())
  union all
  select c.day, c.coach_profile_id, c.attempts, c.billable_seconds, c.revenue_minor, null::numeric(18, 6)
  from app_private.usage_coach_daily c
  where not (select app_private.is_staff()) and c.coach_profile_id = (select app_private.current_coach_profile_id());
comment on view app_private.usage_coach_daily_visible is
  E'The stored usage per coach and day the caller may read (all for admins and auditors, a coach''s own), with provider_cost_minor only for admins and auditors.';

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

grant select on app_private.rated_usage_events_for_staff, app_private.rated_usage_events_for_coach, app_private.rated_usage_events_visible,
  app_private.usage_events_visible,
  app_private.usage_daily_stored_visible, app_private.usage_coach_daily_visible, app_private.usage_daily_visible, app_private.usage_rollups
  to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.pending_usage_events_visible(date, date), app_private.pending_rollups_visible(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups-view.sql
--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.

-- The rollups a figure sums over a range of days: the caller's (totals for
-- admins and auditors, a coach's own rows), or one coach's when a coach is
-- named. The stored ones, and (usage_rollups_of) with the captured records
-- not rated yet of that range. The analytics functions take an optional
-- coach_profile_id and read usage_rollups_with (below), which takes the
-- priced records as an argument so that a page prices them once.
create or replace function app_private.stored_usage_rollups_of(coach_profile_id uuid, from_day date, to_day date)
returns setof app_private.usage_rollups as $$
  select t.day, null::uuid, t.plan_id, t.provider, t.model, t.billing_month, t.attempts, t.completed,
    t.failed, t.free_retries, t.retranscriptions, t.audio_seconds, t.billable_seconds, t.charged_seconds, t.revenue_minor,
    t.retranscription_revenue_minor, t.provider_cost_minor, t.failed_cost_minor, t.unknown_cost_attempts
  from app_private.usage_daily_totals t
  where stored_usage_rollups_of.coach_profile_id is null and (select app_private.is_staff())
    and t.day >= stored_usage_rollups_of.from_day and t.day < stored_usage_rollups_of.to_day
  union all
  select d.* from app_private.usage_daily_stored_visible d
  where (d.coach_profile_id = stored_usage_rollups_of.coach_profile_id
         or (stored_usage_rollups_of.coach_profile_id is null and not (select app_private.is_staff())))
    and d.day >= stored_usage_rollups_of.from_day and d.day < stored_usage_rollups_of.to_day;
$$ language sql stable;
comment on function app_private.stored_usage_rollups_of(uuid, date, date) is
  E'The stored daily rollups of a range of days (to exclusive) the caller may read: totals for admins and auditors, a coach''s own rows, or only those of one coach profile when given (a coach sees their own, admins and auditors any). A day marked dirty may lag its events (app_private.unsettled_usage_days).';

drop function if exists app_private.usage_rollups_of(uuid);
create or replace function app_private.usage_rollups_of(coach_profile_id uuid, from_day date, to_day date)
returns setof app_private.usage_rollups as $$
  select s.* from app_private.stored_usage_rollups_of(usage_rollups_of.coach_profile_id, usage_rollups_of.from_day, usage_rollups_of.to_day) s
  union all
  select p.* from app_private.pending_rollups_visible(usage_rollups_of.from_day, usage_rollups_of.to_day, usage_rollups_of.coach_profile_id) p;
$$ language sql stable;
comment on function app_private.usage_rollups_of(uuid, date, date) is
  E'The daily rollups of a range of days (to exclusive) the caller may read: totals for admins and auditors, a coach''s own rows, or only those of one coach profile when given (a coach sees their own, admins and auditors any); the captured records not rated yet of the range are added, priced on the fly (a key may appear twice: readers sum).';

-- Pricing the records not rated yet is most of what a figure of today
-- costs, so a page that shows several figures of one range prices them once
-- (usage_overview) and hands them to each: the *_of functions below take
-- them as pending rows (app_private.pending_rollups_of), and each public
-- function is its *_of function with the pending rows of its own range.
-- The *_of functions are plain SQL sets, inlined into their callers, which
-- plan each call with its arguments (plan_cache_mode = force_custom_plan):
-- a plan for any coach would read every coach's rollups.
create or replace function app_private.pending_rollups_of(coach_profile_id uuid, from_day date, to_day date)
returns app_public.usage_daily[] as $$
  select coalesce(pg_catalog.array_agg(p), '{}')
  from app_private.pending_rollups_visible(from_day, to_day, pending_rollups_of.coach_profile_id) p;
$$ language sql stable;
comment on function app_private.pending_rollups_of(uuid, date, date) is
  E'The rollup rows of the captured records not rated yet of a range of days (to exclusive), priced once, as the caller may read them (app_private.pending_rollups_visible), for the *_of analytics functions.';

-- The rollups of a range: the stored ones and the pending rows given.
create or replace function app_private.usage_rollups_with(coach_profile_id uuid, from_day date, to_day date, pending app_public.usage_daily[])
returns setof app_private.usage_rollups as $$
  select s.* from app_private.stored_usage_rollups_of(usage_rollups_with.coach_profile_id, from_day, to_day) s
  union all
  select p.* from pg_catalog.unnest(pending) p where p.day >= from_day and p.day < to_day;
$$ language sql stable;
comment on function app_private.usage_rollups_with(uuid, date, date, app_public.usage_daily[]) is
  E'app_private.usage_rollups_of with the pending rows given (app_private.pending_rollups_of) instead of priced here: the stored rollups of the range and those of the pending rows that fall in it.';

create or replace function app_private.usage_periods_of(from_day date, to_day date, granularity app_public.usage_granularity,
  coach_profile_id uuid, pending app_public.usage_daily[])
returns setof app_public.usage_period as $$
  select pg_catalog.date_trunc(granularity::text, r.day)::date,
    sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint, sum(r.free_retries)::bigint,
    sum(r.retranscriptions)::bigint, pg_catalog.round(sum(r.audio_seconds) / 60.0, 2),
    pg_catalog.round(sum(r.billable_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.revenue_minor) - sum(r.provider_cost_minor)
  from app_private.usage_rollups_with(usage_periods_of.coach_profile_id, from_day, to_day, pending) r
  group by 1 order by 1;
$$ language sql stable;
comment on function app_private.usage_periods_of(date, date, app_public.usage_granularity, uuid, app_public.usage_daily[]) is
  E'What app_public.usage_over_time returns, with the pending rows given. Checks nothing: its callers do.';

create or replace function app_private.usage_providers_of(from_day date, to_day date, coach_profile_id uuid, pending app_public.usage_daily[])
returns setof app_public.usage_provider_figures as $$
  select r.provider, r.model, sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    pg_catalog.round(sum(r.audio_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.unknown_cost_attempts)::bigint
  from app_private.usage_rollups_with(usage_providers_of.coach_profile_id, from_day, to_day, pending) r
  where r.provider is not null
  group by 1, 2 order by sum(r.attempts) desc, 1, 2;
$$ language sql stable;
comment on function app_private.usage_providers_of(date, date, uuid, app_public.usage_daily[]) is
  E'What app_public.usage_by_provider returns, with the pending rows given. Checks nothing: its callers do.';

create or replace function app_private.top_coaches_of(from_day date, to_day date, max_rows integer, pending app_public.usage_daily[])
returns setof app_public.top_coach_figures as $$
  select t.coach_profile_id, cp.display_name, cp.is_deleted, t.attempts, t.billable_minutes, t.revenue_minor, t.provider_cost_minor, t.gross_margin_minor
  from (
    select d.coach_profile_id, sum(d.attempts)::bigint as attempts, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2) as billable_minutes,
      sum(d.revenue_minor)::bigint as revenue_minor, sum(d.provider_cost_minor) as provider_cost_minor,
      sum(d.revenue_minor) - sum(d.provider_cost_minor) as gross_margin_minor, sum(d.billable_seconds) as billable_seconds
    from (select v.coach_profile_id, v.attempts, v.billable_seconds, v.revenue_minor, v.provider_cost_minor
          from app_private.usage_coach_daily_visible v where v.day >= from_day and v.day < to_day
          union all
          select p.coach_profile_id, p.attempts, p.billable_seconds, p.revenue_minor, p.provider_cost_minor
          from pg_catalog.unnest(pending) p where p.day >= from_day and p.day < to_day) d
    group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
    limit max_rows) t
  -- The name as the caller may read it (a coach profile deleted for good has none).
  left join app_public.coach_profiles cp on cp.id = t.coach_profile_id
  order by t.revenue_minor desc, t.billable_seconds desc, t.coach_profile_id;
$$ language sql stable;
comment on function app_private.top_coaches_of(date, date, integer, app_public.usage_daily[]) is
  E'What app_public.top_coaches returns, with the pending rows (of every coach the caller may see) given. Checks nothing: its callers do.';

drop function if exists app_private.usage_summary_of(date, date, uuid, app_public.usage_daily[]);
-- A set of one row, so that it is inlined into its caller's query (and planned with its arguments).
create or replace function app_private.usage_summary_of(from_day date, to_day date, coach_profile_id uuid, pending app_public.usage_daily[])
returns setof app_public.usage_card_figures as $$
  select s.revenue_minor, s.provider_cost_minor, s.revenue_minor - s.provider_cost_minor,
    pg_catalog.round((s.revenue_minor - s.provider_cost_minor) / nullif(s.revenue_minor, 0), 4),
    s.attempts, s.failed, pg_catalog.round(s.failed::numeric / nullif(s.attempts, 0), 4), s.free_retries, s.failed_attempts_cost_minor,
    s.completed, s.retranscriptions, pg_catalog.round(s.retranscriptions::numeric / nullif(s.completed, 0), 4), s.retranscription_revenue_minor
  from (
    select coalesce(sum(r.revenue_minor), 0)::bigint as revenue_minor,
      -- A coach's rollups carry no cost: null, not zero, and so no margin.
      case when (select app_private.is_staff()) then coalesce(sum(r.provider_cost_minor), 0) end as provider_cost_minor,
      coalesce(sum(r.attempts), 0)::bigint as attempts, coalesce(sum(r.failed), 0)::bigint as failed,
      coalesce(sum(r.free_retries), 0)::bigint as free_retries,
      case when (select app_private.is_staff()) then coalesce(sum(r.failed_cost_minor), 0) end as failed_attempts_cost_minor,
      coalesce(sum(r.completed), 0)::bigint as completed, coalesce(sum(r.retranscriptions), 0)::bigint as retranscriptions,
      coalesce(sum(r.retranscription_revenue_minor), 0)::bigint as retranscription_revenue_minor
    from app_private.usage_rollups_with(usage_summary_of.coach_profile_id, from_day, to_day, pending) r) s;
$$ language sql stable;
comment on function app_private.usage_summary_of(date, date, uuid, app_public.usage_daily[]) is
  E'What app_public.usage_summary returns, with the pending rows given. Checks nothing: its callers do.';

-- granularity was text before it was app_public.usage_granularity; there was no coach before issue 15.
drop function if exists app_public.usage_over_time(date, date, text);
drop function if exists app_public.usage_over_time(date, date, app_public.usage_granularity);
create or replace function app_public.usage_over_time(from_day date, to_day date,
  granularity app_public.usage_granularity default 'day', coach_profile_id uuid default null)
returns setof app_public.usage_period as $$
declare
  pending app_public.usage_daily[];
begin
  perform app_private.check_range(from_day, to_day), app_private.check_granularity(granularity::text);
  perform app_private.require_visible_coach_profile(usage_over_time.coach_profile_id);
  -- Priced here, once (an argument's call would also be made while planning).
  pending := app_private.pending_rollups_of(usage_over_time.coach_profile_id, from_day, to_day);
  return query
  select * from app_private.usage_periods_of(from_day, to_day, granularity, usage_over_time.coach_profile_id, pending);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp set plan_cache_mode = force_custom_plan;
comment on function app_public.usage_over_time(date, date, app_public.usage_granularity, uuid) is
  E'Usage by day, week or month over a range of days (to exclusive): attempts, outcomes, free retries, re-transcriptions, minutes, revenue, provider cost and gross margin. Admins and auditors see every coach (or the one named), a coach their own.';

drop function if exists app_public.usage_by_provider(date, date);
create or replace function app_public.usage_by_provider(from_day date, to_day date, coach_profile_id uuid default null)
returns table (provider text, model text, attempts bigint, completed bigint, failed bigint, failure_rate numeric,
               audio_minutes numeric, revenue_minor bigint, provider_cost_minor numeric, unknown_cost_attempts bigint) as $$
declare
  pending app_public.usage_daily[];
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(usage_by_provider.coach_profile_id);
  pending := app_private.pending_rollups_of(usage_by_provider.coach_profile_id, from_day, to_day);
  return query
  select * from app_private.usage_providers_of(from_day, to_day, usage_by_provider.coach_profile_id, pending);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp set plan_cache_mode = force_custom_plan;
comment on function app_public.usage_by_provider(date, date, uuid) is E'Usage per provider and model over a range of days (of one coach if named): attempts, failure rate, minutes, revenue, provider cost, attempts without a known cost.';

-- The coach's name rides along: a page of top coaches must not look the names up in a page of every coach.
drop function if exists app_public.top_coaches(date, date, integer);
create function app_public.top_coaches(from_day date, to_day date, max_rows integer default 10)
returns table (coach_profile_id uuid, display_name text, is_deleted boolean, attempts bigint, billable_minutes numeric, revenue_minor bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
declare
  pending app_public.usage_daily[];
begin
  perform app_private.check_range(from_day, to_day);
  -- A count outside 1 to 1000 is a mistake to name, not one to quietly correct.
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'maxRows must be from 1 to 1000, not %.', coalesce(max_rows::text, 'null') using errcode = '22023';
  end if;
  pending := app_private.pending_rollups_of(null, from_day, to_day);
  return query
  select * from app_private.top_coaches_of(from_day, to_day, max_rows, pending);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp set plan_cache_mode = force_custom_plan;
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
  pending app_public.usage_daily[];
begin
  perform app_private.check_range(from_day, to_day);
  perform app_private.require_visible_coach_profile(usage_summary.coach_profile_id);
  pending := app_private.pending_rollups_of(usage_summary.coach_profile_id, from_day, to_day);
  select * into revenue_minor, provider_cost_minor, gross_margin_minor, gross_margin_ratio, attempts, failed, failure_rate,
    free_retries, failed_attempts_cost_minor, completed, retranscriptions, retranscription_rate, retranscription_revenue_minor
  from app_private.usage_summary_of(from_day, to_day, usage_summary.coach_profile_id, pending);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp set plan_cache_mode = force_custom_plan;
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

-- The console's overview (and a coach's page) in one call: the records not
-- rated yet are priced once for every figure on it, where asking for each
-- figure apart prices them once per figure.
create or replace function app_public.usage_overview(from_day date, to_day date, previous_from_day date, previous_to_day date,
  granularity app_public.usage_granularity default 'day', coach_profile_id uuid default null, max_coaches integer default 10)
returns app_public.usage_overview as $$
declare
  pending app_public.usage_daily[];
begin
  perform app_private.check_range(from_day, to_day), app_private.check_range(previous_from_day, previous_to_day),
    app_private.check_granularity(granularity::text);
  perform app_private.require_visible_coach_profile(usage_overview.coach_profile_id);
  if max_coaches is null or max_coaches not between 1 and 1000 then
    raise exception 'maxCoaches must be from 1 to 1000, not %.', coalesce(max_coaches::text, 'null') using errcode = '22023';
  end if;
  -- Every coach's, for the top coaches, unless one is named.
  pending := app_private.pending_rollups_of(usage_overview.coach_profile_id,
    least(from_day, previous_from_day), greatest(to_day, previous_to_day));
  return row(
    (select s from app_private.usage_summary_of(from_day, to_day, usage_overview.coach_profile_id, pending) s),
    (select s from app_private.usage_summary_of(previous_from_day, previous_to_day, usage_overview.coach_profile_id, pending) s),
    array(select p from app_private.usage_periods_of(from_day, to_day, granularity, usage_overview.coach_profile_id, pending) p),
    array(select p from app_private.usage_providers_of(from_day, to_day, usage_overview.coach_profile_id, pending) p),
    case when usage_overview.coach_profile_id is null
      then array(select t from app_private.top_coaches_of(from_day, to_day, max_coaches, pending) t) else '{}' end)::app_public.usage_overview;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp set plan_cache_mode = force_custom_plan;
comment on function app_public.usage_overview(date, date, date, date, app_public.usage_granularity, uuid, integer) is
  E'Every figure of the console''s overview of a range of days at once, the captured records not rated yet priced once for all: the cards of the range and of the period before it (as usage_summary gives them), usage over time (usage_over_time), by provider (usage_by_provider) and, unless a coach is named, the top coaches (top_coaches, max_coaches of them). Each is what its own function returns.';

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
  app_private.stored_usage_rollups_of(uuid, date, date), app_private.usage_rollups_of(uuid, date, date),
  app_private.pending_rollups_of(uuid, date, date), app_private.usage_rollups_with(uuid, date, date, app_public.usage_daily[]),
  app_private.usage_periods_of(date, date, app_public.usage_granularity, uuid, app_public.usage_daily[]),
  app_private.usage_providers_of(date, date, uuid, app_public.usage_daily[]),
  app_private.top_coaches_of(date, date, integer, app_public.usage_daily[]),
  app_private.usage_summary_of(date, date, uuid, app_public.usage_daily[]),
  app_public.usage_overview(date, date, date, date, app_public.usage_granularity, uuid, integer),
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
--! Included usage/dirty-days.sql
-- Which days the usage_aggregate job must roll up again.

create or replace function app_private.mark_new_usage_days_dirty() returns integer as $$
declare
  horizon bigint := app_private.committed_id_horizon('app_public.usage_events', 'app_public.usage_events_id_seq');
  marked integer;
begin
  if horizon is null then
    return null;
  end if;
  insert into app_private.usage_dirty_days (day)
  select distinct (e.occurred_at at time zone 'UTC')::date
  from app_public.usage_events e, app_private.usage_rollup_watermark w
  where e.id > w.last_event_id and e.id <= horizon
  union
  -- Captured records are rolled up once rated (rebuilding a day rates first).
  select (r.finished_at at time zone 'UTC')::date from app_private.usage_records r
  on conflict (day) do nothing;
  get diagnostics marked = row_count;
  update app_private.usage_rollup_watermark set last_event_id = horizon where last_event_id < horizon;
  return marked;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.mark_new_usage_days_dirty() is
  E'Marks the days of every usage event written since the last call (late ones included) and of the records not rated yet for rolling up, and moves the watermark. Run first in its own transaction; null when writers did not finish in 10 s (the next run catches up).';

create or replace function app_private.mark_usage_days_dirty(from_day date, to_day date) returns integer as $$
  with marked as (
    insert into app_private.usage_dirty_days (day)
    select d::date from pg_catalog.generate_series(from_day, to_day, interval '1 day') d
    on conflict (day) do nothing
    returning 1)
  select count(*)::integer from marked;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.mark_usage_days_dirty(date, date) is E'Marks every day of a range (both ends included) for rebuilding.';

create or replace function app_private.usage_event_days() returns table (first_day date, last_day date) as $$
  select (min(occurred_at) at time zone 'UTC')::date, (max(occurred_at) at time zone 'UTC')::date from app_public.usage_events;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_event_days() is E'The first and last day that have usage events.';

create or replace function app_private.unsettled_usage_days(from_day date, to_day date) returns table (day date) as $$
declare
  marked_up_to bigint := (select w.last_event_id from app_private.usage_rollup_watermark w);
begin
  -- Planned with the watermark's value (a custom plan): the events past it
  -- are found by the primary key, where a plan for any watermark scans them.
  return query
  select d.day from app_private.usage_dirty_days d
  where (from_day is null or d.day >= from_day) and (to_day is null or d.day < to_day)
  union
  -- Events written since the last marking (a correction, say): their days
  -- are not marked yet. The watermark keeps this to the newest events.
  select (e.occurred_at at time zone 'UTC')::date
  from app_public.usage_events e
  where e.id > marked_up_to
    and (from_day is null or e.occurred_at >= (from_day::timestamp at time zone 'UTC'))
    and (to_day is null or e.occurred_at < (to_day::timestamp at time zone 'UTC'));
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp set plan_cache_mode = force_custom_plan;
comment on function app_private.unsettled_usage_days(date, date) is
  E'The days of a range (to exclusive; a null end is open) whose stored rollups may not hold every rated event yet: marked dirty, or with events written since the last marking. Every other day''s rollups are exact. Records not rated yet are never in the rollups (readers price them). Admins and auditors: which days are not settled says when any coach was active.';

revoke all on function app_private.unsettled_usage_days(date, date) from public, custodian_coach;
grant execute on function app_private.unsettled_usage_days(date, date) to custodian_admin, custodian_auditor;
--! EndIncluded usage/dirty-days.sql
--! Included usage/usage-in-range.sql
-- The usage events of a range of days, or of a billing month, and what they add up to.

-- What usage_in_range and usage_in_range_totals refuse. Immutable, so that
-- with the arguments known it runs while the query is planned: before the
-- planner finds that an inverted range holds no row and reads nothing.
create or replace function app_private.check_usage_range(from_day date, to_day date, billing_month date)
returns boolean as $$
begin
  -- A billing month alone is enough; otherwise the range must be whole.
  if billing_month is null or from_day is not null or to_day is not null then
    perform app_private.check_range(from_day, to_day);
  end if;
  if billing_month is not null and billing_month <> date_trunc('month', billing_month)::date then
    raise exception 'A billing month is its first day (like 2026-10-01), not %.', billing_month using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.check_usage_range(date, date, date) is
  E'Refuses the range or billing month of usage_in_range that it would refuse (a range with one end, an empty, inverted or over-long range, a billing month that is not a first day), naming the problem.';

-- The range's checks and the coach's (which reads the table), once.
create or replace function app_private.usage_in_range_start(from_day date, to_day date, coach_profile_id uuid, billing_month date)
returns timestamptz as $$
begin
  perform app_private.check_usage_range(from_day, to_day, billing_month);
  perform app_private.require_visible_coach_profile(coach_profile_id);
  return coalesce(from_day::timestamp at time zone 'UTC', '-infinity');
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_in_range_start(date, date, uuid, date) is
  E'Refuses what usage_in_range refuses (app_private.check_usage_range, and a coach profile the caller cannot see), naming the problem; otherwise the first instant of the range (-infinity for a billing month alone).';

grant execute on function app_private.check_usage_range(date, date, date) to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.usage_in_range_start(date, date, uuid, date) to custodian_coach, custodian_admin, custodian_auditor;

-- Whether a usage event (or a rollup row: its coach is null in the totals)
-- is one the filters ask for; a null filter asks for any. Inlined, so the
-- planner sees each condition (and drops those not asked for).
create or replace function app_private.usage_matches(coach_profile_id uuid, billing_month date, provider text, model text,
  wanted_coach uuid, wanted_month date, wanted_provider text, wanted_model text)
returns boolean as $$
  select (wanted_coach is null or coach_profile_id = wanted_coach) and (wanted_month is null or billing_month = wanted_month)
    and (wanted_provider is null or provider = wanted_provider) and (wanted_model is null or model = wanted_model);
$$ language sql immutable;
comment on function app_private.usage_matches(uuid, date, text, text, uuid, date, text, text) is
  E'Whether a usage event or rollup row has the coach, billing month, provider and model asked for (a null asks for any).';

grant execute on function app_private.usage_matches(uuid, date, text, text, uuid, date, text, text) to custodian_coach, custodian_admin, custodian_auditor;

-- billing_month, provider and model came with issue 15 (an invoice's lines are its billing month's events).
drop function if exists app_public.usage_in_range(date, date, uuid);
create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null,
  billing_month date default null, provider text default null, model text default null)
returns setof app_public.usage_events as $$
  -- Plain SQL, so that the caller's limit reaches the indexes: a page of a
  -- month of events reads a page, not the month. Each kind of row is ordered
  -- on its own and the three are merged (PostgreSQL merges ordered subqueries
  -- of a UNION ALL; the branches of usage_events_visible, with their
  -- one-time filters, it would sort whole).
  select e.* from (
    (select s.* from app_private.rated_usage_events_for_staff s order by s.occurred_at, s.id)
    union all
    (select c.* from app_private.rated_usage_events_for_coach c order by c.occurred_at, c.id)
    union all
    -- The coach is checked here: whatever the plan, every part of an
    -- ordered union is read before its first row goes out.
    (select p.* from app_private.pending_usage_events_visible(
       (app_private.usage_in_range_start(from_day, to_day, usage_in_range.coach_profile_id, usage_in_range.billing_month) at time zone 'UTC')::date,
       to_day) p
     order by p.occurred_at, p.id)) e
  where app_private.check_usage_range(from_day, to_day, usage_in_range.billing_month)
    and (from_day is null or e.occurred_at >= (from_day::timestamp at time zone 'UTC'))
    and (to_day is null or e.occurred_at < (to_day::timestamp at time zone 'UTC'))
    and app_private.usage_matches(e.coach_profile_id, e.billing_month, e.provider, e.model, usage_in_range.coach_profile_id,
      usage_in_range.billing_month, usage_in_range.provider, usage_in_range.model)
  order by e.occurred_at, e.id;
$$ language sql stable;
comment on function app_public.usage_in_range(date, date, uuid, date, text, text) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), or were billed in a billing month (its first day; the range may then be left out), or both; oldest first, of one coach, provider or model if given: a coach''s own, or any coach''s for admins and auditors (any other is refused: no coach profile you can see). The provider cost is for admins and auditors only. The events a revenue figure sums over a range, and an invoice''s lines for a month.';

grant execute on function app_public.usage_in_range(date, date, uuid, date, text, text) to custodian_coach, custodian_admin, custodian_auditor;

create or replace function app_public.usage_in_range_totals(from_day date, to_day date, coach_profile_id uuid default null,
  billing_month date default null, provider text default null, model text default null,
  out events bigint, out amount_minor bigint, out provider_cost_minor numeric)
returns record as $$
declare
  starts timestamptz := app_private.usage_in_range_start(from_day, to_day, usage_in_range_totals.coach_profile_id,
    usage_in_range_totals.billing_month);
  -- What is billed in a month occurred before its end.
  end_day date := coalesce(to_day, (usage_in_range_totals.billing_month + interval '1 month')::date);
  ends timestamptz := end_day::timestamp at time zone 'UTC';
  unsettled date[];
  unsettled_day date;
begin
  -- A coach's own events are few: they are summed as listed. (Which days are
  -- not settled says when any coach was active: staff may know that.)
  if not app_private.is_staff() then
    select count(*), coalesce(sum(e.amount_minor), 0), null::numeric
    into events, amount_minor, provider_cost_minor
    from app_public.usage_in_range(from_day, to_day, usage_in_range_totals.coach_profile_id, usage_in_range_totals.billing_month,
      usage_in_range_totals.provider, usage_in_range_totals.model) e;
    return;
  end if;
  unsettled := array(select u.day from app_private.unsettled_usage_days((starts at time zone 'UTC')::date, end_day) u);
  -- From the stored rollups, which hold every rated event of a settled day:
  -- a month is a few hundred rollup rows, not its events. Events are read
  -- only where the rollups cannot answer: on the days not settled yet (today,
  -- usually), and the corrections (rollups count attempts, and hold the
  -- corrections' amounts). The records not rated yet are priced. Each
  -- statement is planned with these values (a custom plan), so that the
  -- indexes of the range, the days and the corrections are used.
  select s.events + c.events + p.events, s.amount_minor + p.amount_minor, s.provider_cost_minor + p.provider_cost_minor
  into events, amount_minor, provider_cost_minor
  from
    (select coalesce(sum(r.attempts), 0) as events, coalesce(sum(r.revenue_minor), 0) as amount_minor,
       coalesce(sum(r.provider_cost_minor), 0) as provider_cost_minor
     from app_private.stored_usage_rollups_of(usage_in_range_totals.coach_profile_id, (starts at time zone 'UTC')::date, end_day) r
     where r.day <> all (unsettled)
       and app_private.usage_matches(r.coach_profile_id, r.billing_month, r.provider, r.model, usage_in_range_totals.coach_profile_id,
         usage_in_range_totals.billing_month, usage_in_range_totals.provider, usage_in_range_totals.model)) s,
    (select count(*) as events
     from app_private.rated_usage_events_visible e
     where e.kind <> 'attempt' and e.occurred_at >= starts and e.occurred_at < ends
       and (e.occurred_at at time zone 'UTC')::date <> all (unsettled)
       and app_private.usage_matches(e.coach_profile_id, e.billing_month, e.provider, e.model, usage_in_range_totals.coach_profile_id,
         usage_in_range_totals.billing_month, usage_in_range_totals.provider, usage_in_range_totals.model)) c,
    (select count(*) as events, coalesce(sum(e.amount_minor), 0) as amount_minor, coalesce(sum(e.provider_cost_minor), 0) as provider_cost_minor
     from app_private.pending_usage_events_visible(from_day, to_day) e
     where e.occurred_at >= starts and e.occurred_at < ends
       and app_private.usage_matches(e.coach_profile_id, e.billing_month, e.provider, e.model, usage_in_range_totals.coach_profile_id,
         usage_in_range_totals.billing_month, usage_in_range_totals.provider, usage_in_range_totals.model)) p;
  -- The days not settled, one at a time: each by its range of the index.
  foreach unsettled_day in array unsettled loop
    select usage_in_range_totals.events + count(*), usage_in_range_totals.amount_minor + coalesce(sum(e.amount_minor), 0),
      usage_in_range_totals.provider_cost_minor + coalesce(sum(e.provider_cost_minor), 0)
    into events, amount_minor, provider_cost_minor
    from app_private.rated_usage_events_visible e
    where e.occurred_at >= (unsettled_day::timestamp at time zone 'UTC') and e.occurred_at < ((unsettled_day + 1)::timestamp at time zone 'UTC')
      and app_private.usage_matches(e.coach_profile_id, e.billing_month, e.provider, e.model, usage_in_range_totals.coach_profile_id,
        usage_in_range_totals.billing_month, usage_in_range_totals.provider, usage_in_range_totals.model);
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp set plan_cache_mode = force_custom_plan;
comment on function app_public.usage_in_range_totals(date, date, uuid, date, text, text) is
  E'What the events of usage_in_range (same arguments, same refusals) add up to: how many, their amounts, and for admins and auditors their provider cost (null for a coach). The revenue and cost figures of a range, or an invoice''s usage and credits of a billing month, are these sums. One row.';

grant execute on function app_public.usage_in_range_totals(date, date, uuid, date, text, text) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/usage-in-range.sql
--! Included usage/reconcile.sql
-- usage_reconcile: rollups, raw events and attempts agree, or every difference is listed.

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
  coach_days_of_rollups as materialized (select c.* from checked, app_private.usage_coach_daily_rows(from_day, to_day) c),
  coach_days as materialized (
    select c.* from checked, app_private.usage_coach_daily c where c.day >= from_day and c.day < to_day),
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
  expected_coach_days as (select r.row - m.names as key, r.row from measures m,
    (select * from coach_days_of_rollups except all select * from coach_days) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  actual_coach_days as (select r.row - m.names as key, r.row from measures m,
    (select * from coach_days except all select * from coach_days_of_rollups) x, lateral (select pg_catalog.to_jsonb(x) as row) r),
  -- Every rollup row against its raw events, and every totals row and coach
  -- day (what admins read) against the per-coach rows it sums, in every measure.
  comparisons (check_name, key, expected, actual) as (
    select 'rollup_vs_events', coalesce(x.key, a.key), x.row, a.row
    from expected_rollups x full join actual_rollups a on a.key = x.key
    union all
    select 'totals_vs_rollups', coalesce(x.key, a.key), x.row, a.row
    from expected_totals x full join actual_totals a on a.key = x.key
    union all
    select 'coach_days_vs_rollups', coalesce(x.key, a.key), x.row, a.row
    from expected_coach_days x full join actual_coach_days a on a.key = x.key)
  select c.check_name, (c.key ->> 'day')::date,
    pg_catalog.concat_ws(' ', c.key ->> 'coach_profile_id', c.key ->> 'provider', c.key ->> 'model',
      -- (A coach's day has no plan in its key.)
      case when c.key ? 'plan_id' then 'plan ' || coalesce(c.key ->> 'plan_id', 'none') end, 'billed in ' || (c.key ->> 'billing_month')),
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
  -- Records not rated yet count with the events they will become.
  left join (select e.id, e.transcription_id, e.outcome, e.audio_seconds, e.provider, e.model
             from app_public.usage_events e where e.kind = 'attempt'
             union all
             select p.id, p.transcription_id, p.outcome, p.audio_seconds, p.provider, p.model
             from app_private.price_usage_records() p) e on e.transcription_id = t.id
  where t.status in ('completed', 'failed') and t.finished_at >= b.lo and t.finished_at < b.hi
    and not exists (select from app_private.unratable_usage_records() u where u.transcription_id = t.id)
    and (e.id is null or e.outcome::text <> t.status::text
         or (t.billed_duration_seconds is not null and e.audio_seconds is distinct from t.billed_duration_seconds)
         or e.provider is distinct from t.provider or e.model is distinct from t.model)
  union all
  -- Captured records that cannot be rated (a coach without a plan): kept, and listed.
  select 'unrated_record', (u.finished_at at time zone 'UTC')::date, u.transcription_id::text,
    'a usage event', pg_catalog.format('not rated: %s', u.reason)
  from app_private.unratable_usage_records() u, bounds b
  where u.finished_at >= b.lo and u.finished_at < b.hi
  union all
  -- Events whose provider cost is unknown (no rate for the provider and model).
  select 'unknown_provider_cost', (e.occurred_at at time zone 'UTC')::date, e.id::text,
    pg_catalog.format('a rate for %s %s', e.provider, e.model), 'none'
  from app_public.usage_events e, bounds b
  where e.kind = 'attempt' and e.provider_cost_minor is null and e.occurred_at >= b.lo and e.occurred_at < b.hi
  order by 1, 2, 3, 4;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_reconcile(date, date) is
  E'Shows that rollups, raw usage events and transcription attempts agree for a range of days (to exclusive), listing every difference (a rollup''s subject names its coach, provider, model, plan and billing month): a rollup row that differs from its events in any measure (naming each measure, expected then actual; "no row" where one side has none); a totals row, or a coach''s row of a day, that differs from the per-coach rollups it sums; a terminal attempt without its event (records not rated yet count, priced on the fly), or whose event has another outcome, provider, model or billed duration; a captured record that cannot be rated (unrated_record: its coach has no billing plan); an event whose provider cost is unknown. Empty when all agree. Admins and auditors.';

grant execute on function app_private.rollup_key_columns(), app_private.differing_measures(jsonb, jsonb),
  app_private.describe_attempt(text, integer, text, text)
  to custodian_admin, custodian_auditor;
revoke all on function app_public.usage_reconcile(date, date) from public;
grant execute on function app_public.usage_reconcile(date, date) to custodian_admin, custodian_auditor;
--! EndIncluded usage/reconcile.sql
