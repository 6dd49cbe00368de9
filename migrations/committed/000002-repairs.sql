--! Previous: sha1:103bf00b8b20025b32805746d425232a8f991c7e
--! Hash: sha1:7897386f1a56fe357b5637ab0ae204d9efb483d1
--! Message: repairs: grants that agree with the API, costs for staff only, sessions

-- Repairs: grants that agree with the API, costs for staff only, sessions
-- that end when the account changes.
--
-- The input types offer the owner's key of clients and coach profiles: a
-- coach may now name their own (row-level security refuses any other). What
-- a provider charges the platform, and the margin on it, are for admins and
-- auditors: coaches lose the cost columns, and the functions they call read
-- masked views. A token names a session; the API asks the database on every
-- request who it speaks for now, so a role change, a disabled account or a
-- sign-out takes effect on the next request. Invoices and monthly revenue
-- count UTC months whatever the session's time zone.

alter table app_public.users add column disabled_at timestamptz;
comment on column app_public.users.disabled_at is
  E'When the account was disabled: it can no longer sign in, and its tokens stop working at once. Null while the account is active.';

create table app_private.user_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references app_public.users on delete cascade,
  created_at timestamptz not null default pg_catalog.now(),
  signed_out_at timestamptz
);
create index user_sessions_user_id_idx on app_private.user_sessions (user_id);
comment on table app_private.user_sessions is
  E'One row per sign-in; a token names its session. Signing out ends it. Rows older than the longest token lifetime (30 days) are removed at the user''s next sign-in.';
comment on column app_private.user_sessions.signed_out_at is E'When the session was ended by signing out; its token is refused from then on.';
alter table app_private.user_sessions enable row level security;
-- Sign-ins and sign-outs are part of the audit trail.
select audit.enable_tracking('app_private.user_sessions', owner_column => 'user_id', subject_column => 'user_id');

alter type app_public.jwt_token add attribute session_id uuid;

comment on column app_public.usage_events.provider_cost_minor is
  E'What the provider charges us for the attempt, in minor units with 6 decimals; null when the provider and model have no rate. Admins and auditors only.';
comment on column app_public.provider_rates.cost_per_minute_minor is
  E'What the provider charges us per minute, in minor units. Admins and auditors only.';

--! Included auth/authenticate.sql
-- Sign-in: an email and a password make a session token.

create or replace function app_public.authenticate(email citext, password text) returns app_public.jwt_token as $$
declare
  account app_public.users;
  stored_hash text;
  session_id uuid;
begin
  select u.* into account from app_public.users u where u.email = authenticate.email;
  select s.password_hash into stored_hash from app_private.user_secrets s where s.user_id = account.id;
  -- Hash even when the account is missing, so timing does not reveal which emails exist.
  if stored_hash is null then
    perform crypt(coalesce(password, ''), gen_salt('bf', 10));
  elsif crypt(coalesce(password, ''), stored_hash) = stored_hash then
    if account.disabled_at is not null then
      raise exception 'This account is disabled; an admin can enable it again.' using errcode = '28000';
    end if;
    -- No token lives longer than 30 days (JWT_TTL_SECONDS), nor need its session.
    delete from app_private.user_sessions s
      where s.user_id = account.id and s.created_at < pg_catalog.now() - interval '30 days';
    insert into app_private.user_sessions (user_id) values (account.id) returning id into session_id;
    return (account.role::text, account.id, session_id)::app_public.jwt_token;
  end if;
  raise exception 'Incorrect email or password.' using errcode = 'CREDS';
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.authenticate(citext, text) is
  E'@resultFieldName jwtToken\nChecks an email and password and returns a signed token for a new session; a wrong email and a wrong password give the same error, and a disabled account cannot sign in.';

grant execute on function app_public.authenticate(citext, text)
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded auth/authenticate.sql
--! Included auth/sessions.sql
-- Sessions: the API asks on every request who a token speaks for now; signing out ends one.

create or replace function app_private.session_role(session_id uuid, user_id uuid) returns app_public.user_role as $$
  select u.role
  from app_private.user_sessions s join app_public.users u on u.id = s.user_id
  where s.id = session_role.session_id and s.user_id = session_role.user_id
    and s.signed_out_at is null and u.disabled_at is null;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.session_role(uuid, uuid) is
  E'The role a request with this session''s token runs as: the account''s role now; null when the session was signed out, or the account is disabled or gone. The API asks on every request.';
revoke all on function app_private.session_role(uuid, uuid) from public;
grant usage on schema app_private to custodian_authenticator;
grant execute on function app_private.session_role(uuid, uuid) to custodian_authenticator;

create or replace function app_public.sign_out() returns boolean as $$
  with ended as (
    update app_private.user_sessions s set signed_out_at = pg_catalog.now()
    where s.id = nullif(pg_catalog.current_setting('jwt.claims.session_id', true), '')::uuid
      and s.user_id = app_public.current_user_id() and s.signed_out_at is null
    returning 1)
  select exists (select from ended);
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.sign_out() is
  E'@resultFieldName signedOut\nEnds the session of the token the request carries: from the next request on, that token is refused. True when a session was ended.';
revoke all on function app_public.sign_out() from public;
grant execute on function app_public.sign_out() to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded auth/sessions.sql
--! Included auth/policies.sql
-- Who reaches app_public, and which users each role sees and changes.

grant usage on schema app_public
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists read_self on app_public.users;
create policy read_self on app_public.users for select to custodian_coach
  using (id = app_public.current_user_id());

drop policy if exists update_self on app_public.users;
create policy update_self on app_public.users for update to custodian_coach
  using (id = app_public.current_user_id());

drop policy if exists read_all on app_public.users;
create policy read_all on app_public.users for select to custodian_admin, custodian_auditor
  using (true);

drop policy if exists update_all on app_public.users;
create policy update_all on app_public.users for update to custodian_admin
  using (true);

grant select on app_public.users to custodian_coach, custodian_admin, custodian_auditor;
grant update (display_name) on app_public.users to custodian_coach;
grant update (display_name, email, role, disabled_at) on app_public.users to custodian_admin;
--! EndIncluded auth/policies.sql
--! Included domain/policies.sql
-- Row-level security and grants of the domain tables. Coaches reach their own rows by
-- comparing one column with their profile; admins reach everything; auditors read
-- everything and write nothing. Soft delete adds a restrictive policy of its own
-- (soft-delete/policies.sql).

drop policy if exists read_all on app_public.billing_plans;
create policy read_all on app_public.billing_plans for select
  to custodian_coach, custodian_admin, custodian_auditor using (true);

drop policy if exists admin_write on app_public.billing_plans;
create policy admin_write on app_public.billing_plans for all to custodian_admin
  using (true) with check (true);

grant select on app_public.billing_plans to custodian_coach, custodian_admin, custodian_auditor;
grant insert (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency),
  update (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency),
  delete on app_public.billing_plans to custodian_admin;

drop policy if exists read_all on app_public.provider_rates;
create policy read_all on app_public.provider_rates for select
  to custodian_coach, custodian_admin, custodian_auditor using (true);

drop policy if exists admin_write on app_public.provider_rates;
create policy admin_write on app_public.provider_rates for all to custodian_admin
  using (true) with check (true);

-- A rate is what a provider charges the platform: coaches see the providers
-- and models, not the cost.
grant select on app_public.provider_rates to custodian_admin, custodian_auditor;
revoke select on app_public.provider_rates from custodian_coach;
grant select (id, provider, model, currency, effective_from, created_at, updated_at)
  on app_public.provider_rates to custodian_coach;
grant insert (provider, model, cost_per_minute_minor, currency, effective_from),
  update (provider, model, cost_per_minute_minor, currency, effective_from),
  delete on app_public.provider_rates to custodian_admin;

drop policy if exists coach_own on app_public.coach_profiles;
create policy coach_own on app_public.coach_profiles for all to custodian_coach
  using (user_id = app_public.current_user_id()) with check (user_id = app_public.current_user_id());

drop policy if exists admin_all on app_public.coach_profiles;
create policy admin_all on app_public.coach_profiles for all to custodian_admin
  using (true) with check (true);

drop policy if exists auditor_read on app_public.coach_profiles;
create policy auditor_read on app_public.coach_profiles for select to custodian_auditor
  using (true);

grant select, delete on app_public.coach_profiles to custodian_coach, custodian_admin;
grant select on app_public.coach_profiles to custodian_auditor;
-- The input types offer the owner's key (admins set it): a coach may name
-- their own, and row-level security refuses any other.
grant insert (user_id, display_name, bio, timezone, plan_id),
  update (display_name, bio, timezone) on app_public.coach_profiles to custodian_coach;
grant insert (user_id, display_name, bio, timezone, plan_id),
  update (display_name, bio, timezone, plan_id) on app_public.coach_profiles to custodian_admin;

drop policy if exists coach_own on app_public.clients;
create policy coach_own on app_public.clients for all to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()))
  with check (coach_profile_id = (select app_private.current_coach_profile_id()));
drop policy if exists admin_all on app_public.clients;
create policy admin_all on app_public.clients for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.clients;
create policy auditor_read on app_public.clients for select to custodian_auditor using (true);

grant select, delete on app_public.clients to custodian_coach, custodian_admin;
grant select on app_public.clients to custodian_auditor;
grant insert (coach_profile_id, full_name, email, phone, notes),
  update (full_name, email, phone, notes) on app_public.clients to custodian_coach;
grant insert (coach_profile_id, full_name, email, phone, notes),
  update (full_name, email, phone, notes) on app_public.clients to custodian_admin;

drop policy if exists coach_own on app_public.coaching_sessions;
create policy coach_own on app_public.coaching_sessions for all to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()))
  with check (coach_profile_id = (select app_private.current_coach_profile_id()));
drop policy if exists admin_all on app_public.coaching_sessions;
create policy admin_all on app_public.coaching_sessions for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.coaching_sessions;
create policy auditor_read on app_public.coaching_sessions for select to custodian_auditor using (true);

grant select, delete on app_public.coaching_sessions to custodian_coach, custodian_admin;
grant select on app_public.coaching_sessions to custodian_auditor;
grant insert (client_id, title, recorded_at, audio_object_key, audio_duration_seconds),
  update (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
  on app_public.coaching_sessions to custodian_coach, custodian_admin;

drop policy if exists coach_own on app_public.transcriptions;
create policy coach_own on app_public.transcriptions for all to custodian_coach
  using (coach_profile_id = (select app_private.current_coach_profile_id()))
  with check (coach_profile_id = (select app_private.current_coach_profile_id()));
drop policy if exists admin_all on app_public.transcriptions;
create policy admin_all on app_public.transcriptions for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.transcriptions;
create policy auditor_read on app_public.transcriptions for select to custodian_auditor using (true);

grant select, delete on app_public.transcriptions to custodian_coach, custodian_admin;
grant select on app_public.transcriptions to custodian_auditor;

-- Coaches request attempts and correct transcripts; the status, durations and
-- errors come from the transcription pipeline (admins or the worker).
grant insert (session_id, provider, model, language, retry_of),
  update (transcript_text) on app_public.transcriptions to custodian_coach;

grant insert (session_id, provider, model, language, retry_of, status, billed_duration_seconds,
    transcript_text, error_message, started_at, finished_at),
  update (status, billed_duration_seconds, transcript_text, error_message, started_at, finished_at, language)
  on app_public.transcriptions to custodian_admin;
--! EndIncluded domain/policies.sql
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
  where not (select app_private.is_staff()) and e.coach_profile_id = (select app_private.current_coach_profile_id());
comment on view app_private.usage_events_visible is
  E'The usage events the caller may read (all for admins and auditors, a coach''s own), with provider_cost_minor only for admins and auditors.';

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
  where not (select app_private.is_staff()) and d.coach_profile_id = (select app_private.current_coach_profile_id());
comment on view app_private.usage_daily_visible is
  E'The per-coach daily rollups the caller may read (all for admins and auditors, a coach''s own), with the provider cost columns only for admins and auditors.';

-- Every analytics function reads its rollups here: admins and auditors get
-- the totals, a coach their own rows without provider costs.
create or replace view app_private.usage_rollups with (security_invoker = true) as
  select t.day, null::uuid as coach_profile_id, t.plan_id, t.provider, t.model, t.billing_month, t.attempts, t.completed,
    t.failed, t.free_retries, t.retranscriptions, t.audio_seconds, t.billable_seconds, t.charged_seconds, t.revenue_minor,
    t.retranscription_revenue_minor, t.provider_cost_minor, t.failed_cost_minor, t.unknown_cost_attempts
  from app_private.usage_daily_totals t where (select app_private.is_staff())
  union all
  select d.day, d.coach_profile_id, d.plan_id, d.provider, d.model, d.billing_month, d.attempts, d.completed,
    d.failed, d.free_retries, d.retranscriptions, d.audio_seconds, d.billable_seconds, d.charged_seconds, d.revenue_minor,
    d.retranscription_revenue_minor, d.provider_cost_minor, d.failed_cost_minor, d.unknown_cost_attempts
  from app_private.usage_daily_visible d where not (select app_private.is_staff());
comment on view app_private.usage_rollups is
  E'The daily rollups the caller may read, in the cheapest form: totals for admins and auditors, their own rows (without provider costs) for a coach.';

grant select on app_private.usage_events_visible, app_private.usage_daily_visible, app_private.usage_rollups
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/rollups-view.sql
--! Included usage/usage-in-range.sql
-- The usage events of a range of days.

create or replace function app_public.usage_in_range(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select e.* from app_private.usage_events_visible e
  where e.occurred_at >= (from_day::timestamp at time zone 'UTC') and e.occurred_at < (to_day::timestamp at time zone 'UTC')
    and (usage_in_range.coach_profile_id is null or e.coach_profile_id = usage_in_range.coach_profile_id)
  order by e.occurred_at, e.id;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.usage_in_range(date, date, uuid) is
  E'Usage events that occurred in a range of days (UTC, to exclusive), oldest first, of one coach if given: a coach''s own, or any coach''s for admins and auditors. The provider cost is for admins and auditors only.';

grant execute on function app_public.usage_in_range(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/usage-in-range.sql
--! Included usage/explain-charge.sql
-- Why a usage event costs what it does.

create or replace function app_public.explain_charge(usage_event_id bigint) returns jsonb as $$
  select pg_catalog.jsonb_build_object(
    'usage_event_id', e.id,
    'kind', e.kind,
    'rule', e.billing_reason,
    'rule_version', e.rule_version,
    'explanation', case
      when e.kind = 'credit' then pg_catalog.format('A credit of %s minor units issued by an admin: %s', -e.amount_minor, e.note)
      when e.kind = 'void' then pg_catalog.format('Cancels the %s minor units charged by usage event %s: %s', -e.amount_minor, e.corrects_event_id, e.note)
      when e.billing_reason = 'failed_free' then pg_catalog.format(
        'The attempt failed, and failed attempts are free.%s',
        case when (select app_private.is_staff()) then pg_catalog.format(' It still cost us %s minor units at the provider.',
          coalesce(e.provider_cost_minor::text, 'an unknown amount of')) else '' end)
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
  from app_private.usage_events_visible e
  left join app_public.billing_plans p on p.id = e.plan_id
  left join lateral (
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('usage_event_id', x.id, 'transcription_id', x.transcription_id,
             'occurred_at', x.occurred_at, 'outcome', x.outcome, 'billing_reason', x.billing_reason, 'amount_minor', x.amount_minor)
             order by x.id) as attempts,
           count(*) filter (where x.outcome = 'failed') as failed
    from app_private.usage_events_visible x
    where x.session_id = e.session_id and x.kind = 'attempt' and x.id < e.id) prior on e.kind = 'attempt'
  where e.id = usage_event_id;
$$ language sql stable;
comment on function app_public.explain_charge(bigint) is
  E'Why a usage event costs what it does, in words and data: the rule and its version, the earlier attempts of the session considered, minutes, included minutes, price and amount; the provider cost for admins and auditors only. Null for an event the caller may not see.';

grant execute on function app_public.explain_charge(bigint) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/explain-charge.sql
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
  E'Invoices of a month (default: the current one): frozen ones once the month is closed, else as they stand now (plan fee, included minutes, overage, credits). Admins and auditors see every coach; a coach their own.';

grant execute on function app_public.invoice_preview(uuid, date) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/invoices.sql
--! Included usage/analytics.sql
-- Billing analytics: SQL over the daily rollups, under row-level security.

-- These are PL/pgSQL, not SQL: an inlined SQL function with a null bound
-- would be planned away before its range check ran.
create or replace function app_public.usage_over_time(from_day date, to_day date, granularity text default 'day')
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

create or replace function app_public.usage_by_provider(from_day date, to_day date)
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

create or replace function app_public.top_coaches(from_day date, to_day date, max_rows integer default 10)
returns table (coach_profile_id uuid, attempts bigint, billable_minutes numeric, revenue_minor bigint,
               provider_cost_minor numeric, gross_margin_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select d.coach_profile_id, sum(d.attempts)::bigint, pg_catalog.round(sum(d.billable_seconds) / 60.0, 2),
    sum(d.revenue_minor)::bigint, sum(d.provider_cost_minor), sum(d.revenue_minor) - sum(d.provider_cost_minor)
  from app_private.usage_daily_visible d
  where d.day >= from_day and d.day < to_day
  group by 1 order by sum(d.revenue_minor) desc, sum(d.billable_seconds) desc, 1
  limit least(greatest(coalesce(max_rows, 10), 1), 1000);
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.top_coaches(date, date, integer) is E'The coaches who brought the most revenue over a range of days (up to max_rows, at most 1000); provider cost and margin for admins and auditors only.';

create or replace function app_public.revenue_summary(from_day date, to_day date)
returns table (revenue_minor bigint, provider_cost_minor numeric, gross_margin_minor numeric, gross_margin_ratio numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select s.revenue, s.cost, s.revenue - s.cost, pg_catalog.round((s.revenue - s.cost) / nullif(s.revenue, 0), 4)
  from (
    select coalesce(sum(r.revenue_minor), 0)::bigint as revenue,
      -- A coach's rollups carry no cost: null, not zero, and so no margin.
      case when (select app_private.is_staff()) then coalesce(sum(r.provider_cost_minor), 0) end as cost
    from app_private.usage_rollups r
    where r.day >= from_day and r.day < to_day) s;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.revenue_summary(date, date) is E'Usage revenue over a range of days, and for admins and auditors the provider cost and gross margin (null for a coach).';

create or replace function app_public.retranscription_stats(from_day date, to_day date)
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

create or replace function app_public.failure_stats(from_day date, to_day date)
returns table (attempts bigint, failed bigint, failure_rate numeric, free_retries bigint, failed_attempts_cost_minor numeric) as $$
begin
  perform app_private.check_range(from_day, to_day);
  return query
  select coalesce(sum(r.attempts), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
    pg_catalog.round(sum(r.failed)::numeric / nullif(sum(r.attempts), 0), 4),
    coalesce(sum(r.free_retries), 0)::bigint,
    case when (select app_private.is_staff()) then coalesce(sum(r.failed_cost_minor), 0) end
  from app_private.usage_rollups r
  where r.day >= from_day and r.day < to_day;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.failure_stats(date, date) is
  E'Failure rate over a range of days, the failed retries, and what the failed (free) attempts cost us at the providers (admins and auditors only; null for a coach).';

create or replace function app_public.monthly_revenue(from_month date, to_month date)
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
    -- UTC months, whatever the session's time zone.
    left join app_public.coach_profiles cp on cp.created_at < (m.month + interval '1 month') at time zone 'UTC'
      and (not cp.is_deleted or cp.deleted_at >= m.month::timestamp at time zone 'UTC')
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

grant execute on function
  app_public.usage_over_time(date, date, text),
  app_public.usage_by_provider(date, date),
  app_public.top_coaches(date, date, integer),
  app_public.revenue_summary(date, date),
  app_public.retranscription_stats(date, date),
  app_public.failure_stats(date, date),
  app_public.monthly_revenue(date, date)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded usage/analytics.sql
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
--! EndIncluded usage/policies.sql
