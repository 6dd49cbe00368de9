--! Previous: sha1:a45d9576e2da38ac4e92d3a7a2b4528ba98512cf
--! Hash: sha1:0fa435f9aa25825936af7a814f0b15fe53126519
--! Message: Owner-run functions keep to the caller's rows; audit filters checked first; a coach locks only their own clients

-- Issue 18, row-level security fuzz: functions that run as their owner keep to
-- the caller's rows (pricing of pending usage, a client's latest consent), and
-- the audit trail's table and key are checked before any event is read, and a
-- coach's right to read sealed personal data follows the person, not a given owner.
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
--! Included gdpr/consents.sql
-- Consent (GDPR Art. 7): an append-only record per client and purpose of each
-- decision (granted or withdrawn), who recorded it, when, and the wording the
-- client was shown (its version and SHA-256). The latest decision is the
-- state; app_private.tg_transcriptions__require_consent refuses transcribing
-- a session whose client's latest transcription decision is not a grant.

create or replace function app_private.lock_client_processing(client_id uuid) returns void as $$
begin
  -- It runs as its owner: a coach locks only their own client's row (another
  -- coach's would be a lock they could hold against that coach's writes).
  perform from app_public.clients c where c.id = lock_client_processing.client_id
    and ((select app_private.is_staff()) or c.coach_profile_id = (select app_private.current_coach_profile_id()))
  for update;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.lock_client_processing(uuid) is
  E'Locks a client''s row (FOR UPDATE) until the transaction ends, before a change of their processing state (a consent decision, a restriction): it waits for the transcriptions under way, which hold the row FOR KEY SHARE while they check that state, and a transcription started later waits for the change and sees it. Row locks, so a bulk insert of attempts for many clients needs no lock table entries. A coach locks their own clients only.';

create or replace function app_private.latest_consent(client_id uuid, purpose app_public.consent_purpose) returns app_public.consents as $$
  select c.* from app_public.consents c
  where c.client_id = latest_consent.client_id and c.purpose = latest_consent.purpose
    -- It runs as its owner, so it keeps to what the caller may see: an admin
    -- any client's, a coach their own clients' only.
    and ((select app_private.is_staff())
      or exists (select from app_public.clients cl
                 where cl.id = c.client_id and cl.coach_profile_id = (select app_private.current_coach_profile_id())))
  order by c.recorded_at desc, c.id desc
  limit 1;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.latest_consent(uuid, app_public.consent_purpose) is
  E'A client''s latest consent decision for a purpose (null when none was ever recorded, or when the client is not the caller''s: a coach reads their own clients'' only): the consent is active when its decision is granted.';

create or replace function app_public.tg_consents__recorded() returns trigger as $$
begin
  -- One decision at a time per client: "latest" is then the order in which
  -- they were recorded, and a transcription under way ends first.
  perform app_private.lock_client_processing(NEW.client_id);
  if NEW.recorded_at is not null and governance.restoring_archived_rows() then
    -- A decision restored from an archive keeps who recorded it and when.
    return NEW;
  end if;
  NEW.recorded_by := app_public.current_user_id();
  NEW.recorded_at := pg_catalog.clock_timestamp();
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_consents__recorded() is
  E'Who recorded a consent decision and when come from the caller and the clock, read after waiting for any other decision on the same client and for the transcriptions under way (a decision restored from an archive keeps its own).';

create or replace function app_public.tg_consents__append_only() returns trigger as $$
declare
  latest app_public.consents;
begin
  if TG_OP = 'INSERT' then
    if not governance.caller_is_staff() and not exists (select from app_public.clients c where c.id = NEW.client_id) then
      raise exception 'There is no client % of yours; a coach records consents for their own clients only.', NEW.client_id
        using errcode = '42501';
    end if;
    latest := app_private.latest_consent(NEW.client_id, NEW.purpose);
    if NEW.decision = 'withdrawn' and latest.decision is distinct from 'granted' then
      raise exception 'Client % has no active consent for % to withdraw (%).', NEW.client_id, NEW.purpose,
        case when latest.id is null then 'none was ever granted' else 'withdrawn at ' || latest.recorded_at end
        using errcode = '55000';
    end if;
    return NEW;
  elsif TG_OP = 'DELETE' and governance.current_hard_deletion() is not null then
    -- A consent record leaves only with its client, through the governed hard delete (recorded with its reason).
    return OLD;
  elsif TG_OP = 'DELETE' or TG_OP = 'TRUNCATE' then
    raise exception 'Consent records are never deleted: they prove what the client agreed to. A withdrawal is a new record (decision withdrawn).'
      using errcode = '55000';
  else
    raise exception 'Consent records cannot be changed: a withdrawal or a new grant is a new record.' using errcode = '55000';
  end if;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_consents__append_only() is
  E'Keeps consent records append-only for every writer, the owner included: never updated, deleted or truncated (a row leaves only with its client, through governance.hard_delete). A coach records them for their own clients only; a withdrawal needs an active grant to withdraw.';

drop trigger if exists _100_timestamps on app_public.consents;
create trigger _100_timestamps before insert on app_public.consents
  for each row execute function app_public.tg_consents__recorded();
drop trigger if exists _200_append_only on app_public.consents;
create trigger _200_append_only before insert or update or delete on app_public.consents
  for each row execute function app_public.tg_consents__append_only();
drop trigger if exists _200_append_only_truncate on app_public.consents;
create trigger _200_append_only_truncate before truncate on app_public.consents
  for each statement execute function app_public.tg_consents__append_only();

create or replace function app_public.current_consents(client_id uuid default null) returns setof app_public.consents as $$
  select distinct on (c.client_id, c.purpose) c.*
  from app_public.consents c
  where current_consents.client_id is null or c.client_id = current_consents.client_id
  order by c.client_id, c.purpose, c.recorded_at desc, c.id desc;
$$ language sql stable;
comment on function app_public.current_consents(uuid) is
  E'The state of consent: the latest decision per client and purpose (of one client when clientId is given), among the clients the caller may see. A purpose is consented to when its latest decision is granted; a purpose with no row was never asked.';

grant execute on function app_public.current_consents(uuid) to custodian_coach, custodian_admin, custodian_auditor;

-- The transcription rule: every new attempt (a first one, a retry, a
-- re-transcription) needs the client's active consent for transcription.
-- Checked once per statement over its rows, so bulk inserts stay set-based.
create or replace function app_private.tg_transcriptions__require_consent() returns trigger as $$
declare
  refused record;
begin
  -- Held until commit: a consent decision on these clients waits for this statement's transaction (lock_client_processing).
  perform from app_public.clients c
  where c.id in (select cs.client_id from new_rows t join app_public.coaching_sessions cs on cs.id = t.session_id)
  for key share;
  select t.session_id, cs.client_id, latest.decision, latest.recorded_at into refused
  from new_rows t
  join app_public.coaching_sessions cs on cs.id = t.session_id
  left join lateral (
    select c.decision, c.recorded_at from app_public.consents c
    where c.client_id = cs.client_id and c.purpose = 'transcription'
    order by c.recorded_at desc, c.id desc limit 1) latest on true
  where latest.decision is distinct from 'granted'
  limit 1;
  if found then
    raise exception 'Cannot transcribe session %: client % has no active consent for transcription (%).', refused.session_id, refused.client_id,
      case when refused.decision is null then 'none was ever recorded' else 'withdrawn at ' || refused.recorded_at end
      using errcode = '55000',
        hint = 'Record the client''s consent for transcription first (createConsent with purpose transcription and decision granted).';
  end if;
  return null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_transcriptions__require_consent() is
  E'Refuses a statement that inserts transcription attempts (first attempts, retries, re-transcriptions) for a session whose client has no active consent for transcription, naming the consent; every writer, the owner included. Earlier attempts stay (a withdrawal is not retroactive, Art. 7(3)).';

drop trigger if exists _050_require_consent on app_public.transcriptions;
create trigger _050_require_consent after insert on app_public.transcriptions
  referencing new table as new_rows
  for each statement execute function app_private.tg_transcriptions__require_consent();

-- For the readiness report: attempts kept (not soft-deleted) whose client
-- has no active consent for transcription now.
create or replace function app_private.transcriptions_without_consent_count() returns bigint as $$
  select pg_catalog.count(*)
  from app_public.transcriptions t
  join app_public.coaching_sessions cs on cs.id = t.session_id
  left join lateral (
    select c.decision from app_public.consents c
    where c.client_id = cs.client_id and c.purpose = 'transcription'
    order by c.recorded_at desc, c.id desc limit 1) latest on true
  where not t.is_deleted and latest.decision is distinct from 'granted';
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.transcriptions_without_consent_count() is
  E'How many transcription attempts that are not soft-deleted belong to a client whose consent for transcription is not active now (withdrawn, or never recorded): the readiness report''s "active transcriptions without consent".';

revoke all on function app_private.lock_client_processing(uuid) from public;
revoke all on function app_private.latest_consent(uuid, app_public.consent_purpose) from public;
revoke all on function app_private.transcriptions_without_consent_count() from public;
-- Called by the consent and restriction triggers, which run as the writer.
grant execute on function app_private.lock_client_processing(uuid),
  app_private.latest_consent(uuid, app_public.consent_purpose) to custodian_coach, custodian_admin;
grant execute on function app_private.transcriptions_without_consent_count() to custodian_admin, custodian_auditor;

-- Admins and the client's coach record consents; auditors read them all; a
-- coach sees their own clients' only.
drop policy if exists admin_all on app_public.consents;
create policy admin_all on app_public.consents for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.consents;
create policy auditor_read on app_public.consents for select to custodian_auditor using (true);
drop policy if exists coach_own_clients on app_public.consents;
create policy coach_own_clients on app_public.consents for all to custodian_coach
  using (client_id in (select c.id from app_public.clients c where c.coach_profile_id = (select app_private.current_coach_profile_id())))
  with check (client_id in (select c.id from app_public.clients c where c.coach_profile_id = (select app_private.current_coach_profile_id())));

grant select on app_public.consents to custodian_coach, custodian_admin, custodian_auditor;
grant insert (client_id, purpose, decision, wording_version, wording_sha256) on app_public.consents to custodian_coach, custodian_admin;
--! EndIncluded gdpr/consents.sql
--! Included audit/read-api.sql
-- Reading the trail through the API: events, a record's history, a record as of a time.

-- actor_kind and operation were text before they were the trail's enums.
drop function if exists app_public.audit_events(text, jsonb, uuid, text, text, timestamptz, timestamptz);

create or replace function app_public.audit_events(
  table_name text default null,
  record_key jsonb default null,
  actor_id uuid default null,
  actor_kind audit.actor_kind default null,
  operation audit.operation default null,
  occurred_from timestamptz default null,
  occurred_before timestamptz default null
) returns setof app_public.audit_event as $$
  select e.id, e.occurred_at, e.table_schema, e.table_name, e.record_key, e.operation,
    audit.reveal(e.old_values, coalesce(e.old_subject_id, e.subject_id), e.owner_id),
    audit.reveal(e.new_values, e.subject_id, e.owner_id), e.changed_columns,
    e.transaction_id::text, t.actor_kind, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent,
    t.task, t.job_id, t.database_role, t.session_user_name, t.application_name, t.client_addr::text, e.details
  from audit.events e
  left join audit.event_actors t on t.event_id = e.id and t.occurred_at = e.occurred_at
  where (select audit.check_filter(audit_events.occurred_from, audit_events.occurred_before))
    -- The table name and key are checked once, before any event is read (a
    -- condition on the arguments alone runs first): checked beside each event,
    -- a refusal would tell whether events with that key exist, the caller's
    -- or not.
    and (audit_events.table_name is null or (select audit.resolve_table(audit_events.table_name)) is not null)
    and (audit_events.record_key is null or (select audit.resolve_record_key(audit_events.table_name, audit_events.record_key)) is not null)
    and (audit_events.table_name is null or (
      e.table_schema = ((select audit.resolve_table(audit_events.table_name)))[1]
      and e.table_name = ((select audit.resolve_table(audit_events.table_name)))[2]))
    and (audit_events.record_key is null
      or e.record_key = (select audit.resolve_record_key(audit_events.table_name, audit_events.record_key)))
    and (audit_events.actor_id is null or t.user_id = audit_events.actor_id)
    and (audit_events.actor_kind is null or t.actor_kind = audit_events.actor_kind)
    and (audit_events.operation is null or e.operation = audit_events.operation)
    and (audit_events.occurred_from is null or e.occurred_at >= audit_events.occurred_from)
    and (audit_events.occurred_before is null or e.occurred_at < audit_events.occurred_before)
  order by e.id;
$$ language sql stable;
comment on function app_public.audit_events(text, jsonb, uuid, audit.actor_kind, audit.operation, timestamptz, timestamptz) is
  E'The audit trail, oldest first, filtered by table (name or schema.name), record key, acting user, actor kind, operation and time (from inclusive, before exclusive). Admins and auditors read every event; coaches the events of their own records.';

create or replace function app_public.audit_record_history(table_name text, record_key jsonb) returns setof app_public.audit_event as $$
  select * from app_public.audit_events(
    table_name => coalesce(audit_record_history.table_name, ''),
    record_key => coalesce(audit_record_history.record_key, 'null'::jsonb));
$$ language sql stable;
comment on function app_public.audit_record_history(text, jsonb) is
  E'Every event of one record, oldest first; recordKey may be a bare value for a one-column key.';

create or replace function app_public.audit_record_as_of(table_name text, record_key jsonb, at timestamptz) returns jsonb as $$
declare
  state jsonb;
  event record;
begin
  if at is null then
    raise exception 'at is required: the time to rebuild the record at.' using errcode = '22023';
  end if;
  for event in
    select h.operation, h.old_values, h.new_values
    from app_public.audit_record_history(table_name, record_key) h
    where h.occurred_at <= at
    order by h.id
  loop
    state := case
      when event.operation = 'INSERT' then event.new_values
      -- A record older than its tracking starts from the values its first update replaced.
      when event.operation in ('UPDATE', 'SOFT_DELETE', 'RESTORE') then coalesce(state, event.old_values) || event.new_values
      else null
    end;
  end loop;
  return state;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.audit_record_as_of(text, jsonb, timestamptz) is
  E'A record as it was at a time, rebuilt from its events; null when it did not exist then. Excluded columns are absent.';

grant execute on function
  app_public.audit_events(text, jsonb, uuid, audit.actor_kind, audit.operation, timestamptz, timestamptz),
  app_public.audit_record_history(text, jsonb),
  app_public.audit_record_as_of(text, jsonb, timestamptz)
  to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/read-api.sql
--! Included audit/reveal.sql
-- Reading pii back: decrypted, redacted or erased, depending on the caller.

create or replace function audit.may_reveal(subject_id uuid, owner_id uuid) returns boolean as $$
  select coalesce(case coalesce(nullif(pg_catalog.current_setting('role'), 'none'), current_user)
    when 'custodian_admin' then true
    when 'custodian_auditor' then true
    -- A coach reads the personal data in their own records (their clients',
    -- even once deleted) and their own; nobody else's. Anyone can call this
    -- naming themselves as the owner, so the owner given is believed only for
    -- a person who is nobody's client or user now (a client deleted for good)
    -- and still has a key: otherwise the answer would decrypt, or tell apart,
    -- another coach's people.
    when 'custodian_coach' then
      subject_id = app_public.current_user_id()
      or exists (select from app_public.clients c
                 where c.id = subject_id and c.coach_profile_id = app_private.current_coach_profile_id())
      or ((owner_id = app_private.current_coach_profile_id() or owner_id = app_public.current_user_id())
          and not exists (select from app_public.clients c where c.id = subject_id)
          and not exists (select from app_public.users u where u.id = subject_id)
          and exists (select from app_private.audit_subject_keys k where k.subject_id = may_reveal.subject_id))
    when 'custodian_anonymous' then false
    else true -- the owner and superusers hold the keys anyway
  end, false);
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.may_reveal(uuid, uuid) is
  E'Whether the caller may read a person''s pii in an event: admins and auditors may; a coach their own clients'' and their own, and in the records they own, those of a person deleted for good whose key remains.';

create or replace function audit.decrypt_value(sealed text, key bytea) returns jsonb as $$
begin
  return pg_catalog.convert_from(public.decrypt_iv(
    pg_catalog.substr(pg_catalog.decode(sealed, 'base64'), 17), key,
    pg_catalog.substr(pg_catalog.decode(sealed, 'base64'), 1, 16), 'aes-cbc/pad:pkcs'), 'UTF8')::jsonb;
exception when others then
  -- One damaged value must not hide every other event from the reader.
  return '{"$corrupt": true}'::jsonb;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.decrypt_value(text, bytea) is
  E'One stored pii value decrypted; {"$corrupt": true} when it cannot be (a forged or damaged value).';

create or replace function audit.reveal(stored jsonb, subject_id uuid, owner_id uuid default null) returns jsonb as $$
declare
  may_read boolean;
  subject_key bytea;
  result jsonb := stored;
  entry record;
  sealed text;
begin
  if stored is null or pg_catalog.strpos(stored::text, '"$pii"') = 0 then
    return stored;
  end if;
  may_read := audit.may_reveal(subject_id, owner_id);
  if may_read then
    select k.key into subject_key from app_private.audit_subject_keys k where k.subject_id = reveal.subject_id;
  end if;
  for entry in select e.key, e.value from pg_catalog.jsonb_each(stored) e
    where pg_catalog.jsonb_typeof(e.value) = 'object' and e.value ? '$pii'
  loop
    sealed := entry.value ->> '$pii';
    result := result || pg_catalog.jsonb_build_object(entry.key,
      case
        when not may_read then '{"$redacted": "pii"}'::jsonb
        when sealed is null or subject_key is null then '{"$erased": true}'::jsonb
        else audit.decrypt_value(sealed, subject_key)
      end);
  end loop;
  return result;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.reveal(jsonb, uuid, uuid) is
  E'Stored values as the caller may read them: pii decrypted when allowed, {"$redacted": "pii"} when not, {"$erased": true} once the person''s key is destroyed.';

grant execute on function audit.reveal(jsonb, uuid, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/reveal.sql
