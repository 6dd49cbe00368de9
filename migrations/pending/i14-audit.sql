-- Issue 14, the audit side: attribution without a second insert, and a
-- capture that costs a one-row statement as little as the simplest design.
-- Every event carries who wrote it (the columns audit.transactions had);
-- audit.transactions becomes a view of them. Events written before keep
-- their transaction's attribution, copied onto each of them, so that they
-- hash as they did when they were sealed.

create type audit.attribution as (
  actor_kind audit.actor_kind,
  user_id uuid,
  user_role text,
  request_id text,
  client_ip text,
  user_agent text,
  task text,
  job_id text,
  database_role text,
  session_user_name text,
  application_name text,
  client_addr inet
);
comment on type audit.attribution is E'Who is writing, as a capture stores it on each event (see audit.events.actor_kind and after).';

alter table audit.events
  add column actor_kind audit.actor_kind,
  add column user_id uuid,
  add column user_role text,
  add column request_id text,
  add column client_ip text,
  add column user_agent text,
  add column task text,
  add column job_id text,
  add column database_role text,
  add column session_user_name text,
  add column application_name text,
  add column client_addr inet;
comment on column audit.events.transaction_id is E'The writing transaction.';
comment on column audit.events.actor_kind is E'Who wrote: user, worker, migration, system or unknown; null only for an event older than attribution.';
comment on column audit.events.user_id is E'The API user, from the token.';
comment on column audit.events.user_role is E'The API user''s role, from the token.';
comment on column audit.events.request_id is E'The HTTP request id (X-Request-Id).';
comment on column audit.events.client_ip is E'The HTTP client''s address.';
comment on column audit.events.user_agent is E'The HTTP client''s user agent.';
comment on column audit.events.task is E'The worker task that wrote.';
comment on column audit.events.job_id is E'The worker job that wrote.';
comment on column audit.events.database_role is E'The PostgreSQL role in effect (SET ROLE), else the session user.';
comment on column audit.events.session_user_name is E'The role that logged in.';
comment on column audit.events.application_name is E'The connection''s application_name.';
comment on column audit.events.client_addr is E'The connection''s client address; null for a local socket.';

--!include audit/capture-sql.sql
--!include audit/capture-generator.sql

select audit.generate_capture(t.table_oid)
from audit.tracked_tables t join pg_catalog.pg_class c on c.oid = t.table_oid
where t.disabled_at is null;

-- The earlier events take their transaction's attribution: the one change
-- ever made to written events, with the append-only rule off for it alone.
do $move$
declare
  partition regclass;
begin
  for partition in
    select i.inhrelid::regclass from pg_catalog.pg_inherits i where i.inhparent = 'audit.events'::regclass
  loop
    execute pg_catalog.format('alter table %s disable trigger _010_append_only', partition);
  end loop;
  update audit.events e set
    actor_kind = t.actor_kind, user_id = t.user_id, user_role = t.user_role, request_id = t.request_id,
    client_ip = t.client_ip, user_agent = t.user_agent, task = t.task, job_id = t.job_id,
    database_role = t.database_role, session_user_name = t.session_user_name,
    application_name = t.application_name, client_addr = t.client_addr
  from audit.transactions t
  where t.xact_id = e.transaction_id and t.started_at = e.occurred_at and e.actor_kind is null;
  for partition in
    select i.inhrelid::regclass from pg_catalog.pg_inherits i where i.inhparent = 'audit.events'::regclass
  loop
    execute pg_catalog.format('alter table %s enable trigger _010_append_only', partition);
  end loop;
end;
$move$;

drop function audit.event_digest(audit.events, audit.transactions);
drop table audit.transactions;

--!include audit/attribution.sql
--!include audit/append-only.sql
--!include audit/policies.sql
--!include audit/read-api.sql
--!include audit/sealing.sql
--!include audit/partitions.sql
