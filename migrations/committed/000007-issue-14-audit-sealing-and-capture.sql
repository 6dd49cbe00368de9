--! Previous: sha1:ed722db556d0709a98c7fb6a02b3667c98eb4ebd
--! Hash: sha1:6acd52e4a1a7599417c3544f70162ed3ab50a2fb
--! Message: issue 14 audit: sealing and capture

-- Issue 14, sealing: a seal hashes its batch at once instead of chaining
-- event by event, over a cheaper digest. A version 2 seal keeps each event's
-- digest (so verify still names the first event altered) and one hash,
-- sha256(previous seal's hash || the digests in id order). Seals made
-- before stay as they are, version 1, and verify as before: the chain runs
-- on from their last hash.

alter table audit.seals
  add column version smallint not null default 1,
  add column digests bytea,
  alter column chain drop not null,
  drop constraint seals_check1,
  drop constraint seals_check3;
alter table audit.seals
  alter column version drop default,
  add constraint seals_version_check check (case version
    when 1 then digests is null and chain is not null and cardinality(chain) = cardinality(event_ids)
      and cardinality(chain) > 0 and chain[cardinality(chain)] is not distinct from hash
    when 2 then chain is null and digests is not null and cardinality(event_ids) > 0
      and octet_length(digests) = 32 * cardinality(event_ids) and hash = pg_catalog.sha256(previous_hash || digests)
    else false end);
comment on table audit.seals is
  E'The hash chain over the events, one row per sealed batch, each starting from the previous seal''s hash. Version 2: hash = sha256(previous_hash || digests); version 1 (before migration 000006): h(i) = sha256(h(i-1) || sha256(event i)) event by event.';
comment on column audit.seals.version is
  E'How the seal hashes: 2, one hash over the batch''s digests (audit.event_digest_v2); 1, a chain event by event (audit.event_digest), for seals made before migration 000006.';
comment on column audit.seals.digests is
  E'Version 2: each event''s digest (32 bytes) in id order, so that verify names the first event altered.';
comment on column audit.seals.chain is E'Version 1: the chain hash after each event, so that verify names the first event altered.';
comment on column audit.seals.hash is E'The chain hash after the batch: the next seal starts from it.';

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
  ids bigint[];
  digests bytea[];
  joined bytea;
  found_id bigint;
  sealed_id bigint;
  sealed_ids bigint[];
  chain bytea[];
  sealed_digests bytea;
  altered boolean;
  verified bigint := 0;
  seals bigint := 0;
  unsealed bigint;
  sequence_last bigint;
begin
  for seal in
    select s.id, s.version, s.first_event_id, s.last_event_id, s.event_ids, s.chain, s.digests, s.previous_hash, s.hash
    from audit.seals s order by s.id
  loop
    if seal.previous_hash <> hash or seal.first_event_id <= previous_last then
      return query select false, verified, seals, null::bigint, seal.first_event_id,
        pg_catalog.format('seal %s does not continue the chain: a seal before it was altered or removed', seal.id), null::text;
      return;
    end if;
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
    -- Version 2 compares whole batches, and event by event only to name
    -- the first difference; version 1 follows its chain event by event.
    if seal.version = 1 or ids is distinct from seal.event_ids or joined is distinct from seal.digests then
      -- Arrays of their own: an element of a record's field is read by copying the field.
      sealed_ids := seal.event_ids;
      chain := seal.chain;
      sealed_digests := seal.digests;
      for i in 1 .. greatest(coalesce(cardinality(ids), 0), cardinality(sealed_ids)) loop
        found_id := ids[i];
        sealed_id := sealed_ids[i];
        if found_id is null or found_id > sealed_id then
          return query select false, verified, seals, null::bigint, sealed_id,
            pg_catalog.format('event %s is missing: it was sealed in seal %s and has been deleted', sealed_id, seal.id), null::text;
          return;
        elsif sealed_id is null or found_id < sealed_id then
          return query select false, verified, seals, null::bigint, found_id,
            pg_catalog.format('event %s was never sealed: it was inserted into the sealed range of seal %s afterwards', found_id, seal.id), null::text;
          return;
        end if;
        if seal.version = 1 then
          hash := public.digest(hash || digests[i], 'sha256');
          altered := hash <> chain[i];
        else
          altered := pg_catalog.substr(joined, 32 * i - 31, 32) <> pg_catalog.substr(sealed_digests, 32 * i - 31, 32);
        end if;
        if altered then
          return query select false, verified, seals, null::bigint, found_id,
            pg_catalog.format('event %s was altered after it was sealed in seal %s (its content, attribution or position differs)', found_id, seal.id), null::text;
          return;
        end if;
        verified := verified + 1;
      end loop;
    else
      verified := verified + cardinality(ids);
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
    case when seals > 0 then pg_catalog.encode(hash, 'hex') end;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function audit.verify_chain() is
  E'Recomputes the hash chain over every sealed event and reports the first event whose content, order or presence was altered; intact is false then. head_hash is the newest seal''s hash: kept outside the database, it catches a rewrite of the whole chain.';
--! EndIncluded audit/sealing.sql
