--! Previous: sha1:b0e1c5d3260888be6584b351f31b8e83ab4b4f78
--! Hash: sha1:a861776ccfd452a1e5ffef464dfdf9deeca8e4f3
--! Message: audit trail

-- The audit trail. Every write to a tracked table is recorded by PostgreSQL
-- itself, in the writer's transaction, by statement-level triggers with
-- transition tables: one insert per statement, whoever the writer is.
-- Attribution is stored once per transaction. A worker job seals events into
-- a SHA-256 hash chain; verify recomputes it.

create schema audit;
comment on schema audit is
  E'The audit trail: tracking configuration, captured events, per-transaction attribution and seals. Reached by the API only through app_public functions.';
grant usage on schema audit to custodian_coach, custodian_admin, custodian_auditor;

create type audit.operation as enum ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE');
comment on type audit.operation is E'The kind of write an event records.';
create type audit.actor_kind as enum ('user', 'worker', 'migration', 'system', 'unknown');
comment on type audit.actor_kind is
  E'Who wrote: an API user, a worker job, a migration, a Custodian command (system), or an unattributed session (unknown).';
create type audit.column_policy as enum ('plain', 'exclude', 'pii');
comment on type audit.column_policy is
  E'How a column''s values are kept in the trail: plain, exclude (never stored, only the fact that it changed) or pii (encrypted with a key of the person it is about).';

-- Configuration ----------------------------------------------------------------

create table audit.tracked_tables (
  table_oid regclass primary key,
  key_columns name[] not null check (cardinality(key_columns) > 0),
  owner_column name,
  subject_column name,
  subject_via regclass,
  subject_via_column name,
  columns_signature text not null,
  enabled_at timestamptz not null default now(),
  disabled_at timestamptz,
  check ((subject_via is null) = (subject_via_column is null)),
  check (subject_via is null or subject_column is not null)
);
comment on table audit.tracked_tables is
  E'The tables whose writes are captured, and how: their key, whose records they are and whose personal data they hold. Rows stay when tracking is disabled, so that the history stays readable.';
comment on column audit.tracked_tables.key_columns is E'The primary key columns; an event''s record_key holds their values.';
comment on column audit.tracked_tables.owner_column is E'A uuid column naming who owns the record (a coach profile or a user); coaches read the history of the records they own.';
comment on column audit.tracked_tables.subject_column is E'A uuid column naming the person the row''s pii is about, or leading to them through subject_via.';
comment on column audit.tracked_tables.subject_via is E'When set, subject_column references this table''s primary key and the subject is its subject_via_column.';
comment on column audit.tracked_tables.subject_via_column is E'The column of subject_via that names the subject.';
comment on column audit.tracked_tables.columns_signature is E'The columns the capture function was generated for; a change regenerates it.';
comment on column audit.tracked_tables.disabled_at is E'When tracking stopped; null while it runs.';

create table audit.column_policies (
  table_oid regclass not null,
  column_number smallint not null check (column_number > 0),
  policy audit.column_policy not null,
  primary key (table_oid, column_number)
);
comment on table audit.column_policies is
  E'Per column: plain (the default), exclude or pii. Keyed by the column''s number, so that renaming a column keeps its policy; kept when tracking is disabled, so that re-enabling never stores personal data in clear.';

create table app_private.audit_subject_keys (
  subject_id uuid primary key,
  key bytea check (octet_length(key) = 32),
  created_at timestamptz not null default now(),
  destroyed_at timestamptz,
  check ((key is null) = (destroyed_at is not null))
);
comment on table app_private.audit_subject_keys is
  E'One AES-256 key per person whose personal data the audit trail holds. Destroying a key makes that person''s pii in the trail unreadable without touching an audit row.';
alter table app_private.audit_subject_keys enable row level security;

-- Storage ----------------------------------------------------------------------

create table audit.transactions (
  xact_id xid8 not null,
  started_at timestamptz not null,
  actor_kind audit.actor_kind not null,
  user_id uuid,
  user_role text,
  request_id text,
  client_ip text,
  user_agent text,
  task text,
  job_id text,
  database_role text not null,
  session_user_name text not null,
  application_name text,
  client_addr inet,
  primary key (xact_id, started_at)
) partition by range (started_at);
comment on table audit.transactions is
  E'Who made the writes of one transaction, recorded once with its first event. Partitioned by month like the events.';
comment on column audit.transactions.xact_id is E'The transaction''s id (with started_at, unique even after a restore into another cluster).';
comment on column audit.transactions.started_at is E'When the transaction started; the time of each of its events.';
comment on column audit.transactions.actor_kind is E'user, worker, migration, system or unknown.';
comment on column audit.transactions.user_id is E'The API user, from the token.';
comment on column audit.transactions.user_role is E'The API user''s role, from the token.';
comment on column audit.transactions.request_id is E'The HTTP request id (X-Request-Id).';
comment on column audit.transactions.client_ip is E'The HTTP client''s address.';
comment on column audit.transactions.user_agent is E'The HTTP client''s user agent.';
comment on column audit.transactions.task is E'The worker task that wrote.';
comment on column audit.transactions.job_id is E'The worker job that wrote.';
comment on column audit.transactions.database_role is E'The PostgreSQL role in effect (SET ROLE), else the session user.';
comment on column audit.transactions.session_user_name is E'The role that logged in.';
comment on column audit.transactions.application_name is E'The connection''s application_name.';
comment on column audit.transactions.client_addr is E'The connection''s client address; null for a local socket.';

create table audit.events (
  id bigint generated always as identity,
  occurred_at timestamptz not null,
  transaction_id xid8 not null,
  table_schema text not null,
  table_name text not null,
  record_key jsonb not null,
  operation audit.operation not null,
  old_values jsonb,
  new_values jsonb,
  changed_columns text[],
  owner_id uuid,
  subject_id uuid,
  old_subject_id uuid
) partition by range (occurred_at);
comment on table audit.events is
  E'One row per row written in a tracked table. Partitioned by month; append-only; sealed into a hash chain in id order.';
comment on column audit.events.id is E'The event''s position in the trail.';
comment on column audit.events.occurred_at is E'When the writing transaction started.';
comment on column audit.events.transaction_id is E'The writing transaction; with occurred_at it leads to audit.transactions.';
comment on column audit.events.table_schema is E'The schema of the table written.';
comment on column audit.events.table_name is E'The table written.';
comment on column audit.events.record_key is E'The row''s primary key, as an object of column to value.';
comment on column audit.events.operation is E'INSERT, UPDATE, DELETE or TRUNCATE.';
comment on column audit.events.old_values is E'Before: the whole row for DELETE and TRUNCATE, the changed columns for UPDATE. Excluded columns are left out; pii values are encrypted.';
comment on column audit.events.new_values is E'After: the whole row for INSERT, the changed columns for UPDATE.';
comment on column audit.events.changed_columns is E'The columns an UPDATE changed, excluded ones included.';
comment on column audit.events.owner_id is E'Who owns the record (tracked_tables.owner_column).';
comment on column audit.events.subject_id is E'The person the row''s pii is about; their key encrypts it.';
comment on column audit.events.old_subject_id is E'For an UPDATE that moved the row to another person: the person the old values were about, whose key encrypts them.';

-- The only two indexes, as each one costs every write: id (sealing and
-- verifying in order, pagination) and the record key (a record's history).
-- The record index is a hash index: a jsonb btree compares keys field by
-- field and cost three times as much per event (bench/audit.ts).
create index events_id_idx on audit.events (id);
create index events_record_idx on audit.events using hash (record_key);

create table audit.seals (
  id bigint generated always as identity primary key,
  first_event_id bigint not null,
  last_event_id bigint not null,
  event_ids bigint[] not null,
  chain bytea[] not null,
  previous_hash bytea not null check (octet_length(previous_hash) = 32),
  hash bytea not null check (octet_length(hash) = 32),
  sealed_at timestamptz not null default now(),
  check (first_event_id <= last_event_id),
  check (cardinality(event_ids) = cardinality(chain) and cardinality(chain) > 0),
  check (event_ids[1] = first_event_id and event_ids[cardinality(event_ids)] = last_event_id),
  check (chain[cardinality(chain)] = hash)
);
comment on table audit.seals is
  E'The hash chain over the events, one row per sealed batch: h(i) = sha256(h(i-1) || sha256(event i)), starting from the previous seal''s hash.';
comment on column audit.seals.event_ids is E'The ids sealed, in order; an event missing or added later shows against this list.';
comment on column audit.seals.chain is E'The chain hash after each event, so that verify names the first event altered.';
comment on column audit.seals.previous_hash is E'The previous seal''s hash; 32 zero bytes for the first seal.';
comment on column audit.seals.hash is E'The chain hash after the batch''s last event.';

-- Append-only --------------------------------------------------------------------

create function audit.tg__refuse_change() returns trigger as $$
begin
  raise exception 'The audit trail is append-only: % on %.% is refused.', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    using errcode = '42501';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg__refuse_change() is
  E'Refuses UPDATE, DELETE and TRUNCATE on audit tables, even to their owner.';

create trigger _010_append_only before update or delete on audit.events
  for each row execute function audit.tg__refuse_change();
create trigger _010_append_only before update or delete on audit.transactions
  for each row execute function audit.tg__refuse_change();
create trigger _010_append_only before update or delete on audit.seals
  for each row execute function audit.tg__refuse_change();
create trigger _011_no_truncate before truncate on audit.events
  for each statement execute function audit.tg__refuse_change();
create trigger _011_no_truncate before truncate on audit.transactions
  for each statement execute function audit.tg__refuse_change();
create trigger _011_no_truncate before truncate on audit.seals
  for each statement execute function audit.tg__refuse_change();

-- Partitions -----------------------------------------------------------------------

create function audit.partition_name(parent regclass, month date) returns text as $$
  select pg_catalog.format('%s_%s',
    (select relname from pg_catalog.pg_class where oid = parent),
    pg_catalog.to_char(month, 'YYYY_MM'));
$$ language sql stable;
comment on function audit.partition_name(regclass, date) is E'The name of a parent''s partition for a month, e.g. events_2026_11.';

create function audit.create_month_partition(parent regclass, month date) returns void as $$
declare
  first_day date := pg_catalog.date_trunc('month', month)::date;
  partition_name text := audit.partition_name(parent, first_day);
begin
  if pg_catalog.to_regclass('audit.' || partition_name) is not null then
    return;
  end if;
  -- Month bounds in UTC whatever the session's time zone.
  execute pg_catalog.format(
    'create table audit.%I partition of %s for values from (%L) to (%L)',
    partition_name, parent,
    first_day::text || ' 00:00:00+00', (first_day + interval '1 month')::date::text || ' 00:00:00+00');
  execute pg_catalog.format(
    'create trigger _011_no_truncate before truncate on audit.%I for each statement execute function audit.tg__refuse_change()',
    partition_name);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.create_month_partition(regclass, date) is
  E'Creates the partition of an audit table for the month of a date, unless it exists.';

create function audit.create_default_partition(parent regclass) returns void as $$
declare
  partition_name text := (select relname from pg_catalog.pg_class where oid = parent) || '_default';
begin
  execute pg_catalog.format('create table audit.%I partition of %s default', partition_name, parent);
  execute pg_catalog.format(
    'create trigger _011_no_truncate before truncate on audit.%I for each statement execute function audit.tg__refuse_change()',
    partition_name);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.create_default_partition(regclass) is
  E'Creates the default partition that catches rows no month partition takes, so that a write never fails for a missing partition.';

create function audit.move_strays(parent regclass) returns integer as $$
declare
  default_name text := (select relname from pg_catalog.pg_class where oid = parent) || '_default';
  time_column text := case parent when 'audit.events'::regclass then 'occurred_at' else 'started_at' end;
  stray_month date;
  moved integer;
begin
  execute pg_catalog.format('select count(*) from audit.%I', default_name) into moved;
  if moved = 0 then
    return 0;
  end if;
  -- Writers wait for the swap; none fails. The rows are copied, never deleted:
  -- the old default partition is detached and dropped whole.
  execute pg_catalog.format('lock table %s in access exclusive mode', parent);
  execute pg_catalog.format('alter table %s detach partition audit.%I', parent, default_name);
  execute pg_catalog.format('alter table audit.%I rename to %I', default_name, default_name || '_moving');
  for stray_month in execute pg_catalog.format(
    'select distinct pg_catalog.date_trunc(''month'', %I at time zone ''UTC'')::date from audit.%I',
    time_column, default_name || '_moving')
  loop
    perform audit.create_month_partition(parent, stray_month);
  end loop;
  perform audit.create_default_partition(parent);
  execute pg_catalog.format('insert into %s %s select * from audit.%I', parent,
    case parent when 'audit.events'::regclass then 'overriding system value' else '' end,
    default_name || '_moving');
  execute pg_catalog.format('drop table audit.%I', default_name || '_moving');
  return moved;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.move_strays(regclass) is
  E'Moves rows out of an audit table''s default partition into month partitions made for them. One of the two governed paths that remove audit rows from a table; content and ids are kept, so seals still verify.';

create function audit.maintain_partitions(months_ahead integer default 2) returns integer as $$
declare
  parent regclass;
  month_offset integer;
  moved integer := 0;
begin
  if months_ahead is null or months_ahead < 0 or months_ahead > 24 then
    raise exception 'months_ahead must be between 0 and 24, not %.', months_ahead using errcode = '22023';
  end if;
  -- Making a partition locks the parent exclusively: behind a long export it
  -- would hold up every writer. Give up instead; the hourly job tries again,
  -- and partitions are made months ahead.
  perform pg_catalog.set_config('lock_timeout', '2s', true);
  foreach parent in array array['audit.events', 'audit.transactions']::regclass[] loop
    moved := moved + audit.move_strays(parent);
    for month_offset in 0..months_ahead loop
      perform audit.create_month_partition(parent,
        (pg_catalog.date_trunc('month', pg_catalog.now() at time zone 'UTC') + month_offset * interval '1 month')::date);
    end loop;
  end loop;
  return moved;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.maintain_partitions(integer) is
  E'Makes month partitions from this month to months_ahead months on, and moves strays out of the default partitions; returns how many rows moved. The worker runs it hourly.';

select audit.create_default_partition('audit.events');
select audit.create_default_partition('audit.transactions');
select audit.maintain_partitions(1);

-- Attribution --------------------------------------------------------------------

create function audit.attribution_sql() returns text as $$
  select pg_catalog.format($sql$
  -- Who wrote, once per transaction, and only if a row was written. A
  -- transaction-local note makes later statements cheap; the row is the
  -- truth, so a forged note cannot skip it.
  if found then
    if pg_catalog.current_setting('audit.attributed_transaction', true)
        is distinct from pg_catalog.pg_current_xact_id()::text then
      %1$s
      noted := pg_catalog.set_config('audit.attributed_transaction', pg_catalog.pg_current_xact_id()::text, true);
    elsif not exists (
      select from audit.transactions t
      where t.xact_id operator(pg_catalog.=) pg_catalog.pg_current_xact_id()
        and t.started_at operator(pg_catalog.=) pg_catalog.now()
    ) then
      %1$s
    end if;
  end if;
$sql$, $insert$insert into audit.transactions (
        xact_id, started_at, actor_kind, user_id, user_role, request_id, client_ip, user_agent, task, job_id,
        database_role, session_user_name, application_name, client_addr
      ) values (
        pg_catalog.pg_current_xact_id(),
        pg_catalog.now(),
        case pg_catalog.current_setting('custodian.actor_kind', true)
          when 'user' then 'user' when 'worker' then 'worker' when 'migration' then 'migration'
          when 'system' then 'system' else 'unknown'
        end::audit.actor_kind,
        case when pg_catalog.current_setting('jwt.claims.user_id', true) operator(pg_catalog.~*) '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
          then pg_catalog.current_setting('jwt.claims.user_id', true)::uuid end,
        nullif(pg_catalog.current_setting('jwt.claims.role', true), ''),
        nullif(pg_catalog.current_setting('custodian.request_id', true), ''),
        nullif(pg_catalog.current_setting('custodian.client_ip', true), ''),
        nullif(pg_catalog.current_setting('custodian.user_agent', true), ''),
        nullif(pg_catalog.current_setting('custodian.task', true), ''),
        nullif(pg_catalog.current_setting('custodian.job_id', true), ''),
        coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user),
        session_user,
        nullif(pg_catalog.current_setting('application_name'), ''),
        pg_catalog.inet_client_addr()
      ) on conflict do nothing;$insert$);
$$ language sql immutable;
comment on function audit.attribution_sql() is
  E'The PL/pgSQL every capture function ends with: it records who is writing, once per transaction (the API''s, the worker''s or a migration''s settings, else the session user, application_name and client address). Inlined rather than called, which saves a function call per transaction.';

-- Personal data ------------------------------------------------------------------

create function audit.subject_key(subject_id uuid) returns bytea as $$
declare
  found_key bytea;
begin
  if subject_id is null then
    return null;
  end if;
  select key into found_key from app_private.audit_subject_keys k where k.subject_id = subject_key.subject_id;
  if not found then
    insert into app_private.audit_subject_keys (subject_id, key)
      values (subject_key.subject_id, public.gen_random_bytes(32))
      on conflict do nothing;
    select key into found_key from app_private.audit_subject_keys k where k.subject_id = subject_key.subject_id;
  end if;
  return found_key;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.subject_key(uuid) is
  E'The key that encrypts a person''s pii in the trail, made on first use; null once destroyed. Only security definer functions call it: keys never reach a caller.';

create function audit.encrypt_pii(subject_id uuid, plain jsonb) returns jsonb as $$
declare
  key bytea;
  result jsonb := '{}';
  entry record;
  iv bytea;
begin
  if plain = '{}'::jsonb then
    return plain;
  end if;
  key := audit.subject_key(subject_id);
  for entry in select e.key as column_name, e.value from pg_catalog.jsonb_each(plain) e loop
    if entry.value = 'null'::jsonb then
      result := result || pg_catalog.jsonb_build_object(entry.column_name, entry.value);
    elsif key is null then
      result := result || pg_catalog.jsonb_build_object(entry.column_name, '{"$pii": null}'::jsonb);
    else
      iv := public.gen_random_bytes(16);
      result := result || pg_catalog.jsonb_build_object(entry.column_name, pg_catalog.jsonb_build_object('$pii',
        pg_catalog.encode(iv || public.encrypt_iv(pg_catalog.convert_to(entry.value::text, 'UTF8'), key, iv, 'aes-cbc/pad:pkcs'), 'base64')));
    end if;
  end loop;
  return result;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.encrypt_pii(uuid, jsonb) is
  E'A person''s pii values as stored: each becomes {"$pii": base64(iv || AES-256-CBC ciphertext)} under their key, or {"$pii": null} when there is no key (no subject, or an erased one). Nulls stay null. Keys never leave this function.';

create function audit.may_reveal(subject_id uuid, owner_id uuid) returns boolean as $$
  select coalesce(case coalesce(nullif(pg_catalog.current_setting('role'), 'none'), current_user)
    when 'custodian_admin' then true
    when 'custodian_auditor' then true
    -- A coach reads the personal data in their own records (their clients',
    -- even once deleted) and their own; nobody else's.
    when 'custodian_coach' then
      owner_id = app_private.current_coach_profile_id()
      or owner_id = app_public.current_user_id()
      or subject_id = app_public.current_user_id()
      or exists (select from app_public.clients c
                 where c.id = subject_id and c.coach_profile_id = app_private.current_coach_profile_id())
    when 'custodian_anonymous' then false
    else true -- the owner and superusers hold the keys anyway
  end, false);
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.may_reveal(uuid, uuid) is
  E'Whether the caller may read a person''s pii in an event: admins and auditors may; a coach in the records they own, and their own.';

create function audit.decrypt_value(sealed text, key bytea) returns jsonb as $$
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

create function audit.reveal(stored jsonb, subject_id uuid, owner_id uuid default null) returns jsonb as $$
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

create function audit.destroy_subject_key(subject_id uuid) returns boolean as $$
  with destroyed as (
    insert into app_private.audit_subject_keys (subject_id, key, destroyed_at)
      values (destroy_subject_key.subject_id, null, pg_catalog.now())
    on conflict (subject_id) do update set key = null, destroyed_at = pg_catalog.now()
      where audit_subject_keys.destroyed_at is null
    returning 1
  )
  select exists (select from destroyed);
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.destroy_subject_key(uuid) is
  E'Makes one person''s pii in the trail unreadable for good, without rewriting any audit row; the GDPR erasure calls it. True when a key was destroyed now.';

-- Capture ----------------------------------------------------------------------------

create function audit.primary_key_columns(target regclass) returns name[] as $$
  select pg_catalog.array_agg(a.attname order by k.ordinality)
  from pg_catalog.pg_index i
  cross join lateral pg_catalog.unnest(i.indkey) with ordinality k(attnum, ordinality)
  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  where i.indrelid = target and i.indisprimary;
$$ language sql stable;
comment on function audit.primary_key_columns(regclass) is E'A table''s primary key columns in key order; null without a primary key.';

create function audit.table_columns(target regclass) returns table (column_name name, simple_equality boolean) as $$
  select a.attname,
    a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'bool'::regtype, 'uuid'::regtype,
                   'text'::regtype, 'varchar'::regtype, 'date'::regtype, 'timestamp'::regtype,
                   'timestamptz'::regtype, 'bytea'::regtype, 'oid'::regtype)
    or (select t.typtype = 'e' from pg_catalog.pg_type t where t.oid = a.atttypid)
  from pg_catalog.pg_attribute a
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped
  order by a.attnum;
$$ language sql stable;
comment on function audit.table_columns(regclass) is
  E'A table''s live columns in order, and whether equality of their type means identical values (else a change is noticed by comparing stored images: citext ''A'' to ''a'' is a change).';

create function audit.column_policy_of(target regclass, column_name name) returns audit.column_policy as $$
  select coalesce(
    (select p.policy from audit.column_policies p
     join pg_catalog.pg_attribute a on a.attrelid = p.table_oid and a.attnum = p.column_number
     where p.table_oid = target and a.attname = column_policy_of.column_name),
    'plain');
$$ language sql stable;
comment on function audit.column_policy_of(regclass, name) is E'A column''s policy; plain unless set.';

create function audit.values_expression(target regclass, alias text, policy audit.column_policy) returns text as $$
  -- jsonb_build_object takes at most 100 arguments: chunks of 50 columns are concatenated.
  select coalesce(pg_catalog.string_agg(chunk, ' operator(pg_catalog.||) '), '''{}''::jsonb')
  from (
    select 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pair, ', ' order by position) || ')' as chunk
    from (
      select c.position, (c.position - 1) / 50 as chunk_number, pg_catalog.format('%1$L, %2$s.%1$I', c.column_name, alias) as pair
      from (
        select t.column_name, row_number() over () as position
        from audit.table_columns(target) t
        where audit.column_policy_of(target, t.column_name) = policy
      ) c
    ) pairs
    group by chunk_number
  ) chunks;
$$ language sql stable;
comment on function audit.values_expression(regclass, text, audit.column_policy) is
  E'SQL for the columns of a row that have one policy, as a jsonb object.';

create function audit.changed_expression(target regclass, kind text, policy audit.column_policy default null) returns text as $$
  -- kind: 'columns' (the names of the changed columns), or 'old' / 'new' (the
  -- values of the changed columns that have the policy). o is the old row, r the new.
  select case kind
    when 'columns' then coalesce('pg_catalog.array_remove(array[' || pg_catalog.string_agg(
        pg_catalog.format('case when %s then %L end', changed, column_name), ', ') || ']::text[], null)', '''{}''::text[]')
    else coalesce(pg_catalog.string_agg(pg_catalog.format(
        'case when %s then pg_catalog.jsonb_build_object(%L, %s.%I) else ''{}''::jsonb end',
        changed, column_name, case kind when 'old' then 'o' else 'r' end, column_name), ' operator(pg_catalog.||) ')
        filter (where column_policy = policy), '''{}''::jsonb')
  end
  from (
    select t.column_name, audit.column_policy_of(target, t.column_name) as column_policy,
      case when t.simple_equality then pg_catalog.format('o.%1$I is distinct from r.%1$I', t.column_name)
        else pg_catalog.format('row(o.%1$I)::record operator(pg_catalog.*<>) row(r.%1$I)::record', t.column_name) end as changed
    from audit.table_columns(target) t
    -- A tracked key never changes (audit.tg__refuse_key_change).
    where t.column_name <> all (coalesce(audit.primary_key_columns(target), '{}'))
  ) columns;
$$ language sql stable;
comment on function audit.changed_expression(regclass, text, audit.column_policy) is
  E'SQL comparing an old row o with a new row r column by column: which columns changed, and the old or new values of those with a policy.';

create function audit.with_pii(has_pii boolean, plain_expression text, pii_expression text, subject text default 'subject.id')
returns text as $$
  select case when has_pii
    then pg_catalog.format('%s operator(pg_catalog.||) audit.encrypt_pii(%s, %s)', plain_expression, subject, pii_expression)
    else plain_expression end;
$$ language sql immutable;
comment on function audit.with_pii(boolean, text, text, text) is
  E'SQL joining a row''s plain values with its pii values, encrypted for the row''s subject.';

create function audit.capture_function_name(target regclass) returns text as $$
  select 'capture_' || target::oid::text;
$$ language sql immutable;
comment on function audit.capture_function_name(regclass) is
  E'The name of a table''s generated capture function in the audit schema: by the table''s oid, so that it survives renames (its comment names the table).';

create function audit.columns_signature(target regclass) returns text as $$
  select (select n.nspname || '.' || c.relname from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target)
    || '(' || pg_catalog.string_agg(pg_catalog.format('%s:%s', a.attname, a.atttypid::regtype), ',' order by a.attnum) || ')'
  from pg_catalog.pg_attribute a
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped;
$$ language sql stable;
comment on function audit.columns_signature(regclass) is E'A table''s qualified name, columns and types, to notice renames and schema changes.';

create function audit.generate_capture(target regclass) returns void as $$
declare
  config audit.tracked_tables;
  schema_name text;
  table_name text;
  has_pii boolean;
  key_join text;
  record_key text;
  subject_expression text;
  old_subject_expression text;
  body text;
begin
  select * into strict config from audit.tracked_tables where table_oid = target;
  select n.nspname, c.relname into schema_name, table_name
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target;
  -- A schema change must not leave the capture naming a column that is gone:
  -- refuse it here, so that the ALTER TABLE fails with this message.
  config.key_columns := audit.primary_key_columns(target);
  if config.key_columns is null then
    raise exception 'Table % is tracked by the audit trail and needs a primary key; disable tracking first.', target
      using errcode = '55000';
  end if;
  if exists (
    select from pg_catalog.unnest(array[config.owner_column, config.subject_column]) named(column_name)
    where named.column_name is not null and not exists (
      select from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = named.column_name and not a.attisdropped)
  ) or (config.subject_via is not null and not exists (
      select from pg_catalog.pg_attribute a
      where a.attrelid = config.subject_via and a.attname = config.subject_via_column and not a.attisdropped)) then
    raise exception 'The audit trail names a column of % (owner %, subject %) that no longer exists; call audit.enable_tracking with the new names in the same transaction.',
      target, config.owner_column, config.subject_column using errcode = '42703';
  end if;

  has_pii := exists (
    select from audit.table_columns(target) t where audit.column_policy_of(target, t.column_name) = 'pii');
  select pg_catalog.string_agg(pg_catalog.format('o.%1$I operator(pg_catalog.=) r.%1$I', k), ' and '),
         'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format('%1$L, r.%1$I', k), ', ') || ')'
    into key_join, record_key
  from pg_catalog.unnest(config.key_columns) k;

  -- The subject of the row's pii: a column, or a column of a referenced row.
  -- When the referenced row is gone (a cascade), the record's last known
  -- subject in the trail is used.
  if config.subject_via is not null then
    subject_expression := pg_catalog.format(
      'coalesce((select v.%I from %s v where v.%I operator(pg_catalog.=) r.%I), audit.last_subject_id(%L, %L, %s))',
      config.subject_via_column, config.subject_via, (audit.primary_key_columns(config.subject_via))[1],
      config.subject_column, schema_name, table_name, record_key);
  elsif config.subject_column is not null then
    subject_expression := pg_catalog.format('r.%I', config.subject_column);
  else
    subject_expression := 'null::uuid';
  end if;
  -- An UPDATE's old values belong to the old row's subject (a session moved
  -- to another client): erasing that person must reach them.
  old_subject_expression := case when config.subject_column is null then subject_expression
    else pg_catalog.replace(subject_expression, pg_catalog.format('r.%I', config.subject_column),
      pg_catalog.format('o.%I', config.subject_column)) end;

  -- Each row's values: the plain columns built in SQL, the pii ones encrypted
  -- by one call per row and side (the key never leaves audit.encrypt_pii).
  body := pg_catalog.format($body$
declare
  noted text;
begin
  if TG_OP = 'INSERT' then
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, owner_id, subject_id)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'INSERT', %4$s, %5$s, subject.id
    from new_rows r cross join lateral (select %6$s as id) subject;
  elsif TG_OP = 'UPDATE' then
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values, changed_columns, owner_id, subject_id, old_subject_id)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'UPDATE', %7$s, %8$s, %9$s, %5$s, subject.id,
      case when subject.old_id is distinct from subject.id then subject.old_id end
    from old_rows o join new_rows r on (%10$s) cross join lateral (select %6$s as id, %13$s as old_id) subject
    where o operator(pg_catalog.*<>) r;
  elsif TG_OP = 'DELETE' then
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'DELETE', %4$s, %5$s, subject.id
    from old_rows r cross join lateral (select %6$s as id) subject;
  else
    insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id)
    select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'TRUNCATE', %4$s, %5$s, subject.id
    from %11$s r cross join lateral (select %6$s as id) subject;
  end if;
%12$s
  return null;
end;
$body$,
    schema_name, table_name, record_key,
    audit.with_pii(has_pii, audit.values_expression(target, 'r', 'plain'), audit.values_expression(target, 'r', 'pii')),
    case when config.owner_column is null then 'null::uuid' else pg_catalog.format('r.%I', config.owner_column) end,
    subject_expression,
    audit.with_pii(has_pii, audit.changed_expression(target, 'old', 'plain'), audit.changed_expression(target, 'old', 'pii'), 'subject.old_id'),
    audit.with_pii(has_pii, audit.changed_expression(target, 'new', 'plain'), audit.changed_expression(target, 'new', 'pii')),
    audit.changed_expression(target, 'columns'),
    key_join,
    target,
    audit.attribution_sql(),
    old_subject_expression);

  -- Security definer: writers have no privilege on the audit tables at all,
  -- so none can insert, lock or forge an event outside this function.
  -- A session plans these statements once and keeps the plan, whatever the
  -- size of later statements: a nested loop chosen for a first one-row update
  -- would make a later 100k-row update quadratic, so it is ruled out. JIT
  -- would only compile what runs once.
  execute pg_catalog.format(
    'create or replace function audit.%I() returns trigger as %L language plpgsql volatile security definer'
    ' set search_path = pg_catalog, public, pg_temp set enable_nestloop = off set jit = off',
    audit.capture_function_name(target), body);
  execute pg_catalog.format('comment on function audit.%I() is %L', audit.capture_function_name(target),
    pg_catalog.format('Captures writes to %s into audit.events; generated by audit.enable_tracking, regenerated when the table''s columns change.', target));

  update audit.tracked_tables
  set columns_signature = audit.columns_signature(target), key_columns = config.key_columns
  where table_oid = target;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.generate_capture(regclass) is
  E'(Re)writes a tracked table''s capture function: static SQL over the transition tables with the table''s columns, key and policies spelled out, so that each statement runs one cached plan.';

create function audit.last_subject_id(table_schema text, table_name text, record_key jsonb) returns uuid as $$
  select e.subject_id from audit.events e
  where e.table_name = last_subject_id.table_name and e.record_key = last_subject_id.record_key
    and e.table_schema = last_subject_id.table_schema and e.subject_id is not null
  order by e.id desc limit 1;
$$ language sql stable;
comment on function audit.last_subject_id(text, text, jsonb) is
  E'The subject a record''s latest event named; used when a row''s subject can no longer be looked up.';

create function audit.tg__refuse_key_change() returns trigger as $$
begin
  raise exception 'The primary key of %.% cannot change while it is tracked by the audit trail; insert a new row instead.',
    TG_TABLE_SCHEMA, TG_TABLE_NAME using errcode = '0A000';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg__refuse_key_change() is
  E'Refuses a primary key change on a tracked table: an event is keyed by its record, and a key that moves would split a history in two.';

create function audit.drop_capture_triggers(target regclass) returns void as $$
declare
  trigger_name text;
begin
  foreach trigger_name in array array['_500_audit_insert', '_500_audit_update', '_500_audit_delete',
                                       '_500_audit_truncate', '_500_audit_key_change'] loop
    execute pg_catalog.format('drop trigger if exists %I on %s', trigger_name, target);
  end loop;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.drop_capture_triggers(regclass) is E'Removes the audit trail''s triggers from a table, if there.';

create function audit.enable_tracking(
  target regclass,
  owner_column name default null,
  subject_column name default null,
  subject_via regclass default null,
  subject_via_column name default null
) returns void as $$
declare
  key_columns name[] := audit.primary_key_columns(target);
  capture text;
  key_changed text;
  uuid_column name;
begin
  if (select relkind from pg_catalog.pg_class where oid = target) <> 'r' then
    raise exception '% is not a plain table; only plain tables can be tracked (writes aimed at a partition would bypass a partitioned table''s triggers).', target
      using errcode = '42809';
  end if;
  if key_columns is null then
    raise exception 'Table % has no primary key; the audit trail needs one to key each record''s history.', target
      using errcode = '55000';
  end if;
  if not pg_catalog.pg_has_role((select relowner from pg_catalog.pg_class where oid = target), 'USAGE') then
    raise exception 'Table % must be owned by %, which installs and runs its capture.', target, current_user
      using errcode = '42501';
  end if;
  foreach uuid_column in array array[owner_column, subject_column] loop
    if uuid_column is not null and not exists (
      select from pg_catalog.pg_attribute
      where attrelid = target and attname = uuid_column and not attisdropped and atttypid = 'uuid'::regtype
    ) then
      raise exception 'Table % has no uuid column %.', target, uuid_column using errcode = '42703';
    end if;
  end loop;
  if (subject_via is null) <> (subject_via_column is null) or (subject_via is not null and subject_column is null) then
    raise exception 'subject_via needs both subject_column and subject_via_column.' using errcode = '22023';
  end if;
  if subject_via is not null and (
    cardinality(audit.primary_key_columns(subject_via)) is distinct from 1
    or not exists (select from pg_catalog.pg_attribute where attrelid = subject_via and attname = subject_via_column
                   and not attisdropped and atttypid = 'uuid'::regtype)
  ) then
    raise exception 'Table % needs a one-column primary key and a uuid column % to name a subject.', subject_via, subject_via_column
      using errcode = '42703';
  end if;

  insert into audit.tracked_tables (table_oid, key_columns, owner_column, subject_column, subject_via, subject_via_column, columns_signature)
  values (target, key_columns, owner_column, subject_column, subject_via, subject_via_column, '')
  on conflict (table_oid) do update set
    key_columns = excluded.key_columns, owner_column = excluded.owner_column,
    subject_column = excluded.subject_column, subject_via = excluded.subject_via,
    subject_via_column = excluded.subject_via_column, disabled_at = null,
    enabled_at = case when tracked_tables.disabled_at is null then tracked_tables.enabled_at else pg_catalog.now() end;

  perform audit.generate_capture(target);
  capture := audit.capture_function_name(target);
  perform audit.drop_capture_triggers(target);
  execute pg_catalog.format(
    'create trigger _500_audit_insert after insert on %s referencing new table as new_rows for each statement execute function audit.%I()',
    target, capture);
  execute pg_catalog.format(
    'create trigger _500_audit_update after update on %s referencing old table as old_rows new table as new_rows for each statement execute function audit.%I()',
    target, capture);
  execute pg_catalog.format(
    'create trigger _500_audit_delete after delete on %s referencing old table as old_rows for each statement execute function audit.%I()',
    target, capture);
  execute pg_catalog.format(
    'create trigger _500_audit_truncate before truncate on %s for each statement execute function audit.%I()',
    target, capture);
  -- Fires only when an UPDATE names a key column, so ordinary updates pay nothing.
  select pg_catalog.string_agg(pg_catalog.format('old.%1$I is distinct from new.%1$I', k), ' or ')
    into key_changed from pg_catalog.unnest(key_columns) k;
  execute pg_catalog.format(
    'create trigger _500_audit_key_change before update of %s on %s for each row when (%s) execute function audit.tg__refuse_key_change()',
    (select pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ') from pg_catalog.unnest(key_columns) k),
    target, key_changed);
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.enable_tracking(regclass, name, name, regclass, name) is
  E'Starts capturing every write to a table with a primary key (composite keys too). owner_column names who owns a record (coaches read the history of what they own); subject_column, optionally through subject_via.subject_via_column, names the person its pii is about. Idempotent: calling it again updates the configuration.';

create function audit.disable_tracking(target regclass) returns void as $$
begin
  perform audit.drop_capture_triggers(target);
  execute pg_catalog.format('drop function if exists audit.%I()', audit.capture_function_name(target));
  update audit.tracked_tables set disabled_at = pg_catalog.now()
  where table_oid = target and disabled_at is null;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.disable_tracking(regclass) is
  E'Stops capturing writes to a table; its history and column policies stay. Idempotent.';

create function audit.set_column_policy(target regclass, column_name name, policy audit.column_policy) returns void as $$
begin
  if not exists (select from audit.tracked_tables t where t.table_oid = target) then
    raise exception 'Table % is not tracked; enable tracking before setting column policies.', target using errcode = '55000';
  end if;
  if not exists (select from audit.table_columns(target) c where c.column_name = set_column_policy.column_name) then
    raise exception 'Table % has no column %.', target, column_name using errcode = '42703';
  end if;
  if policy <> 'plain' and column_name = any (audit.primary_key_columns(target)) then
    raise exception 'Column % is part of the primary key of %; key columns are stored as they are.', column_name, target
      using errcode = '22023';
  end if;
  insert into audit.column_policies (table_oid, column_number, policy)
  select target, a.attnum, set_column_policy.policy
  from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = set_column_policy.column_name
  on conflict on constraint column_policies_pkey do update set policy = excluded.policy;
  if exists (select from audit.tracked_tables t where t.table_oid = target and t.disabled_at is null) then
    perform audit.generate_capture(target);
  end if;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.set_column_policy(regclass, name, audit.column_policy) is
  E'Sets how a column''s values are kept in the trail: plain, exclude or pii. Applies to writes from now on.';

create function audit.refresh_tracking() returns integer as $$
declare
  tracked regclass;
  refreshed integer := 0;
begin
  for tracked in
    select t.table_oid from audit.tracked_tables t
    join pg_catalog.pg_class c on c.oid = t.table_oid
    where t.disabled_at is null and t.columns_signature is distinct from audit.columns_signature(t.table_oid)
  loop
    perform audit.generate_capture(tracked);
    refreshed := refreshed + 1;
  end loop;
  return refreshed;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.refresh_tracking() is
  E'Regenerates the capture of every tracked table whose columns changed; the DDL event trigger calls it after each ALTER TABLE.';

create function audit.forget_dropped_tables() returns void as $$
  update audit.tracked_tables t set disabled_at = pg_catalog.now()
  where t.disabled_at is null and not exists (select from pg_catalog.pg_class c where c.oid = t.table_oid);
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.forget_dropped_tables() is E'Marks tracked tables that were dropped as no longer tracked.';

grant execute on function audit.refresh_tracking(), audit.forget_dropped_tables() to public;

-- A write that changes nothing leaves updated_at alone, so that it changes
-- nothing at all and the audit trail records nothing.
create or replace function app_private.tg__timestamps() returns trigger as $$
begin
  if TG_OP = 'INSERT' then
    new.created_at := pg_catalog.now();
    new.updated_at := pg_catalog.now();
    return new;
  end if;
  new.created_at := old.created_at;
  new.updated_at := old.updated_at;
  if new operator(pg_catalog.*<>) old then
    new.updated_at := case
      when old.updated_at >= pg_catalog.now() then old.updated_at + interval '1 millisecond'
      else pg_catalog.now()
    end;
  end if;
  return new;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg__timestamps() is
  E'Keeps created_at fixed and updated_at moving forward, whatever the writer sends; an update that changes nothing keeps updated_at.';

-- Tracking the domain --------------------------------------------------------------

-- Changes to the tracking configuration are themselves audited.
select audit.enable_tracking('audit.tracked_tables');
select audit.enable_tracking('audit.column_policies');

select audit.enable_tracking('app_public.users', owner_column => 'id', subject_column => 'id');
select audit.set_column_policy('app_public.users', column_name, 'pii')
from unnest(array['email', 'display_name']) column_name;

select audit.enable_tracking('app_private.user_secrets', owner_column => 'user_id', subject_column => 'user_id');
select audit.set_column_policy('app_private.user_secrets', 'password_hash', 'exclude');

select audit.enable_tracking('app_public.billing_plans');
select audit.enable_tracking('app_public.provider_rates');

select audit.enable_tracking('app_public.coach_profiles', owner_column => 'id', subject_column => 'user_id');
select audit.set_column_policy('app_public.coach_profiles', column_name, 'pii')
from unnest(array['display_name', 'bio']) column_name;

select audit.enable_tracking('app_public.clients', owner_column => 'coach_profile_id', subject_column => 'id');
select audit.set_column_policy('app_public.clients', column_name, 'pii')
from unnest(array['full_name', 'email', 'phone', 'notes']) column_name;

select audit.enable_tracking('app_public.coaching_sessions', owner_column => 'coach_profile_id', subject_column => 'client_id');
select audit.set_column_policy('app_public.coaching_sessions', 'title', 'pii');

select audit.enable_tracking('app_public.transcriptions', owner_column => 'coach_profile_id',
  subject_column => 'session_id', subject_via => 'app_public.coaching_sessions', subject_via_column => 'client_id');
select audit.set_column_policy('app_public.transcriptions', column_name, 'pii')
from unnest(array['transcript_text', 'error_message']) column_name;

-- Reading ------------------------------------------------------------------------

alter table audit.events enable row level security;
create policy staff_read on audit.events for select to custodian_admin, custodian_auditor using (true);
create policy coach_own on audit.events for select to custodian_coach
  using (owner_id = (select app_private.current_coach_profile_id()) or owner_id = (select app_public.current_user_id()));
grant select on audit.events to custodian_coach, custodian_admin, custodian_auditor;

alter table audit.transactions enable row level security;
create policy staff_read on audit.transactions for select to custodian_admin, custodian_auditor using (true);
-- Who else touched a coach's records (an admin's address, a job) is not theirs to see.
create policy coach_own on audit.transactions for select to custodian_coach
  using (user_id = (select app_public.current_user_id()));
grant select on audit.transactions to custodian_coach, custodian_admin, custodian_auditor;

alter table audit.seals enable row level security;
create policy staff_read on audit.seals for select to custodian_admin, custodian_auditor using (true);
grant select on audit.seals to custodian_admin, custodian_auditor;

alter table audit.tracked_tables enable row level security;
create policy staff_read on audit.tracked_tables for select to custodian_admin, custodian_auditor using (true);
grant select on audit.tracked_tables to custodian_admin, custodian_auditor;

alter table audit.column_policies enable row level security;
create policy staff_read on audit.column_policies for select to custodian_admin, custodian_auditor using (true);
grant select on audit.column_policies to custodian_admin, custodian_auditor;

create function audit.resolve_table(table_name text) returns text[] as $$
declare
  parts text[] := pg_catalog.string_to_array(table_name, '.');
  found text[];
begin
  if table_name is null then
    return null;
  end if;
  if cardinality(parts) not in (1, 2) or '' = any (parts) then
    raise exception 'tableName must be a table name, optionally with its schema (clients or app_public.clients), not "%".', table_name
      using errcode = '22023';
  end if;
  select array[e.table_schema::text, e.table_name::text] into found
  from (
    select n.nspname as table_schema, c.relname as table_name
    from audit.tracked_tables t
    join pg_catalog.pg_class c on c.oid = t.table_oid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  ) e
  where e.table_name = parts[cardinality(parts)] and (cardinality(parts) = 1 or e.table_schema = parts[1]);
  if found is null then
    -- A table tracked once and dropped since keeps its history.
    select array[e.table_schema, e.table_name] into found from audit.events e
    where e.table_name = parts[cardinality(parts)] and (cardinality(parts) = 1 or e.table_schema = parts[1])
    limit 1;
  end if;
  if found is null then
    raise exception 'Table "%" is not tracked by the audit trail.', table_name using errcode = '42P01';
  end if;
  return found;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.resolve_table(text) is
  E'The schema and name of a tracked table given as name or schema.name; a clear error for anything else.';

create function audit.resolve_record_key(table_name text, record_key jsonb) returns jsonb as $$
declare
  key_columns name[];
begin
  if record_key is null or pg_catalog.jsonb_typeof(record_key) = 'object' then
    return record_key;
  end if;
  if table_name is not null and pg_catalog.jsonb_typeof(record_key) in ('string', 'number') then
    select t.key_columns into key_columns from audit.tracked_tables t
    where t.table_oid = pg_catalog.to_regclass(pg_catalog.array_to_string(audit.resolve_table(table_name), '.'));
    if cardinality(key_columns) = 1 then
      return pg_catalog.jsonb_build_object(key_columns[1], record_key);
    end if;
  end if;
  raise exception 'recordKey must be an object of the primary key''s columns, like {"id": "…"} (a bare value is enough for a one-column key with tableName), not %.', record_key
    using errcode = '22023';
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.resolve_record_key(text, jsonb) is
  E'A record key as stored: an object as given, or a bare value wrapped with the table''s one key column.';

create function audit.check_filter(operation text, actor_kind text, occurred_from timestamptz, occurred_before timestamptz)
returns boolean as $$
begin
  if operation is not null and pg_catalog.upper(operation) not in ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE') then
    raise exception 'operation must be INSERT, UPDATE, DELETE or TRUNCATE, not "%".', operation using errcode = '22023';
  end if;
  if actor_kind is not null and actor_kind not in ('user', 'worker', 'migration', 'system', 'unknown') then
    raise exception 'actorKind must be user, worker, migration, system or unknown, not "%".', actor_kind using errcode = '22023';
  end if;
  if occurred_from >= occurred_before then
    raise exception 'The time range is empty: occurredFrom (%) must be before occurredBefore (%).', occurred_from, occurred_before
      using errcode = '22023';
  end if;
  return true;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.check_filter(text, text, timestamptz, timestamptz) is
  E'Refuses a filter that cannot mean anything, with an error naming the problem. Immutable, so it runs while the query is planned, before partition pruning can make the query skip it.';

create type app_public.audit_event as (
  id bigint,
  occurred_at timestamptz,
  table_schema text,
  table_name text,
  record_key jsonb,
  operation text,
  old_values jsonb,
  new_values jsonb,
  changed_columns text[],
  transaction_id text,
  actor_kind text,
  actor_user_id uuid,
  actor_role text,
  request_id text,
  client_ip text,
  user_agent text,
  task text,
  job_id text,
  database_role text,
  session_user_name text,
  application_name text,
  client_addr text
);
comment on type app_public.audit_event is E'One write to a tracked table, with who made it, as the caller may see it.';
comment on column app_public.audit_event.id is E'The event''s position in the trail.';
comment on column app_public.audit_event.occurred_at is E'When the writing transaction started.';
comment on column app_public.audit_event.table_schema is E'The schema of the table written.';
comment on column app_public.audit_event.table_name is E'The table written.';
comment on column app_public.audit_event.record_key is E'The row''s primary key, as an object of column to value.';
comment on column app_public.audit_event.operation is E'INSERT, UPDATE, DELETE or TRUNCATE.';
comment on column app_public.audit_event.old_values is E'Before: the whole row for DELETE and TRUNCATE, the changed columns for UPDATE. Personal data the caller may not read shows as {"$redacted": "pii"}, erased personal data as {"$erased": true}.';
comment on column app_public.audit_event.new_values is E'After: the whole row for INSERT, the changed columns for UPDATE.';
comment on column app_public.audit_event.changed_columns is E'The columns an UPDATE changed.';
comment on column app_public.audit_event.transaction_id is E'The writing transaction''s id.';
comment on column app_public.audit_event.actor_kind is E'user, worker, migration, system or unknown; null when the caller may not see who wrote.';
comment on column app_public.audit_event.actor_user_id is E'The API user who wrote.';
comment on column app_public.audit_event.actor_role is E'The API user''s role.';
comment on column app_public.audit_event.request_id is E'The HTTP request id.';
comment on column app_public.audit_event.client_ip is E'The HTTP client''s address.';
comment on column app_public.audit_event.user_agent is E'The HTTP client''s user agent.';
comment on column app_public.audit_event.task is E'The worker task that wrote.';
comment on column app_public.audit_event.job_id is E'The worker job that wrote.';
comment on column app_public.audit_event.database_role is E'The PostgreSQL role in effect.';
comment on column app_public.audit_event.session_user_name is E'The PostgreSQL role that logged in.';
comment on column app_public.audit_event.application_name is E'The connection''s application_name.';
comment on column app_public.audit_event.client_addr is E'The connection''s client address.';

-- Plain SQL without SET clauses, so that PostgreSQL inlines it: filters, order
-- and limits reach the partitions' indexes.
create function app_public.audit_events(
  table_name text default null,
  record_key jsonb default null,
  actor_id uuid default null,
  actor_kind text default null,
  operation text default null,
  occurred_from timestamptz default null,
  occurred_before timestamptz default null
) returns setof app_public.audit_event as $$
  select e.id, e.occurred_at, e.table_schema, e.table_name, e.record_key, e.operation::text,
    audit.reveal(e.old_values, coalesce(e.old_subject_id, e.subject_id), e.owner_id),
    audit.reveal(e.new_values, e.subject_id, e.owner_id), e.changed_columns,
    e.transaction_id::text, t.actor_kind::text, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent,
    t.task, t.job_id, t.database_role, t.session_user_name, t.application_name, t.client_addr::text
  from audit.events e
  left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
  where (select audit.check_filter(audit_events.operation, audit_events.actor_kind, audit_events.occurred_from, audit_events.occurred_before))
    and (audit_events.table_name is null or (
      e.table_schema = ((select audit.resolve_table(audit_events.table_name)))[1]
      and e.table_name = ((select audit.resolve_table(audit_events.table_name)))[2]))
    and (audit_events.record_key is null
      or e.record_key = (select audit.resolve_record_key(audit_events.table_name, audit_events.record_key)))
    and (audit_events.actor_id is null or t.user_id = audit_events.actor_id)
    and (audit_events.actor_kind is null or t.actor_kind::text = audit_events.actor_kind)
    and (audit_events.operation is null or e.operation::text = pg_catalog.upper(audit_events.operation))
    and (audit_events.occurred_from is null or e.occurred_at >= audit_events.occurred_from)
    and (audit_events.occurred_before is null or e.occurred_at < audit_events.occurred_before)
  order by e.id;
$$ language sql stable;
comment on function app_public.audit_events(text, jsonb, uuid, text, text, timestamptz, timestamptz) is
  E'The audit trail, oldest first, filtered by table (name or schema.name), record key, acting user, actor kind, operation and time (from inclusive, before exclusive). Admins and auditors read every event; coaches the events of their own records.';

create function app_public.audit_record_history(table_name text, record_key jsonb) returns setof app_public.audit_event as $$
  select * from app_public.audit_events(
    table_name => coalesce(audit_record_history.table_name, ''),
    record_key => coalesce(audit_record_history.record_key, 'null'::jsonb));
$$ language sql stable;
comment on function app_public.audit_record_history(text, jsonb) is
  E'Every event of one record, oldest first; recordKey may be a bare value for a one-column key.';

create function app_public.audit_record_as_of(table_name text, record_key jsonb, at timestamptz) returns jsonb as $$
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
    state := case event.operation
      when 'INSERT' then event.new_values
      -- A record older than its tracking starts from the values its first update replaced.
      when 'UPDATE' then coalesce(state, event.old_values) || event.new_values
      else null
    end;
  end loop;
  return state;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.audit_record_as_of(text, jsonb, timestamptz) is
  E'A record as it was at a time, rebuilt from its events; null when it did not exist then. Excluded columns are absent.';

grant execute on function
  app_public.audit_events(text, jsonb, uuid, text, text, timestamptz, timestamptz),
  app_public.audit_record_history(text, jsonb),
  app_public.audit_record_as_of(text, jsonb, timestamptz),
  audit.reveal(jsonb, uuid, uuid), audit.resolve_table(text), audit.resolve_record_key(text, jsonb),
  audit.check_filter(text, text, timestamptz, timestamptz)
  to custodian_coach, custodian_admin, custodian_auditor;

-- Sealing ------------------------------------------------------------------------

create function audit.event_digest(e audit.events, t audit.transactions) returns bytea as $$
  select public.digest(pg_catalog.jsonb_build_array(
    e.id, extract(epoch from e.occurred_at), e.transaction_id::text, e.table_schema, e.table_name,
    e.record_key, e.operation, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
    t.actor_kind, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent, t.task, t.job_id,
    t.database_role, t.session_user_name, t.application_name, t.client_addr::text)::text, 'sha256');
$$ language sql immutable;
comment on function audit.event_digest(audit.events, audit.transactions) is
  E'SHA-256 of an event and its attribution in a form that does not depend on session settings.';

create function audit.genesis_hash() returns bytea as $$
  select pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
$$ language sql immutable;
comment on function audit.genesis_hash() is E'The hash the chain starts from.';

create function audit.seal_horizon(max_wait interval default '10 seconds') returns bigint as $$
declare
  horizon bigint;
  writers text[];
  give_up_at timestamptz := pg_catalog.clock_timestamp() + max_wait;
begin
  if pg_catalog.pg_current_xact_id_if_assigned() is not null then
    raise exception 'seal_horizon must run before any write in its transaction.' using errcode = '25000';
  end if;
  -- Ids are drawn before commit, so a transaction still running may hold an
  -- id below ones already committed. A writer locks audit.events before it
  -- draws an id, so every id up to the horizon belongs to a transaction that
  -- has ended or holds that lock now; once those have ended, no event at or
  -- below the horizon can still appear. Readers and other databases do not
  -- matter.
  select case when is_called then last_value else last_value - 1 end into horizon from audit.events_id_seq;
  select pg_catalog.array_agg(l.virtualtransaction) into writers
  from pg_catalog.pg_locks l
  where l.locktype = 'relation' and l.relation = 'audit.events'::regclass and l.mode = 'RowExclusiveLock'
    and l.database = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
    and l.pid is distinct from pg_catalog.pg_backend_pid();
  while exists (
    select from pg_catalog.pg_locks l
    where l.locktype = 'relation' and l.relation = 'audit.events'::regclass and l.virtualtransaction = any (writers)
  ) loop
    if pg_catalog.clock_timestamp() > give_up_at then
      return null;
    end if;
    perform pg_catalog.pg_sleep(0.01);
  end loop;
  return horizon;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_horizon(interval) is
  E'The highest event id that can be sealed: waits (up to max_wait, else null) until every transaction that may hold a lower id has ended.';

create function audit.seal_batch(horizon bigint, batch_size integer default 10000) returns integer as $$
declare
  head audit.seals;
  ids bigint[];
  digests bytea[];
  chain bytea[] := '{}';
  hash bytea;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be positive.' using errcode = '22023';
  end if;
  -- One sealer at a time: the chain must not fork.
  lock table audit.seals in exclusive mode;
  select * into head from audit.seals order by id desc limit 1;
  select pg_catalog.array_agg(b.id order by b.id), pg_catalog.array_agg(b.digest order by b.id) into ids, digests
  from (
    select e.id, audit.event_digest(e, t) as digest
    from audit.events e
    left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
    where e.id > coalesce(head.last_event_id, -9223372036854775808) and e.id <= horizon
    order by e.id
    limit batch_size
  ) b;
  if ids is null then
    return 0;
  end if;
  hash := coalesce(head.hash, audit.genesis_hash());
  for i in 1 .. cardinality(ids) loop
    hash := public.digest(hash || digests[i], 'sha256');
    chain[i] := hash;
  end loop;
  insert into audit.seals (first_event_id, last_event_id, event_ids, chain, previous_hash, hash)
  values (ids[1], ids[cardinality(ids)], ids, chain, coalesce(head.hash, audit.genesis_hash()), hash);
  return cardinality(ids);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_batch(bigint, integer) is
  E'Seals up to batch_size events after the last seal and not above horizon, in id order; returns how many.';

create function audit.verify_chain() returns table (
  intact boolean, events_verified bigint, seals_verified bigint, events_unsealed bigint,
  first_bad_event_id bigint, problem text, head_hash text
) as $$
declare
  seal audit.seals;
  hash bytea := audit.genesis_hash();
  previous_last bigint := -9223372036854775808;
  ids bigint[];
  digests bytea[];
  found_id bigint;
  sealed_id bigint;
  verified bigint := 0;
  seals bigint := 0;
  unsealed bigint;
  sequence_last bigint;
begin
  for seal in select * from audit.seals order by id loop
    if seal.previous_hash <> hash or seal.first_event_id <= previous_last then
      return query select false, verified, seals, null::bigint, seal.first_event_id,
        pg_catalog.format('seal %s does not continue the chain: a seal before it was altered or removed', seal.id), null::text;
      return;
    end if;
    select pg_catalog.array_agg(e.id order by e.id), pg_catalog.array_agg(audit.event_digest(e, t) order by e.id)
      into ids, digests
    from audit.events e
    left join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
    where e.id > previous_last and e.id <= seal.last_event_id;
    for i in 1 .. greatest(coalesce(cardinality(ids), 0), cardinality(seal.event_ids)) loop
      found_id := ids[i];
      sealed_id := seal.event_ids[i];
      if found_id is null or found_id > sealed_id then
        return query select false, verified, seals, null::bigint, sealed_id,
          pg_catalog.format('event %s is missing: it was sealed in seal %s and has been deleted', sealed_id, seal.id), null::text;
        return;
      elsif sealed_id is null or found_id < sealed_id then
        return query select false, verified, seals, null::bigint, found_id,
          pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', found_id, seal.id), null::text;
        return;
      end if;
      hash := public.digest(hash || digests[i], 'sha256');
      if hash <> seal.chain[i] then
        return query select false, verified, seals, null::bigint, found_id,
          pg_catalog.format('event %s was altered after it was sealed in seal %s (its content, attribution or position differs)', found_id, seal.id), null::text;
        return;
      end if;
      verified := verified + 1;
    end loop;
    previous_last := seal.last_event_id;
    seals := seals + 1;
  end loop;
  select case when is_called then last_value else last_value - 1 end into sequence_last from audit.events_id_seq;
  select min(e.id) into found_id from audit.events e where e.id > sequence_last;
  if found_id is not null then
    return query select false, verified, seals, null::bigint, found_id,
      pg_catalog.format('event %s was forged: no write ever received that id', found_id), null::text;
    return;
  end if;
  select count(*) into unsealed from audit.events e where e.id > previous_last;
  return query select true, verified, seals, unsealed, null::bigint, null::text,
    case when seals > 0 then pg_catalog.encode(hash, 'hex') end;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.verify_chain() is
  E'Recomputes the hash chain over every sealed event and reports the first event whose content, order or presence was altered; intact is false then. head_hash is the newest seal''s hash: kept outside the database, it catches a rewrite of the whole chain.';
