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

--!include worker/gone-workers.sql
--!include retention/runs.sql
--!include gdpr/classify-custodian.sql
