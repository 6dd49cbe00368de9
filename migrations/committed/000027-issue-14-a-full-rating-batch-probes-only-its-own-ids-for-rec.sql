--! Previous: sha1:f93aeb6aa626d88a0b9a24d8bb7d2c19fa5203d3
--! Hash: sha1:441843c514249ec7c744ee8788338b4d1bc92b66
--! Message: issue 14: a full rating batch probes only its own ids for records rated before

-- Rating: a full batch takes off the queue its own records and the records
-- of attempts rated before among its ids, without probing the rest of the
-- queue; the last batch of a run (short of max_records) still probes it all.
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
  -- their indexes, one subquery per record, never scanned. JIT is off with
  -- nested loops: a plan that still needs one (one coach's records) gets the
  -- planner's penalty for a disabled node, which passes jit_above_cost, and
  -- where PostgreSQL has JIT each call compiled first (1.5 s on 15).
  return query
  with records as (
    select r.*, p.id as plan_id, p.included_minutes::bigint * 60 as included_cap, p.price_per_extra_minute_minor as price,
      date_trunc('month', r.finished_at at time zone 'UTC')::date as used_in
    from app_private.usage_records r
    join app_public.coach_profiles cp on cp.id = r.coach_profile_id
    join app_public.billing_plans p on p.id = cp.plan_id
    where (price_usage_records.only_coach is null or r.coach_profile_id = price_usage_records.only_coach)
      -- It runs as its owner, so it keeps to the caller's rows itself: staff
      -- (and the worker) price every coach's, a coach only their own, whatever
      -- only_coach names.
      and ((select app_private.is_staff()) or r.coach_profile_id = (select app_private.current_coach_profile_id()))
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
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp set enable_nestloop = off set jit = off;
comment on function app_private.price_usage_records(uuid, integer) is
  E'The usage events the captured records not yet rated become (of one coach if given; the first max_records in id order if given), priced now by app_private.decide_charge, continuing each coach''s billing-month ledger in id order, with the record''s id as the event''s. What the rating step writes, and what readers add to the rated events so that no total is stale. Records of a coach without a plan are left out (app_private.unratable_usage_records lists them). A coach calling it gets their own records only.';

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
      charge_sixtieths, charged_minor, last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor,
      billable_audio_seconds, attempts, late_attempts, last_event_id, last_plan_id)
    select p.coach_profile_id, p.billing_month, sum(p.included_seconds), sum(p.charged_seconds),
      sum(p.charged_seconds::bigint * p.unit_price_minor), sum(p.amount_minor),
      (pg_catalog.array_agg(p.billing_reason order by p.id desc))[1], (pg_catalog.array_agg(p.included_seconds order by p.id desc))[1],
      (pg_catalog.array_agg(p.charged_seconds order by p.id desc))[1], (pg_catalog.array_agg(p.amount_minor order by p.id desc))[1],
      coalesce(sum(p.audio_seconds) filter (where p.billable), 0), count(*), count(*) filter (where p.usage_month < p.billing_month),
      max(p.id), (pg_catalog.array_agg(p.plan_id order by p.id desc))[1]
    from priced p
    group by p.coach_profile_id, p.billing_month
    on conflict (coach_profile_id, billing_month) do update set
      included_seconds_used = l.included_seconds_used + excluded.included_seconds_used,
      charged_seconds = l.charged_seconds + excluded.charged_seconds,
      charge_sixtieths = l.charge_sixtieths + excluded.charge_sixtieths,
      charged_minor = l.charged_minor + excluded.charged_minor,
      (last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor) =
        (excluded.last_billing_reason, excluded.last_included_seconds, excluded.last_charged_seconds, excluded.last_amount_minor),
      billable_audio_seconds = l.billable_audio_seconds + excluded.billable_audio_seconds,
      attempts = l.attempts + excluded.attempts,
      late_attempts = l.late_attempts + excluded.late_attempts,
      (last_event_id, last_plan_id) = (excluded.last_event_id, excluded.last_plan_id)
    returning 1),
  -- The rated events' days are rolled up again (their ids may lie below the
  -- rollup watermark: they are the records').
  dirty as (
    insert into app_private.usage_dirty_days (day)
    select distinct (p.occurred_at at time zone 'UTC')::date from priced p
    on conflict (day) do nothing
    returning 1),
  -- Rated records leave the queue; so do records of attempts rated before
  -- (a restored attempt captured again): those among the batch's ids, and,
  -- after the last batch of a run (one short of max_records), any left. A
  -- full batch probes no record above its own ids: a queue twice the batch
  -- was probed whole every batch (0.19 s of 2.2 at 50,000).
  done as (
    delete from app_private.usage_records r
    where r.id in (select p.id from priced p)
       or ((r.id < (select pg_catalog.max(p.id) from priced p)
            or coalesce((select pg_catalog.count(*) from priced p) < max_records, true))
           and exists (select from app_public.usage_events e where e.transcription_id = r.transcription_id and e.kind = 'attempt'))
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
