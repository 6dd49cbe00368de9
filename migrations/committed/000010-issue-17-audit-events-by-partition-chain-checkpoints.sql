--! Previous: sha1:35e81ab7eba6ce1b3f7fe2c6025ba628de40d6fb
--! Hash: sha1:a3b737483e468b1ff028f14b5d78d77a0cb23feb
--! Message: issue 17: audit events by partition, chain checkpoints

-- Issue 17, audit events by partition: a month of the trail past its period
-- leaves whole, after it is archived with its seals; a checkpoint of the hash
-- chain stays, so that verify goes on across the dropped range.

create table audit.chain_checkpoints (
  id bigint generated always as identity primary key,
  partition_name text not null check (partition_name ~ '^events_[0-9]{4}_[0-9]{2}$'),
  month date not null check (extract(day from month) = 1),
  event_count bigint not null check (event_count > 0),
  first_event_id bigint not null,
  last_event_id bigint not null,
  event_ids int8multirange not null,
  first_seal_id bigint not null,
  last_seal_id bigint not null,
  continues_from_seal_id bigint,
  continues_after_event_id bigint,
  continues_from_hash bytea not null check (octet_length(continues_from_hash) = 32),
  archive_id uuid not null unique,
  archive_store text not null,
  dropped_at timestamptz not null default now(),
  check (lower(event_ids) = first_event_id and upper(event_ids) = last_event_id + 1),
  check (first_seal_id <= last_seal_id),
  check ((continues_from_seal_id is null) = (continues_after_event_id is null))
);
comment on table audit.chain_checkpoints is
  E'One row per month of audit events archived and dropped: which events left, the archive that holds them with their seals, and where the hash chain continues. Append-only for every writer; audit.drop_archived_partition writes it. The seals of dropped months stay in audit.seals.';
comment on column audit.chain_checkpoints.partition_name is E'The partition dropped, e.g. events_2019_01.';
comment on column audit.chain_checkpoints.month is E'The first day of the month the partition held (UTC).';
comment on column audit.chain_checkpoints.event_count is E'How many events left with the partition.';
comment on column audit.chain_checkpoints.first_event_id is E'The lowest id among them.';
comment on column audit.chain_checkpoints.last_event_id is E'The highest id among them.';
comment on column audit.chain_checkpoints.event_ids is E'Exactly the ids that left: verify excuses these, and only these, from the seals that list them.';
comment on column audit.chain_checkpoints.first_seal_id is E'The first seal covering the events (copied into the archive).';
comment on column audit.chain_checkpoints.last_seal_id is E'The last seal covering the events (copied into the archive).';
comment on column audit.chain_checkpoints.continues_from_seal_id is
  E'The newest seal up to which every sealed event has been archived and dropped: verify starts after it. Null while events older than the dropped ones remain (verify then starts from the first seal).';
comment on column audit.chain_checkpoints.continues_after_event_id is E'That seal''s last event: no event at or below it is left in the trail.';
comment on column audit.chain_checkpoints.continues_from_hash is E'That seal''s hash (the genesis hash when there is none): the chain continues from it.';
comment on column audit.chain_checkpoints.archive_id is E'The verified archive (kind audit_partition) holding the events and the seals covering them.';
comment on column audit.chain_checkpoints.archive_store is E'Where that archive was written, e.g. "directory /data/archive".';
comment on column audit.chain_checkpoints.dropped_at is E'When the partition was detached and dropped.';
alter table audit.chain_checkpoints enable row level security;

--! Included audit/append-only.sql
-- The audit tables are append-only, even to their owner.

create or replace function audit.tg__refuse_change() returns trigger as $$
begin
  raise exception 'The audit trail is append-only: % on %.% is refused.', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    using errcode = '42501';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg__refuse_change() is
  E'Refuses UPDATE, DELETE and TRUNCATE on audit tables, even to their owner.';

drop trigger if exists _010_append_only on audit.events;
create trigger _010_append_only before update or delete on audit.events
  for each row execute function audit.tg__refuse_change();

-- audit.transactions is a view of the events' attribution: refused the same way.
drop trigger if exists _010_append_only on audit.transactions;
create trigger _010_append_only instead of update or delete on audit.transactions
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _010_append_only on audit.seals;
create trigger _010_append_only before update or delete on audit.seals
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.events;
create trigger _011_no_truncate before truncate on audit.events
  for each statement execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.seals;
create trigger _011_no_truncate before truncate on audit.seals
  for each statement execute function audit.tg__refuse_change();

-- The chain's checkpoints are kept like the seals (audit/chain-checkpoints.sql says why).
drop trigger if exists _010_append_only on audit.chain_checkpoints;
create trigger _010_append_only before update or delete on audit.chain_checkpoints
  for each row execute function audit.tg__refuse_change();

drop trigger if exists _011_no_truncate on audit.chain_checkpoints;
create trigger _011_no_truncate before truncate on audit.chain_checkpoints
  for each statement execute function audit.tg__refuse_change();
--! EndIncluded audit/append-only.sql
--! Included audit/policies.sql
-- Who reads the audit trail: admins and auditors everything, a coach their own records.

grant usage on schema audit to custodian_coach, custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.events;
create policy staff_read on audit.events for select to custodian_admin, custodian_auditor using (true);

drop policy if exists coach_own on audit.events;
create policy coach_own on audit.events for select to custodian_coach
  using (owner_id = (select app_private.current_coach_profile_id()) or owner_id = (select app_public.current_user_id()));

grant select on audit.events to custodian_admin, custodian_auditor;
-- Who else touched a coach's records (an admin's address, a job) is not
-- theirs to see: a coach reads an event's attribution only through
-- audit.event_actors (attribution.sql), which shows their own writes.
revoke select on audit.events from custodian_coach;
grant select (id, occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values,
  changed_columns, owner_id, subject_id, old_subject_id, details) on audit.events to custodian_coach;

drop policy if exists staff_read on audit.seals;
create policy staff_read on audit.seals for select to custodian_admin, custodian_auditor using (true);

grant select on audit.seals to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.chain_checkpoints;
create policy staff_read on audit.chain_checkpoints for select to custodian_admin, custodian_auditor using (true);

grant select on audit.chain_checkpoints to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.tracked_tables;
create policy staff_read on audit.tracked_tables for select to custodian_admin, custodian_auditor using (true);

grant select on audit.tracked_tables to custodian_admin, custodian_auditor;

drop policy if exists staff_read on audit.column_policies;
create policy staff_read on audit.column_policies for select to custodian_admin, custodian_auditor using (true);

grant select on audit.column_policies to custodian_admin, custodian_auditor;
--! EndIncluded audit/policies.sql
--! Included audit/chain-checkpoints.sql
-- Checkpoints of the hash chain: one per month of events archived and dropped
-- (audit.drop_archived_partition writes them; audit.verify_chain starts from them).
--
-- A checkpoint lets verify pass over events that are gone, so a forged one
-- could hide a deleted event. It is guarded in layers, like the seals:
-- 1. No API role writes it: admins and auditors read it, nobody else sees it
--    (policies.sql); only the owner inserts, through drop_archived_partition.
-- 2. It is append-only for every writer, the owner included (append-only.sql).
-- 3. An insert is checked against the chain it describes (the trigger below):
--    the partition is gone, no event it names is still in the trail, the seal
--    it continues from holds its hash, and that point follows from the seals
--    and the ids dropped so far (audit.chain_continues_from).
-- 4. A superuser can switch triggers off. verify_chain checks every checkpoint
--    again (audit.checkpoint_problem): one forged to hide an altered event must
--    name that event as dropped, and the event still in the trail gives it
--    away; one forged after the event was deleted too names an archive that
--    the store does not hold, which `custodian audit verify` checks against
--    the archive store (each checkpoint's manifest must carry the same
--    checkpoint), and `custodian audit verify --archive ID` recomputes the
--    archived events' digests against the seals that are still in the database.

create or replace function audit.dropped_event_ids() returns int8multirange as $$
  select pg_catalog.range_agg(c.event_ids) from audit.chain_checkpoints c;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.dropped_event_ids() is
  E'Every event id that left the trail with an archived and dropped partition (null when none did).';

create or replace function audit.chain_start() returns setof audit.chain_checkpoints as $$
  select c.* from audit.chain_checkpoints c
  where c.continues_from_seal_id is not null
  order by c.continues_from_seal_id desc, c.id desc
  limit 1;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.chain_start() is
  E'The checkpoint verify starts from: the one the chain continues furthest from. None while events older than every dropped one remain.';

create or replace function audit.chain_continues_from(dropped int8multirange,
  out seal_id bigint, out after_event_id bigint, out hash bytea) as $$
declare
  start audit.chain_checkpoints;
  seal record;
begin
  select * into start from audit.chain_start();
  seal_id := start.continues_from_seal_id;
  after_event_id := start.continues_after_event_id;
  hash := coalesce(start.continues_from_hash, audit.genesis_hash());
  if dropped is null then
    return;
  end if;
  -- Forward from the last checkpoint, seal by seal, while every event a seal lists has left.
  for seal in select s.id, s.last_event_id, s.hash, s.event_ids from audit.seals s where s.id > coalesce(seal_id, 0) order by s.id loop
    exit when exists (select from pg_catalog.unnest(seal.event_ids) i where not (i operator(pg_catalog.<@) dropped));
    seal_id := seal.id;
    after_event_id := seal.last_event_id;
    hash := seal.hash;
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.chain_continues_from(int8multirange) is
  E'Where the chain continues once the events with the given ids have left: the newest seal up to which every sealed event is among them, its last event and its hash (null, null and the genesis hash when the first seal still lists an event that stays).';

create or replace function audit.checkpoint_problem(c audit.chain_checkpoints) returns text as $$
declare
  found_id bigint;
begin
  if c.continues_from_seal_id is null then
    if c.continues_from_hash <> audit.genesis_hash() then
      return pg_catalog.format('checkpoint %s was forged: it continues the chain from no seal, yet not from the genesis hash', c.id);
    end if;
  elsif not exists (select from audit.seals s
                    where s.id = c.continues_from_seal_id and s.hash = c.continues_from_hash
                      and s.last_event_id = c.continues_after_event_id) then
    return pg_catalog.format('checkpoint %s was forged: seal %s does not end at event %s with the hash it continues the chain from',
      c.id, c.continues_from_seal_id, c.continues_after_event_id);
  end if;
  -- Range by range, so that each is an index scan.
  select pg_catalog.min(e.id) into found_id
  from pg_catalog.unnest(c.event_ids) r
  cross join lateral (select e.id from audit.events e
                      where e.id >= pg_catalog.lower(r) and e.id < pg_catalog.upper(r) order by e.id limit 1) e;
  if found_id is not null then
    return pg_catalog.format('checkpoint %s was forged: event %s, which it says left with %s, is still in the trail',
      c.id, found_id, c.partition_name);
  end if;
  if c.continues_after_event_id is not null then
    select pg_catalog.min(e.id) into found_id from audit.events e where e.id <= c.continues_after_event_id;
    if found_id is not null then
      return pg_catalog.format('event %s lies before checkpoint %s, up to which every event was archived and dropped (event %s): it was inserted afterwards',
        found_id, c.id, c.continues_after_event_id);
    end if;
  end if;
  if not exists (select from audit.seals s where s.id = c.first_seal_id and s.first_event_id <= c.first_event_id)
     or not exists (select from audit.seals s where s.id = c.last_seal_id and s.last_event_id >= c.last_event_id) then
    return pg_catalog.format('checkpoint %s was forged: seals %s to %s do not cover the events it says left', c.id, c.first_seal_id, c.last_seal_id);
  end if;
  return null;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.checkpoint_problem(audit.chain_checkpoints) is
  E'What is wrong with a checkpoint, in words, or null: the seal it continues from must hold its hash, none of the events it says left may still be in the trail, no event may lie at or before the point it continues from, and its seals must cover its events. Checked when it is written and again by every verify.';

create or replace function audit.tg_chain_checkpoints__check() returns trigger as $$
declare
  problem text := audit.checkpoint_problem(NEW);
  expected record;
begin
  if problem is not null then
    raise exception 'A checkpoint must describe the chain as it is: %.', problem using errcode = '23514';
  end if;
  if pg_catalog.to_regclass('audit.' || pg_catalog.quote_ident(NEW.partition_name)) is not null then
    raise exception 'A checkpoint is written once its partition is dropped: audit.% still exists.', NEW.partition_name using errcode = '23514';
  end if;
  select * into expected
  from audit.chain_continues_from(coalesce(audit.dropped_event_ids() operator(pg_catalog.+) NEW.event_ids, NEW.event_ids));
  if (expected.seal_id, expected.after_event_id, expected.hash)
     is distinct from (NEW.continues_from_seal_id, NEW.continues_after_event_id, NEW.continues_from_hash) then
    raise exception 'A checkpoint must describe the chain as it is: once these events leave, the chain continues from seal % (event %), not seal % (event %).',
      coalesce(expected.seal_id::text, 'none'), coalesce(expected.after_event_id::text, 'none'),
      coalesce(NEW.continues_from_seal_id::text, 'none'), coalesce(NEW.continues_after_event_id::text, 'none')
      using errcode = '23514';
  end if;
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.tg_chain_checkpoints__check() is
  E'Refuses a checkpoint that does not describe the chain as it is (see audit.checkpoint_problem and audit.chain_continues_from).';

drop trigger if exists _100_check on audit.chain_checkpoints;
create trigger _100_check before insert on audit.chain_checkpoints
  for each row execute function audit.tg_chain_checkpoints__check();
--! EndIncluded audit/chain-checkpoints.sql
--! Included audit/partition-retention.sql
-- Months of audit.events past their retention period leave whole: archived
-- with their seals (src/retention/audit-partitions.ts), then detached and
-- dropped here, with a checkpoint of the chain (audit.chain_checkpoints).
-- Never row by row: DELETE on the trail stays refused to everyone.

create or replace function audit.partition_month(partition_name text) returns date as $$
  select pg_catalog.to_date(pg_catalog.substr(partition_name, 8), 'YYYY_MM')
  where partition_name ~ '^events_[0-9]{4}_(0[1-9]|1[0-2])$';
$$ language sql immutable;
comment on function audit.partition_month(text) is
  E'The month (its first day) of a month partition of audit.events by its name (events_2019_01), null for any other name.';

create or replace function audit.month_partitions() returns table (partition_name text, month date) as $$
  select c.relname::text, audit.partition_month(c.relname)
  from pg_catalog.pg_inherits i
  join pg_catalog.pg_class c on c.oid = i.inhrelid
  where i.inhparent = 'audit.events'::regclass and audit.partition_month(c.relname) is not null
  order by 2;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.month_partitions() is E'The month partitions of audit.events, oldest first (the default partition is not one).';

create or replace function audit.partition_event_ids(month date) returns int8multirange as $$
  select pg_catalog.range_agg(pg_catalog.int8range(e.id, e.id, '[]'))
  from audit.events e
  where e.occurred_at >= (month::text || ' 00:00:00+00')::timestamptz
    and e.occurred_at < ((month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.partition_event_ids(date) is
  E'The ids of the events of a month (UTC), as ranges: what a checkpoint records as having left.';

create or replace function audit.covering_seals(first_id bigint, last_id bigint,
  out first_seal_id bigint, out last_seal_id bigint) as $$
  select (select s.id from audit.seals s where s.last_event_id >= covering_seals.first_id order by s.id limit 1),
         (select s.id from audit.seals s where s.last_event_id >= covering_seals.last_id order by s.id limit 1);
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.covering_seals(bigint, bigint) is
  E'The first and last seal listing events between two ids (seals list ids in order): the seals an archived month carries.';

create or replace function audit.partition_chain_problem(month date) returns text as $$
declare
  month_start timestamptz := (month::text || ' 00:00:00+00')::timestamptz;
  month_end timestamptz := ((month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
  first_id bigint;
  last_id bigint;
  problem text;
begin
  select pg_catalog.min(e.id), pg_catalog.max(e.id) into first_id, last_id
  from audit.events e where e.occurred_at >= month_start and e.occurred_at < month_end;
  if first_id is null then
    return null;
  end if;
  -- Each event against the digest its seal holds for it (version 1: the chain step from the hash before it).
  with sealed as (
    select s.id as seal_id, s.version, s.digests, s.chain, s.previous_hash, u.event_id, u.n::integer as n
    from audit.seals s
    cross join lateral pg_catalog.unnest(s.event_ids) with ordinality u (event_id, n)
    where s.last_event_id >= first_id and s.first_event_id <= last_id
  )
  select case
      when x.event_id is null then pg_catalog.format('event %s was never sealed', e.id)
      else pg_catalog.format('event %s was altered after it was sealed in seal %s', e.id, x.seal_id) end
    into problem
  from audit.events e
  left join sealed x on x.event_id = e.id
  where e.occurred_at >= month_start and e.occurred_at < month_end
    and (x.event_id is null or case x.version
      when 2 then audit.event_digest_v2(e) <> pg_catalog.substr(x.digests, 32 * x.n - 31, 32)
      else public.digest(coalesce(x.chain[x.n - 1], x.previous_hash) || audit.event_digest(e), 'sha256') <> x.chain[x.n] end)
  order by e.id
  limit 1;
  if problem is not null then
    return problem;
  end if;
  -- The seals themselves: each follows from its digests and continues the one before it.
  select pg_catalog.format('seal %s was altered: its hash does not follow from the seal before it and the events it seals', s.id)
    into problem
  from audit.seals s
  left join lateral (select p.hash from audit.seals p where p.id < s.id order by p.id desc limit 1) p on true
  where s.last_event_id >= first_id and s.first_event_id <= last_id
    and (s.previous_hash <> coalesce(p.hash, audit.genesis_hash())
      or (s.version = 2 and pg_catalog.sha256(s.previous_hash || s.digests) <> s.hash)
      or (s.version = 1 and s.chain[pg_catalog.cardinality(s.chain)] <> s.hash))
  order by s.id
  limit 1;
  return problem;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.partition_chain_problem(date) is
  E'Why the events of a month do not verify against their seals (an event never sealed or altered since, a seal altered), in words; null when they do.';

create or replace function audit.partition_retention_status(period interval, as_of timestamptz)
returns table (
  partition_name text, month date, expired boolean, event_count bigint,
  first_event_id bigint, last_event_id bigint, spared_reason text
) as $$
declare
  part record;
  month_end timestamptz;
  sealed_up_to bigint := (select s.last_event_id from audit.seals s order by s.id desc limit 1);
  strays bigint;
begin
  if period is null or period <= interval '0' then
    raise exception 'The audit events'' retention period must be positive, not %.', coalesce(period::text, 'null') using errcode = '22023';
  end if;
  if as_of is null then
    raise exception 'as_of must be a time.' using errcode = '22023';
  end if;
  for part in select * from audit.month_partitions() loop
    partition_name := part.partition_name;
    month := part.month;
    month_end := ((part.month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
    expired := month_end + period <= as_of;
    event_count := null;
    first_event_id := null;
    last_event_id := null;
    spared_reason := null;
    if not expired then
      spared_reason := pg_catalog.format('within the retention period: kept until %s',
        pg_catalog.to_char((month_end + period) at time zone 'UTC', 'YYYY-MM-DD'));
      return next;
      continue;
    end if;
    execute pg_catalog.format('select pg_catalog.count(*), pg_catalog.min(id), pg_catalog.max(id) from audit.%I', part.partition_name)
      into event_count, first_event_id, last_event_id;
    execute 'select pg_catalog.count(*) from audit.events_default e where e.occurred_at >= $1 and e.occurred_at < $2'
      into strays using (part.month::text || ' 00:00:00+00')::timestamptz, month_end;
    spared_reason := case
      when month_end > pg_catalog.now() then 'the month is not over yet'
      when event_count = 0 then 'it holds no events'
      when strays > 0 then pg_catalog.format(
        'the default partition holds %s events of this month: partition maintenance must move them into it first', strays)
      when sealed_up_to is null or last_event_id > sealed_up_to then pg_catalog.format(
        'not sealed yet: %s of its events wait for a seal',
        (select pg_catalog.count(*) from audit.events e where e.id > coalesce(sealed_up_to, -9223372036854775808)
           and e.occurred_at >= (part.month::text || ' 00:00:00+00')::timestamptz and e.occurred_at < month_end))
      else (select 'verify failed: ' || p from audit.partition_chain_problem(part.month) p) end;
    return next;
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.partition_retention_status(interval, timestamptz) is
  E'Each month partition of audit.events: whether its month is entirely past the period as of as_of, and for an expired one its events and why it must stay for now (null when it may be archived and dropped): the month not over, no events, strays of the month in the default partition, events not sealed yet, or events that do not verify.';

create or replace function audit.drop_archived_partition(partition_name text, archive_id uuid, archive_store text, archived_ids int8multirange)
returns audit.chain_checkpoints as $$
declare
  month date := audit.partition_month(partition_name);
  first_id bigint := pg_catalog.lower(archived_ids);
  last_id bigint := pg_catalog.upper(archived_ids) - 1;
  seals record;
  point record;
  problem text;
  checkpoint audit.chain_checkpoints;
begin
  if month is null or pg_catalog.to_regclass('audit.' || pg_catalog.quote_ident(partition_name)) is null
     or not exists (select from audit.month_partitions() p where p.partition_name = drop_archived_partition.partition_name) then
    raise exception 'audit.% is not a month partition of audit.events.', partition_name using errcode = '22023';
  end if;
  if archived_ids is null or pg_catalog.isempty(archived_ids) then
    raise exception 'The ids of the archived events are required.' using errcode = '22023';
  end if;
  -- Late writes for the month wait, and the events read below stay what was archived.
  execute pg_catalog.format('lock table audit.%I in share mode', partition_name);
  if audit.partition_event_ids(month) is distinct from archived_ids then
    raise exception 'audit.% changed since it was archived (its events are not those of archive %); archive it again.', partition_name, archive_id
      using errcode = '55000';
  end if;
  if last_id > coalesce((select s.last_event_id from audit.seals s order by s.id desc limit 1), -9223372036854775808) then
    raise exception 'audit.% holds events not sealed yet; it is dropped once they are.', partition_name using errcode = '55000';
  end if;
  problem := audit.partition_chain_problem(month);
  if problem is not null then
    raise exception 'audit.% does not verify against its seals (%); it stays.', partition_name, problem using errcode = '55000';
  end if;
  if exists (select from audit.events_default e
             where e.occurred_at >= (month::text || ' 00:00:00+00')::timestamptz
               and e.occurred_at < ((month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz) then
    raise exception 'The default partition holds events of %; partition maintenance must move them first.', partition_name using errcode = '55000';
  end if;
  select * into seals from audit.covering_seals(first_id, last_id);
  -- Detaching locks the whole trail, readers too: give up behind a long reader rather than queue every writer behind it.
  perform pg_catalog.set_config('lock_timeout', '2s', true);
  lock table audit.events in access exclusive mode;
  execute pg_catalog.format('alter table audit.events detach partition audit.%I', partition_name);
  execute pg_catalog.format('drop table audit.%I', partition_name);
  select * into point from audit.chain_continues_from(coalesce(audit.dropped_event_ids() operator(pg_catalog.+) archived_ids, archived_ids));
  insert into audit.chain_checkpoints (partition_name, month, event_count, first_event_id, last_event_id, event_ids,
    first_seal_id, last_seal_id, continues_from_seal_id, continues_after_event_id, continues_from_hash, archive_id, archive_store)
  values (partition_name, month,
    (select pg_catalog.sum(pg_catalog.upper(r) - pg_catalog.lower(r)) from pg_catalog.unnest(archived_ids) r),
    first_id, last_id, archived_ids, seals.first_seal_id, seals.last_seal_id,
    point.seal_id, point.after_event_id, point.hash, archive_id, archive_store)
  returning * into checkpoint;
  return checkpoint;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.drop_archived_partition(text, uuid, text, int8multirange) is
  E'Detaches and drops a month partition of audit.events whose events (exactly archived_ids) were archived with their seals, after checking again, with the month locked, that they are those events, all sealed and verifying; records the checkpoint of the chain and returns it. The only governed path that removes audit events; the owner runs it (src/retention/audit-partitions.ts).';

revoke all on function audit.drop_archived_partition(text, uuid, text, int8multirange) from public;
--! EndIncluded audit/partition-retention.sql
--! Included audit/sealing.sql
-- The hash chain: sealing events in id order, and verifying it.

-- Two digests, one per seal version (audit.seals.version). Version 1 hashed
-- each event as jsonb text; seals made with it keep verifying with it. Both
-- are stable rather than immutable (they read stable functions), so that a
-- query inlines them instead of calling a function per event.

-- Version 1. Events without details hash exactly as before, so the sealed
-- chain still verifies; the attribution an event carries hashes as that of
-- its transaction did when it was a row of its own.
create or replace function audit.event_digest(e audit.events) returns bytea as $$
  select public.digest((pg_catalog.jsonb_build_array(
    e.id, extract(epoch from e.occurred_at), e.transaction_id::text, e.table_schema, e.table_name,
    e.record_key, e.operation, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
    e.actor_kind, e.user_id, e.user_role, e.request_id, e.client_ip, e.user_agent, e.task, e.job_id,
    e.database_role, e.session_user_name, e.application_name, e.client_addr::text)
    operator(pg_catalog.||) case when e.details is null then '[]'::jsonb else pg_catalog.jsonb_build_array(e.details) end)::text,
    'sha256');
$$ language sql stable parallel safe;
comment on function audit.event_digest(audit.events) is
  E'Version 1 of an event''s digest (seals made before migration 000006): SHA-256 of the event and its attribution as jsonb text.';

-- Version 2: the binary form PostgreSQL sends a row in (record_send): every
-- field with its type and length, so no two events share a form, and
-- nothing in it depends on session settings (a timestamp is its microseconds,
-- not text in the session's time zone). Enums go as their labels, as their
-- type ids differ between databases. Half the cost of version 1.
create or replace function audit.event_digest_v2(e audit.events) returns bytea as $$
  select pg_catalog.sha256(pg_catalog.record_send(row(
    e.id, e.occurred_at, e.transaction_id, e.table_schema, e.table_name,
    e.record_key, e.operation::text, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
    e.actor_kind::text, e.user_id, e.user_role, e.request_id, e.client_ip, e.user_agent, e.task, e.job_id,
    e.database_role, e.session_user_name, e.application_name, e.client_addr, e.details)));
$$ language sql stable parallel safe;
comment on function audit.event_digest_v2(audit.events) is
  E'Version 2 of an event''s digest (seals from migration 000006 on): SHA-256 of the binary form (record_send) of the event, its attribution and details, enums as their labels.';

create or replace function audit.genesis_hash() returns bytea as $$
  select pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
$$ language sql immutable;
comment on function audit.genesis_hash() is E'The hash the chain starts from.';

-- The audit trail's sealing uses the same horizon.
create or replace function audit.seal_horizon(max_wait interval default '10 seconds') returns bigint as $$
  select app_private.committed_id_horizon('audit.events', 'audit.events_id_seq', max_wait);
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_horizon(interval) is
  E'The highest event id that can be sealed: waits (up to max_wait, else null) until every transaction that may hold a lower id has ended.';

create or replace function audit.seal_batch(horizon bigint, batch_size integer default 10000) returns integer as $$
declare
  head record;
  first_id bigint;
  ids bigint[];
  digests bytea;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be positive.' using errcode = '22023';
  end if;
  -- One sealer at a time: the chain must not fork.
  lock table audit.seals in exclusive mode;
  select s.last_event_id, s.hash into head from audit.seals s order by s.id desc limit 1;
  select pg_catalog.min(e.id) into first_id
  from audit.events e
  where e.id > coalesce(head.last_event_id, -9223372036854775808) and e.id <= horizon;
  if first_id is null then
    return 0;
  end if;
  -- The batch is a range of ids, not the first batch_size events: a query
  -- with a limit is planned on statistics, and before audit.events is first
  -- analyzed it would hash every pending event to keep batch_size of them.
  -- Set-based: the digests in id order, joined; the seal's hash is one
  -- SHA-256 over the previous hash and them (checked by audit.seals itself).
  select pg_catalog.array_agg(e.id order by e.id), pg_catalog.string_agg(audit.event_digest_v2(e), ''::bytea order by e.id)
    into ids, digests
  from audit.events e
  where e.id >= first_id and e.id <= least(horizon, first_id + (batch_size - 1));
  insert into audit.seals (version, first_event_id, last_event_id, event_ids, digests, previous_hash, hash)
  select 2, ids[1], ids[cardinality(ids)], ids, digests, p.hash, pg_catalog.sha256(p.hash || digests)
  from (select coalesce(head.hash, audit.genesis_hash()) as hash) p;
  return cardinality(ids);
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.seal_batch(bigint, integer) is
  E'Seals the events among the next batch_size ids after the last seal and not above horizon, in id order, as one version 2 seal; returns how many (0 once nothing is left to seal).';

create or replace function audit.verify_chain() returns table (
  intact boolean, events_verified bigint, seals_verified bigint, events_unsealed bigint,
  first_bad_event_id bigint, problem text, head_hash text
) as $$
declare
  seal record;
  hash bytea := audit.genesis_hash();
  previous_last bigint := -9223372036854775808;
  after_seal bigint := 0;
  start audit.chain_checkpoints;
  checkpoint audit.chain_checkpoints;
  dropped int8multirange := audit.dropped_event_ids();
  skipping boolean;
  ids bigint[];
  digests bytea[];
  joined bytea;
  expected_ids bigint[];
  expected_digests bytea;
  found_id bigint;
  sealed_id bigint;
  sealed_ids bigint[];
  chain bytea[];
  sealed_digests bytea;
  altered boolean;
  j integer;
  verified bigint := 0;
  seals bigint := 0;
  unsealed bigint;
  sequence_last bigint;
begin
  -- Every checkpoint must still describe the chain (audit/chain-checkpoints.sql says why).
  for checkpoint in select * from audit.chain_checkpoints c order by c.id loop
    problem := audit.checkpoint_problem(checkpoint);
    if problem is not null then
      return query select false, verified, seals, null::bigint,
        coalesce(pg_catalog.substring(problem, 'event ([0-9]+)')::bigint, checkpoint.first_event_id), problem, null::text;
      return;
    end if;
  end loop;
  -- Months archived and dropped: start after the last seal all of whose events left.
  select * into start from audit.chain_start();
  if start.id is not null then
    hash := start.continues_from_hash;
    previous_last := start.continues_after_event_id;
    after_seal := start.continues_from_seal_id;
  end if;
  for seal in
    select s.id, s.version, s.first_event_id, s.last_event_id, s.event_ids, s.chain, s.digests, s.previous_hash, s.hash
    from audit.seals s where s.id > after_seal order by s.id
  loop
    if seal.previous_hash <> hash or seal.first_event_id <= previous_last then
      return query select false, verified, seals, null::bigint, seal.first_event_id,
        pg_catalog.format('seal %s does not continue the chain: a seal before it was altered or removed', seal.id), null::text;
      return;
    end if;
    -- A seal listing events of a dropped month: those are excused, and only those.
    skipping := dropped is not null
      and dropped operator(pg_catalog.&&) pg_catalog.int8range(seal.first_event_id, seal.last_event_id, '[]');
    if seal.version = 2 then
      select pg_catalog.array_agg(e.id order by e.id), pg_catalog.string_agg(audit.event_digest_v2(e), ''::bytea order by e.id)
        into ids, joined
      from audit.events e
      where e.id > previous_last and e.id <= seal.last_event_id;
    else
      select pg_catalog.array_agg(e.id order by e.id), pg_catalog.array_agg(audit.event_digest(e) order by e.id)
        into ids, digests
      from audit.events e
      where e.id > previous_last and e.id <= seal.last_event_id;
    end if;
    if skipping then
      select pg_catalog.array_agg(u.id order by u.n), pg_catalog.string_agg(pg_catalog.substr(seal.digests, 32 * u.n::integer - 31, 32), ''::bytea order by u.n)
        into expected_ids, expected_digests
      from pg_catalog.unnest(seal.event_ids) with ordinality u (id, n)
      where not (u.id operator(pg_catalog.<@) dropped);
    else
      expected_ids := seal.event_ids;
      expected_digests := seal.digests;
    end if;
    -- Version 2 compares whole batches, and event by event only to name
    -- the first difference; version 1 follows its chain event by event.
    if seal.version = 1 or ids is distinct from expected_ids or joined is distinct from expected_digests then
      -- Arrays of their own: an element of a record's field is read by copying the field.
      sealed_ids := seal.event_ids;
      chain := seal.chain;
      sealed_digests := seal.digests;
      j := 1;
      for i in 1 .. cardinality(sealed_ids) loop
        sealed_id := sealed_ids[i];
        if skipping and sealed_id operator(pg_catalog.<@) dropped then
          -- Archived with its month; version 1 goes on from the hash the seal kept for it.
          if seal.version = 1 then
            hash := chain[i];
          end if;
          continue;
        end if;
        found_id := ids[j];
        if found_id is null or found_id > sealed_id then
          return query select false, verified, seals, null::bigint, sealed_id,
            pg_catalog.format('event %s is missing: it was sealed in seal %s and has been deleted', sealed_id, seal.id), null::text;
          return;
        elsif found_id < sealed_id then
          return query select false, verified, seals, null::bigint, found_id,
            pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', found_id, seal.id), null::text;
          return;
        end if;
        if seal.version = 1 then
          hash := public.digest(hash || digests[j], 'sha256');
          altered := hash <> chain[i];
        else
          altered := pg_catalog.substr(joined, 32 * j - 31, 32) <> pg_catalog.substr(sealed_digests, 32 * i - 31, 32);
        end if;
        if altered then
          return query select false, verified, seals, null::bigint, found_id,
            pg_catalog.format('event %s was altered after it was sealed in seal %s (its content, attribution or position differs)', found_id, seal.id), null::text;
          return;
        end if;
        verified := verified + 1;
        j := j + 1;
      end loop;
      if j <= coalesce(cardinality(ids), 0) then
        return query select false, verified, seals, null::bigint, ids[j],
          pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', ids[j], seal.id), null::text;
        return;
      end if;
    else
      verified := verified + coalesce(cardinality(ids), 0);
    end if;
    if seal.version = 2 then
      -- audit.seals checks this too, unless someone dropped the check.
      if pg_catalog.octet_length(seal.digests) <> 32 * cardinality(seal.event_ids)
        or pg_catalog.sha256(seal.previous_hash || seal.digests) <> seal.hash then
        return query select false, verified, seals, null::bigint, seal.last_event_id,
          pg_catalog.format('seal %s was altered: its hash does not follow from the events it seals', seal.id), null::text;
        return;
      end if;
      hash := seal.hash;
    end if;
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
    case when seals > 0 or start.id is not null then pg_catalog.encode(hash, 'hex') end;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.verify_chain() is
  E'Recomputes the hash chain over every sealed event and reports the first event whose content, order or presence was altered; intact is false then. Months archived and dropped are passed over by their checkpoints (audit.chain_checkpoints), each checked first: verify starts after the newest seal all of whose events left (audit.chain_start), and excuses from a seal exactly the ids its checkpoints name. head_hash is the newest seal''s hash: kept outside the database, it catches a rewrite of the whole chain.';
--! EndIncluded audit/sealing.sql
