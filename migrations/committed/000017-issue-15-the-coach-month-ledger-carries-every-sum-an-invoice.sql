--! Previous: sha1:00abe55de92fb100cb9018fc3c334584e331418b
--! Hash: sha1:441eff801c3c16d403256c92de3de8cbecf7c0e6
--! Message: Issue 15: the coach-month ledger carries every sum an invoice reads of its attempts; invoices read it, the month's credits and voids, and the records not rated yet

-- The coach-month ledger carries every sum an invoice reads of its attempts
-- (issue 15: the billing page summed a month of events per coach on every
-- read). Rating keeps them; invoices read the ledger, the credits and voids
-- of the month, and the records not rated yet.
alter table app_private.usage_ledgers
  add column billable_audio_seconds bigint not null default 0,
  add column attempts integer not null default 0,
  add column late_attempts integer not null default 0,
  add column last_event_id bigint,
  add column last_plan_id uuid;
comment on table app_private.usage_ledgers is
  E'Running totals per coach and billing month of its rated attempts: the included minutes used so far and the exact charge in sixtieths of a minor unit (each event''s amount is the growth of the rounded total), and what an invoice sums (amounts, seconds, attempts, late attempts, the plan of the last one). The rating step moves each coach-month''s row on once per run, in the statement that writes its events; the last_ columns hold the last event rated.';

-- What the rated attempts already hold.
update app_private.usage_ledgers l
set billable_audio_seconds = s.billable_audio_seconds, attempts = s.attempts, late_attempts = s.late_attempts,
  last_event_id = s.last_event_id, last_plan_id = s.last_plan_id
from (
  select e.coach_profile_id, e.billing_month,
    coalesce(sum(e.audio_seconds) filter (where e.billable), 0) as billable_audio_seconds,
    count(*) as attempts,
    count(*) filter (where e.usage_month < e.billing_month) as late_attempts,
    max(e.id) as last_event_id,
    (array_agg(e.plan_id order by e.id desc))[1] as last_plan_id
  from app_public.usage_events e
  where e.kind = 'attempt'
  group by e.coach_profile_id, e.billing_month) s
where l.coach_profile_id = s.coach_profile_id and l.billing_month = s.billing_month;

-- Credits and voids of a month, found without reading its attempts.
create index usage_events_corrections_idx on app_public.usage_events (billing_month, coach_profile_id) where kind <> 'attempt';

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
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp set enable_nestloop = off;
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
--! Included usage/invoices.sql
-- Invoices as they stand, and as frozen.

create or replace function app_private.month_invoices(month date, only_coach uuid default null) returns setof app_public.invoices as $$
begin
  -- Planned for this call, so that one coach's invoice reads that coach's
  -- ledger row and corrections through their keys rather than the whole month's.
  return query execute pg_catalog.format($q$
  -- The month's rated attempts as their ledger sums them, its credits and
  -- voids, and the captured records not rated yet, priced now by the same
  -- SQL as rating will; each part with its last event's id and plan.
  with parts as (
    select l.coach_profile_id, l.charged_minor as usage_minor, 0::bigint as credits_minor,
      l.billable_audio_seconds as audio_seconds, l.included_seconds_used as included_seconds, l.charged_seconds,
      l.late_attempts as late_events, l.attempts, l.last_event_id as last_id, l.last_plan_id as plan_id
    from app_private.usage_ledgers l where l.billing_month = $1 and %3$s
    union all
    select e.coach_profile_id, 0, e.amount_minor, case when e.billable then e.audio_seconds else 0 end,
      e.included_seconds, e.charged_seconds, (e.usage_month < e.billing_month)::integer, 0, e.id, e.plan_id
    from app_public.usage_events e where e.billing_month = $1 and e.kind <> 'attempt' and %1$s
    union all
    select e.coach_profile_id, e.amount_minor, 0, case when e.billable then e.audio_seconds else 0 end,
      e.included_seconds, e.charged_seconds, (e.usage_month < e.billing_month)::integer, 1, e.id, e.plan_id
    from app_private.price_usage_records($2) e where e.billing_month = $1),
  events as (
    select e.coach_profile_id, coalesce(sum(e.usage_minor), 0) as usage_minor, coalesce(sum(e.credits_minor), 0) as credits_minor,
      coalesce(sum(e.audio_seconds), 0) as audio_seconds, coalesce(sum(e.included_seconds), 0) as included_seconds,
      coalesce(sum(e.charged_seconds), 0) as charged_seconds, sum(e.late_events) as late_events, sum(e.attempts) as attempts,
      (pg_catalog.array_agg(e.plan_id order by e.last_id desc) filter (where e.plan_id is not null))[1] as last_plan_id
    from parts e
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
    case when only_coach is null then 'true' else 'cp.id = $2' end,
    case when only_coach is null then 'true' else 'l.coach_profile_id = $2' end)
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
    -- Who the caller is, asked once (not once an invoice).
    and ((select app_private.is_staff()) or i.coach_profile_id = (select app_private.current_coach_profile_id()))
  order by i.total_minor desc, i.coach_profile_id;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.invoice_preview(uuid, date) is
  E'Invoices of a month (default: the current one): frozen ones once the month is closed (closed_at says when), else as they stand now (plan fee, included minutes, overage, credits; closed_at null). Admins and auditors see every coach; a coach their own (naming any other is refused: no coach profile you can see).';

grant execute on function app_public.invoice_preview(uuid, date) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/invoices.sql
