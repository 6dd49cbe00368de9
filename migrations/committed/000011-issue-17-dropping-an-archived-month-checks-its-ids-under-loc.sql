--! Previous: sha1:a51a9374a6804dada9452eb691dd84167dd38ebc
--! Hash: sha1:cd7a017833ea6ec3102e79f664114b9d51081437
--! Message: Issue 17: dropping an archived month checks its ids under lock, not every event again (the archive was verified against the seals)

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
  seal record;
  ids bigint[];
  digests bytea;
  chain bytea[];
  before_hash bytea;
  in_range bigint;
  listed bigint;
  altered_id bigint;
  unlisted_id bigint;
  problem_id bigint;
  unsealed_id bigint;
  event_count bigint;
  covered bigint := 0;
  problem text;
  seal_problem text;
begin
  select pg_catalog.min(e.id), pg_catalog.max(e.id), pg_catalog.count(*) into first_id, last_id, event_count
  from audit.events e where e.occurred_at >= month_start and e.occurred_at < month_end;
  if first_id is null then
    return null;
  end if;
  select p.hash into before_hash from audit.seals p
  where p.id < (select s.id from audit.seals s where s.last_event_id >= first_id order by s.id limit 1)
  order by p.id desc limit 1;
  before_hash := coalesce(before_hash, audit.genesis_hash());
  -- Seal by seal, in id order, so the first problem found is the first by event id.
  -- Each seal's lists are read once into variables: they are toasted, and
  -- reading them per event would fetch them whole for each (quadratic time).
  for seal in
    select s.id, s.version, s.first_event_id, s.last_event_id, s.previous_hash, s.hash from audit.seals s
    where s.last_event_id >= first_id and s.first_event_id <= last_id order by s.id
  loop
    select s.event_ids, s.digests || ''::bytea, s.chain into ids, digests, chain from audit.seals s where s.id = seal.id;
    -- Each event of the month in the seal's range against the digest the seal holds for it
    -- (version 1: the chain step from the hash before it).
    select pg_catalog.count(*) into in_range from audit.events e
    where e.id between seal.first_event_id and seal.last_event_id and e.occurred_at >= month_start and e.occurred_at < month_end;
    select pg_catalog.count(*), pg_catalog.min(e.id) filter (where case seal.version
        when 2 then audit.event_digest_v2(e) <> pg_catalog.substr(digests, 32 * u.n::integer - 31, 32)
        else public.digest(coalesce(chain[u.n - 1], seal.previous_hash) || audit.event_digest(e), 'sha256') <> chain[u.n] end)
      into listed, altered_id
    from pg_catalog.unnest(ids) with ordinality u (event_id, n)
    join audit.events e on e.id = u.event_id
    where e.id between seal.first_event_id and seal.last_event_id and e.occurred_at >= month_start and e.occurred_at < month_end;
    unlisted_id := null;
    if listed < in_range then
      select pg_catalog.min(x.id) into unlisted_id from (
        select e.id from audit.events e
        where e.id between seal.first_event_id and seal.last_event_id and e.occurred_at >= month_start and e.occurred_at < month_end
        except select pg_catalog.unnest(ids)) x;
    end if;
    if altered_id is not null or unlisted_id is not null then
      problem_id := least(altered_id, unlisted_id);
      problem := case when problem_id = unlisted_id then pg_catalog.format('event %s was never sealed', problem_id)
        else pg_catalog.format('event %s was altered after it was sealed in seal %s', problem_id, seal.id) end;
      exit;
    end if;
    -- The seal itself: it follows from its digests and continues the one before it.
    if seal_problem is null and (seal.previous_hash <> before_hash
        or (seal.version = 2 and pg_catalog.sha256(seal.previous_hash || digests) <> seal.hash)
        or (seal.version = 1 and chain[pg_catalog.cardinality(chain)] <> seal.hash)) then
      seal_problem := pg_catalog.format('seal %s was altered: its hash does not follow from the seal before it and the events it seals', seal.id);
    end if;
    before_hash := seal.hash;
    covered := covered + in_range;
  end loop;
  -- Events of the month in no seal's range (past the last seal, or between two), before any problem found so far.
  if problem is not null or covered < event_count then
    select e.id into unsealed_id
    from audit.events e
    where e.occurred_at >= month_start and e.occurred_at < month_end and e.id < coalesce(problem_id, last_id + 1)
      and not exists (select from audit.seals s where s.last_event_id >= e.id and s.first_event_id <= e.id)
    order by e.id limit 1;
    if unsealed_id is not null then
      return pg_catalog.format('event %s was never sealed', unsealed_id);
    end if;
  end if;
  return coalesce(problem, seal_problem);
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
    spared_reason := case
      when month_end > pg_catalog.now() then 'the month is not over yet'
      when event_count = 0 then 'it holds no events'
      when sealed_up_to is null or last_event_id > sealed_up_to then pg_catalog.format(
        'not sealed yet: %s of its events wait for a seal',
        (select pg_catalog.count(*) from audit.events e where e.id > coalesce(sealed_up_to, -9223372036854775808)
           and e.occurred_at >= (part.month::text || ' 00:00:00+00')::timestamptz and e.occurred_at < month_end))
      else (select 'verify failed: ' || p from audit.partition_chain_problem(part.month) p) end;
    return next;
  end loop;
  -- Events of an expired month with no partition of its own (written after it was dropped, or never moved).
  for part in
    select pg_catalog.date_trunc('month', e.occurred_at at time zone 'UTC')::date as month,
           pg_catalog.count(*) as events, pg_catalog.min(e.id) as first_id, pg_catalog.max(e.id) as last_id
    from audit.events_default e group by 1 order by 1
  loop
    month_end := ((part.month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
    continue when month_end + period > as_of;
    return query select 'events_default'::text, part.month, true, part.events, part.first_id, part.last_id,
      pg_catalog.format('the default partition holds %s events of %s, a month past its period: partition maintenance moves them into a partition of their own, which a later run archives',
        part.events, pg_catalog.to_char(part.month, 'YYYY-MM'));
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.partition_retention_status(interval, timestamptz) is
  E'Each month partition of audit.events: whether its month is entirely past the period as of as_of, and for an expired one its events and why it must stay for now (null when it may be archived and dropped): the month not over, no events, events not sealed yet, or events that do not verify. Events of expired months left in the default partition come as rows of events_default, always spared.';

create or replace function audit.drop_archived_partition(partition_name text, archive_id uuid, archive_store text, archived_ids int8multirange)
returns audit.chain_checkpoints as $$
declare
  month date := audit.partition_month(partition_name);
  first_id bigint := pg_catalog.lower(archived_ids);
  last_id bigint := pg_catalog.upper(archived_ids) - 1;
  seals record;
  point record;
  checkpoint audit.chain_checkpoints;
begin
  if month is null or pg_catalog.to_regclass('audit.' || pg_catalog.quote_ident(partition_name)) is null
     or not exists (select from audit.month_partitions() p where p.partition_name = drop_archived_partition.partition_name) then
    raise exception 'audit.% is not a month partition of audit.events.', partition_name using errcode = '22023';
  end if;
  if archived_ids is null or pg_catalog.isempty(archived_ids) then
    raise exception 'The ids of the archived events are required.' using errcode = '22023';
  end if;
  if not exists (select from app_public.retention_archives a
                 where a.id = archive_id and a.kind = 'audit_partition' and a.verified_at is not null and a.rows_removed_at is null
                   and a.manifest -> 'extra' -> 'checkpoint' ->> 'partition' = partition_name
                   and a.manifest -> 'extra' -> 'checkpoint' ->> 'eventIds' = archived_ids::text) then
    raise exception 'Archive % is not a verified archive of audit.% and its events; archive the partition first.', archive_id, partition_name
      using errcode = '55000';
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
  -- No second check of every event against its seal here: the archive was
  -- verified against the seals (audit.partition_retention_status before it
  -- was written, the archived copy after), and what is kept is that copy.
  -- The lock and the ids above make sure the partition dropped holds exactly
  -- the events archived; no writer can change an event (append-only).
  select * into seals from audit.covering_seals(first_id, last_id);
  -- Detaching locks the whole trail, readers too: give up behind a long reader rather than queue every writer behind it.
  perform pg_catalog.set_config('lock_timeout', '2s', true);
  lock table audit.events in access exclusive mode;
  execute pg_catalog.format('alter table audit.events detach partition audit.%I', partition_name);
  execute pg_catalog.format('drop table audit.%I', partition_name);
  update app_public.retention_archives a set rows_removed_at = pg_catalog.now() where a.id = archive_id;
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
  E'Detaches and drops a month partition of audit.events whose events (exactly archived_ids) were archived with their seals, after checking again, with the month locked, that its verified archive is recorded (app_public.retention_archives, verified against the seals when written) and they are exactly those events, all sealed; marks the archive''s rows removed, records the checkpoint of the chain and returns it. The only governed path that removes audit events; the owner runs it (src/retention/audit-partitions.ts).';

revoke all on function audit.drop_archived_partition(text, uuid, text, int8multirange) from public;
--! EndIncluded audit/partition-retention.sql
