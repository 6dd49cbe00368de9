--! Previous: sha1:80d9e326663f951cc4aefcd5a191a02f0b89b5e3
--! Hash: sha1:8f8c0b77e45d35da27fc9cb133a38e4a18a6e972
--! Message: issue 17 retention console: a run asked for from the console

-- Issue 17, retention console: an admin queues a retention run from the console.

--! Included retention/request-run.sql
-- A retention run asked for from the console: an admin queues the worker's
-- retention_run job (which the daily crontab entry also runs), naming who asked.

drop function if exists app_public.request_retention_run(text, boolean, timestamptz);
create function app_public.request_retention_run(policy text default null, dry_run boolean default true, as_of timestamptz default null)
returns bigint as $$
declare
  judged_at timestamptz := coalesce(as_of, pg_catalog.now());
  -- Not typed as graphile_worker's row: its schema is installed by the worker, after the migrations.
  job_id bigint;
begin
  -- The grant admits admins only; this says so to anyone it reaches otherwise (an owner's session is an admin too).
  if not governance.caller_is_staff() then
    raise exception 'Only an admin may start a retention run.' using errcode = '42501';
  end if;
  if dry_run is null then
    raise exception 'Say whether the run is a dry run (true: it only counts) or a real one (false).' using errcode = '22004';
  end if;
  if policy is not null and not exists (select from app_public.retention_policies p where p.name = request_retention_run.policy) then
    raise exception 'There is no retention policy "%".', policy using errcode = 'P0002';
  end if;
  -- The same refusal the runner makes (app_private.start_retention_run), said before the job is queued.
  if not dry_run and judged_at > pg_catalog.now() then
    raise exception 'A retention run cannot act as of % : that is in the future, and rows would go before their time. Only a dry run may look ahead.', judged_at
      using errcode = '22023';
  end if;
  -- One queue: runs asked for one after the other run one after the other, not refused by each other.
  select j.id into job_id from graphile_worker.add_job('retention_run',
    pg_catalog.json_strip_nulls(pg_catalog.json_build_object(
      'policy', policy, 'dryRun', dry_run, 'asOf', judged_at, 'startedBy', app_public.current_user_id())),
    queue_name => 'retention_run', max_attempts => 1) j;
  return job_id;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.request_retention_run(text, boolean, timestamptz) is
  E'Queues a retention run for the worker (one policy, or every enabled policy when policy is null), as of asOf (now by default): a dry run by default, which only counts. Admins only; refused for an unknown policy and, unless a dry run, as of a future instant. Returns the worker job''s id; the run appears in the run log, started by the caller, once the worker has done it.';

revoke all on function app_public.request_retention_run(text, boolean, timestamptz) from public;
grant execute on function app_public.request_retention_run(text, boolean, timestamptz) to custodian_admin;
--! EndIncluded retention/request-run.sql
