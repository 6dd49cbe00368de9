--! Previous: sha1:7897386f1a56fe357b5637ab0ae204d9efb483d1
--! Hash: sha1:17bd54ffa2cadd65961270b222e328ebab7a72cf
--! Message: issue 13 correct books

-- Issue 13, correct books.

-- An invoice as it stands (a preview of an open month) has no close time; a
-- frozen invoice always has one.
alter table app_public.invoices alter column closed_at drop not null;
alter table app_public.invoices drop constraint if exists invoices_closed_at_check;
alter table app_public.invoices add constraint invoices_closed_at_check check (closed_at is not null);
comment on column app_public.invoices.closed_at is
  E'When the month was closed; null in a preview of a month not closed yet.';

-- Money an admin types has an upper bound, like credits: a plan's fee and its
-- price per minute (a few digits too many would overflow the month's sums).
alter table app_public.billing_plans drop constraint if exists billing_plans_monthly_fee_minor_bound;
alter table app_public.billing_plans add constraint billing_plans_monthly_fee_minor_bound
  check (monthly_fee_minor <= 100000000);
comment on constraint billing_plans_monthly_fee_minor_bound on app_public.billing_plans is
  E'A plan''s monthly fee is at most 100,000,000 minor units (1,000,000.00 of the currency).';
alter table app_public.billing_plans drop constraint if exists billing_plans_price_per_extra_minute_minor_bound;
alter table app_public.billing_plans add constraint billing_plans_price_per_extra_minute_minor_bound
  check (price_per_extra_minute_minor <= 1000000);
comment on constraint billing_plans_price_per_extra_minute_minor_bound on app_public.billing_plans is
  E'A plan''s price per extra minute is at most 1,000,000 minor units (10,000.00 of the currency).';

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
    from app_public.usage_events e
    where e.billing_month = $1 and %1$s
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
  E'Every coach''s invoice for a billing month as it stands: plan fee, the month''s attempt amounts, credits and voids; closed_at is null (not closed).';

create or replace function app_public.invoice_preview(coach_profile_id uuid default null, month date default null)
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
  E'Invoices of a month (default: the current one): frozen ones once the month is closed (closed_at says when), else as they stand now (plan fee, included minutes, overage, credits; closed_at null). Admins and auditors see every coach; a coach their own.';

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
  -- Waits for captures pricing into this month, and keeps new ones out until
  -- the close commits; they then go to the next open month.
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
  E'Closes a past month: freezes its invoices (returns how many). Afterwards they never change; a late event of that month is billed in the next open month and says which month it belonged to. Admins only.';

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
--! Included domain/transcription-status.sql
-- A transcription's status moves one way: queued -> processing -> completed
-- or failed. A retry or a re-transcription is a new attempt (a new row, with
-- retry_of), never an old one sent back: its first terminal status is what
-- was billed (usage/capture.sql), and so are the facts it was billed on.

create or replace function app_private.tg_transcriptions__status_transition() returns trigger as $$
begin
  -- The transitions an attempt may make; anything else (back to queued, out
  -- of a terminal status, skipping processing) is refused.
  if (old.status, new.status) not in (('queued', 'processing'), ('processing', 'completed'), ('processing', 'failed')) then
    raise exception '%', case
        when old.status in ('completed', 'failed') then pg_catalog.format(
          'Transcription %s is %s, which is final: it cannot go from %s to %s. To try again, create a new attempt with retry_of = %s.',
          old.id, old.status, old.status, new.status, old.id)
        else pg_catalog.format(
          'Transcription %s cannot go from %s to %s: an attempt goes from queued to processing, then to completed or failed.',
          old.id, old.status, new.status)
      end
      using errcode = '55000', column = 'status', table = 'transcriptions', schema = 'app_public',
        hint = 'Allowed: queued -> processing, processing -> completed, processing -> failed.';
  end if;
  return new;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__status_transition() is
  E'Allows a transcription attempt''s status to go from queued to processing and from processing to completed or failed, and refuses any other change, naming the from and to statuses (SQLSTATE 55000), for every writer.';

-- Before the other row triggers (_050_derive stamps the times of a status).
drop trigger if exists _010_status_transition on app_public.transcriptions;
create trigger _010_status_transition before update of status on app_public.transcriptions
  for each row when (old.status is distinct from new.status)
  execute function app_private.tg_transcriptions__status_transition();

-- What a finished attempt was billed on stays as it was billed: the usage
-- event priced it from these columns, once (usage/capture.sql).
create or replace function app_private.tg_transcriptions__billed_facts() returns trigger as $$
declare
  changed text[] := array_remove(array[
    case when new.billed_duration_seconds is distinct from old.billed_duration_seconds then 'billed_duration_seconds' end,
    case when new.provider is distinct from old.provider then 'provider' end,
    case when new.model is distinct from old.model then 'model' end,
    case when new.started_at is distinct from old.started_at then 'started_at' end,
    case when new.finished_at is distinct from old.finished_at then 'finished_at' end,
    case when new.session_id is distinct from old.session_id then 'session_id' end,
    case when new.coach_profile_id is distinct from old.coach_profile_id then 'coach_profile_id' end], null);
begin
  if cardinality(changed) > 0 then
    raise exception 'Transcription % is %, and its usage was billed from what it was then: % cannot change. To correct the charge, void its usage event or issue a credit; to transcribe again, create a new attempt.',
      old.id, old.status, array_to_string(changed, ', ')
      using errcode = '55000', column = changed[1], table = 'transcriptions', schema = 'app_public';
  end if;
  return new;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__billed_facts() is
  E'Refuses, to every writer, a change to what a completed or failed attempt was billed on (billed duration, provider, model, start and finish times, session, coach), naming the columns (SQLSTATE 55000). The transcript text and language may still be corrected.';

-- After _050_derive, whose checks (a negative duration) speak first.
drop trigger if exists _070_billed_facts on app_public.transcriptions;
create trigger _070_billed_facts
  before update of billed_duration_seconds, provider, model, started_at, finished_at, session_id, coach_profile_id
  on app_public.transcriptions
  for each row when (old.status in ('completed', 'failed') and new.status = old.status)
  execute function app_private.tg_transcriptions__billed_facts();
--! EndIncluded domain/transcription-status.sql
