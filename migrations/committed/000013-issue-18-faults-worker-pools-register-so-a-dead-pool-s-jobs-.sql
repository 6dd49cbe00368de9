--! Previous: sha1:a45d9576e2da38ac4e92d3a7a2b4528ba98512cf
--! Hash: sha1:acdee260f91b475aeb972bfe2140a4c32920b0c9
--! Message: Issue 18 faults: worker pools register, so a dead pool's jobs are released at once; an abandoned retention run closes with its policies

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
