-- Setup for bench/usage.ts, run once as custodian_owner on a scratch database
-- that has every migration and the demo data of `custodian seed --demo
-- --scale N` (plans, provider rates, coaches and their attempts): a function
-- that writes a synthetic usage history for those coaches in bulk, the
-- workload of attempts to complete, and the floor capture. Nothing here is
-- part of the schema.

create schema bench;
comment on schema bench is E'Benchmark helpers; only ever in a scratch database.';

-- Usage history: `how_many` attempts over the `days` days before today, by
-- random coaches, priced the way app_private.decide_charge prices a month's
-- overage (without the running ledger: this is history, not a workload).
-- Written in time order, slice by slice (`slice` of `slices`, oldest first),
-- as a live platform appends them: events are recorded as attempts finish,
-- so a range of days lies in neighbouring pages, not spread over the table.
create function bench.write_history(how_many integer, days integer, late_share numeric default 0,
  slice integer default 0, slices integer default 1) returns void as $$
  with coaches as (
    select pg_catalog.array_agg(cp.id order by cp.id) as ids
    from app_public.coach_profiles cp),
  models (n, provider, model, rate) as (values (0, 'deepgram', 'nova-2', 0.43), (1, 'openai', 'whisper-1', 0.60), (2, 'assemblyai', 'best', 0.65)),
  attempts as (
    -- floor, not a cast: a cast rounds, which would give the first and last
    -- coach half a share and, for the models, invent a fourth model that the
    -- join drops (a sixth of the events never written).
    select g, c.ids[1 + pg_catalog.floor(random() * cardinality(c.ids))::integer] as coach,
      (pg_catalog.date_trunc('day', pg_catalog.now()) - make_interval(days => days)
        + make_interval(secs => (slice + random()) / slices * (days - 1) * 86400)) as at,
      pg_catalog.floor(random() * 3)::integer as model_number, random() < 0.86 as completed, random() < 0.12 as retry,
      random() < 0.08 as retranscription, 120 + (random() * 3480)::integer as seconds
    from pg_catalog.generate_series(1, how_many) g, coaches c)
  insert into app_public.usage_events (kind, occurred_at, coach_profile_id, session_id, transcription_id, is_retry, is_retranscription,
    provider, model, language, audio_seconds, outcome, billable, billing_reason, included_seconds, charged_seconds,
    unit_price_minor, amount_minor, provider_cost_minor, plan_id, usage_month, billing_month, rule_version)
  select 'attempt', a.at, a.coach, app_private.time_ordered_uuid(a.at), app_private.time_ordered_uuid(a.at), a.retry, a.completed and a.retranscription,
    m.provider, m.model, 'en', a.seconds, case when a.completed then 'completed' else 'failed' end::app_public.attempt_outcome,
    a.completed,
    case when not a.completed then 'failed_free' when a.retranscription then 'retranscription' else 'first_success' end::app_public.billing_reason,
    0, case when a.completed then a.seconds else 0 end, p.price_per_extra_minute_minor,
    case when a.completed then pg_catalog.round(a.seconds * p.price_per_extra_minute_minor / 60.0)::bigint else 0 end,
    pg_catalog.round(a.seconds * m.rate / 60.0, 6), p.id,
    pg_catalog.date_trunc('month', a.at at time zone 'UTC')::date,
    -- A late share is billed in the month after its own: only where that
    -- month has begun (history reaches into this month on most days).
    pg_catalog.date_trunc('month', a.at at time zone 'UTC')::date
      + case when random() < late_share
               and pg_catalog.date_trunc('month', a.at at time zone 'UTC') < pg_catalog.date_trunc('month', pg_catalog.now() at time zone 'UTC')
             then interval '1 month' else interval '0' end,
    app_public.billing_rule_version()
  from attempts a
  join models m on m.n = a.model_number
  join app_public.coach_profiles cp on cp.id = a.coach
  join app_public.billing_plans p on p.id = cp.plan_id
  order by a.at;
$$ language sql;

-- The coach-month ledgers of the history's months, from its events: rating
-- keeps a ledger for what it rates, and the history is written around
-- rating, so without this the invoices (which read the ledgers) would miss
-- the history's attempts.
create function bench.keep_ledgers(from_month date) returns void as $$
  insert into app_private.usage_ledgers as l (coach_profile_id, billing_month, included_seconds_used, charged_seconds,
    charge_sixtieths, charged_minor, last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor,
    billable_audio_seconds, attempts, late_attempts, last_event_id, last_plan_id)
  select s.coach_profile_id, s.billing_month, s.included_seconds, s.charged_seconds, s.charge_sixtieths, s.charged_minor,
    last.billing_reason, last.included_seconds, last.charged_seconds, last.amount_minor,
    s.billable_audio_seconds, s.attempts, s.late_attempts, last.id, last.plan_id
  from (
    select e.coach_profile_id, e.billing_month, sum(e.included_seconds) as included_seconds, sum(e.charged_seconds) as charged_seconds,
      sum(e.charged_seconds::bigint * e.unit_price_minor) as charge_sixtieths, sum(e.amount_minor) as charged_minor,
      coalesce(sum(e.audio_seconds) filter (where e.billable), 0) as billable_audio_seconds, count(*) as attempts,
      count(*) filter (where e.usage_month < e.billing_month) as late_attempts, max(e.id) as last_id
    from app_public.usage_events e
    where e.kind = 'attempt' and e.billing_month >= from_month
    group by e.coach_profile_id, e.billing_month) s
  join app_public.usage_events last on last.id = s.last_id
  on conflict (coach_profile_id, billing_month) do update set
    included_seconds_used = excluded.included_seconds_used, charged_seconds = excluded.charged_seconds,
    charge_sixtieths = excluded.charge_sixtieths, charged_minor = excluded.charged_minor,
    last_billing_reason = excluded.last_billing_reason, last_included_seconds = excluded.last_included_seconds,
    last_charged_seconds = excluded.last_charged_seconds, last_amount_minor = excluded.last_amount_minor,
    billable_audio_seconds = excluded.billable_audio_seconds, attempts = excluded.attempts, late_attempts = excluded.late_attempts,
    last_event_id = excluded.last_event_id, last_plan_id = excluded.last_plan_id;
$$ language sql;

-- The completion workload: one coach per writer (a coach's completions are
-- priced one at a time), each with sessions of 10 attempts waiting to be
-- completed (one session with thousands of attempts is not a real shape).
create function bench.queue_attempts(writers integer, per_writer integer) returns void as $$
begin
  insert into app_public.clients (coach_profile_id, full_name)
  select cp.id, 'Workload client' from app_public.coach_profiles cp
  join app_public.users u on u.id = cp.user_id
  where u.email in (select pg_catalog.format('coach%s@example.com', n) from pg_catalog.generate_series(1, writers) n);
  -- Transcribing a session needs its client's consent.
  insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256)
  select c.id, 'transcription', 'granted', 'bench-1', pg_catalog.encode(pg_catalog.sha256('I agree to transcription.'), 'hex')
  from app_public.clients c where c.full_name = 'Workload client';
  insert into app_public.coaching_sessions (client_id, coach_profile_id, title, recorded_at, audio_object_key, audio_duration_seconds)
  select c.id, c.coach_profile_id, 'Workload session', pg_catalog.now(), 'recordings/bench.m4a', 600
  from app_public.clients c cross join pg_catalog.generate_series(1, greatest(per_writer / 10, 1))
  where c.full_name = 'Workload client';
  insert into app_public.transcriptions (session_id, coach_profile_id, provider, model, status)
  select s.id, s.coach_profile_id, 'deepgram', 'nova-2', 'processing'
  from app_public.coaching_sessions s cross join pg_catalog.generate_series(1, 10)
  where s.title = 'Workload session';
end;
$$ language plpgsql;

-- The floor of any usage capture, for comparison: a trigger that writes the
-- attempt's event row with constant prices. No lookups, no locks, no ledger,
-- not security definer: whatever a capture that really prices must add to
-- this. Created disabled; bench/usage.ts switches between it and the real one.
create function bench.capture_floor() returns trigger as $$
begin
  insert into app_public.usage_events (
    kind, occurred_at, coach_profile_id, session_id, transcription_id, is_retry, is_retranscription, provider, model,
    language, audio_seconds, outcome, billable, billing_reason, included_seconds, charged_seconds, unit_price_minor,
    amount_minor, provider_cost_minor, plan_id, usage_month, billing_month, rule_version)
  values ('attempt', new.finished_at, new.coach_profile_id, new.session_id, new.id, false, false, new.provider, new.model,
    new.language, 600, 'completed', true, 'first_success', 0, 600, 12, 120, 4.3, null,
    date '2026-01-01', date '2026-01-01', 'bench-floor');
  return null;
end;
$$ language plpgsql;

create trigger _600_bench_capture_floor after update of status on app_public.transcriptions
  for each row when (new.status in ('completed', 'failed') and old.status not in ('completed', 'failed'))
  execute function bench.capture_floor();
alter table app_public.transcriptions disable trigger _600_bench_capture_floor;

-- Captured usage not rated yet: `how_many` raw records, as the capture writes
-- them, for random coaches, finished over the last day.
create function bench.write_pending(how_many integer) returns void as $$
  with coaches as (
    select pg_catalog.array_agg(cp.id order by cp.id) as ids from app_public.coach_profiles cp),
  models (n, provider, model) as (values (0, 'deepgram', 'nova-2'), (1, 'openai', 'whisper-1'), (2, 'assemblyai', 'best')),
  records as (
    select c.ids[1 + pg_catalog.floor(random() * cardinality(c.ids))::integer] as coach, pg_catalog.floor(random() * 3)::integer as model_number,
      random() < 0.86 as completed, random() < 0.12 as retry, 120 + (random() * 3480)::integer as seconds,
      pg_catalog.now() - make_interval(secs => random() * 86399) as at
    from pg_catalog.generate_series(1, how_many), coaches c)
  insert into app_private.usage_records (transcription_id, coach_profile_id, session_id, is_retry, provider, model, language,
    outcome, billed_duration_seconds, finished_at)
  select app_private.time_ordered_uuid(r.at), r.coach, app_private.time_ordered_uuid(r.at), r.retry, m.provider, m.model, 'en',
    case when r.completed then 'completed' else 'failed' end::app_public.attempt_outcome,
    case when r.completed then r.seconds end, r.at
  from records r join models m on m.n = r.model_number;
$$ language sql;
