--! Previous: sha1:a45d9576e2da38ac4e92d3a7a2b4528ba98512cf
--! Hash: sha1:54254a63fecabaa96564e8413114b3006c416034
--! Message: Issue 18: sign-in limits per account and per address; owner-run functions keep to the caller's rows; worker pools register so a dead pool's jobs are released

-- Issue 18, faults: the worker pools alive now, so that the jobs of one that
-- died are released at once (not after graphile-worker's 4 hours); a
-- retention run left by a dead process closes with its policies.
create table app_private.worker_pools (
  pool_id text primary key constraint worker_pools_pool_id_check check (pool_id ~ '^[a-z]+-[0-9a-f]+$'),
  host text not null constraint worker_pools_host_check check (length(host) between 1 and 255),
  process_id integer not null constraint worker_pools_process_id_check check (process_id > 0),
  started_at timestamptz not null default now()
);
comment on table app_private.worker_pools is
  E'Worker pools that registered as they started; one is alive while its presence session (app_private.worker_presence_name) is open. Not audit-tracked: it is the worker''s own bookkeeping, rewritten at every start.';
comment on column app_private.worker_pools.pool_id is E'graphile-worker''s id of the pool, which it writes into locked_by of the jobs it runs.';
comment on column app_private.worker_pools.host is E'The machine the pool runs on.';
comment on column app_private.worker_pools.process_id is E'The pool''s process id on that machine.';
comment on column app_private.worker_pools.started_at is E'When the pool registered.';
alter table app_private.worker_pools enable row level security;

--! Included worker/gone-workers.sql
-- A worker process that dies (kill -9, a lost machine, an OOM kill) leaves
-- the jobs it was running locked; graphile-worker frees them only after 4
-- hours. Each Custodian worker pool registers here and keeps one session
-- open whose application_name names it: while that session exists the pool
-- is alive. Any worker that starts (and the heartbeat, every minute) releases
-- the jobs of registered pools whose session is gone. A pool that has not
-- registered yet is never taken for gone.

create or replace function app_private.worker_presence_name(pool_id text) returns text as $$
  select 'custodian worker ' || pool_id;
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.worker_presence_name(text) is
  E'The application_name of the session that says a worker pool is alive.';

create or replace function app_private.register_worker_pool(pool_id text, host text, process_id integer) returns void as $$
begin
  -- The name first, so that a sweeper that sees the row sees the session too.
  perform pg_catalog.set_config('application_name', app_private.worker_presence_name(register_worker_pool.pool_id), false);
  insert into app_private.worker_pools (pool_id, host, process_id)
  values (register_worker_pool.pool_id, register_worker_pool.host, register_worker_pool.process_id)
  on conflict on constraint worker_pools_pkey do nothing;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.register_worker_pool(text, text, integer) is
  E'Called on the session a worker pool keeps open for its whole life: names the session after the pool and records the pool (again, after a reconnect).';

create or replace function app_private.release_jobs_of_gone_workers()
returns table (job_id bigint, task_identifier text, attempts integer, max_attempts integer, pool_id text) as $$
declare
  gone text[];
  released bigint[];
begin
  -- graphile_worker's schema is installed by the worker, after the migrations: before its first start there are no jobs.
  if pg_catalog.to_regclass('graphile_worker.jobs') is null then
    return;
  end if;
  -- One sweeper at a time: workers starting together release each job once.
  perform pg_catalog.pg_advisory_xact_lock('app_private.worker_pools'::pg_catalog.regclass::pg_catalog.oid::integer, 0);
  select pg_catalog.array_agg(p.pool_id) into gone
  from app_private.worker_pools p
  where not exists (select from pg_catalog.pg_stat_activity a where a.application_name = app_private.worker_presence_name(p.pool_id));
  if gone is null then
    return;
  end if;
  select pg_catalog.array_agg(j.id) into released from graphile_worker.jobs j where j.locked_by = any (gone);
  return query
    select j.id, j.task_identifier, j.attempts::integer, j.max_attempts::integer, j.locked_by
    from graphile_worker.jobs j where j.id = any (released) order by j.id;
  -- Unlocked, a job with attempts left runs again at once: the killed attempt counts, as graphile-worker counts it.
  perform graphile_worker.force_unlock_workers(gone);
  -- One without attempts left says why it stopped, where an operator looks.
  perform graphile_worker.permanently_fail_jobs(
    array(select j.id from graphile_worker.jobs j where j.id = any (released) and j.attempts >= j.max_attempts),
    'The worker process running it died (its worker pool''s session ended) with no attempt left; the task''s next run does its work.');
  delete from app_private.worker_pools p where p.pool_id = any (gone);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.release_jobs_of_gone_workers() is
  E'Unlocks the jobs (and named queues) locked by registered worker pools whose presence session has ended, forgets those pools, and returns the jobs released. A job with attempts left is run again at once; one that had a single attempt (the crontab''s) is left failed, and its task''s next run does its work.';

revoke all on function app_private.worker_presence_name(text), app_private.register_worker_pool(text, text, integer),
  app_private.release_jobs_of_gone_workers() from public;
--! EndIncluded worker/gone-workers.sql
--! Included retention/runs.sql
-- The run log: a run starts only when no other is running (an advisory lock
-- held by the runner's session for the whole run, and a unique index on the
-- running row), and a run whose process died is found and closed by the next.

create or replace function app_private.retention_lock_key() returns bigint as $$
  select 1702170217::bigint;
$$ language sql immutable;
comment on function app_private.retention_lock_key() is
  E'The advisory lock a retention run holds on its session from start to finish: a session that ends (a killed process, a terminated backend) lets it go.';

create or replace function app_private.fail_abandoned_retention_runs() returns integer as $$
declare
  words constant text := 'Abandoned: the process running it ended before it finished. What it archived but had not removed is resumed by the next run.';
  closed integer;
begin
  -- The caller holds the run lock, so a row still marked running belongs to a process that died: it and its open policy rows close as failed.
  update app_public.retention_run_policies p set status = 'failed', finished_at = pg_catalog.now(),
    errors = p.errors + 1, error = coalesce(p.error, words)
  where p.status = 'running' and p.run_id in (select r.id from app_public.retention_runs r where r.status = 'running');
  update app_public.retention_runs r set status = 'failed', finished_at = pg_catalog.now(), error = words
  where r.status = 'running';
  get diagnostics closed = row_count;
  return closed;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.fail_abandoned_retention_runs() is
  E'Closes as failed, with words saying so, every run still marked running and its policies still marked running; returns how many runs. Only for a caller holding the run lock (no run is running then).';

create or replace function app_private.close_abandoned_retention_runs() returns integer as $$
declare
  closed integer := 0;
begin
  if pg_catalog.pg_try_advisory_lock(app_private.retention_lock_key()) then
    closed := app_private.fail_abandoned_retention_runs();
    perform pg_catalog.pg_advisory_unlock(app_private.retention_lock_key());
  end if;
  return closed;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.close_abandoned_retention_runs() is
  E'Closes the runs a dead process left marked running, unless a run is running now (the worker calls it as it starts); returns how many it closed.';

create or replace function app_private.start_retention_run(policy text, dry_run boolean, as_of timestamptz, task text,
  started_by uuid default null)
returns app_public.retention_runs as $$
declare
  running app_public.retention_runs;
  run app_public.retention_runs;
begin
  if policy is not null and not exists (select from app_public.retention_policies p where p.name = start_retention_run.policy) then
    raise exception 'There is no retention policy "%".', policy using errcode = 'P0002',
      hint = 'custodian retention policies lists them.';
  end if;
  if as_of is null then
    raise exception 'A retention run needs the instant its periods are judged at.' using errcode = '22004';
  end if;
  if not dry_run and as_of > pg_catalog.now() then
    raise exception 'A retention run cannot act as of % : that is in the future, and rows would go before their time. Only a dry run may look ahead.', as_of
      using errcode = '22023';
  end if;
  if not pg_catalog.pg_try_advisory_lock(app_private.retention_lock_key()) then
    select * into running from app_public.retention_runs r where r.status = 'running' order by r.started_at desc limit 1;
    raise exception 'Retention run % is running (started at %, by %); only one runs at a time: wait for it to finish.',
      coalesce(running.id::text, '(starting)'), coalesce(running.started_at::text, 'just now'), coalesce(running.task, 'another process')
      using errcode = '55P03';
  end if;
  perform app_private.fail_abandoned_retention_runs();
  insert into app_public.retention_runs (dry_run, as_of, policy_name, task, started_by)
  values (dry_run, as_of, policy, task, started_by)
  returning * into run;
  return run;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.start_retention_run(text, boolean, timestamptz, text, uuid) is
  E'Starts a retention run (one policy, or all when policy is null) as of an instant, taking the run lock on this session: refused with the running run''s id when another holds it, refused for an unknown policy, and refused as of a future instant unless it is a dry run. A run left marked running by a process that died is closed as failed. The runner calls app_private.finish_retention_run on the same session.';

create or replace function app_private.finish_retention_run(run_id uuid, error text default null)
returns app_public.retention_runs as $$
declare
  run app_public.retention_runs;
begin
  -- A run stopped by an error (the archive store gone or full) stops in the middle of a policy: that policy fails with it.
  update app_public.retention_run_policies p set status = 'failed', finished_at = pg_catalog.now(), errors = p.errors + 1,
    error = coalesce(p.error, finish_retention_run.error, 'The run ended before this policy finished.')
  where p.run_id = finish_retention_run.run_id and p.status = 'running';
  update app_public.retention_runs r
  set status = case when finish_retention_run.error is null then 'finished' else 'failed' end,
      finished_at = pg_catalog.now(), error = finish_retention_run.error
  where r.id = finish_retention_run.run_id and r.status = 'running'
  returning * into run;
  perform pg_catalog.pg_advisory_unlock(app_private.retention_lock_key());
  return run;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.finish_retention_run(uuid, text) is
  E'Ends a run (finished, or failed with the error, as is a policy it stopped in the middle of) and lets go of the run lock.';

create or replace function app_private.start_retention_run_policy(run_id uuid, policy_name text, as_of timestamptz)
returns app_public.retention_run_policies as $$
  insert into app_public.retention_run_policies (run_id, policy_name, action, rows_spared_by_hold)
  select start_retention_run_policy.run_id, p.name, p.action, (app_private.retention_counts(p, start_retention_run_policy.as_of)).rows_spared_by_hold
  from app_public.retention_policies p where p.name = start_retention_run_policy.policy_name
  returning *;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.start_retention_run_policy(uuid, text, timestamptz) is
  E'Opens a policy''s row in a run, with the rows past their period that a legal hold spares.';

create or replace function app_private.add_retention_figures(run_id uuid, policy_name text,
  archived bigint default 0, deleted bigint default 0, cascade_deleted bigint default 0, anonymized bigint default 0,
  archives integer default 0, errors integer default 0, error text default null)
returns void as $$
  update app_public.retention_run_policies r set
    rows_archived = r.rows_archived + archived, rows_deleted = r.rows_deleted + deleted,
    cascade_rows_deleted = r.cascade_rows_deleted + cascade_deleted, rows_anonymized = r.rows_anonymized + anonymized,
    archives_written = r.archives_written + archives, errors = r.errors + add_retention_figures.errors,
    error = coalesce(r.error, add_retention_figures.error)
  where r.run_id = add_retention_figures.run_id and r.policy_name = add_retention_figures.policy_name;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.add_retention_figures(uuid, text, bigint, bigint, bigint, bigint, integer, integer, text) is
  E'Adds a batch''s figures to a policy''s row in a run, in the batch''s own transaction (so the log says what committed); the first error''s words are kept.';

create or replace function app_private.finish_retention_run_policy(run_id uuid, policy_name text, status text,
  error text default null, note text default null)
returns app_public.retention_run_policies as $$
  update app_public.retention_run_policies r set status = finish_retention_run_policy.status, finished_at = pg_catalog.now(),
    errors = r.errors + case when finish_retention_run_policy.error is not null then 1 else 0 end,
    error = coalesce(r.error, finish_retention_run_policy.error), note = coalesce(finish_retention_run_policy.note, r.note)
  where r.run_id = finish_retention_run_policy.run_id and r.policy_name = finish_retention_run_policy.policy_name
  returning *;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.finish_retention_run_policy(uuid, text, text, text, text) is
  E'Closes a policy''s row in a run: finished, failed (the error counts as one more) or skipped (with a note).';

revoke all on function app_private.retention_lock_key(), app_private.fail_abandoned_retention_runs(), app_private.close_abandoned_retention_runs(),
  app_private.start_retention_run(text, boolean, timestamptz, text, uuid),
  app_private.finish_retention_run(uuid, text), app_private.start_retention_run_policy(uuid, text, timestamptz),
  app_private.add_retention_figures(uuid, text, bigint, bigint, bigint, bigint, integer, integer, text),
  app_private.finish_retention_run_policy(uuid, text, text, text, text) from public;
--! EndIncluded retention/runs.sql

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

-- Sign-in limits (issue 18): refused attempts per account and per address in
-- a sliding window, counted in app_private.sign_in_attempts so that every API
-- server shares them; over a limit the password is not checked.

alter type app_private.sign_in_outcome add value if not exists 'rate_limited';
comment on type app_private.sign_in_outcome is
  E'How a sign-in attempt ended: signed_in, or refused for a wrong password, an email no account has, a disabled account (right password), or too many refused attempts (rate_limited: the password was not checked).';

-- The new enum value cannot be named in this transaction, so the checks compare its text.
alter table app_private.sign_in_attempts
  drop constraint sign_in_attempts_check,
  add constraint sign_in_attempts_unknown_email_check check (outcome <> 'unknown_email' or user_id is null),
  add constraint sign_in_attempts_no_user_check check (user_id is not null or outcome::text in ('unknown_email', 'rate_limited')),
  add column client_address text check (length(client_address) <= 100);
comment on column app_private.sign_in_attempts.client_address is
  E'The address the attempt came from, as the API saw it (custodian.client_ip); null from a session that set none. Personal data of the technical kind: plain in the audit trail, as the attribution''s address is.';
comment on column app_private.sign_in_attempts.outcome is E'signed_in, wrong_password, unknown_email, disabled or rate_limited.';
-- What the limits count: refused attempts for an email, and from an address, in the window.
create index sign_in_attempts_email_recent_idx on app_private.sign_in_attempts (email, attempted_at);
create index sign_in_attempts_address_recent_idx on app_private.sign_in_attempts (client_address, attempted_at) where client_address is not null;

alter type app_public.jwt_token add attribute refused_retry_after integer;
comment on type app_public.jwt_token is
  E'The claims of a signed session token; the server adds the expiry. A refused sign-in has no claims but refused_code (CREDS, 28000, RATE_LIMITED), refused_message and, when rate-limited, refused_retry_after (seconds), which the API turns into an error.';

create table app_private.sign_in_limits (
  id boolean primary key default true check (id),
  max_per_account integer not null default 10 check (max_per_account between 1 and 1000000),
  max_per_address integer not null default 50 check (max_per_address between 1 and 1000000),
  window_seconds integer not null default 900 check (window_seconds between 1 and 86400)
);
comment on table app_private.sign_in_limits is
  E'The one row of sign-in limits app_public.authenticate applies. Only the owner writes it: `custodian start` copies SIGN_IN_MAX_PER_ACCOUNT, SIGN_IN_MAX_PER_ADDRESS and SIGN_IN_WINDOW_SECONDS here, so every API server on the database applies the same and no session can raise them for itself. Not audit-tracked: it is configuration, rewritten from the environment at each start.';
comment on column app_private.sign_in_limits.id is E'Always true: the table has one row.';
comment on column app_private.sign_in_limits.max_per_account is E'Refused attempts for one email in the window before its sign-ins are refused unchecked.';
comment on column app_private.sign_in_limits.max_per_address is E'Refused attempts from one address (any email) in the window before its sign-ins are refused unchecked.';
comment on column app_private.sign_in_limits.window_seconds is E'The sliding window the attempts are counted in, in seconds.';
alter table app_private.sign_in_limits enable row level security;
insert into app_private.sign_in_limits default values;

--! Included auth/sign-in-limits.sql
-- How many refused sign-ins an account and an address may have in a sliding
-- window before app_public.authenticate stops checking passwords for them.
-- The counters are app_private.sign_in_attempts itself, so every API server
-- shares them; the limits are app_private.sign_in_limits, which only the
-- owner writes (`custodian start` copies SIGN_IN_MAX_PER_ACCOUNT,
-- SIGN_IN_MAX_PER_ADDRESS and SIGN_IN_WINDOW_SECONDS there), so no session
-- can raise them for itself.

create or replace function app_private.is_refused_sign_in(outcome app_private.sign_in_outcome) returns boolean as $$
  select outcome::text in ('wrong_password', 'unknown_email');
$$ language sql immutable;
comment on function app_private.is_refused_sign_in(app_private.sign_in_outcome) is
  E'Whether an attempt counts towards the limits: a wrong password or an unknown email. A disabled account''s attempt had the right password, and a rate-limited one checked none, so neither counts: a lock ends at most one window after the last guess.';

create or replace function app_private.sign_in_address_is_known(user_id uuid, address text) returns boolean as $$
  select exists (
    select from app_private.sign_in_attempts a
    where a.user_id = sign_in_address_is_known.user_id and a.client_address = sign_in_address_is_known.address
      and a.outcome = 'signed_in' and a.attempted_at > pg_catalog.now() - interval '30 days');
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.sign_in_address_is_known(uuid, text) is
  E'Whether the account signed in from this address in the last 30 days. Such an address counts only its own refused attempts against the account, so that someone guessing from elsewhere cannot lock the account''s holder out.';
revoke all on function app_private.sign_in_address_is_known(uuid, text) from public;

create or replace function app_private.seconds_until_below(attempted_at timestamptz[], max_attempts integer, window_length interval)
returns integer as $$
  -- attempted_at is in ascending order: once the first (n - max + 1) leave the window, fewer than max remain.
  select case when pg_catalog.cardinality(attempted_at) < max_attempts then null
    else greatest(1, pg_catalog.ceil(extract(epoch from
      attempted_at[pg_catalog.cardinality(attempted_at) - max_attempts + 1] + window_length - pg_catalog.now())))::integer
  end;
$$ language sql stable;
comment on function app_private.seconds_until_below(timestamptz[], integer, interval) is
  E'Null when fewer than max_attempts attempts (ascending) are in the window; otherwise the whole seconds (at least 1) until enough of the oldest leave it for one more attempt.';

create or replace function app_private.sign_in_wait(email citext, user_id uuid, address text,
  out limit_reached text, out retry_after_seconds integer) as $$
declare
  limits app_private.sign_in_limits;
  window_length interval;
  known_address boolean := address is not null and user_id is not null and app_private.sign_in_address_is_known(user_id, address);
begin
  select l.* into strict limits from app_private.sign_in_limits l;
  window_length := pg_catalog.make_interval(secs => limits.window_seconds);
  retry_after_seconds := app_private.seconds_until_below(array(
    select a.attempted_at from app_private.sign_in_attempts a
    where a.email = sign_in_wait.email and a.attempted_at > pg_catalog.now() - window_length
      and app_private.is_refused_sign_in(a.outcome)
      and (not known_address or a.client_address = address)
    order by a.attempted_at), limits.max_per_account, window_length);
  if retry_after_seconds is not null then
    limit_reached := 'account';
    return;
  end if;
  if address is null then return; end if;
  retry_after_seconds := app_private.seconds_until_below(array(
    select a.attempted_at from app_private.sign_in_attempts a
    where a.client_address = address and a.attempted_at > pg_catalog.now() - window_length
      and app_private.is_refused_sign_in(a.outcome)
    order by a.attempted_at), limits.max_per_address, window_length);
  if retry_after_seconds is not null then limit_reached := 'address'; end if;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.sign_in_wait(citext, uuid, text) is
  E'Whether a sign-in with this email, from this address, is over a limit of app_private.sign_in_limits: ''account'' (refused attempts for the email; from an address the account signed in from lately, only that address''s) or ''address'' (refused attempts from the address, any email), with the seconds until one more attempt is allowed; nulls when within both.';
revoke all on function app_private.sign_in_wait(citext, uuid, text) from public;
--! EndIncluded auth/sign-in-limits.sql
--! Included auth/authenticate.sql
-- Sign-in: an email and a password make a session token. Every attempt,
-- refused or not, is a row of app_private.sign_in_attempts (audited), so a
-- refusal is answered with a row rather than an error: an error would roll
-- the record of the attempt back with it. Over a limit of
-- auth/sign-in-limits.sql, the password is not checked and the answer says
-- which limit and how long to wait.

create or replace function app_private.sign_in_subject(email citext) returns uuid as $$
  select coalesce(
    (select a.subject_id from app_private.sign_in_attempts a
     where a.email = sign_in_subject.email and a.user_id is null
     order by a.attempted_at limit 1),
    pg_catalog.gen_random_uuid());
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.sign_in_subject(citext) is
  E'The person the audit trail files an attempt with an unknown email under: the same id for every attempt with that email, so that their pii is sealed under one key and one audit.destroy_subject_key erases it.';
revoke all on function app_private.sign_in_subject(citext) from public;

create or replace function app_public.authenticate(email citext, password text) returns app_public.jwt_token as $$
declare
  account app_public.users;
  stored_hash text;
  outcome app_private.sign_in_outcome;
  new_session_id uuid;
  attempted_email citext := pg_catalog.left(coalesce(email::text, ''), 320);
  -- Set by the API from the request (src/server/auth.ts); a psql session has none unless it sets one.
  address text := nullif(pg_catalog.left(pg_catalog.current_setting('custodian.client_ip', true), 100), '');
  wait record;
begin
  -- One attempt per email at a time, so that attempts sent at once are counted one after another.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('custodian.sign_in:' || pg_catalog.lower(attempted_email::text), 0));
  select u.* into account from app_public.users u where u.email = authenticate.email;
  select s.password_hash into stored_hash from app_private.user_secrets s where s.user_id = account.id;
  select * into wait from app_private.sign_in_wait(attempted_email, account.id, address);
  if wait.limit_reached is not null then
    outcome := 'rate_limited';
  elsif stored_hash is null then
    -- Hash even when the account is missing, so timing does not reveal which emails exist.
    perform crypt(coalesce(password, ''), gen_salt('bf', 10));
    outcome := case when account.id is null then 'unknown_email' else 'wrong_password' end;
  elsif crypt(coalesce(password, ''), stored_hash) <> stored_hash then
    outcome := 'wrong_password';
  elsif account.disabled_at is not null then
    outcome := 'disabled';
  else
    -- No token lives longer than 30 days (JWT_TTL_SECONDS), nor need its session.
    delete from app_private.user_sessions s
      where s.user_id = account.id and s.created_at < pg_catalog.now() - interval '30 days';
    insert into app_private.user_sessions (user_id) values (account.id) returning id into new_session_id;
    outcome := 'signed_in';
  end if;

  insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, session_id, client_address)
  values (attempted_email, account.id, coalesce(account.id, app_private.sign_in_subject(attempted_email)), outcome, new_session_id, address);

  return case outcome
    when 'signed_in' then (account.role::text, account.id, new_session_id, null, null, null)::app_public.jwt_token
    when 'disabled' then (null, null, null, '28000', 'This account is disabled; an admin can enable it again.', null)::app_public.jwt_token
    -- An unknown email is limited like a known one, so the answer does not tell them apart either.
    when 'rate_limited' then (null, null, null, 'RATE_LIMITED',
      pg_catalog.format('Too many sign-in attempts %s; try again in %s seconds.',
        case wait.limit_reached when 'account' then 'for this account' else 'from this address' end, wait.retry_after_seconds),
      wait.retry_after_seconds)::app_public.jwt_token
    -- A wrong email and a wrong password read the same.
    else (null, null, null, 'CREDS', 'Incorrect email or password.', null)::app_public.jwt_token
  end;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.authenticate(citext, text) is
  E'@resultFieldName jwtToken\nChecks an email and password and returns a signed token for a new session. A wrong email and a wrong password give the same error, and a disabled account cannot sign in. Too many refused attempts for the email, or from the caller''s address, in the sign-in window are answered with RATE_LIMITED and the seconds to wait, without checking the password. Every attempt, successful or refused, is recorded in the audit trail; the password never is.';

grant execute on function app_public.authenticate(citext, text)
  to custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded auth/authenticate.sql

--! Included gdpr/classify-custodian.sql
-- The map of personal data for Custodian's own tables: every text, varchar,
-- citext and jsonb column (test/gdpr/personal-data-map.test.ts fails on one
-- left out), and the uuid columns that name a person. A new table's
-- migration adds its rows here. Identity, contact and content columns of
-- tracked tables become pii in the audit trail through classify_column.

select governance.classify_column(m.target::regclass, m.column_name::name, m.category::governance.data_category,
  m.subject_kind::governance.data_subject_kind, m.purpose, m.legal_basis::governance.legal_basis,
  case when m.target <> 'audit.events' or m.subject_kind = 'none' then null
       when m.subject_kind = 'user' then 'user_id' else 'subject_id' end)
from (values
  -- Accounts
  ('app_public.users', 'id', 'technical', 'user', 'Identifies the account of a coach, admin or auditor.', 'contract'),
  ('app_public.users', 'email', 'contact', 'user', 'Signing in and contacting the account holder.', 'contract'),
  ('app_public.users', 'display_name', 'identity', 'user', 'Showing who acts in the console and in the audit trail.', 'contract'),
  ('app_private.user_secrets', 'password_hash', 'technical', 'user', 'Checking the password at sign-in (never stored in the audit trail).', 'contract'),
  ('app_private.sign_in_attempts', 'email', 'contact', 'any', 'Detecting and investigating attacks on accounts.', 'legitimate_interests'),
  ('app_private.sign_in_attempts', 'subject_id', 'technical', 'any', 'Naming the person an attempt is about, so that erasing them reaches it.', 'legitimate_interests'),
  ('app_private.sign_in_attempts', 'client_address', 'technical', 'any', 'Limiting sign-in attempts per address, and investigating attacks on accounts.', 'legitimate_interests'),
  -- Coaching
  ('app_public.coach_profiles', 'display_name', 'identity', 'user', 'Presenting the coach to their clients.', 'contract'),
  ('app_public.coach_profiles', 'bio', 'content', 'user', 'Presenting the coach to their clients.', 'contract'),
  ('app_public.coach_profiles', 'timezone', 'technical', 'user', 'Showing times and billing days in the coach''s zone.', 'contract'),
  ('app_public.clients', 'id', 'technical', 'client', 'Identifies the client across sessions, requests and the audit trail.', 'contract'),
  ('app_public.clients', 'full_name', 'identity', 'client', 'The coach knowing whom they coach.', 'contract'),
  ('app_public.clients', 'email', 'contact', 'client', 'The coach contacting their client.', 'contract'),
  ('app_public.clients', 'phone', 'contact', 'client', 'The coach contacting their client.', 'contract'),
  ('app_public.clients', 'notes', 'content', 'client', 'The coach''s notes about the coaching.', 'contract'),
  ('app_public.coaching_sessions', 'title', 'content', 'client', 'Naming a recorded coaching session.', 'contract'),
  ('app_public.coaching_sessions', 'audio_object_key', 'technical', 'client', 'Finding the session''s recording in storage.', 'contract'),
  ('app_public.transcriptions', 'transcript_text', 'content', 'client', 'The transcript of a recorded session, which the coach asked for.', 'contract'),
  ('app_public.transcriptions', 'error_message', 'content', 'client', 'Why a transcription failed (a provider''s message may quote the recording).', 'contract'),
  ('app_public.transcriptions', 'provider', 'not_personal', 'none', 'Which provider transcribed, for billing and costs.', 'not_applicable'),
  ('app_public.transcriptions', 'model', 'not_personal', 'none', 'Which model transcribed, for billing and costs.', 'not_applicable'),
  ('app_public.transcriptions', 'language', 'not_personal', 'none', 'The language the provider was asked to transcribe.', 'not_applicable'),
  -- Billing and usage: no personal data (usage events are kept after erasure, Art. 17(3))
  ('app_public.billing_plans', 'name', 'not_personal', 'none', 'Naming a billing plan.', 'not_applicable'),
  ('app_public.billing_plans', 'currency', 'not_personal', 'none', 'Billing.', 'not_applicable'),
  ('app_public.provider_rates', 'provider', 'not_personal', 'none', 'Provider costs.', 'not_applicable'),
  ('app_public.provider_rates', 'model', 'not_personal', 'none', 'Provider costs.', 'not_applicable'),
  ('app_public.provider_rates', 'currency', 'not_personal', 'none', 'Provider costs.', 'not_applicable'),
  ('app_public.invoices', 'plan_name', 'not_personal', 'none', 'A frozen invoice''s plan, as billed.', 'not_applicable'),
  ('app_public.invoices', 'currency', 'not_personal', 'none', 'Billing.', 'not_applicable'),
  ('app_public.usage_events', 'provider', 'not_personal', 'none', 'Metering and billing.', 'not_applicable'),
  ('app_public.usage_events', 'model', 'not_personal', 'none', 'Metering and billing.', 'not_applicable'),
  ('app_public.usage_events', 'language', 'not_personal', 'none', 'Metering and billing.', 'not_applicable'),
  ('app_public.usage_events', 'rule_version', 'not_personal', 'none', 'Which billing rule priced an event.', 'not_applicable'),
  ('app_public.usage_events', 'note', 'not_personal', 'none', 'Why staff corrected a usage event: about billing, never about a person.', 'not_applicable'),
  ('app_public.usage_daily', 'provider', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_public.usage_daily', 'model', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_private.usage_daily_totals', 'provider', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_private.usage_daily_totals', 'model', 'not_personal', 'none', 'Usage rollups.', 'not_applicable'),
  ('app_private.usage_records', 'provider', 'not_personal', 'none', 'Usage capture.', 'not_applicable'),
  ('app_private.usage_records', 'model', 'not_personal', 'none', 'Usage capture.', 'not_applicable'),
  ('app_private.usage_records', 'language', 'not_personal', 'none', 'Usage capture.', 'not_applicable'),
  ('app_private.worker_heartbeats', 'task', 'not_personal', 'none', 'Watching the worker.', 'not_applicable'),
  ('app_private.worker_pools', 'pool_id', 'not_personal', 'none', 'Telling which worker pool locked a job, to free the jobs of one that died.', 'not_applicable'),
  ('app_private.worker_pools', 'host', 'not_personal', 'none', 'Which machine a worker pool runs on, for operators.', 'not_applicable'),
  -- The audit trail: its values are sealed per person (audit.column_policies)
  ('audit.events', 'table_schema', 'not_personal', 'none', 'Which table an event is about.', 'not_applicable'),
  ('audit.events', 'table_name', 'not_personal', 'none', 'Which table an event is about.', 'not_applicable'),
  ('audit.events', 'record_key', 'technical', 'any', 'Which record an event is about.', 'legal_obligation'),
  ('audit.events', 'old_values', 'content', 'any', 'Accountability for every change; pii sealed under the person''s key, erased with it.', 'legal_obligation'),
  ('audit.events', 'new_values', 'content', 'any', 'Accountability for every change; pii sealed under the person''s key, erased with it.', 'legal_obligation'),
  ('audit.events', 'details', 'technical', 'any', 'What a delete or truncate did.', 'legal_obligation'),
  ('audit.events', 'subject_id', 'technical', 'any', 'Whose pii an event holds, so that erasing them reaches it.', 'legal_obligation'),
  ('audit.events', 'user_role', 'not_personal', 'none', 'The writer''s role.', 'not_applicable'),
  ('audit.events', 'request_id', 'technical', 'user', 'Tying an event to the API request that wrote it.', 'legitimate_interests'),
  ('audit.events', 'client_ip', 'technical', 'user', 'Where a write came from, for security investigations.', 'legitimate_interests'),
  ('audit.events', 'user_agent', 'technical', 'user', 'What software wrote, for security investigations.', 'legitimate_interests'),
  ('audit.events', 'task', 'not_personal', 'none', 'Which worker job wrote.', 'not_applicable'),
  ('audit.events', 'job_id', 'not_personal', 'none', 'Which worker job wrote.', 'not_applicable'),
  ('audit.events', 'database_role', 'not_personal', 'none', 'Which database role wrote.', 'not_applicable'),
  ('audit.events', 'session_user_name', 'not_personal', 'none', 'Which database login wrote.', 'not_applicable'),
  ('audit.events', 'application_name', 'not_personal', 'none', 'Which program wrote.', 'not_applicable'),
  ('audit.tracked_tables', 'columns_signature', 'not_personal', 'none', 'The audit trail''s configuration.', 'not_applicable'),
  ('audit.chain_checkpoints', 'partition_name', 'not_personal', 'none', 'Which month of the audit trail was archived and dropped.', 'not_applicable'),
  ('audit.chain_checkpoints', 'archive_store', 'not_personal', 'none', 'Where that month''s archive is stored.', 'not_applicable'),
  -- Governance
  ('governance.hard_deletions', 'table_schema', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'table_name', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'row_id', 'technical', 'any', 'Which row a hard delete removed.', 'legal_obligation'),
  ('governance.hard_deletions', 'reason', 'not_personal', 'none', 'Why an operator hard-deleted: the case, not details of the person.', 'not_applicable'),
  ('governance.archive_restorations', 'table_name', 'not_personal', 'none', 'Which table an archive restore wrote into.', 'not_applicable'),
  ('governance.soft_delete_tables', 'key_type', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.soft_delete_tables', 'noun', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.personal_data_columns', 'purpose', 'not_personal', 'none', 'The map of personal data itself.', 'not_applicable'),
  -- GDPR
  ('app_public.legal_holds', 'reason', 'not_personal', 'none', 'Why data must be kept: the case or obligation, not details of the person.', 'not_applicable'),
  ('app_public.legal_holds', 'release_reason', 'not_personal', 'none', 'Why a hold no longer applies.', 'not_applicable'),
  ('app_public.data_subject_requests', 'subject_id', 'technical', 'any', 'Whom a request is about.', 'legal_obligation'),
  ('app_public.data_subject_requests', 'verification', 'content', 'any', 'Proof that the requester is the person (Art. 12(6)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'extension_reason', 'content', 'any', 'Why answering takes longer (Art. 12(3)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'rejection_reason', 'content', 'any', 'Why a request was refused (Art. 12(4)).', 'legal_obligation'),
  ('app_public.consents', 'client_id', 'technical', 'client', 'Whose consent decision it is: the proof of consent (Art. 7(1)).', 'legal_obligation'),
  ('app_public.consents', 'wording_version', 'not_personal', 'none', 'Which consent text was shown: the same for every client.', 'not_applicable'),
  ('app_public.consents', 'wording_sha256', 'not_personal', 'none', 'The SHA-256 of the consent text shown: a hash of the standard wording, not of anything about the client.', 'not_applicable'),
  ('app_public.processing_restrictions', 'client_id', 'technical', 'client', 'Whose processing is restricted (Art. 18).', 'legal_obligation'),
  ('app_public.processing_restrictions', 'reason', 'not_personal', 'none', 'The ground of a restriction: the Art. 18(1) case, not details of the person.', 'not_applicable'),
  ('app_public.processing_restrictions', 'lift_reason', 'not_personal', 'none', 'Why a restriction no longer applies.', 'not_applicable'),
  ('app_public.data_subject_erasures', 'subject_id', 'technical', 'any', 'Whom an erasure was about: an id, kept as proof the erasure happened (Art. 5(2)).', 'legal_obligation'),
  ('app_public.data_subject_erasures', 'rows_by_table', 'not_personal', 'none', 'Which tables an erasure reached and how many rows: counts, never values.', 'not_applicable'),
  ('app_public.data_subject_erasures', 'override_reason', 'not_personal', 'none', 'Why an admin erased under a legal hold: the case, not details of the person.', 'not_applicable'),
  ('app_public.data_subject_exports', 'sha256', 'technical', 'any', 'Proving which file answered an access or portability request (Art. 15, 20), after its bytes are deleted.', 'legal_obligation'),
  ('app_public.data_subject_exports', 'manifest', 'technical', 'any', 'What an export held (files, row counts, hashes; no values), kept as the record that it was answered.', 'legal_obligation'),
  -- Retention
  ('app_public.retention_policies', 'name', 'not_personal', 'none', 'Naming a retention policy.', 'not_applicable'),
  ('app_public.retention_policies', 'category', 'not_personal', 'none', 'The data category a retention policy governs.', 'not_applicable'),
  ('app_public.retention_policies', 'target_table', 'not_personal', 'none', 'The table a retention policy governs.', 'not_applicable'),
  ('app_public.retention_policies', 'description', 'not_personal', 'none', 'Why a retention period was chosen.', 'not_applicable'),
  ('app_public.retention_runs', 'status', 'not_personal', 'none', 'How a retention run ended.', 'not_applicable'),
  ('app_public.retention_runs', 'policy_name', 'not_personal', 'none', 'Which retention policy a run applied.', 'not_applicable'),
  ('app_public.retention_runs', 'task', 'not_personal', 'none', 'What started a retention run.', 'not_applicable'),
  ('app_public.retention_runs', 'error', 'not_personal', 'none', 'Why a retention run failed: a message naming tables, constraints and keys, never a person''s values.', 'not_applicable'),
  ('app_public.retention_run_policies', 'policy_name', 'not_personal', 'none', 'Which retention policy a run''s figures are about.', 'not_applicable'),
  ('app_public.retention_run_policies', 'status', 'not_personal', 'none', 'How a policy''s part of a run ended.', 'not_applicable'),
  ('app_public.retention_run_policies', 'error', 'not_personal', 'none', 'Why rows of a policy failed: a message naming tables, constraints and keys, never a person''s values.', 'not_applicable'),
  ('app_public.retention_run_policies', 'note', 'not_personal', 'none', 'Why a policy was skipped.', 'not_applicable'),
  ('app_public.retention_archives', 'kind', 'not_personal', 'none', 'What an archive holds.', 'not_applicable'),
  ('app_public.retention_archives', 'policy_name', 'not_personal', 'none', 'Which retention policy wrote an archive.', 'not_applicable'),
  ('app_public.retention_archives', 'store', 'not_personal', 'none', 'Where an archive is stored.', 'not_applicable'),
  ('app_public.retention_archives', 'manifest', 'not_personal', 'none', 'What an archive holds: files, counts, checksums and the archived rows'' keys, never their values.', 'not_applicable')
) as m(target, column_name, category, subject_kind, purpose, legal_basis);
--! EndIncluded gdpr/classify-custodian.sql
