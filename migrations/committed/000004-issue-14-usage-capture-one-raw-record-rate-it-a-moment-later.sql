--! Previous: sha1:6f1b86b1addf19911b2eb8bb08f36d29f6c17152
--! Hash: sha1:274cee02dd281f6740d7c6cf90ce3a109265278d
--! Message: issue 14 usage: capture one raw record, rate it a moment later

-- Issue 14, usage: capture writes one raw record; a rating step prices it a
-- moment later, exactly once.

create table app_private.usage_records (
  -- Drawn from the usage events' sequence: the event a record becomes keeps its id.
  id bigint primary key default pg_catalog.nextval('app_public.usage_events_id_seq'),
  transcription_id uuid not null,
  coach_profile_id uuid not null,
  session_id uuid,
  is_retry boolean not null,
  provider text,
  model text,
  language text,
  outcome app_public.attempt_outcome not null,
  billed_duration_seconds integer,
  finished_at timestamptz not null,
  recorded_at timestamptz not null default pg_catalog.now()
);
-- Exactly once per attempt: a unique key, not a check.
create unique index usage_records_one_per_attempt on app_private.usage_records (transcription_id);
comment on table app_private.usage_records is
  E'Captured usage not rated yet: one raw record per attempt that reached completed or failed, written in the attempt''s transaction with nothing read or locked. The rating step (app_private.rate_usage_records) prices it into app_public.usage_events, keeping its id, and takes it off; readers that show money price it on the fly until then.';
comment on column app_private.usage_records.id is E'The id of the usage event it becomes (from app_public.usage_events_id_seq).';
comment on column app_private.usage_records.transcription_id is E'The attempt.';
comment on column app_private.usage_records.coach_profile_id is E'The coach billed (a key, not a reference).';
comment on column app_private.usage_records.session_id is E'The session transcribed.';
comment on column app_private.usage_records.is_retry is E'The attempt retried an earlier one.';
comment on column app_private.usage_records.provider is E'The transcription provider.';
comment on column app_private.usage_records.model is E'The provider''s model.';
comment on column app_private.usage_records.language is E'The audio''s language.';
comment on column app_private.usage_records.outcome is E'completed or failed.';
comment on column app_private.usage_records.billed_duration_seconds is E'The provider''s billed duration, if any.';
comment on column app_private.usage_records.finished_at is E'When the attempt finished.';
comment on column app_private.usage_records.recorded_at is E'When it was captured.';
alter table app_private.usage_records enable row level security;

comment on table app_private.usage_ledgers is
  E'Running totals per coach and billing month: the included minutes used so far and the exact charge in sixtieths of a minor unit, so that each event''s amount is the growth of the rounded total. The rating step moves each coach-month''s row on once per run, in the statement that writes its events; the last_ columns hold the last event rated.';
comment on table app_public.usage_events is
  E'Permanent, append-only usage: one event per transcription attempt that reached completed or failed, priced by the rating step a moment after capture (its id is the captured record''s), plus admins'' credits and voids. References people by key only, so every figure survives deletion and anonymization.';
comment on column app_public.usage_events.recorded_at is E'When the attempt was captured (for credits and voids: written).';
comment on column app_public.usage_events.plan_id is E'The coach''s plan when the event was rated.';

--! Included usage/capture.sql
-- Every attempt that reaches completed or failed becomes one raw usage record,
-- which the rating step (rating.sql) turns into one priced usage event.

create or replace function app_private.first_open_month(month date) returns date as $$
  select min(m)::date
  from pg_catalog.generate_series(month, month + interval '10 years', interval '1 month') m
  where not exists (select from app_public.billing_months b where b.month = m::date);
$$ language sql stable;
comment on function app_private.first_open_month(date) is E'The month an event of a month is billed in: that month, or the first after it not closed.';

create or replace function app_private.tg_transcriptions__capture_usage() returns trigger as $$
begin
  -- One row, copied from the attempt: no plan, rate, ledger or month is read
  -- and nothing is locked. Pricing is app_private.rate_usage_records' work.
  insert into app_private.usage_records (transcription_id, coach_profile_id, session_id, is_retry, provider, model,
    language, outcome, billed_duration_seconds, finished_at)
  values (new.id, new.coach_profile_id, new.session_id, new.retry_of is not null, new.provider, new.model, new.language,
    new.status::text::app_public.attempt_outcome, new.billed_duration_seconds, new.finished_at)
  on conflict (transcription_id) do nothing;
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__capture_usage() is
  E'Writes the raw usage record of an attempt that reached completed or failed, in the attempt''s transaction: one insert, nothing read, nothing locked. The rating step (app_private.rate_usage_records) prices it a moment later; readers that show money price it on the fly until then. Exactly once per attempt: the first terminal status is recorded (the unique key on transcription_id keeps a second record out, and the rated charge has a unique key of its own).';

drop trigger if exists _600_capture_usage on app_public.transcriptions;
create trigger _600_capture_usage after insert on app_public.transcriptions
  for each row when (new.status in ('completed', 'failed'))
  execute function app_private.tg_transcriptions__capture_usage();

drop trigger if exists _600_capture_usage_on_finish on app_public.transcriptions;
create trigger _600_capture_usage_on_finish after update of status on app_public.transcriptions
  for each row when (new.status in ('completed', 'failed') and old.status not in ('completed', 'failed'))
  execute function app_private.tg_transcriptions__capture_usage();
--! EndIncluded usage/capture.sql
--! Included usage/rating.sql
-- Rating: raw usage records become priced usage events, a moment after capture.

-- THE pricing of captured records, set-based: the readers that show money run
-- it on the fly, and the rating step inserts what it returns. Each coach's
-- records are priced in id order within their billing month, continuing that
-- month's ledger, by app_private.decide_charge: the included seconds used
-- before a record are the ledger's plus the batch's earlier completed seconds,
-- capped at the plan's (exactly what calling the rule one record at a time
-- with the running totals gives), and the charge before it the ledger's plus
-- the batch's earlier charged seconds at the plan's price.
create or replace function app_private.price_usage_records(only_coach uuid default null, max_records integer default null)
returns setof app_public.usage_events as $$
begin
  -- One plan, kept for the session (planning this costs more than pricing a
  -- few records). The queue's statistics are always stale (it fills and
  -- empties every minute), so its joins are hash joins whatever the estimate
  -- (enable_nestloop off, for this function only); the events are probed by
  -- their indexes, one subquery per record, never scanned.
  return query
  with records as (
    select r.*, p.id as plan_id, p.included_minutes::bigint * 60 as included_cap, p.price_per_extra_minute_minor as price,
      date_trunc('month', r.finished_at at time zone 'UTC')::date as used_in
    from app_private.usage_records r
    join app_public.coach_profiles cp on cp.id = r.coach_profile_id
    join app_public.billing_plans p on p.id = cp.plan_id
    where (price_usage_records.only_coach is null or r.coach_profile_id = price_usage_records.only_coach)
      -- The first terminal status is the one billed: a record of an attempt
      -- already rated is left out (the rating step deletes it).
      -- (A probe of the unique key per record, never a scan of every event.)
      and (select e.id from app_public.usage_events e where e.transcription_id = r.transcription_id and e.kind = 'attempt') is null
    order by r.id
    limit price_usage_records.max_records),
  -- Each month's billing month: its own, or the first open one after it if closed.
  months as materialized (
    select m.used_in, case when exists (select from app_public.billing_months b where b.month = m.used_in)
      then app_private.first_open_month(m.used_in) else m.used_in end as billed_in
    from (select distinct r.used_in from records r) m),
  -- Each rate with the moment the next one for its provider and model starts.
  rates as materialized (
    select pr.provider, pr.model, pr.cost_per_minute_minor as rate, pr.effective_from,
      pg_catalog.lead(pr.effective_from) over (partition by pr.provider, pr.model order by pr.effective_from) as effective_until
    from app_public.provider_rates pr),
  facts as (
    select r.*, m.billed_in, rt.rate,
      -- Whether the session already has a rated success: a probe of its index.
      exists (select from app_public.usage_events e
              where e.session_id = r.session_id and e.outcome = 'completed' and e.kind = 'attempt') as had_rated_success,
      case when r.outcome = 'completed' then r.billed_duration_seconds
           else coalesce(r.billed_duration_seconds,
             (select s.audio_duration_seconds from app_public.coaching_sessions s where s.id = r.session_id), 0) end as seconds
    from records r
    join months m on m.used_in = r.used_in
    left join rates rt on rt.provider = r.provider and rt.model = r.model and rt.effective_from <= r.finished_at
      and (rt.effective_until is null or rt.effective_until > r.finished_at)),
  running as (
    select f.*, coalesce(l.included_seconds_used, 0) as used_before_batch, coalesce(l.charge_sixtieths, 0) as sixtieths_before_batch,
      coalesce(sum(case when f.outcome = 'completed' then f.seconds else 0 end) over earlier_in_month, 0) as seconds_before,
      f.had_rated_success or coalesce(pg_catalog.bool_or(f.outcome = 'completed') over (partition by f.session_id order by f.id
        rows between unbounded preceding and 1 preceding), false) as had_success
    from facts f
    left join app_private.usage_ledgers l on l.coach_profile_id = f.coach_profile_id and l.billing_month = f.billed_in
    window earlier_in_month as (partition by f.coach_profile_id, f.billed_in order by f.id rows between unbounded preceding and 1 preceding)),
  positioned as (
    select r.*, greatest(r.used_before_batch, least(r.included_cap, r.used_before_batch + r.seconds_before)) as used_before
    from running r)
  select r.id, 'attempt'::app_public.usage_kind, r.finished_at, r.recorded_at, r.coach_profile_id, r.session_id, r.transcription_id,
    r.is_retry, r.outcome = 'completed' and r.had_success, r.provider, r.model, r.language, r.seconds, r.outcome,
    c.billable, c.billing_reason, c.included_seconds, c.charged_seconds, r.price, c.amount_minor,
    pg_catalog.round(r.seconds * r.rate / 60.0, 6)::numeric(18, 6), r.plan_id, r.used_in, r.billed_in,
    app_public.billing_rule_version(), null::bigint, null::text, null::uuid
  from positioned r,
    app_private.decide_charge(r.outcome, r.seconds, r.had_success, r.included_cap - r.used_before, r.price,
      r.sixtieths_before_batch + r.price * (r.seconds_before - (r.used_before - r.used_before_batch))) c;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp set enable_nestloop = off;
comment on function app_private.price_usage_records(uuid, integer) is
  E'The usage events the captured records not yet rated become (of one coach if given; the first max_records in id order if given), priced now by app_private.decide_charge, continuing each coach''s billing-month ledger in id order, with the record''s id as the event''s. What the rating step writes, and what readers add to the rated events so that no total is stale. Records of a coach without a plan are left out (app_private.unratable_usage_records lists them).';

create or replace function app_private.unratable_usage_records()
returns table (record_id bigint, transcription_id uuid, coach_profile_id uuid, finished_at timestamptz, reason text) as $$
  select r.id, r.transcription_id, r.coach_profile_id, r.finished_at,
    pg_catalog.format('coach profile %s has no billing plan', r.coach_profile_id)
  from app_private.usage_records r
  where not exists (select from app_public.coach_profiles cp join app_public.billing_plans p on p.id = cp.plan_id
                    where cp.id = r.coach_profile_id)
    and not exists (select from app_public.usage_events e where e.transcription_id = r.transcription_id and e.kind = 'attempt')
  order by r.id;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.unratable_usage_records() is
  E'Captured records that cannot be rated (their coach has no billing plan): kept, never dropped, and rated once the coach has one. The rating run logs them and usage_reconcile lists them.';

create or replace function app_private.rate_usage_records(max_records integer default 50000)
returns table (rated integer, unratable integer) as $$
declare
  rated_now integer;
begin
  -- One rating run at a time: a second waits here, then (a new statement, a
  -- new snapshot) sees what the first rated and does not rate it again.
  perform pg_catalog.pg_advisory_xact_lock('app_private.usage_records'::pg_catalog.regclass::pg_catalog.oid::integer, 0);
  -- A month close in progress is waited for, so that late records see it
  -- and are billed in the next open month; none starts until this commits.
  lock table app_private.usage_ledgers in row exclusive mode;
  with priced as materialized (
    select * from app_private.price_usage_records(null, max_records)),
  events as (
    insert into app_public.usage_events overriding system value select * from priced
    returning 1),
  ledgers as (
    insert into app_private.usage_ledgers as l (coach_profile_id, billing_month, included_seconds_used, charged_seconds,
      charge_sixtieths, charged_minor, last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor)
    select p.coach_profile_id, p.billing_month, sum(p.included_seconds), sum(p.charged_seconds),
      sum(p.charged_seconds::bigint * p.unit_price_minor), sum(p.amount_minor),
      (pg_catalog.array_agg(p.billing_reason order by p.id desc))[1], (pg_catalog.array_agg(p.included_seconds order by p.id desc))[1],
      (pg_catalog.array_agg(p.charged_seconds order by p.id desc))[1], (pg_catalog.array_agg(p.amount_minor order by p.id desc))[1]
    from priced p
    group by p.coach_profile_id, p.billing_month
    on conflict (coach_profile_id, billing_month) do update set
      included_seconds_used = l.included_seconds_used + excluded.included_seconds_used,
      charged_seconds = l.charged_seconds + excluded.charged_seconds,
      charge_sixtieths = l.charge_sixtieths + excluded.charge_sixtieths,
      charged_minor = l.charged_minor + excluded.charged_minor,
      (last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor) =
        (excluded.last_billing_reason, excluded.last_included_seconds, excluded.last_charged_seconds, excluded.last_amount_minor)
    returning 1),
  -- The rated events' days are rolled up again (their ids may lie below the
  -- rollup watermark: they are the records').
  dirty as (
    insert into app_private.usage_dirty_days (day)
    select distinct (p.occurred_at at time zone 'UTC')::date from priced p
    on conflict (day) do nothing
    returning 1),
  -- Rated records leave the queue; so do records of attempts rated before.
  done as (
    delete from app_private.usage_records r
    where r.id in (select p.id from priced p)
       or exists (select from app_public.usage_events e where e.transcription_id = r.transcription_id and e.kind = 'attempt')
    returning 1)
  select (select count(*) from events)::integer
  into rated_now
  from (select count(*) from ledgers) l, (select count(*) from dirty) d, (select count(*) from done) x;
  return query select rated_now, (select count(*)::integer from app_private.unratable_usage_records());
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rate_usage_records(integer) is
  E'The rating step: prices up to max_records captured records (all when null) in id order by app_private.price_usage_records, writes their usage events (one per attempt: the unique key on the rated charge) and moves the coaches'' ledgers on, in one statement, and takes the records off the queue; returns how many were rated and how many cannot be (no plan). Idempotent and exactly once: runs are serialized, a record is rated in the transaction that deletes it, and a run killed midway rolls back whole. Run by the usage_rate job every minute, by custodian usage rate and aggregate, and by close_month.';

revoke all on function app_private.rate_usage_records(integer) from public;
grant execute on function app_private.price_usage_records(uuid, integer) to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.unratable_usage_records() to custodian_admin, custodian_auditor;

-- A coach profile deleted for good takes its plan with it: what it captured is
-- rated first, so that no charge is lost.
create or replace function app_private.tg_coach_profiles__rate_usage() returns trigger as $$
begin
  if exists (select from app_private.usage_records r where r.coach_profile_id = old.id) then
    perform app_private.rate_usage_records(null);
  end if;
  return old;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_coach_profiles__rate_usage() is
  E'Before a coach profile is deleted, rates the usage it captured and that is not rated yet (rating needs the coach''s plan).';

drop trigger if exists _300_rate_usage on app_public.coach_profiles;
create trigger _300_rate_usage before delete on app_public.coach_profiles
  for each row execute function app_private.tg_coach_profiles__rate_usage();
--! EndIncluded usage/rating.sql
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

create or replace function app_private.pending_usage_rollup_rows(only_coach uuid default null) returns setof app_public.usage_daily as $$
  select * from app_private.usage_rollup_rows_of('-infinity', 'infinity', true, only_coach);
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
grant execute on function app_private.pending_usage_rollup_rows(uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups.sql
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
--! EndIncluded usage/dirty-days.sql
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

create or replace view app_private.usage_daily_visible as
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_public.usage_daily d where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, null::numeric(18, 6), null::numeric(18, 6), null::integer
  from app_public.usage_daily d
  where not (select app_private.is_staff()) and d.coach_profile_id = (select app_private.current_coach_profile_id())
  union all
  -- Captured records not rated yet, rolled up on the fly (a key may repeat a
  -- stored row's: readers sum).
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_private.pending_usage_rollup_rows() d where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed, d.failed,
    d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, null::numeric(18, 6), null::numeric(18, 6), null::integer
  from app_private.pending_usage_rollup_rows(
    coalesce((select app_private.current_coach_profile_id()), '00000000-0000-0000-0000-000000000000'::uuid)) d
  where not (select app_private.is_staff());
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
  from app_private.pending_usage_rollup_rows() p where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed,
    d.failed, d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_private.usage_daily_visible d where not (select app_private.is_staff());
comment on view app_private.usage_rollups is
  E'The daily rollups the caller may read, in the cheapest form: totals for admins and auditors, their own rows (without provider costs) for a coach; captured records not rated yet are added, rolled up on the fly (a key may appear twice: readers sum).';

grant select on app_private.usage_events_visible, app_private.usage_daily_visible, app_private.usage_rollups
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups-view.sql
--! Included usage/invoices.sql
-- Invoices as they stand, and as frozen.

create or replace function app_private.month_invoices(month date, only_coach uuid default null) returns setof app_public.invoices as $$
begin
  -- Planned for this call, so that one coach's invoice reads that coach's
  -- events through their index rather than the whole month's.
  return query execute pg_catalog.format($q$
  with events as (
    select e.coach_profile_id,
      coalesce(sum(e.amount_minor) filter (where e.kind = 'attempt'), 0) as usage_minor,
      coalesce(sum(e.amount_minor) filter (where e.kind <> 'attempt'), 0) as credits_minor,
      coalesce(sum(e.audio_seconds) filter (where e.billable), 0) as audio_seconds,
      coalesce(sum(e.included_seconds), 0) as included_seconds,
      coalesce(sum(e.charged_seconds), 0) as charged_seconds,
      count(*) filter (where e.usage_month < e.billing_month) as late_events,
      count(*) filter (where e.kind = 'attempt') as attempts,
      (pg_catalog.array_agg(e.plan_id order by e.id desc) filter (where e.plan_id is not null))[1] as last_plan_id
    from (
      select * from app_public.usage_events e where e.billing_month = $1 and %1$s
      union all
      -- Captured records not rated yet, priced now by the same SQL as rating will.
      select * from app_private.price_usage_records($2) e where e.billing_month = $1) e
    group by e.coach_profile_id),
  -- Coaches pay the fee of a month in which their profile was live at some
  -- point. Months are UTC months, whatever the session's time zone.
  live as (
    select cp.id as coach_profile_id, cp.plan_id from app_public.coach_profiles cp
    where cp.created_at < ($1 + interval '1 month') at time zone 'UTC'
      and (not cp.is_deleted or cp.deleted_at >= $1::timestamp at time zone 'UTC') and %2$s),
  -- Every coach with a fee or billed events. The fee is due for a month in
  -- which the profile was live, or had attempts billed and was not deleted
  -- before it; credits and voids alone never make one due.
  coaches as (
    select l.coach_profile_id, l.plan_id, true as live from live l
    union all
    select e.coach_profile_id, coalesce(cp.plan_id, e.last_plan_id),
      e.attempts > 0 and coalesce(not cp.is_deleted or cp.deleted_at >= $1::timestamp at time zone 'UTC', false)
    from events e
    left join app_public.coach_profiles cp on cp.id = e.coach_profile_id
    where not exists (select from live l where l.coach_profile_id = e.coach_profile_id))
  select c.coach_profile_id, $1, p.id, p.name, coalesce(p.currency, 'EUR'),
    case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end::bigint, coalesce(p.included_minutes, 0),
    coalesce(e.audio_seconds, 0)::bigint, coalesce(e.included_seconds, 0)::bigint, coalesce(e.charged_seconds, 0)::bigint,
    coalesce(e.usage_minor, 0)::bigint, coalesce(e.credits_minor, 0)::bigint,
    (case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end + coalesce(e.usage_minor, 0) + coalesce(e.credits_minor, 0))::bigint,
    -- Not closed: an invoice as it stands has no close time (close_month stamps it).
    coalesce(e.late_events, 0)::integer, null::timestamptz
  from coaches c
  left join events e on e.coach_profile_id = c.coach_profile_id
  left join app_public.billing_plans p on p.id = c.plan_id$q$,
    case when only_coach is null then 'true' else 'e.coach_profile_id = $2' end,
    case when only_coach is null then 'true' else 'cp.id = $2' end)
  using month, only_coach;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.month_invoices(date, uuid) is
  E'Every coach''s invoice for a billing month as it stands: plan fee, the month''s attempt amounts (records not rated yet priced on the fly), credits and voids; closed_at is null (not closed).';

create or replace function app_public.invoice_preview(coach_profile_id uuid default null, month date default null)
returns setof app_public.invoices as $$
begin
  perform app_private.require_visible_coach_profile(invoice_preview.coach_profile_id);
  return query
  with wanted as (
    select date_trunc('month', coalesce(invoice_preview.month, pg_catalog.now() at time zone 'UTC'))::date as month),
  invoices as (
    select i.* from app_public.invoices i, wanted w where i.month = w.month
    union all
    select i.* from wanted w,
      app_private.month_invoices(w.month, coalesce(invoice_preview.coach_profile_id,
        case when not app_private.is_staff() then app_private.current_coach_profile_id() end)) i
    where not exists (select from app_public.billing_months b where b.month = w.month))
  select i.* from invoices i
  where (invoice_preview.coach_profile_id is null or i.coach_profile_id = invoice_preview.coach_profile_id)
    and (app_private.is_staff() or i.coach_profile_id = app_private.current_coach_profile_id())
  order by i.total_minor desc, i.coach_profile_id;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.invoice_preview(uuid, date) is
  E'Invoices of a month (default: the current one): frozen ones once the month is closed (closed_at says when), else as they stand now (plan fee, included minutes, overage, credits; closed_at null). Admins and auditors see every coach; a coach their own (naming any other is refused: no coach profile you can see).';

grant execute on function app_public.invoice_preview(uuid, date) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/invoices.sql
--! Included usage/close-month.sql
-- Closing a month freezes its invoices.

create or replace function app_public.close_month(month date) returns integer as $$
declare
  closing date := date_trunc('month', month)::date;
  frozen integer;
begin
  perform app_private.require_admin('close months');
  if month is null or month <> closing then
    raise exception 'Give the first day of the month to close (like 2026-10-01), not %.', month using errcode = '22023';
  end if;
  if closing >= date_trunc('month', pg_catalog.now() at time zone 'UTC') then
    raise exception 'Month % has not ended yet; only past months can be closed.', pg_catalog.to_char(closing, 'YYYY-MM')
      using errcode = '22023';
  end if;
  if exists (select from app_public.billing_months b where b.month = closing) then
    raise exception 'Month % is already closed; its invoices are frozen.', pg_catalog.to_char(closing, 'YYYY-MM')
      using errcode = '55000';
  end if;
  -- What was captured is rated first (waiting for a rating run in progress);
  -- then no rating run starts until the close commits: records rated later
  -- that belong to this month go to the next open month, as late events.
  perform app_private.rate_usage_records(null);
  lock table app_private.usage_ledgers in exclusive mode;
  insert into app_public.billing_months (month) values (closing);
  insert into app_public.invoices (coach_profile_id, month, plan_id, plan_name, currency, plan_fee_minor, included_minutes,
    audio_seconds, included_seconds, charged_seconds, usage_minor, credits_minor, total_minor, late_events, closed_at)
  select i.coach_profile_id, i.month, i.plan_id, i.plan_name, i.currency, i.plan_fee_minor, i.included_minutes,
    i.audio_seconds, i.included_seconds, i.charged_seconds, i.usage_minor, i.credits_minor, i.total_minor, i.late_events,
    pg_catalog.now()
  from app_private.month_invoices(closing) i;
  get diagnostics frozen = row_count;
  return frozen;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.close_month(date) is
  E'Closes a past month: rates the captured records not rated yet, then freezes its invoices (returns how many). Afterwards they never change; a late event of that month is billed in the next open month and says which month it belonged to. Admins only.';

revoke all on function app_public.close_month(date) from public;
grant execute on function app_public.close_month(date) to custodian_admin;
--! EndIncluded usage/close-month.sql
--! Included usage/corrections.sql
-- Credits and voids: corrections are new, negative events.

create or replace function app_private.credit_override_ceiling_minor() returns bigint as $$
  select 10000000::bigint;
$$ language sql immutable;
comment on function app_private.credit_override_ceiling_minor() is
  E'The largest credit an admin may issue even with an override reason, in minor units (100,000.00 of the currency): a typo of a few digits is refused whatever the reason.';

create or replace function app_private.credit_limit_minor(coach_profile_id uuid, month date) returns bigint as $$
  -- Frozen invoices of closed months, invoices as they stand for open ones:
  -- both already count earlier credits and voids.
  select greatest(coalesce(sum(total), 0), 0)::bigint from (
    select i.total_minor as total from app_public.invoices i
    where i.coach_profile_id = credit_limit_minor.coach_profile_id
      and i.month > (credit_limit_minor.month - interval '13 months') and i.month <= credit_limit_minor.month
    union all
    select i.total_minor
    from pg_catalog.generate_series(credit_limit_minor.month - interval '12 months', credit_limit_minor.month, interval '1 month') m,
      app_private.month_invoices(m::date, credit_limit_minor.coach_profile_id) i
    where i.coach_profile_id = credit_limit_minor.coach_profile_id
      and not exists (select from app_public.billing_months b where b.month = m::date)) charged;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.credit_limit_minor(uuid, date) is
  E'The most a coach may be credited in a billing month without an override: what the coach was charged (plan fees and usage, net of credits and voids already given) in that month and the 12 before it, never below 0.';

drop function if exists app_public.issue_usage_credit(uuid, bigint, text);
create or replace function app_public.issue_usage_credit(coach_profile_id uuid, amount_minor bigint, reason text,
  override_reason text default null)
returns app_public.usage_events as $$
declare
  event app_public.usage_events;
  month date;
  charged bigint;
  ceiling bigint := app_private.credit_override_ceiling_minor();
begin
  perform app_private.require_admin('issue credits');
  -- As a late capture does: wait for a month close in progress, then choose the month.
  lock table app_private.usage_ledgers in row exclusive mode;
  month := app_private.first_open_month(date_trunc('month', pg_catalog.now() at time zone 'UTC')::date);
  if amount_minor is null or amount_minor <= 0 then
    raise exception 'A credit is a positive amount in minor units (got %).', amount_minor using errcode = '22023';
  end if;
  if reason is null or length(btrim(reason)) < 3 then
    raise exception 'A credit needs a reason (at least 3 characters).' using errcode = '22023';
  end if;
  if override_reason is not null and length(btrim(override_reason)) < 10 then
    raise exception 'An override needs its own reason of at least 10 characters (why the credit may exceed what the coach was charged).'
      using errcode = '22023';
  end if;
  if not exists (select from app_public.coach_profiles p where p.id = issue_usage_credit.coach_profile_id) then
    raise exception 'No coach profile with id %.', coach_profile_id using errcode = '23503';
  end if;
  -- One credit decision at a time per coach, so that two cannot both fit the same charges.
  perform pg_catalog.pg_advisory_xact_lock('app_public.usage_events'::pg_catalog.regclass::pg_catalog.oid::integer,
    pg_catalog.hashtext(coach_profile_id::text));
  if amount_minor > ceiling then
    raise exception 'A credit of % minor units is above the limit of % minor units for any one credit, even with an override.',
      amount_minor, ceiling
      using errcode = '23514', constraint = 'usage_credit_within_ceiling',
        hint = 'Check the amount: it is in minor units (cents).';
  end if;
  if override_reason is null then
    charged := app_private.credit_limit_minor(coach_profile_id, month);
    if amount_minor > charged then
      raise exception 'A credit of % minor units is above what coach profile % was charged in % and the 12 months before it (% minor units, net of earlier credits): the most it can be credited is %.',
        amount_minor, coach_profile_id, pg_catalog.to_char(month, 'YYYY-MM'), charged, charged
        using errcode = '23514', constraint = 'usage_credit_within_charges',
          hint = 'Credit less, or give override_reason to credit more (up to the limit for any one credit).';
    end if;
  end if;
  insert into app_public.usage_events (kind, occurred_at, coach_profile_id, billable, billing_reason, amount_minor,
                                       usage_month, billing_month, rule_version, note, created_by)
  values ('credit', pg_catalog.now(), coach_profile_id, false, 'credit', -amount_minor, month, month,
          app_public.billing_rule_version(),
          btrim(reason) || case when override_reason is not null then ' (override: ' || btrim(override_reason) || ')' else '' end,
          app_public.current_user_id())
  returning * into event;
  return event;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.issue_usage_credit(uuid, bigint, text, text) is
  E'Credits a coach an amount (minor units) with a reason: a new, negative usage event in the current open month. The credit may not exceed what the coach was charged in that month and the 12 before it, net of earlier credits (SQLSTATE 23514, usage_credit_within_charges), unless override_reason says why; no credit exceeds 10,000,000 minor units (usage_credit_within_ceiling). Admins only.';

create or replace function app_public.void_usage_event(usage_event_id bigint, reason text) returns app_public.usage_events as $$
declare
  original app_public.usage_events;
  event app_public.usage_events;
  month date;
begin
  perform app_private.require_admin('void usage events');
  -- An attempt captured but not rated yet is rated first, so that it can be voided.
  if not exists (select from app_public.usage_events e where e.id = usage_event_id)
     and exists (select from app_private.usage_records r where r.id = usage_event_id) then
    perform app_private.rate_usage_records(null);
  end if;
  lock table app_private.usage_ledgers in row exclusive mode;
  month := app_private.first_open_month(date_trunc('month', pg_catalog.now() at time zone 'UTC')::date);
  if reason is null or length(btrim(reason)) < 3 then
    raise exception 'A void needs a reason (at least 3 characters).' using errcode = '22023';
  end if;
  select * into original from app_public.usage_events e where e.id = usage_event_id;
  if not found then
    raise exception 'No usage event %.', usage_event_id using errcode = 'P0002';
  end if;
  if original.kind <> 'attempt' then
    raise exception 'Usage event % is a %; only attempts can be voided.', usage_event_id, original.kind using errcode = '22023';
  end if;
  if original.amount_minor = 0 then
    raise exception 'Usage event % charged nothing; there is nothing to void.', usage_event_id using errcode = '55000';
  end if;
  insert into app_public.usage_events (kind, occurred_at, coach_profile_id, session_id, transcription_id, provider, model,
                                       billable, billing_reason, amount_minor, plan_id, usage_month, billing_month,
                                       rule_version, corrects_event_id, note, created_by)
  values ('void', pg_catalog.now(), original.coach_profile_id, original.session_id, original.transcription_id,
          original.provider, original.model, false, 'void', -original.amount_minor, original.plan_id,
          greatest(original.usage_month, month), greatest(original.usage_month, month),
          app_public.billing_rule_version(), original.id, btrim(reason), app_public.current_user_id())
  on conflict (corrects_event_id) where kind = 'void' do nothing
  returning * into event;
  if event.id is null then
    raise exception 'Usage event % is already voided; nothing changed.', usage_event_id using errcode = '55000';
  end if;
  return event;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.void_usage_event(bigint, text) is
  E'Cancels an attempt''s charge with a reason: a new event of the opposite amount, billed in the current open month. Once per event. Admins only.';

revoke all on function app_public.issue_usage_credit(uuid, bigint, text, text), app_public.void_usage_event(bigint, text) from public;
grant execute on function app_public.issue_usage_credit(uuid, bigint, text, text), app_public.void_usage_event(bigint, text)
  to custodian_admin;
--! EndIncluded usage/corrections.sql
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
  E'Shows that rollups, raw usage events and transcription attempts agree for a range of days (to exclusive), listing every difference (a rollup''s subject names its coach, provider, model, plan and billing month): a rollup row that differs from its events in any measure (naming each measure, expected then actual; "no row" where one side has none); a totals row that differs from the per-coach rollups it sums; a terminal attempt without its event (records not rated yet count, priced on the fly), or whose event has another outcome, provider, model or billed duration; a captured record that cannot be rated (unrated_record: its coach has no billing plan); an event whose provider cost is unknown. Empty when all agree. Admins and auditors.';

grant execute on function app_private.rollup_key_columns(), app_private.differing_measures(jsonb, jsonb),
  app_private.describe_attempt(text, integer, text, text)
  to custodian_admin, custodian_auditor;
revoke all on function app_public.usage_reconcile(date, date) from public;
grant execute on function app_public.usage_reconcile(date, date) to custodian_admin, custodian_auditor;
--! EndIncluded usage/reconcile.sql
