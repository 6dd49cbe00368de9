--! Previous: sha1:14e486cbd8d1fa7a97ad16f9f3755b480713ac26
--! Hash: sha1:b0e1c5d3260888be6584b351f31b8e83ab4b4f78
--! Message: worker heartbeat, and row-level security on internal tables

create table app_private.worker_heartbeats (
  task text primary key,
  last_job_id bigint not null,
  last_seen_at timestamptz not null default now()
);
comment on table app_private.worker_heartbeats is
  E'The last job of each heartbeat task the worker ran: proof that the worker is alive.';

create function app_private.record_worker_heartbeat(job_id bigint) returns void as $$
  insert into app_private.worker_heartbeats (task, last_job_id, last_seen_at)
    values ('worker_heartbeat', job_id, pg_catalog.now())
  on conflict (task) do update set last_job_id = excluded.last_job_id, last_seen_at = excluded.last_seen_at;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.record_worker_heartbeat(bigint) is
  E'Notes that the worker ran a heartbeat job just now.';

create function app_public.worker_last_seen_at() returns timestamptz as $$
  select max(last_seen_at) from app_private.worker_heartbeats;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.worker_last_seen_at() is
  E'When the job worker last ran a heartbeat; null if it never has.';
-- /healthz asks as the authenticator itself, before any request role is set.
grant usage on schema app_public to custodian_authenticator;
grant execute on function app_public.worker_last_seen_at()
  to custodian_authenticator, custodian_anonymous, custodian_coach, custodian_admin, custodian_auditor;

-- Internal tables get row-level security too: with no policy, only the owner
-- reaches them, even if a grant slips in later.
alter table app_private.user_secrets enable row level security;
alter table app_private.worker_heartbeats enable row level security;
