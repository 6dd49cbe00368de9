--! Previous: sha1:b930c22c730e13968c2e82f2592438e86d3dc0d1
--! Hash: sha1:41dea607d36bd613edbc063154c3616a0e2a66da
--! Message: usage capture and billing

-- Usage capture and billing: every transcription attempt that reaches a
-- terminal status becomes one permanent usage event, priced in the same
-- transaction by one documented rule; a worker rolls events up per day; SQL
-- functions answer the billing questions.

create type app_public.usage_kind as enum ('attempt', 'credit', 'void');
comment on type app_public.usage_kind is E'attempt: a transcription attempt reached completed or failed; credit and void: compensating events an admin issued.';
create type app_public.attempt_outcome as enum ('completed', 'failed');
comment on type app_public.attempt_outcome is E'How an attempt ended.';
create type app_public.billing_reason as enum ('failed_free', 'first_success', 'retranscription', 'included_minutes', 'credit', 'void');
comment on type app_public.billing_reason is
  E'Why an event costs what it costs: failed_free (failed attempts are free), first_success (the first successful attempt of a session), retranscription (a success on a session that already had one), included_minutes (wholly within the plan''s included minutes), credit, void.';

-- Usage events ------------------------------------------------------------------

-- No check constraints: PostgreSQL prepares every check expression again in
-- each INSERT statement, and on this one-row-per-statement table they cost
-- more than the insert itself (bench/usage.ts). Only three security definer
-- functions write here (the capture, credits and voids); the tests hold
-- their shapes.
create table app_public.usage_events (
  id bigint generated always as identity primary key,
  kind app_public.usage_kind not null,
  occurred_at timestamptz not null,
  recorded_at timestamptz not null default pg_catalog.now(),
  coach_profile_id uuid not null,
  session_id uuid,
  transcription_id uuid,
  is_retry boolean not null default false,
  is_retranscription boolean not null default false,
  provider text,
  model text,
  language text,
  audio_seconds integer not null default 0,
  outcome app_public.attempt_outcome,
  billable boolean not null,
  billing_reason app_public.billing_reason not null,
  included_seconds integer not null default 0,
  charged_seconds integer not null default 0,
  unit_price_minor bigint,
  amount_minor bigint not null,
  provider_cost_minor numeric(18, 6),
  plan_id uuid,
  usage_month date not null,
  billing_month date not null,
  rule_version text not null,
  corrects_event_id bigint references app_public.usage_events on delete restrict,
  note text,
  created_by uuid
);
-- Exactly once per attempt, whoever races: a unique key, not a check.
create unique index usage_events_one_per_attempt on app_public.usage_events (transcription_id) where kind = 'attempt';
create unique index usage_events_one_void_per_event on app_public.usage_events (corrects_event_id) where kind = 'void';
create index usage_events_coach_month_idx on app_public.usage_events (coach_profile_id, billing_month);
create index usage_events_session_success_idx on app_public.usage_events (session_id) where outcome = 'completed';
create index usage_events_occurred_at_idx on app_public.usage_events (occurred_at);

comment on table app_public.usage_events is
  E'Permanent, append-only usage: one event per transcription attempt that reached completed or failed, priced when it happened, plus admins'' credits and voids. References people by key only, so every figure survives deletion and anonymization.';
comment on column app_public.usage_events.id is E'The event''s id.';
comment on column app_public.usage_events.kind is E'attempt, credit or void.';
comment on column app_public.usage_events.occurred_at is E'When the attempt finished (or the credit or void was issued).';
comment on column app_public.usage_events.recorded_at is E'When the event was written.';
comment on column app_public.usage_events.coach_profile_id is E'The coach billed (a key, not a reference).';
comment on column app_public.usage_events.session_id is E'The session transcribed.';
comment on column app_public.usage_events.transcription_id is E'The attempt.';
comment on column app_public.usage_events.is_retry is E'The attempt retried an earlier one.';
comment on column app_public.usage_events.is_retranscription is E'A completed attempt on a session that already had one (billed as retranscription, or under included_minutes).';
comment on column app_public.usage_events.provider is E'The transcription provider.';
comment on column app_public.usage_events.model is E'The provider''s model.';
comment on column app_public.usage_events.language is E'The audio''s language.';
comment on column app_public.usage_events.audio_seconds is E'Audio seconds: the provider''s billed duration (for a failed attempt without one, the recording''s length).';
comment on column app_public.usage_events.outcome is E'completed or failed.';
comment on column app_public.usage_events.billable is E'Counts as billable usage (a completed attempt), whether included minutes or the per-minute price pays for it.';
comment on column app_public.usage_events.billing_reason is E'Why the event costs what it does.';
comment on column app_public.usage_events.included_seconds is E'Seconds paid for by the plan''s included minutes of the billing month.';
comment on column app_public.usage_events.charged_seconds is E'Seconds charged at the per-minute price.';
comment on column app_public.usage_events.unit_price_minor is E'The plan''s price per minute past the included ones, in minor units.';
comment on column app_public.usage_events.amount_minor is E'What the event adds to the invoice, in minor units (negative for credits and voids). The amounts of a month add up to its invoice exactly.';
comment on column app_public.usage_events.provider_cost_minor is E'What the provider charges us for the attempt, in minor units with 6 decimals; null when the provider and model have no rate.';
comment on column app_public.usage_events.plan_id is E'The coach''s plan when the event was priced.';
comment on column app_public.usage_events.usage_month is E'The month (UTC) the usage belongs to.';
comment on column app_public.usage_events.billing_month is E'The month it is billed in: its own, or for a late event the first month not yet closed.';
comment on column app_public.usage_events.rule_version is E'The version of app_private.decide_charge that priced it.';
comment on column app_public.usage_events.corrects_event_id is E'For a void: the event it cancels.';
comment on column app_public.usage_events.note is E'For a credit or void: the admin''s reason.';
comment on column app_public.usage_events.created_by is E'For a credit or void: the admin who issued it.';

create function app_private.tg__append_only() returns trigger as $$
begin
  raise exception '%.% is append-only: corrections are new rows.', TG_TABLE_SCHEMA, TG_TABLE_NAME using errcode = '42501';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg__append_only() is E'Refuses UPDATE, DELETE and TRUNCATE on a permanent table, to every role, the owner included.';

create trigger _010_append_only before update or delete on app_public.usage_events
  for each row execute function app_private.tg__append_only();
create trigger _011_no_truncate before truncate on app_public.usage_events
  for each statement execute function app_private.tg__append_only();

-- Months, ledgers and invoices -----------------------------------------------------

create table app_public.billing_months (
  month date primary key check (month = date_trunc('month', month)),
  closed_at timestamptz not null default pg_catalog.now(),
  closed_by uuid default app_public.current_user_id()
);
comment on table app_public.billing_months is E'Closed months: their invoices are frozen, and a late event is billed in the next open month.';
comment on column app_public.billing_months.month is E'The month closed (its first day).';
comment on column app_public.billing_months.closed_at is E'When it was closed.';
comment on column app_public.billing_months.closed_by is E'The admin who closed it.';
create trigger _010_append_only before update or delete on app_public.billing_months
  for each row execute function app_private.tg__append_only();
create trigger _011_no_truncate before truncate on app_public.billing_months
  for each statement execute function app_private.tg__append_only();

create table app_private.usage_ledgers (
  coach_profile_id uuid not null,
  billing_month date not null,
  included_seconds_used bigint not null default 0,
  charged_seconds bigint not null default 0,
  charge_sixtieths bigint not null default 0,
  charged_minor bigint not null default 0,
  last_billing_reason app_public.billing_reason,
  last_included_seconds integer,
  last_charged_seconds integer,
  last_amount_minor bigint,
  primary key (coach_profile_id, billing_month)
);
comment on table app_private.usage_ledgers is
  E'Running totals per coach and billing month: the included minutes used so far and the exact charge in sixtieths of a minor unit, so that each event''s amount is the growth of the rounded total. Each capture updates its row in the statement that writes the event (the row lock prices a coach''s completions one at a time) and reads its own share back from the last_ columns.';

create table app_public.invoices (
  coach_profile_id uuid not null,
  month date not null references app_public.billing_months on delete restrict,
  plan_id uuid,
  plan_name text,
  currency text not null,
  plan_fee_minor bigint not null,
  included_minutes integer not null,
  audio_seconds bigint not null,
  included_seconds bigint not null,
  charged_seconds bigint not null,
  usage_minor bigint not null,
  credits_minor bigint not null,
  total_minor bigint not null,
  late_events integer not null,
  closed_at timestamptz not null default pg_catalog.now(),
  primary key (coach_profile_id, month)
);
comment on table app_public.invoices is E'Frozen invoices of closed months: one per coach with a plan fee or usage that month. Never changed once written.';
comment on column app_public.invoices.coach_profile_id is E'The coach.';
comment on column app_public.invoices.month is E'The billing month.';
comment on column app_public.invoices.plan_id is E'The coach''s plan.';
comment on column app_public.invoices.plan_name is E'Its name when the month closed.';
comment on column app_public.invoices.currency is E'ISO 4217 currency code.';
comment on column app_public.invoices.plan_fee_minor is E'The plan''s monthly fee.';
comment on column app_public.invoices.included_minutes is E'The plan''s included minutes.';
comment on column app_public.invoices.audio_seconds is E'Billable (completed) audio seconds billed this month.';
comment on column app_public.invoices.included_seconds is E'Of those, the seconds the included minutes paid for.';
comment on column app_public.invoices.charged_seconds is E'And the seconds charged at the per-minute price.';
comment on column app_public.invoices.usage_minor is E'The per-minute charges: the sum of the month''s attempt amounts.';
comment on column app_public.invoices.credits_minor is E'Credits and voids (zero or negative).';
comment on column app_public.invoices.total_minor is E'plan_fee_minor + usage_minor + credits_minor.';
comment on column app_public.invoices.late_events is E'Events that belonged to an earlier, closed month and are billed here.';
comment on column app_public.invoices.closed_at is E'When the month was closed.';
create trigger _010_append_only before update or delete on app_public.invoices
  for each row execute function app_private.tg__append_only();
create trigger _011_no_truncate before truncate on app_public.invoices
  for each statement execute function app_private.tg__append_only();

-- The billing rule ---------------------------------------------------------------

create function app_public.billing_rule_version() returns text as $$
  select 'billing-rules-2026-11-v1'::text;
$$ language sql immutable;
comment on function app_public.billing_rule_version() is E'The version of the billing rule (app_private.decide_charge) that prices new events.';

create function app_private.decide_charge(
  outcome app_public.attempt_outcome,
  audio_seconds integer,
  session_had_success boolean,
  included_seconds_left bigint,
  price_per_minute_minor bigint,
  charge_sixtieths_before bigint
) returns table (
  billable boolean, billing_reason app_public.billing_reason, included_seconds integer, charged_seconds integer,
  charge_sixtieths_after bigint, amount_minor bigint
) as $$
  select outcome = 'completed',
    case
      when outcome = 'failed' then 'failed_free'
      when covered.seconds > 0 and covered.seconds = audio_seconds then 'included_minutes'
      when session_had_success then 'retranscription'
      else 'first_success'
    end::app_public.billing_reason,
    covered.seconds,
    charged.seconds,
    charge_sixtieths_before + charged.seconds * price_per_minute_minor,
    (pg_catalog.round((charge_sixtieths_before + charged.seconds * price_per_minute_minor) / 60.0)
      - pg_catalog.round(charge_sixtieths_before / 60.0))::bigint
  from (select case when outcome = 'completed' then least(audio_seconds, greatest(included_seconds_left, 0))::integer else 0 end as seconds) covered,
  lateral (select case when outcome = 'completed' then audio_seconds - covered.seconds else 0 end as seconds) charged;
$$ language sql immutable;
comment on function app_private.decide_charge(app_public.attempt_outcome, integer, boolean, bigint, bigint, bigint) is
  E'THE billing rule (version app_public.billing_rule_version()). A failed attempt is free (failed_free). A completed attempt is billable: the first on its session is first_success (failed retries before it stay free), a later one a retranscription. Its seconds use the billing month''s included minutes first (wholly covered: included_minutes, charge 0), the rest is charged at the plan''s price per minute, pro rata per second. Rounding: the month''s charge is kept exactly, as an integer number of sixtieths of a minor unit (seconds × price per minute), and each event''s amount is the growth of its rounded total (half away from zero), so the amounts of a month add up to round(total charge) exactly.';

-- Capture ------------------------------------------------------------------------

create function app_private.first_open_month(month date) returns date as $$
  select min(m)::date
  from pg_catalog.generate_series(month, month + interval '10 years', interval '1 month') m
  where not exists (select from app_public.billing_months b where b.month = m::date);
$$ language sql stable;
comment on function app_private.first_open_month(date) is E'The month an event of a month is billed in: that month, or the first after it not closed.';

create function app_private.is_staff() returns boolean as $$
  select governance.caller_is_staff() or pg_catalog.pg_has_role(governance.caller_role(), 'custodian_auditor', 'member');
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.is_staff() is E'Whether the caller (governance.caller_role()) is an admin, an auditor or the owner.';

create function app_private.tg_transcriptions__capture_usage() returns trigger as $$
declare
  used_in date := date_trunc('month', new.finished_at at time zone 'UTC')::date;
begin
  if used_in < date_trunc('month', pg_catalog.now() at time zone 'UTC') then
    -- A late event may meet a month close: wait for one in progress, so that
    -- the statement below sees it and bills the next open month.
    lock table app_private.usage_ledgers in row exclusive mode;
  end if;
  -- Attempts of one session are priced one at a time, and the statement
  -- below starts after the wait: it sees a success committed meanwhile.
  perform from app_public.coaching_sessions s where s.id = new.session_id for no key update;

  -- One statement: what the price depends on, the coach's ledger for the
  -- billing month moved on (its row lock prices a coach's completions one at a
  -- time, and ON CONFLICT reads the latest totals), and the event itself.
  with facts as (
    select new.coach_profile_id as coach_profile_id, p.id as plan_id, p.included_minutes::bigint * 60 as included_cap,
      p.price_per_extra_minute_minor as price, new.status::text::app_public.attempt_outcome as outcome,
      case when new.status = 'completed' then new.billed_duration_seconds
           else coalesce(new.billed_duration_seconds, s.audio_duration_seconds, 0) end as seconds,
      (select r.cost_per_minute_minor from app_public.provider_rates r
       where r.provider = new.provider and r.model = new.model and r.effective_from <= new.finished_at
       order by r.effective_from desc limit 1) as rate,
      exists (select from app_public.usage_events e
              where e.session_id = new.session_id and e.outcome = 'completed' and e.kind = 'attempt') as had_success,
      case when exists (select from app_public.billing_months b where b.month = used_in)
        then app_private.first_open_month(used_in) else used_in end as billed_in
    from app_public.coach_profiles cp
    join app_public.billing_plans p on p.id = cp.plan_id
    left join app_public.coaching_sessions s on s.id = new.session_id
    where cp.id = new.coach_profile_id
      -- The first terminal status is the one billed (the unique key enforces it).
      and not exists (select from app_public.usage_events e where e.transcription_id = new.id and e.kind = 'attempt')),
  ledger as (
    insert into app_private.usage_ledgers as l (coach_profile_id, billing_month, included_seconds_used, charged_seconds,
      charge_sixtieths, charged_minor, last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor)
    select f.coach_profile_id, f.billed_in, c.included_seconds, c.charged_seconds, c.charge_sixtieths_after, c.amount_minor,
      c.billing_reason, c.included_seconds, c.charged_seconds, c.amount_minor
    from facts f, app_private.decide_charge(f.outcome, f.seconds, f.had_success, f.included_cap, f.price, 0) c
    on conflict (coach_profile_id, billing_month) do update set
      (included_seconds_used, charged_seconds, charge_sixtieths, charged_minor,
       last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor) = (
        select l.included_seconds_used + c.included_seconds, l.charged_seconds + c.charged_seconds, c.charge_sixtieths_after,
          l.charged_minor + c.amount_minor, c.billing_reason, c.included_seconds, c.charged_seconds, c.amount_minor
        from facts f, app_private.decide_charge(f.outcome, f.seconds, f.had_success,
          f.included_cap - l.included_seconds_used, f.price, l.charge_sixtieths) c)
    returning l.billing_month, l.last_billing_reason, l.last_included_seconds, l.last_charged_seconds, l.last_amount_minor)
  insert into app_public.usage_events (
    kind, occurred_at, coach_profile_id, session_id, transcription_id, is_retry, is_retranscription, provider, model,
    language, audio_seconds, outcome, billable, billing_reason, included_seconds, charged_seconds, unit_price_minor,
    amount_minor, provider_cost_minor, plan_id, usage_month, billing_month, rule_version)
  select 'attempt', new.finished_at, new.coach_profile_id, new.session_id, new.id, new.retry_of is not null,
    f.outcome = 'completed' and f.had_success, new.provider, new.model, new.language, f.seconds, f.outcome,
    f.outcome = 'completed', l.last_billing_reason, l.last_included_seconds, l.last_charged_seconds, f.price,
    l.last_amount_minor, pg_catalog.round(f.seconds * f.rate / 60.0, 6), f.plan_id, used_in, l.billing_month,
    app_public.billing_rule_version()
  from facts f, ledger l;

  if not found and not exists (
    select from app_public.usage_events e where e.transcription_id = new.id and e.kind = 'attempt'
  ) then
    raise exception 'Coach profile % has no billing plan; the attempt cannot be billed.', new.coach_profile_id
      using errcode = '23503';
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__capture_usage() is
  E'Writes the usage event of an attempt that reached completed or failed, in the same transaction and one statement, priced by app_private.decide_charge. Exactly once per attempt: the first terminal status is billed, and the unique key on transcription_id makes a second event for an attempt an error, never a row.';

create trigger _600_capture_usage after insert on app_public.transcriptions
  for each row when (new.status in ('completed', 'failed'))
  execute function app_private.tg_transcriptions__capture_usage();
create trigger _600_capture_usage_on_finish after update of status on app_public.transcriptions
  for each row when (new.status in ('completed', 'failed') and old.status not in ('completed', 'failed'))
  execute function app_private.tg_transcriptions__capture_usage();

-- Daily rollups ---------------------------------------------------------------------

create table app_private.usage_dirty_days (
  day date primary key
);
comment on table app_private.usage_dirty_days is E'Days waiting to be rolled up into usage_daily: those of events past the watermark, and ranges marked by hand.';

create table app_private.usage_rollup_watermark (
  singleton boolean primary key default true check (singleton),
  last_event_id bigint not null default 0
);
comment on table app_private.usage_rollup_watermark is
  E'The last usage event id whose day has been marked dirty: new and late events lie above it, so capture pays nothing for dirty-day tracking.';
insert into app_private.usage_rollup_watermark default values;

create function app_private.committed_id_horizon(target regclass, id_sequence regclass, max_wait interval default '10 seconds')
returns bigint as $$
declare
  horizon bigint;
  writers text[];
  give_up_at timestamptz := pg_catalog.clock_timestamp() + max_wait;
begin
  if pg_catalog.pg_current_xact_id_if_assigned() is not null then
    raise exception 'committed_id_horizon must run before any write in its transaction.' using errcode = '25000';
  end if;
  -- Ids are drawn before commit, so a transaction still running may hold an
  -- id below ones already committed. A writer locks the table before it draws
  -- an id, so every id up to the horizon belongs to a transaction that has
  -- ended or holds that lock now; once those have ended, no row at or below
  -- the horizon can still appear. Readers and other databases do not matter.
  execute pg_catalog.format('select case when is_called then last_value else last_value - 1 end from %s', id_sequence)
    into horizon;
  select pg_catalog.array_agg(l.virtualtransaction) into writers
  from pg_catalog.pg_locks l
  where l.locktype = 'relation' and l.relation = target and l.mode = 'RowExclusiveLock'
    and l.database = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
    and l.pid is distinct from pg_catalog.pg_backend_pid();
  while exists (
    select from pg_catalog.pg_locks l
    where l.locktype = 'relation' and l.relation = target and l.virtualtransaction = any (writers)
  ) loop
    if pg_catalog.clock_timestamp() > give_up_at then
      return null;
    end if;
    perform pg_catalog.pg_sleep(0.01);
  end loop;
  return horizon;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.committed_id_horizon(regclass, regclass, interval) is
  E'The highest id of an append-only table below which no row can still appear (waiting up to max_wait for writers still running; null if they do not finish). Sealing the audit trail and rolling up usage read in id order up to it.';

-- The audit trail's sealing uses the same horizon.
create or replace function audit.seal_horizon(max_wait interval default '10 seconds') returns bigint as $$
  select app_private.committed_id_horizon('audit.events', 'audit.events_id_seq', max_wait);
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;

create function app_private.mark_new_usage_days_dirty() returns integer as $$
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
  on conflict (day) do nothing;
  get diagnostics marked = row_count;
  update app_private.usage_rollup_watermark set last_event_id = horizon where last_event_id < horizon;
  return marked;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.mark_new_usage_days_dirty() is
  E'Marks the days of every usage event written since the last call (late ones included) for rolling up, and moves the watermark. Run first in its own transaction; null when writers did not finish in 10 s (the next run catches up).';

create table app_public.usage_daily (
  day date not null,
  coach_profile_id uuid not null,
  plan_id uuid,
  provider text,
  model text,
  billing_month date not null,
  attempts integer not null,
  completed integer not null,
  failed integer not null,
  free_retries integer not null,
  retranscriptions integer not null,
  audio_seconds bigint not null,
  billable_seconds bigint not null,
  charged_seconds bigint not null,
  revenue_minor bigint not null,
  retranscription_revenue_minor bigint not null,
  provider_cost_minor numeric(18, 6) not null,
  failed_cost_minor numeric(18, 6) not null,
  unknown_cost_attempts integer not null
);
create unique index usage_daily_key on app_public.usage_daily (day, coach_profile_id, plan_id, provider, model, billing_month) nulls not distinct;
create index usage_daily_coach_day_idx on app_public.usage_daily (coach_profile_id, day);
comment on table app_public.usage_daily is
  E'@behavior -*\nUsage rolled up per day (UTC), coach, plan, provider, model and billing month, by the usage_aggregate job; read it through the analytics functions.';

-- The same rollups across coaches, for the analytics admins and auditors
-- read: a day is a handful of rows here, however many coaches there are.
create table app_private.usage_daily_totals (like app_public.usage_daily);
alter table app_private.usage_daily_totals drop column coach_profile_id;
create unique index usage_daily_totals_key on app_private.usage_daily_totals (day, plan_id, provider, model, billing_month) nulls not distinct;
comment on table app_private.usage_daily_totals is E'usage_daily summed over coaches; rebuilt with it, day by day.';

-- Every analytics function reads its rollups here: admins and auditors get
-- the totals, anyone else their own rows of usage_daily (row-level security,
-- as the view runs as its caller).
create view app_private.usage_rollups with (security_invoker = true) as
  select t.day, null::uuid as coach_profile_id, t.plan_id, t.provider, t.model, t.billing_month, t.attempts, t.completed,
    t.failed, t.free_retries, t.retranscriptions, t.audio_seconds, t.billable_seconds, t.charged_seconds, t.revenue_minor,
    t.retranscription_revenue_minor, t.provider_cost_minor, t.failed_cost_minor, t.unknown_cost_attempts
  from app_private.usage_daily_totals t where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed,
    d.failed, d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_public.usage_daily d where not (select app_private.is_staff());
comment on view app_private.usage_rollups is E'The daily rollups the caller may read, in the cheapest form: totals for admins and auditors, their own rows for a coach.';

create function app_private.rebuild_usage_day(day date) returns integer as $$
declare
  written integer;
begin
  -- The mark goes first: a day marked again while this runs keeps its new mark.
  delete from app_private.usage_dirty_days d where d.day = rebuild_usage_day.day;
  delete from app_public.usage_daily d where d.day = rebuild_usage_day.day;
  insert into app_public.usage_daily
  select (e.occurred_at at time zone 'UTC')::date, e.coach_profile_id, e.plan_id, e.provider, e.model, e.billing_month,
    count(*) filter (where e.kind = 'attempt'),
    count(*) filter (where e.outcome = 'completed'),
    count(*) filter (where e.outcome = 'failed'),
    count(*) filter (where e.outcome = 'failed' and e.is_retry),
    count(*) filter (where e.is_retranscription),
    coalesce(sum(e.audio_seconds) filter (where e.kind = 'attempt'), 0),
    coalesce(sum(e.included_seconds + e.charged_seconds) filter (where e.billable), 0),
    coalesce(sum(e.charged_seconds), 0),
    coalesce(sum(e.amount_minor), 0),
    coalesce(sum(e.amount_minor) filter (where e.is_retranscription), 0),
    coalesce(sum(e.provider_cost_minor), 0),
    coalesce(sum(e.provider_cost_minor) filter (where e.outcome = 'failed'), 0),
    count(*) filter (where e.kind = 'attempt' and e.provider_cost_minor is null)
  from app_public.usage_events e
  where e.occurred_at >= (rebuild_usage_day.day::timestamp at time zone 'UTC')
    and e.occurred_at < ((rebuild_usage_day.day + 1)::timestamp at time zone 'UTC')
  group by 1, 2, 3, 4, 5, 6;
  get diagnostics written = row_count;
  delete from app_private.usage_daily_totals t where t.day = rebuild_usage_day.day;
  insert into app_private.usage_daily_totals
  select d.day, d.plan_id, d.provider, d.model, d.billing_month, sum(d.attempts), sum(d.completed), sum(d.failed),
    sum(d.free_retries), sum(d.retranscriptions), sum(d.audio_seconds), sum(d.billable_seconds), sum(d.charged_seconds),
    sum(d.revenue_minor), sum(d.retranscription_revenue_minor), sum(d.provider_cost_minor), sum(d.failed_cost_minor),
    sum(d.unknown_cost_attempts)
  from app_public.usage_daily d where d.day = rebuild_usage_day.day
  group by d.day, d.plan_id, d.provider, d.model, d.billing_month;
  return written;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rebuild_usage_day(date) is
  E'Recomputes one day''s rollups (per coach, and the totals) from the raw events, replacing what was there, and clears its dirty mark. Idempotent; one transaction, so a day is never seen half built.';

create function app_private.rebuild_dirty_usage_days(max_days integer default 31) returns integer as $$
declare
  dirty date;
  rebuilt integer := 0;
begin
  for dirty in
    select d.day from app_private.usage_dirty_days d order by d.day limit max_days for update skip locked
  loop
    perform app_private.rebuild_usage_day(dirty);
    rebuilt := rebuilt + 1;
  end loop;
  return rebuilt;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rebuild_dirty_usage_days(integer) is
  E'Rebuilds up to max_days dirty days (oldest first) in the caller''s transaction; returns how many. Days another run holds are skipped.';

create function app_private.mark_usage_days_dirty(from_day date, to_day date) returns integer as $$
  with marked as (
    insert into app_private.usage_dirty_days (day)
    select d::date from pg_catalog.generate_series(from_day, to_day, interval '1 day') d
    on conflict (day) do nothing
    returning 1)
  select count(*)::integer from marked;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.mark_usage_days_dirty(date, date) is E'Marks every day of a range (both ends included) for rebuilding.';

create function app_private.usage_event_days() returns table (first_day date, last_day date) as $$
  select (min(occurred_at) at time zone 'UTC')::date, (max(occurred_at) at time zone 'UTC')::date from app_public.usage_events;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.usage_event_days() is E'The first and last day that have usage events.';

-- Reconciliation ---------------------------------------------------------------------

create function app_private.check_range(from_day date, to_day date) returns boolean as $$
begin
  if from_day is null or to_day is null then
    raise exception 'A range needs both ends: from and to (dates, to exclusive).' using errcode = '22023';
  end if;
  if from_day >= to_day then
    raise exception 'The range is empty or inverted: from (%) must be before to (%).', from_day, to_day using errcode = '22023';
  end if;
  if to_day - from_day > 3660 then
    raise exception 'The range is longer than 10 years (% to %); ask for less.', from_day, to_day using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.check_range(date, date) is E'Refuses a range that is unbounded, empty, inverted or longer than 10 years, naming the problem.';

create type app_public.usage_difference as (
  check_name text,
  day date,
  subject text,
  expected text,
  actual text
);
comment on type app_public.usage_difference is E'One disagreement found by usage_reconcile.';

create function app_public.usage_reconcile(from_day date, to_day date) returns setof app_public.usage_difference as $$
  with checked as (select app_private.check_range(from_day, to_day)),
  bounds as (
    select (from_day::timestamp at time zone 'UTC') as lo, (to_day::timestamp at time zone 'UTC') as hi from checked),
  raw as (
    select (e.occurred_at at time zone 'UTC')::date as day, e.coach_profile_id, e.plan_id, e.provider, e.model, e.billing_month,
      count(*) filter (where e.kind = 'attempt') as attempts, coalesce(sum(e.amount_minor), 0) as revenue,
      coalesce(sum(e.audio_seconds) filter (where e.kind = 'attempt'), 0) as audio,
      coalesce(sum(e.provider_cost_minor), 0) as cost
    from app_public.usage_events e, bounds b where e.occurred_at >= b.lo and e.occurred_at < b.hi
    group by 1, 2, 3, 4, 5, 6),
  rolled as (
    select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month,
      d.attempts::bigint as attempts, d.revenue_minor as revenue, d.audio_seconds as audio, d.provider_cost_minor as cost
    from app_public.usage_daily d, checked where d.day >= from_day and d.day < to_day)
  -- Rollups against raw events, per rollup key.
  select 'rollup_vs_events', coalesce(r.day, d.day),
    pg_catalog.concat_ws(' ', coalesce(r.coach_profile_id, d.coach_profile_id), coalesce(r.provider, d.provider), coalesce(r.model, d.model)),
    pg_catalog.format('attempts %s, revenue %s, audio %s s, cost %s', r.attempts, r.revenue, r.audio, r.cost),
    pg_catalog.format('attempts %s, revenue %s, audio %s s, cost %s', d.attempts, d.revenue, d.audio, d.cost)
  from raw r full join rolled d
    on d.day = r.day and d.coach_profile_id = r.coach_profile_id and d.plan_id is not distinct from r.plan_id
   and d.provider is not distinct from r.provider and d.model is not distinct from r.model and d.billing_month = r.billing_month
  where (r.attempts, r.revenue, r.audio, r.cost) is distinct from (d.attempts, d.revenue, d.audio, d.cost)
  union all
  -- Every terminal attempt has its event, with the same outcome and seconds.
  select 'attempt_vs_event', (t.finished_at at time zone 'UTC')::date, t.id::text,
    pg_catalog.format('%s, %s s', t.status, case when t.status = 'completed' then t.billed_duration_seconds end),
    case when e.id is null then 'no usage event'
      else pg_catalog.format('%s, %s s', e.outcome, case when e.outcome = 'completed' then e.audio_seconds end) end
  from app_public.transcriptions t
  cross join bounds b
  left join app_public.usage_events e on e.transcription_id = t.id and e.kind = 'attempt'
  where t.status in ('completed', 'failed') and t.finished_at >= b.lo and t.finished_at < b.hi
    and (e.id is null or e.outcome::text <> t.status::text
         or (t.status = 'completed' and e.audio_seconds is distinct from t.billed_duration_seconds))
  union all
  -- Events whose provider cost is unknown (no rate for the provider and model).
  select 'unknown_provider_cost', (e.occurred_at at time zone 'UTC')::date, e.id::text,
    pg_catalog.format('a rate for %s %s', e.provider, e.model), 'none'
  from app_public.usage_events e, bounds b
  where e.kind = 'attempt' and e.provider_cost_minor is null and e.occurred_at >= b.lo and e.occurred_at < b.hi
  order by 1, 2, 3;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_reconcile(date, date) is
  E'Shows that rollups, raw usage events and transcription attempts agree for a range of days (to exclusive), listing every difference: a rollup that does not match its events, a terminal attempt without its event or with another outcome or duration, an event whose provider cost is unknown. Empty when all agree. Admins and auditors.';

create function app_public.usage_in_range(from_day date, to_day date) returns setof app_public.usage_events as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select e.* from app_public.usage_events e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), oldest first: a coach''s own, or every coach''s for admins and auditors.';

-- Invoices and month close ----------------------------------------------------------

create function app_private.month_invoices(month date, only_coach uuid default null) returns setof app_public.invoices as $$
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
    from app_public.usage_events e
    where e.billing_month = $1 and %1$s
    group by e.coach_profile_id),
  -- Coaches pay the fee of a month in which their profile was live at some point.
  live as (
    select cp.id as coach_profile_id, cp.plan_id from app_public.coach_profiles cp
    where cp.created_at < $1 + interval '1 month' and (not cp.is_deleted or cp.deleted_at >= $1) and %2$s),
  -- Every coach with a fee or billed events. The fee is due for a month in
  -- which the profile was live, or had attempts billed and was not deleted
  -- before it; credits and voids alone never make one due.
  coaches as (
    select l.coach_profile_id, l.plan_id, true as live from live l
    union all
    select e.coach_profile_id, coalesce(cp.plan_id, e.last_plan_id),
      e.attempts > 0 and coalesce(not cp.is_deleted or cp.deleted_at >= $1, false)
    from events e
    left join app_public.coach_profiles cp on cp.id = e.coach_profile_id
    where not exists (select from live l where l.coach_profile_id = e.coach_profile_id))
  select c.coach_profile_id, $1, p.id, p.name, coalesce(p.currency, 'EUR'),
    case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end::bigint, coalesce(p.included_minutes, 0),
    coalesce(e.audio_seconds, 0)::bigint, coalesce(e.included_seconds, 0)::bigint, coalesce(e.charged_seconds, 0)::bigint,
    coalesce(e.usage_minor, 0)::bigint, coalesce(e.credits_minor, 0)::bigint,
    (case when c.live then coalesce(p.monthly_fee_minor, 0) else 0 end + coalesce(e.usage_minor, 0) + coalesce(e.credits_minor, 0))::bigint,
    coalesce(e.late_events, 0)::integer, pg_catalog.now()
  from coaches c
  left join events e on e.coach_profile_id = c.coach_profile_id
  left join app_public.billing_plans p on p.id = c.plan_id$q$,
    case when only_coach is null then 'true' else 'e.coach_profile_id = $2' end,
    case when only_coach is null then 'true' else 'cp.id = $2' end)
  using month, only_coach;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.month_invoices(date, uuid) is
  E'Every coach''s invoice for a billing month as it stands: plan fee, the month''s attempt amounts, credits and voids.';

create function app_public.invoice_preview(coach_profile_id uuid default null, month date default null)
returns setof app_public.invoices as $$
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
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.invoice_preview(uuid, date) is
  E'Invoices of a month (default: the current one): frozen ones once the month is closed, else as they stand now (plan fee, included minutes, overage, credits). Admins and auditors see every coach; a coach their own.';

create function app_private.require_admin(action text) returns void as $$
begin
  if not governance.caller_is_staff() then
    raise exception 'Only admins may %.', action using errcode = '42501';
  end if;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.require_admin(text) is E'Refuses the caller unless an admin or the owner, naming what they tried.';

create function app_public.close_month(month date) returns integer as $$
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
  -- Waits for captures pricing into this month, and keeps new ones out until
  -- the close commits; they then go to the next open month.
  lock table app_private.usage_ledgers in exclusive mode;
  insert into app_public.billing_months (month) values (closing);
  insert into app_public.invoices select * from app_private.month_invoices(closing);
  get diagnostics frozen = row_count;
  return frozen;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.close_month(date) is
  E'Closes a past month: freezes its invoices (returns how many). Afterwards they never change; a late event of that month is billed in the next open month and says which month it belonged to. Admins only.';

-- Credits and voids -------------------------------------------------------------------

create function app_public.issue_usage_credit(coach_profile_id uuid, amount_minor bigint, reason text)
returns app_public.usage_events as $$
declare
  event app_public.usage_events;
  month date;
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
  if not exists (select from app_public.coach_profiles p where p.id = issue_usage_credit.coach_profile_id) then
    raise exception 'No coach profile with id %.', coach_profile_id using errcode = '23503';
  end if;
  insert into app_public.usage_events (kind, occurred_at, coach_profile_id, billable, billing_reason, amount_minor,
                                       usage_month, billing_month, rule_version, note, created_by)
  values ('credit', pg_catalog.now(), coach_profile_id, false, 'credit', -amount_minor, month, month,
          app_public.billing_rule_version(), btrim(reason), app_public.current_user_id())
  returning * into event;
  return event;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.issue_usage_credit(uuid, bigint, text) is
  E'Credits a coach an amount (minor units) with a reason: a new, negative usage event in the current open month. Admins only.';

create function app_public.void_usage_event(usage_event_id bigint, reason text) returns app_public.usage_events as $$
declare
  original app_public.usage_events;
  event app_public.usage_events;
  month date;
begin
  perform app_private.require_admin('void usage events');
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

-- Explaining a charge -------------------------------------------------------------------

create function app_public.explain_charge(usage_event_id bigint) returns jsonb as $$
  select pg_catalog.jsonb_build_object(
    'usage_event_id', e.id,
    'kind', e.kind,
    'rule', e.billing_reason,
    'rule_version', e.rule_version,
    'explanation', case
      when e.kind = 'credit' then pg_catalog.format('A credit of %s minor units issued by an admin: %s', -e.amount_minor, e.note)
      when e.kind = 'void' then pg_catalog.format('Cancels the %s minor units charged by usage event %s: %s', -e.amount_minor, e.corrects_event_id, e.note)
      when e.billing_reason = 'failed_free' then pg_catalog.format(
        'The attempt failed, and failed attempts are free. It still cost us %s minor units at the provider.', coalesce(e.provider_cost_minor::text, 'an unknown amount of'))
      when e.billing_reason = 'included_minutes' then pg_catalog.format(
        'A successful attempt of %s seconds%s, wholly within the plan''s included minutes of %s: no charge.',
        e.audio_seconds, case when e.is_retranscription then ' (a re-transcription)' else '' end, pg_catalog.to_char(e.billing_month, 'YYYY-MM'))
      when e.billing_reason = 'retranscription' then pg_catalog.format(
        'A successful re-transcription: the session already had a successful transcription, so this attempt is charged. %s of its %s seconds used included minutes; %s seconds at %s minor units per minute came to %s minor units.',
        e.included_seconds, e.audio_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor)
      else pg_catalog.format(
        'The session''s first successful transcription%s is charged. %s of its %s seconds used included minutes; %s seconds at %s minor units per minute came to %s minor units.',
        case when prior.failed > 0 then pg_catalog.format(' (after %s failed attempts, which were free)', prior.failed) else '' end,
        e.included_seconds, e.audio_seconds, e.charged_seconds, e.unit_price_minor, e.amount_minor)
    end,
    'outcome', e.outcome,
    'billable', e.billable,
    'audio_seconds', e.audio_seconds,
    'audio_minutes', pg_catalog.round(e.audio_seconds / 60.0, 4),
    'included_seconds', e.included_seconds,
    'charged_seconds', e.charged_seconds,
    'unit_price_minor', e.unit_price_minor,
    'amount_minor', e.amount_minor,
    'provider_cost_minor', e.provider_cost_minor,
    'plan', pg_catalog.jsonb_build_object('id', e.plan_id, 'name', p.name, 'included_minutes', p.included_minutes,
                                          'price_per_extra_minute_minor', p.price_per_extra_minute_minor),
    'usage_month', e.usage_month,
    'billing_month', e.billing_month,
    'late', e.billing_month > e.usage_month,
    'prior_attempts', coalesce(prior.attempts, '[]'::jsonb))
  from app_public.usage_events e
  left join app_public.billing_plans p on p.id = e.plan_id
  left join lateral (
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('usage_event_id', x.id, 'transcription_id', x.transcription_id,
             'occurred_at', x.occurred_at, 'outcome', x.outcome, 'billing_reason', x.billing_reason, 'amount_minor', x.amount_minor)
             order by x.id) as attempts,
           count(*) filter (where x.outcome = 'failed') as failed
    from app_public.usage_events x
    where x.session_id = e.session_id and x.kind = 'attempt' and x.id < e.id) prior on e.kind = 'attempt'
  where e.id = usage_event_id;
$$ language sql stable;
comment on function app_public.explain_charge(bigint) is
  E'Why a usage event costs what it does, in words and data: the rule and its version, the earlier attempts of the session considered, minutes, included minutes, price and amount. Null for an event the caller may not see.';

-- Billing analytics: SQL over the daily rollups, under row-level security --------------

create function app_private.check_granularity(granularity text) returns boolean as $$
begin
  if granularity is null or granularity not in ('day', 'week', 'month') then
    raise exception 'granularity must be day, week or month, not "%".', granularity using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.check_granularity(text) is E'Refuses a granularity other than day, week or month.';

create type app_public.usage_period as (
  period_start date,
  attempts bigint,
  completed bigint,
  failed bigint,
  free_retries bigint,
  retranscriptions bigint,
  audio_minutes numeric,
  billable_minutes numeric,
  revenue_minor bigint,
  provider_cost_minor numeric,
  gross_margin_minor numeric
);
comment on type app_public.usage_period is E'Usage of one day, week (starting Monday) or month.';

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.

create function app_public.usage_over_time(from_day date, to_day date, granularity text default 'day')
returns setof app_public.usage_period as $$
begin
  perform app_private.check_range(from_day, to_day), app_private.check_granularity(granularity);
  return query
  select pg_catalog.date_trunc(granularity, r.day)::date,
    sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint, sum(r.free_retries)::bigint,
    sum(r.retranscriptions)::bigint, pg_catalog.round(sum(r.audio_seconds) / 60.0, 2),
    pg_catalog.round(sum(r.billable_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.revenue_minor) - sum(r.provider_cost_minor)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day
  group by 1 order by 1;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_over_time(date, date, text) is
  E'Usage by day, week or month over a range of days (to exclusive): attempts, outcomes, free retries, re-transcriptions, minutes, revenue, provider cost and gross margin. Admins and auditors see every coach, a coach their own.';

create function app_public.usage_by_provider(from_day date, to_day date)
returns table (provider text, model text, attempts bigint, completed bigint, failed bigint, failure_rate numeric,
               audio_minutes numeric, revenue_minor bigint, provider_cost_minor numeric, unknown_cost_attempts bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select r.provider, r.model, sum(r.attempts)::bigint, sum(r.completed)::bigint, sum(r.failed)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    pg_catalog.round(sum(r.audio_seconds) / 60.0, 2), sum(r.revenue_minor)::bigint, sum(r.provider_cost_minor),
    sum(r.unknown_cost_attempts)::bigint
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day and r.provider is not null
  group by 1, 2 order by sum(r.attempts) desc, 1, 2;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_by_provider(date, date) is E'Usage per provider and model over a range of days: attempts, failure rate, minutes, revenue, provider cost, attempts without a known cost.';

create function app_public.top_coaches(from_day date, to_day date, max_rows integer default 10)
returns table (coach_profile_id uuid, attempts bigint, billable_minutes numeric, revenue_minor bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select d.coach_profile_id, sum(d.attempts)::bigint, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2),
    sum(d.revenue_minor)::bigint, sum(d.provider_cost_minor), sum(d.revenue_minor) - sum(d.provider_cost_minor)
  from app_public.usage_daily d
  where d.day >= from_day and d.day < to_day
  group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
  limit least(greatest(coalesce(max_rows, 10), 1), 1000);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.top_coaches(date, date, integer) is E'The coaches who brought the most revenue over a range of days (up to max_rows, at most 1000).';

create function app_public.revenue_summary(from_day date, to_day date)
returns table (revenue_minor bigint, provider_cost_minor numeric, gross_margin_minor numeric, gross_margin_ratio numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.revenue_minor), 0)::bigint, coalesce(sum(r.provider_cost_minor), 0),
    coalesce(sum(r.revenue_minor), 0) - coalesce(sum(r.provider_cost_minor), 0),
    pg_catalog.round((sum(r.revenue_minor) - sum(r.provider_cost_minor)) / nullif(sum(r.revenue_minor), 0), 4)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date) is E'Usage revenue, provider cost and gross margin over a range of days.';

create function app_public.retranscription_stats(from_day date, to_day date)
returns table (completed bigint, retranscriptions bigint, retranscription_rate numeric, retranscription_revenue_minor bigint) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.completed), 0)::bigint, coalesce(sum(r.retranscriptions), 0)::bigint,
    pg_catalog.round(sum(r.retranscriptions)::numeric / nullif(sum(r.completed), 0), 4),
    coalesce(sum(r.retranscription_revenue_minor), 0)::bigint
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retranscription_stats(date, date) is E'How many successful attempts were re-transcriptions over a range of days, their share, and what they were charged.';

create function app_public.failure_stats(from_day date, to_day date)
returns table (attempts bigint, failed bigint, failure_rate numeric, free_retries bigint, failed_attempts_cost_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.attempts), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    coalesce(sum(r.free_retries), 0)::bigint, coalesce(sum(r.failed_cost_minor), 0)
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.failure_stats(date, date) is
  E'Failure rate over a range of days, the failed retries, and what the failed (free) attempts cost us at the providers.';

create function app_public.monthly_revenue(from_month date, to_month date)
returns table (month date, plan_fee_minor bigint, usage_revenue_minor bigint, total_minor bigint, paying_coaches bigint) as $$
begin
  perform app_private.check_range(from_month, to_month);
  return query
  with months as (
    select m::date as month from pg_catalog.generate_series(
      date_trunc('month', from_month), date_trunc('month', to_month) - interval '1 month', interval '1 month') m),
  fees as (
    select m.month, coalesce(sum(p.monthly_fee_minor), 0)::bigint as fees, count(cp.id) as coaches
    from months m
    left join app_public.coach_profiles cp on cp.created_at < m.month + interval '1 month'
      and (not cp.is_deleted or cp.deleted_at >= m.month)
    left join app_public.billing_plans p on p.id = cp.plan_id
    group by m.month),
  usage as (
    select r.billing_month as month, sum(r.revenue_minor)::bigint as revenue
    from app_private.usage_rollups r
    where r.billing_month >= (select min(m.month) from months m) and r.billing_month <= (select max(m.month) from months m)
    group by 1)
  select f.month, f.fees, coalesce(u.revenue, 0)::bigint, (f.fees + coalesce(u.revenue, 0))::bigint, f.coaches
  from fees f left join usage u on u.month = f.month order by f.month;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.monthly_revenue(date, date) is
  E'Monthly recurring revenue from plan fees (coaches live in the month) and usage revenue by billing month, for the months from from_month up to (not including) to_month.';

-- Row-level security and grants --------------------------------------------------------

alter table app_public.usage_events enable row level security;
create policy coach_own on app_public.usage_events for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));
create policy staff_read on app_public.usage_events for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.usage_events to custodian_coach, custodian_admin, custodian_auditor;

alter table app_public.usage_daily enable row level security;
create policy coach_own on app_public.usage_daily for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));
create policy staff_read on app_public.usage_daily for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.usage_daily to custodian_coach, custodian_admin, custodian_auditor;

alter table app_public.invoices enable row level security;
create policy coach_own on app_public.invoices for select to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()));
create policy staff_read on app_public.invoices for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.invoices to custodian_coach, custodian_admin, custodian_auditor;

alter table app_public.billing_months enable row level security;
create policy read_all on app_public.billing_months for select to custodian_coach, custodian_admin, custodian_auditor using (true);
grant select on app_public.billing_months to custodian_coach, custodian_admin, custodian_auditor;

alter table app_private.usage_ledgers enable row level security;
alter table app_private.usage_daily_totals enable row level security;
create policy staff_read on app_private.usage_daily_totals for select to custodian_admin, custodian_auditor using (true);
grant select on app_private.usage_daily_totals, app_private.usage_rollups to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.is_staff(), governance.caller_is_staff(), governance.caller_role() to custodian_coach, custodian_admin, custodian_auditor;
alter table app_private.usage_dirty_days enable row level security;
alter table app_private.usage_rollup_watermark enable row level security;

revoke all on function app_public.close_month(date), app_public.issue_usage_credit(uuid, bigint, text),
  app_public.void_usage_event(bigint, text), app_public.usage_reconcile(date, date) from public;
grant execute on function app_public.close_month(date), app_public.issue_usage_credit(uuid, bigint, text),
  app_public.void_usage_event(bigint, text) to custodian_admin;
grant execute on function app_public.usage_reconcile(date, date) to custodian_admin, custodian_auditor;
grant execute on function app_private.check_range(date, date), app_private.check_granularity(text)
  to custodian_coach, custodian_admin, custodian_auditor;

-- Month closes and frozen invoices are governed data; the usage events are an
-- append-only ledger of their own, and the rollups, ledgers and dirty days are
-- derived from them.
select audit.enable_tracking('app_public.billing_months', owner_column => 'closed_by');
select audit.enable_tracking('app_public.invoices', owner_column => 'coach_profile_id');

grant execute on function
  app_public.billing_rule_version(),
  app_public.usage_in_range(date, date),
  app_public.explain_charge(bigint),
  app_public.invoice_preview(uuid, date),
  app_public.usage_over_time(date, date, text),
  app_public.usage_by_provider(date, date),
  app_public.top_coaches(date, date, integer),
  app_public.revenue_summary(date, date),
  app_public.retranscription_stats(date, date),
  app_public.failure_stats(date, date),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
