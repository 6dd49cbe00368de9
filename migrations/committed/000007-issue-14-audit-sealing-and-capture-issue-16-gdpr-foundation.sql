--! Previous: sha1:ed722db556d0709a98c7fb6a02b3667c98eb4ebd
--! Hash: sha1:9b6786e0fc53445884e47643af6de72ebb74ad2b
--! Message: issue 14 audit sealing and capture, issue 16 GDPR foundation

-- Issue 14, the audit capture's write path: an UPDATE pairs its old and new
-- rows with an inner hash join (nested loops off in the capture function)
-- instead of a FULL JOIN. Every tracked table's capture is regenerated; no
-- table changes, so every event written and sealed before verifies as it did.

--! Included audit/capture-generator.sql
-- The generated capture function of a tracked table (audit.capture_<oid>).

create or replace function audit.capture_function_name(target regclass) returns text as $$
  select 'capture_' || target::oid::text;
$$ language sql immutable;
comment on function audit.capture_function_name(regclass) is
  E'The name of a table''s generated capture function in the audit schema: by the table''s oid, so that it survives renames (its comment names the table).';

create or replace function audit.last_subject_id(table_schema text, table_name text, record_key jsonb) returns uuid as $$
  select e.subject_id from audit.events e
  where e.table_name = last_subject_id.table_name and e.record_key = last_subject_id.record_key
    and e.table_schema = last_subject_id.table_schema and e.subject_id is not null
  order by e.id desc limit 1;
$$ language sql stable;
comment on function audit.last_subject_id(text, text, jsonb) is
  E'The subject a record''s latest event named; used when a row''s subject can no longer be looked up.';

create or replace function audit.generate_capture(target regclass) returns void as $$
declare
  config audit.tracked_tables;
  schema_name text;
  table_name text;
  has_pii boolean;
  key_join text;
  record_key text;
  subject_expression text;
  old_subject_expression text;
  soft_delete boolean := exists (select from governance.soft_delete_tables s where s.table_oid = target);
  -- Laterals naming each row's subject (s.id, and s.old_id for an UPDATE) and,
  -- with pii, its key (k.new_key, k.old_key).
  row_subject text;
  update_subject text;
  -- The body runs under the writer's search_path: every table it names is qualified.
  qualified_target text;
  qualified_subject_via text;
  owner_expression text;
  insert_sql text;
  update_sql text;
  delete_sql text;
  truncate_sql text;
  attribution_fields text := pg_catalog.regexp_replace(audit.attribution_columns(), '(\w+)', 'attribution.\1', 'g');
  body text;
begin
  select * into strict config from audit.tracked_tables where table_oid = target;
  select n.nspname, c.relname into schema_name, table_name
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target;
  qualified_target := pg_catalog.format('%I.%I', schema_name, table_name);
  select pg_catalog.format('%I.%I', n.nspname, c.relname) into qualified_subject_via
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = config.subject_via;
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
  owner_expression := case when config.owner_column is null then 'null::pg_catalog.uuid'
    else pg_catalog.format('r.%I', config.owner_column) end;
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
      config.subject_via_column, qualified_subject_via, (audit.primary_key_columns(config.subject_via))[1],
      config.subject_column, schema_name, table_name, record_key);
  elsif config.subject_column is not null then
    subject_expression := pg_catalog.format('r.%I', config.subject_column);
  else
    subject_expression := 'null::pg_catalog.uuid';
  end if;
  -- An UPDATE's old values belong to the old row's subject (a session moved
  -- to another client): erasing that person must reach them.
  old_subject_expression := case when config.subject_column is null then subject_expression
    else pg_catalog.replace(subject_expression, pg_catalog.format('r.%I', config.subject_column),
      pg_catalog.format('o.%I', config.subject_column)) end;

  row_subject := pg_catalog.format('cross join lateral (select %s as id) s', subject_expression)
    || case when has_pii then pg_catalog.format(' cross join lateral (select %s as new_key) k', audit.subject_key_sql('s.id')) else '' end;
  update_subject := pg_catalog.format('cross join lateral (select %s as id, %s as old_id) s', subject_expression, old_subject_expression)
    -- Keys only when a pii column changed; the old side's only for a row moved to another subject.
    || case when has_pii then pg_catalog.format(
      ' cross join lateral (select case when %1$s then %2$s end as new_key) kn'
      ' cross join lateral (select kn.new_key, case when not (%1$s) then null when s.old_id is not distinct from s.id then kn.new_key else %3$s end as old_key) k',
      audit.pii_changed_sql(target), audit.subject_key_sql('s.id'), audit.subject_key_sql('s.old_id')) else '' end;

  -- Each branch is one insert over the transition table, with who wrote
  -- (attribution, evaluated once per statement) on every event: no second
  -- row. UPDATE pairs old and new rows by key with an inner join: a key never
  -- changes (audit.tg__refuse_key_change), so every old row has its new one.
  -- The function turns nested loops off: a session keeps the plan of its
  -- first statement, and a nested loop planned for one row would make a later
  -- 100k-row update quadratic; a hash join is linear at any size. (An inner
  -- hash join rather than the FULL JOIN used before: the FULL JOIN's scan for
  -- unmatched rows walks every bucket of the hash table, 1024 of them for a
  -- one-row statement.) Measured, a separate plan for statements of one row
  -- cost more than it saved: counting the transition table alone took 0.16 of
  -- a one-row update's throughput. @attribution@ stands for the fields of the
  -- statement's attribution.
  insert_sql := pg_catalog.format($sql$insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, owner_id, subject_id, %6$s)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, 'INSERT'::audit.operation, %4$s, %5$s, s.id, @attribution@
      from new_rows r %7$s$sql$,
    schema_name, table_name, record_key, audit.row_values_sql(target, 'r', 'k.new_key'), owner_expression,
    audit.attribution_columns(), row_subject);
  update_sql := pg_catalog.format($sql$insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, new_values, changed_columns, owner_id, subject_id, old_subject_id, details, %12$s)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, %4$s, %5$s, %6$s, %7$s, %8$s, s.id,
        case when s.old_id is distinct from s.id then s.old_id end, %9$s, @attribution@
      from @pairs@ %10$s
      where @changed@$sql$,
    schema_name, table_name, record_key,
    -- On a soft-delete table an UPDATE of is_deleted is a soft delete or a
    -- restore, with its batch; a DELETE can only be governance.hard_delete.
    case when soft_delete then $op$case when o.is_deleted is distinct from r.is_deleted
      then case when r.is_deleted then 'SOFT_DELETE'::audit.operation else 'RESTORE'::audit.operation end
      else 'UPDATE'::audit.operation end$op$ else $op$'UPDATE'::audit.operation$op$ end,
    audit.changes_sql(target, 'o', 'k.old_key'),
    audit.changes_sql(target, 'r', 'k.new_key'),
    audit.changed_names_sql(target),
    owner_expression,
    case when soft_delete then $details$case when o.is_deleted is distinct from r.is_deleted
      then pg_catalog.jsonb_build_object('batch_id', coalesce(r.deletion_batch_id, o.deletion_batch_id)) end$details$
      else 'null::pg_catalog.jsonb' end,
    update_subject, null, audit.attribution_columns());
  -- DELETE and TRUNCATE store the rows removed, whole; @operation@, @details@
  -- and @source@ tell them apart.
  delete_sql := pg_catalog.format($sql$insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, old_values, owner_id, subject_id, details, %6$s)
      select pg_catalog.now(), pg_catalog.pg_current_xact_id(), %1$L, %2$L, %3$s, @operation@, %4$s, %5$s, s.id, @details@, @attribution@
      from @source@ r %7$s$sql$,
    schema_name, table_name, record_key, audit.row_values_sql(target, 'r', 'k.new_key'), owner_expression,
    audit.attribution_columns(), row_subject);
  truncate_sql := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(delete_sql,
    '@operation@', $op$'TRUNCATE'::audit.operation$op$), '@details@', 'null::pg_catalog.jsonb'),
    '@source@', qualified_target), '@attribution@', attribution_fields);
  delete_sql := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(delete_sql,
    '@operation@', case when soft_delete then $op$'HARD_DELETE'::audit.operation$op$ else $op$'DELETE'::audit.operation$op$ end),
    '@details@', case when soft_delete then $details$(select pg_catalog.jsonb_build_object('hard_deletion_id', h.id, 'reason', h.reason)
      from governance.current_hard_deletion() h where h.id is not null)$details$ else 'null::pg_catalog.jsonb' end),
    '@source@', 'old_rows');

  body := pg_catalog.format($body$
declare
  attribution audit.attribution := %1$s;
begin
  if TG_OP = 'INSERT' then
    %2$s;
  elsif TG_OP = 'UPDATE' then
    %3$s;
  elsif TG_OP = 'DELETE' then
    %4$s;
  else
    %5$s;
  end if;
  return null;
end;
$body$,
    audit.attribution_sql(),
    pg_catalog.replace(insert_sql, '@attribution@', attribution_fields),
    pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(update_sql, '@attribution@', attribution_fields),
      '@pairs@', pg_catalog.format('old_rows o join new_rows r on (%s)', key_join)), '@changed@', 'o operator(pg_catalog.*<>) r'),
    pg_catalog.replace(delete_sql, '@attribution@', attribution_fields),
    truncate_sql);

  -- Security definer: writers have no privilege on the audit tables at all,
  -- so none can insert, lock or forge an event outside this function. Every
  -- name in the body is schema-qualified, so it needs no search_path of its
  -- own. JIT is off: a plan kept from a first large statement would
  -- otherwise compile again for every small one. Nested loops are off so
  -- that UPDATE's pairing is a hash join whatever the first statement's size.
  execute pg_catalog.format(
    'create or replace function audit.%I() returns trigger as %L language plpgsql volatile security definer set jit = off set enable_nestloop = off',
    audit.capture_function_name(target), body);
  execute pg_catalog.format('comment on function audit.%I() is %L', audit.capture_function_name(target),
    pg_catalog.format('Captures writes to %s into audit.events; generated by audit.enable_tracking, regenerated when the table''s columns change.', target));

  update audit.tracked_tables
  set columns_signature = audit.columns_signature(target), key_columns = config.key_columns
  where table_oid = target;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function audit.generate_capture(regclass) is
  E'(Re)writes a tracked table''s capture function: static SQL over the transition tables with the table''s columns, key and policies spelled out, one cached plan per operation that writes the events with their attribution.';
--! EndIncluded audit/capture-generator.sql

select audit.generate_capture(t.table_oid)
from audit.tracked_tables t join pg_catalog.pg_class c on c.oid = t.table_oid
where t.disabled_at is null;

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

-- Issue 16 (GDPR), the foundation: the map of personal data, legal holds and data-subject requests.

-- The map of personal data --------------------------------------------------------
create type governance.data_category as enum ('identity', 'contact', 'content', 'technical', 'not_personal');
comment on type governance.data_category is
  E'What a column holds about a person: identity (names), contact (email, phone), content (notes, titles, transcript text, free text), technical (identifiers, addresses, secrets), or not personal.';
create type governance.data_subject_kind as enum ('client', 'user', 'any', 'none');
comment on type governance.data_subject_kind is
  E'Whose personal data a column holds: a coach''s client, a user account (a coach, admin or auditor), any of them (the audit trail, sign-in attempts), or no one.';
create type governance.legal_basis as enum ('contract', 'legal_obligation', 'legitimate_interests', 'consent', 'not_applicable');
comment on type governance.legal_basis is
  E'The GDPR Art. 6 basis for keeping a column''s personal data; not_applicable for data that is not personal.';

create table governance.personal_data_columns (
  table_oid regclass not null,
  column_number smallint not null check (column_number > 0),
  category governance.data_category not null,
  subject_kind governance.data_subject_kind not null,
  purpose text not null check (length(btrim(purpose)) between 3 and 500),
  legal_basis governance.legal_basis not null,
  subject_column name,
  primary key (table_oid, column_number),
  check ((category = 'not_personal') = (subject_kind = 'none')),
  check ((category = 'not_personal') = (legal_basis = 'not_applicable'))
);
comment on table governance.personal_data_columns is
  E'The map of personal data: per column, its category, whose data it is, why it is kept and on what legal basis. Keyed by the column''s number, so that a rename keeps it. Written through governance.classify_column, which also sets the column''s audit policy from the category (one truth).';
comment on column governance.personal_data_columns.category is E'identity, contact, content, technical or not_personal.';
comment on column governance.personal_data_columns.subject_kind is E'Whose data: client, user, any or none (not personal).';
comment on column governance.personal_data_columns.purpose is E'Why the platform keeps it, in words an auditor reads.';
comment on column governance.personal_data_columns.subject_column is
  E'For a table the audit trail does not track: the uuid column naming the person. A tracked table''s subject comes from audit.tracked_tables.';
comment on column governance.personal_data_columns.legal_basis is E'The Art. 6 basis: contract, legal_obligation, legitimate_interests, consent, or not_applicable.';
alter table governance.personal_data_columns enable row level security;

-- Legal holds ----------------------------------------------------------------------
create table app_public.legal_holds (
  id uuid primary key default gen_random_uuid(),
  client_id uuid references app_public.clients on delete restrict,
  user_id uuid references app_public.users on delete restrict,
  coach_profile_id uuid references app_public.coach_profiles on delete restrict,
  reason text not null constraint legal_holds_reason_check check (length(btrim(reason)) between 3 and 2000),
  placed_by uuid references app_public.users on delete restrict,
  placed_at timestamptz not null default now(),
  released_by uuid references app_public.users on delete restrict,
  released_at timestamptz,
  release_reason text constraint legal_holds_release_reason_check check (length(btrim(release_reason)) between 3 and 2000),
  constraint legal_holds_one_target check (num_nonnulls(client_id, user_id, coach_profile_id) = 1),
  constraint legal_holds_release_state check ((released_at is null) = (release_reason is null))
);
create index legal_holds_client_id_idx on app_public.legal_holds (client_id);
create index legal_holds_user_id_idx on app_public.legal_holds (user_id);
create index legal_holds_coach_profile_id_idx on app_public.legal_holds (coach_profile_id);
comment on table app_public.legal_holds is
  E'@behavior -update\nA legal hold: while active it keeps a person''s (a client''s or a user''s) or a whole coach profile''s data from erasure and retention deletes. Placed and released by admins, read by auditors; never deleted. Its reason describes the case, not the person.';
comment on column app_public.legal_holds.client_id is E'The client the hold covers (one of clientId, userId, coachProfileId).';
comment on column app_public.legal_holds.user_id is E'The user account the hold covers.';
comment on column app_public.legal_holds.coach_profile_id is E'The coach profile the hold covers, with all its clients.';
comment on column app_public.legal_holds.reason is E'Why the data must be kept (3 to 2,000 characters): the case or obligation, not details of the person.';
comment on column app_public.legal_holds.placed_by is E'The admin who placed it (null when an operator placed it from the command line).';
comment on column app_public.legal_holds.placed_at is E'When it was placed.';
comment on column app_public.legal_holds.released_by is E'The admin who released it.';
comment on column app_public.legal_holds.released_at is E'When it was released; null while active.';
comment on column app_public.legal_holds.release_reason is E'Why it no longer applies.';
alter table app_public.legal_holds enable row level security;

-- Data-subject requests ------------------------------------------------------------
create type app_public.data_subject_request_kind as enum ('access', 'portability', 'erasure', 'rectification', 'restriction');
comment on type app_public.data_subject_request_kind is E'What the person asks for (GDPR Art. 15, 20, 17, 16, 18).';
create type app_public.data_subject_request_state as enum ('received', 'verified', 'in_progress', 'completed', 'rejected');
comment on type app_public.data_subject_request_state is
  E'Where a request stands: received -> verified -> in_progress -> completed, or rejected (with a reason) while open.';

create table app_public.data_subject_requests (
  id uuid primary key default gen_random_uuid(),
  kind app_public.data_subject_request_kind not null,
  client_id uuid references app_public.clients on delete restrict,
  user_id uuid references app_public.users on delete restrict,
  subject_id uuid generated always as (coalesce(client_id, user_id)) stored,
  filed_by uuid references app_public.users on delete restrict,
  received_at timestamptz not null default now(),
  due_at timestamptz not null,
  extension_months smallint not null default 0 constraint data_subject_requests_extension_months_check check (extension_months between 0 and 2),
  extension_reason text constraint data_subject_requests_extension_reason_check check (length(btrim(extension_reason)) between 3 and 2000),
  state app_public.data_subject_request_state not null default 'received',
  state_changed_at timestamptz not null default now(),
  verification text constraint data_subject_requests_verification_check check (length(btrim(verification)) between 3 and 2000),
  verified_by uuid references app_public.users on delete restrict,
  verified_at timestamptz,
  rejection_reason text constraint data_subject_requests_rejection_reason_check check (length(btrim(rejection_reason)) between 3 and 2000),
  closed_at timestamptz,
  constraint data_subject_requests_one_subject check (num_nonnulls(client_id, user_id) = 1),
  constraint data_subject_requests_extension_has_reason check ((extension_months = 0) = (extension_reason is null)),
  constraint data_subject_requests_verified_state check (state in ('received', 'rejected') or verification is not null),
  constraint data_subject_requests_rejection_has_reason check ((state = 'rejected') = (rejection_reason is not null)),
  constraint data_subject_requests_closed_state check ((state in ('completed', 'rejected')) = (closed_at is not null))
);
create index data_subject_requests_client_id_idx on app_public.data_subject_requests (client_id);
create index data_subject_requests_user_id_idx on app_public.data_subject_requests (user_id);
create index data_subject_requests_open_due_at_idx on app_public.data_subject_requests (due_at) where state not in ('completed', 'rejected');
comment on table app_public.data_subject_requests is
  E'@behavior -delete\nA data-subject request (GDPR Art. 12-18): what a client or a user asked for, who filed it, how their identity was verified, when it is due (received plus one month, Art. 12(3), plus an extension of at most two months with a reason) and where it stands. Admins manage requests, auditors read them, a coach files and reads them for their own clients. Never deleted; every change is in the audit trail.';
comment on column app_public.data_subject_requests.kind is E'access, portability, erasure, rectification or restriction.';
comment on column app_public.data_subject_requests.client_id is E'The client the request is about (one of clientId and userId).';
comment on column app_public.data_subject_requests.user_id is E'The user account the request is about.';
comment on column app_public.data_subject_requests.subject_id is E'The person the request is about: clientId or userId.';
comment on column app_public.data_subject_requests.filed_by is E'Who filed it: the caller (null when an operator filed it from the command line).';
comment on column app_public.data_subject_requests.received_at is E'When the person''s request reached the platform (now by default; earlier when it arrived by letter); never in the future.';
comment on column app_public.data_subject_requests.due_at is E'The deadline: receivedAt plus one month plus extensionMonths, set by the database.';
comment on column app_public.data_subject_requests.extension_months is E'Extra months (0 to 2, Art. 12(3)); can only grow, with extensionReason.';
comment on column app_public.data_subject_requests.extension_reason is E'Why the deadline was extended (3 to 2,000 characters).';
comment on column app_public.data_subject_requests.state is E'received, verified, in_progress, completed or rejected.';
comment on column app_public.data_subject_requests.state_changed_at is E'When the state last changed.';
comment on column app_public.data_subject_requests.verification is E'How the person''s identity was verified (3 to 2,000 characters), recorded when the request is verified.';
comment on column app_public.data_subject_requests.verified_by is E'Who verified it.';
comment on column app_public.data_subject_requests.verified_at is E'When it was verified.';
comment on column app_public.data_subject_requests.rejection_reason is E'Why it was rejected (3 to 2,000 characters); required to reject.';
comment on column app_public.data_subject_requests.closed_at is E'When it was completed or rejected.';
alter table app_public.data_subject_requests enable row level security;

--! Included gdpr/classification.sql
-- The map of personal data: one row per classified column. Whether a column's
-- values are sealed as pii in the audit trail is derived from its category
-- here (governance.classify_column sets the audit policy), and the data
-- subject's path comes from the trail's own subject configuration
-- (audit.tracked_tables), so neither fact is kept twice.

create or replace function governance.is_sealed_category(category governance.data_category) returns boolean as $$
  select category in ('identity', 'contact', 'content');
$$ language sql immutable;
comment on function governance.is_sealed_category(governance.data_category) is
  E'Whether a column of this category is pii in the audit trail (sealed under its subject''s key): identity, contact and content are; technical data (keys, addresses, hashes) stays as the trail stores it (plain, or exclude for secrets), and not personal data is plain.';

create or replace function governance.classify_column(
  target regclass,
  column_name name,
  category governance.data_category,
  subject_kind governance.data_subject_kind,
  purpose text,
  legal_basis governance.legal_basis,
  subject_column name default null
) returns void as $$
declare
  attnum smallint;
  current_policy audit.column_policy;
begin
  select a.attnum into attnum from pg_catalog.pg_attribute a
  where a.attrelid = target and a.attname = classify_column.column_name and a.attnum > 0 and not a.attisdropped;
  if not found then
    raise exception 'Table % has no column %.', target, column_name using errcode = '42703';
  end if;
  if subject_column is not null and exists (select from audit.tracked_tables t where t.table_oid = target) then
    raise exception 'Table % is tracked by the audit trail, which names its subject (audit.enable_tracking''s subject_column); give no subject_column here.', target
      using errcode = '22023';
  end if;
  insert into governance.personal_data_columns as p (table_oid, column_number, category, subject_kind, purpose, legal_basis, subject_column)
  values (target, attnum, category, subject_kind, purpose, legal_basis, subject_column)
  on conflict on constraint personal_data_columns_pkey do update set
    category = excluded.category, subject_kind = excluded.subject_kind,
    purpose = excluded.purpose, legal_basis = excluded.legal_basis, subject_column = excluded.subject_column;
  -- The audit trail's policy follows the category (one truth).
  if exists (select from audit.tracked_tables t where t.table_oid = target) then
    current_policy := audit.column_policy_of(target, column_name);
    if governance.is_sealed_category(category) and current_policy <> 'pii' then
      perform audit.set_column_policy(target, column_name, 'pii');
    elsif not governance.is_sealed_category(category) and current_policy = 'pii' then
      perform audit.set_column_policy(target, column_name, 'plain');
    end if;
  end if;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.classify_column(regclass, name, governance.data_category, governance.data_subject_kind, text, governance.legal_basis, name) is
  E'Classifies one column for the map of personal data (category, whose data, purpose, legal basis, and for a table the audit trail does not track, the uuid column naming the person) and derives its audit policy: identity, contact and content become pii in the trail, other categories stop being pii (an excluded secret stays excluded). The one door for both: a migration that adds a text column calls it.';

revoke all on function governance.classify_column(regclass, name, governance.data_category, governance.data_subject_kind, text, governance.legal_basis, name) from public;

-- Every column of every Custodian table, with what the map and the trail say of it.
drop view if exists app_public.records_of_processing;
drop view if exists governance.personal_data_map;
create view governance.personal_data_map with (security_invoker = true) as
  select n.nspname::text as table_schema,
    c.relname::text as table_name,
    a.attname::text as column_name,
    pg_catalog.format_type(a.atttypid, a.atttypmod) as data_type,
    p.category,
    p.subject_kind,
    case
      when p.category is null or p.category = 'not_personal' then null
      when t.subject_via is not null then pg_catalog.format('%s.%s -> %s.%s', c.relname, t.subject_column,
        (select v.relname from pg_catalog.pg_class v where v.oid = t.subject_via), t.subject_via_column)
      when t.subject_column is not null then pg_catalog.format('%s.%s', c.relname, t.subject_column)
      when p.subject_column is not null then pg_catalog.format('%s.%s', c.relname, p.subject_column)
    end as subject_path,
    p.purpose,
    p.legal_basis,
    case when t.table_oid is null then null else coalesce(cp.policy, 'plain') end as audit_policy,
    a.atttypid in ('text'::regtype, 'varchar'::regtype, 'jsonb'::regtype)
      or pg_catalog.format_type(a.atttypid, null) = 'citext' as is_free_text
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join governance.personal_data_columns p on p.table_oid = c.oid and p.column_number = a.attnum
  left join audit.tracked_tables t on t.table_oid = c.oid
  left join audit.column_policies cp on cp.table_oid = c.oid and cp.column_number = a.attnum
  where c.relkind in ('r', 'p') and not c.relispartition
    and n.nspname !~ '^pg_' and n.nspname not in ('information_schema', 'public', 'graphile_worker', 'graphile_migrate');
comment on view governance.personal_data_map is
  E'Every column of every Custodian table: its category (null when not classified), whose data it is and the path to that person (from the audit trail''s subject configuration), purpose, legal basis, and the audit policy derived from the category.';

grant select on governance.personal_data_map to custodian_admin, custodian_auditor;

create view app_public.records_of_processing with (security_invoker = true) as
  select m.table_schema, m.table_name, m.column_name, m.category, m.subject_kind, m.subject_path,
    m.purpose, m.legal_basis, m.audit_policy,
    null::text as retention_period
  from governance.personal_data_map m
  where m.category is not null and m.category <> 'not_personal';
comment on view app_public.records_of_processing is
  E'@name processing_record\n@primaryKey table_schema,table_name,column_name\n@behavior -insert -update -delete -single\nThe records of processing (GDPR Art. 30): every column that holds personal data, what kind, whose, the path to that person, why it is kept and on what legal basis, and how the audit trail keeps it. Admins and auditors read it.';
comment on column app_public.records_of_processing.retention_period is
  E'How long the column''s data is kept: null until retention periods are defined (the retention issue fills it in).';

grant select on app_public.records_of_processing to custodian_admin, custodian_auditor;

drop policy if exists staff_read on governance.personal_data_columns;
create policy staff_read on governance.personal_data_columns for select to custodian_admin, custodian_auditor using (true);

grant select on governance.personal_data_columns to custodian_admin, custodian_auditor;
--! EndIncluded gdpr/classification.sql
--! Included gdpr/legal-holds.sql
-- Legal holds: placed and released, never deleted; erasure and retention ask
-- app_private.hold_for_subject before they touch a person's data.

create or replace function app_public.tg_legal_holds__append_only() returns trigger as $$
begin
  if TG_OP = 'INSERT' then
    NEW.placed_by := app_public.current_user_id();
    NEW.placed_at := pg_catalog.now();
    NEW.released_by := null;
    NEW.released_at := null;
    NEW.release_reason := null;
    return NEW;
  elsif TG_OP = 'UPDATE' then
    if OLD.released_at is not null then
      raise exception 'Legal hold % was released at %; a released hold cannot change. Place a new hold instead.', OLD.id, OLD.released_at
        using errcode = '55000';
    end if;
    if (NEW.id, NEW.client_id, NEW.user_id, NEW.coach_profile_id, NEW.reason, NEW.placed_by, NEW.placed_at)
       is distinct from (OLD.id, OLD.client_id, OLD.user_id, OLD.coach_profile_id, OLD.reason, OLD.placed_by, OLD.placed_at) then
      raise exception 'A legal hold cannot be changed, only released with a reason (releaseLegalHold).' using errcode = '55000';
    end if;
    if NEW.release_reason is null then
      raise exception 'Releasing a legal hold needs a reason.' using errcode = '23502';
    end if;
    NEW.released_by := app_public.current_user_id();
    NEW.released_at := pg_catalog.now();
    return NEW;
  else
    raise exception 'Legal holds are never deleted; release the hold instead.' using errcode = '55000';
  end if;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_legal_holds__append_only() is
  E'Keeps legal holds append-only for every writer: who placed a hold and when come from the caller and the clock; a hold changes once, when it is released with a reason; it is never deleted or truncated.';

drop trigger if exists _200_append_only on app_public.legal_holds;
create trigger _200_append_only before insert or update or delete on app_public.legal_holds
  for each row execute function app_public.tg_legal_holds__append_only();
drop trigger if exists _200_append_only_truncate on app_public.legal_holds;
create trigger _200_append_only_truncate before truncate on app_public.legal_holds
  for each statement execute function app_public.tg_legal_holds__append_only();

create or replace function app_public.release_legal_hold(hold_id uuid, reason text) returns app_public.legal_holds as $$
  update app_public.legal_holds set release_reason = release_legal_hold.reason
  where id = release_legal_hold.hold_id
  returning *;
$$ language sql volatile;
comment on function app_public.release_legal_hold(uuid, text) is
  E'Releases an active legal hold, with the reason it no longer applies; who and when are recorded. Admins only; a released hold stays on record.';

revoke all on function app_public.release_legal_hold(uuid, text) from public;
grant execute on function app_public.release_legal_hold(uuid, text) to custodian_admin;

create or replace function app_private.hold_for_subject(subject_id uuid) returns app_public.legal_holds as $$
  select h.* from app_public.legal_holds h
  where h.released_at is null
    and (h.client_id = hold_for_subject.subject_id
      or h.user_id = hold_for_subject.subject_id
      or h.coach_profile_id in (
        select c.coach_profile_id from app_public.clients c where c.id = hold_for_subject.subject_id
        union all
        select cp.id from app_public.coach_profiles cp where cp.user_id = hold_for_subject.subject_id
        union all
        select hold_for_subject.subject_id))
  order by h.placed_at, h.id
  limit 1;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.hold_for_subject(uuid) is
  E'The oldest active legal hold covering a person (a client or a user) or a coach profile: one on them, on their coach''s profile (for a client), or on their own coach profile (for a coach''s user); null when none. Erasure and retention call app_private.refuse_under_hold, which raises with its reason.';

create or replace function app_private.refuse_under_hold(subject_id uuid, action text) returns void as $$
declare
  hold app_public.legal_holds := app_private.hold_for_subject(subject_id);
begin
  if hold.id is not null then
    raise exception 'Cannot % %: legal hold % placed at % covers them: %', action, subject_id, hold.id, hold.placed_at, hold.reason
      using errcode = '55000', hint = 'An admin releases the hold (releaseLegalHold) when it no longer applies.';
  end if;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.refuse_under_hold(uuid, text) is
  E'Raises (55000) with the hold''s reason when an active legal hold covers the subject; what erasure and retention call before touching a person''s data.';

revoke all on function app_private.hold_for_subject(uuid) from public;
revoke all on function app_private.refuse_under_hold(uuid, text) from public;

-- Admins place and release holds, auditors read them; coaches do not see them
-- (a hold may concern a dispute with the coach themselves).
drop policy if exists admin_all on app_public.legal_holds;
create policy admin_all on app_public.legal_holds for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.legal_holds;
create policy auditor_read on app_public.legal_holds for select to custodian_auditor using (true);

grant select on app_public.legal_holds to custodian_admin, custodian_auditor;
grant insert (client_id, user_id, coach_profile_id, reason) on app_public.legal_holds to custodian_admin;
grant update (release_reason) on app_public.legal_holds to custodian_admin;
--! EndIncluded gdpr/legal-holds.sql
--! Included gdpr/requests.sql
-- Data-subject requests: deadlines and a state machine the database enforces
-- for every writer (received -> verified -> in_progress -> completed, and
-- rejected, with a reason, from any open state).

create or replace function app_public.tg_data_subject_requests__state_machine() returns trigger as $$
begin
  if TG_OP = 'INSERT' then
    if NEW.client_id is not null and not governance.caller_is_staff()
       and not exists (select from app_public.clients c where c.id = NEW.client_id) then
      raise exception 'There is no client % of yours; a coach files requests for their own clients only.', NEW.client_id
        using errcode = '42501';
    end if;
    if NEW.received_at > pg_catalog.now() then
      raise exception 'A request cannot be received in the future (receivedAt %).', NEW.received_at using errcode = '22023';
    end if;
    if NEW.state <> 'received' or NEW.extension_months <> 0 or NEW.verification is not null or NEW.rejection_reason is not null then
      raise exception 'A request starts received, unverified and unextended; verify, extend or reject it afterwards.' using errcode = '22023';
    end if;
    NEW.filed_by := app_public.current_user_id();
    NEW.state_changed_at := pg_catalog.now();
  else
    if OLD.state in ('completed', 'rejected') then
      raise exception 'Request % is % and cannot change.', OLD.id, OLD.state using errcode = '55000';
    end if;
    if (NEW.id, NEW.kind, NEW.client_id, NEW.user_id, NEW.filed_by, NEW.received_at)
       is distinct from (OLD.id, OLD.kind, OLD.client_id, OLD.user_id, OLD.filed_by, OLD.received_at) then
      raise exception 'A request''s kind, subject, filer and receipt cannot change; reject it and file another.' using errcode = '55000';
    end if;
    if NEW.state is distinct from OLD.state then
      if not (OLD.state, NEW.state) in (('received', 'verified'), ('verified', 'in_progress'), ('in_progress', 'completed'),
                                       ('received', 'rejected'), ('verified', 'rejected'), ('in_progress', 'rejected')) then
        raise exception 'A request cannot go from % to %; the steps are received -> verified -> in_progress -> completed, or rejected (with a reason) while open.',
          OLD.state, NEW.state using errcode = '55000';
      end if;
      NEW.state_changed_at := pg_catalog.now();
    else
      NEW.state_changed_at := OLD.state_changed_at;
    end if;
    if NEW.state = 'verified' and OLD.state = 'received' then
      NEW.verified_by := app_public.current_user_id();
      NEW.verified_at := pg_catalog.now();
    else
      NEW.verified_by := OLD.verified_by;
      NEW.verified_at := OLD.verified_at;
    end if;
    if NEW.verification is distinct from OLD.verification and OLD.state <> 'received' then
      raise exception 'How the subject''s identity was verified is recorded once, when the request is verified.' using errcode = '55000';
    end if;
    if NEW.extension_months < OLD.extension_months then
      raise exception 'An extension cannot be shortened (from % to % months).', OLD.extension_months, NEW.extension_months using errcode = '22023';
    end if;
    if NEW.extension_months = OLD.extension_months and NEW.extension_reason is distinct from OLD.extension_reason then
      raise exception 'An extension''s reason is given with the extension.' using errcode = '55000';
    end if;
  end if;
  NEW.due_at := NEW.received_at + pg_catalog.make_interval(months => 1 + NEW.extension_months);
  NEW.closed_at := case when NEW.state in ('completed', 'rejected') then NEW.state_changed_at end;
  return NEW;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_data_subject_requests__state_machine() is
  E'Enforces a data-subject request''s life for every writer: it starts received, moves received -> verified -> in_progress -> completed or to rejected while open, never leaves completed or rejected, keeps its kind, subject and receipt; who filed and verified it and when come from the caller and the clock; the due date is received plus one month plus the extension (at most two months, with a reason, never shortened).';

drop trigger if exists _200_state_machine on app_public.data_subject_requests;
create trigger _200_state_machine before insert or update on app_public.data_subject_requests
  for each row execute function app_public.tg_data_subject_requests__state_machine();

create or replace function app_public.open_data_subject_requests() returns setof app_public.data_subject_requests as $$
  select * from app_public.data_subject_requests where state not in ('completed', 'rejected') order by due_at, id;
$$ language sql stable;
comment on function app_public.open_data_subject_requests() is
  E'Requests not yet completed or rejected, soonest due first.';

create or replace function app_public.due_soon_data_subject_requests(as_of timestamptz default pg_catalog.now())
returns setof app_public.data_subject_requests as $$
  select * from app_public.data_subject_requests
  where state not in ('completed', 'rejected') and due_at >= as_of and due_at < as_of + interval '7 days'
  order by due_at, id;
$$ language sql stable;
comment on function app_public.due_soon_data_subject_requests(timestamptz) is
  E'Open requests due within seven days of asOf (now by default), not yet overdue; soonest first.';

create or replace function app_public.overdue_data_subject_requests(as_of timestamptz default pg_catalog.now())
returns setof app_public.data_subject_requests as $$
  select * from app_public.data_subject_requests
  where state not in ('completed', 'rejected') and due_at < as_of
  order by due_at, id;
$$ language sql stable;
comment on function app_public.overdue_data_subject_requests(timestamptz) is
  E'Open requests whose due date had passed at asOf (now by default); longest overdue first.';

grant execute on function app_public.open_data_subject_requests(), app_public.due_soon_data_subject_requests(timestamptz),
  app_public.overdue_data_subject_requests(timestamptz) to custodian_coach, custodian_admin, custodian_auditor;

-- Admins manage requests; auditors read them; a coach files and reads them
-- for their own clients (a client asks their coach).
drop policy if exists admin_all on app_public.data_subject_requests;
create policy admin_all on app_public.data_subject_requests for all to custodian_admin using (true) with check (true);
drop policy if exists auditor_read on app_public.data_subject_requests;
create policy auditor_read on app_public.data_subject_requests for select to custodian_auditor using (true);
drop policy if exists coach_own_clients on app_public.data_subject_requests;
create policy coach_own_clients on app_public.data_subject_requests for select to custodian_coach
  using (client_id in (select c.id from app_public.clients c where c.coach_profile_id = (select app_private.current_coach_profile_id())));
drop policy if exists coach_files on app_public.data_subject_requests;
create policy coach_files on app_public.data_subject_requests for insert to custodian_coach
  with check (client_id in (select c.id from app_public.clients c where c.coach_profile_id = (select app_private.current_coach_profile_id())));

grant select on app_public.data_subject_requests to custodian_coach, custodian_admin, custodian_auditor;
grant insert (kind, client_id, user_id, received_at) on app_public.data_subject_requests to custodian_coach, custodian_admin;
grant update (state, verification, extension_months, extension_reason, rejection_reason) on app_public.data_subject_requests to custodian_admin;
--! EndIncluded gdpr/requests.sql
--! Included domain/constraint-words.sql
-- Words for every constraint and unique index a writer can break, one home.
-- The API's error formatter (src/server/mask-error.ts) reads them once and
-- answers a check, unique, foreign-key or exclusion violation with the
-- sentence here (naming the field as the API spells it, and the rule),
-- keeping the SQLSTATE for programs. test/api/plain-errors.test.ts fails
-- when a constraint of an exposed table has no words.

create or replace function app_private.constraint_words()
returns table (table_name text, constraint_name text, words text) as $$
  values
    -- users
    ('app_public.users', 'users_pkey', 'A user with this rowId already exists.'),
    ('app_public.users', 'users_email_key', 'Another user already has this email; each email signs in one user.'),
    ('app_public.users', 'users_email_check', 'A user''s email must look like name@example.com (no spaces, one @, a dot in the domain).'),
    ('app_public.users', 'users_display_name_check', 'A user''s displayName must be 1 to 200 characters, not only spaces.'),
    ('app_public.users', 'users_id_role_key', 'A user with this rowId and role already exists.'),
    -- billing_plans
    ('app_public.billing_plans', 'billing_plans_pkey', 'A billing plan with this rowId already exists.'),
    ('app_public.billing_plans', 'billing_plans_name_key', 'Another billing plan already has this name; plan names are unique.'),
    ('app_public.billing_plans', 'billing_plans_name_check', 'A billing plan''s name must be 1 to 100 characters, not only spaces.'),
    ('app_public.billing_plans', 'billing_plans_currency_check', 'A billing plan''s currency must be a three-letter ISO 4217 code in capitals, such as EUR.'),
    ('app_public.billing_plans', 'billing_plans_included_minutes_check', 'A billing plan''s includedMinutes may not be negative.'),
    ('app_public.billing_plans', 'billing_plans_monthly_fee_minor_check', 'A billing plan''s monthlyFeeMinor may not be negative.'),
    ('app_public.billing_plans', 'billing_plans_price_per_extra_minute_minor_check', 'A billing plan''s pricePerExtraMinuteMinor may not be negative.'),
    ('app_public.billing_plans', 'billing_plans_monthly_fee_minor_bound', 'A billing plan''s monthlyFeeMinor may be at most 100,000,000 minor units (1,000,000.00 of the currency).'),
    ('app_public.billing_plans', 'billing_plans_price_per_extra_minute_minor_bound', 'A billing plan''s pricePerExtraMinuteMinor may be at most 1,000,000 minor units (10,000.00 of the currency).'),
    -- provider_rates
    ('app_public.provider_rates', 'provider_rates_pkey', 'A provider rate with this rowId already exists.'),
    ('app_public.provider_rates', 'provider_rates_provider_model_effective_from_key', 'This provider and model already have a rate from this effectiveFrom; change that rate or pick another instant.'),
    ('app_public.provider_rates', 'provider_rates_cost_per_minute_minor_check', 'A provider rate''s costPerMinuteMinor may not be negative.'),
    ('app_public.provider_rates', 'provider_rates_currency_check', 'A provider rate''s currency must be a three-letter ISO 4217 code in capitals, such as USD.'),
    ('app_public.provider_rates', 'provider_rates_model_check', 'A provider rate''s model must be 1 to 100 characters, not only spaces.'),
    ('app_public.provider_rates', 'provider_rates_provider_check', 'A provider rate''s provider must be 1 to 63 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit (such as deepgram).'),
    -- coach_profiles
    ('app_public.coach_profiles', 'coach_profiles_pkey', 'A coach profile with this rowId already exists.'),
    ('app_public.coach_profiles', 'coach_profiles_user_id_key', 'This user already has a coach profile; a coach has one (delete it first to make another).'),
    ('app_public.coach_profiles', 'coach_profiles_bio_check', 'A coach profile''s bio may be at most 5,000 characters.'),
    ('app_public.coach_profiles', 'coach_profiles_display_name_check', 'A coach profile''s displayName must be 1 to 200 characters, not only spaces.'),
    ('app_public.coach_profiles', 'coach_profiles_timezone_check', 'A coach profile''s timezone must be an IANA time zone name, such as Europe/Berlin or UTC.'),
    ('app_public.coach_profiles', 'coach_profiles_user_role_check', 'A coach profile''s user must have the role coach.'),
    ('app_public.coach_profiles', 'coach_profiles_deletion_state', 'A coach profile''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteCoachProfile and restoreCoachProfile.'),
    ('app_public.coach_profiles', 'coach_profiles_plan_id_fkey', 'A coach profile''s planId must name an existing billing plan, and a billing plan that coach profiles use cannot be deleted.'),
    ('app_public.coach_profiles', 'coach_profiles_user_id_user_role_fkey', 'A coach profile''s userId must name an existing user whose role is coach, and a user with a coach profile cannot be deleted or change role.'),
    ('app_public.coach_profiles', 'coach_profiles_deleted_by_fkey', 'A coach profile''s deletedBy must name an existing user.'),
    -- clients
    ('app_public.clients', 'clients_pkey', 'A client with this rowId already exists.'),
    ('app_public.clients', 'clients_coach_email_key', 'This coach already has a client with this email; each client of a coach has their own email.'),
    ('app_public.clients', 'clients_id_coach_profile_id_key', 'A client with this rowId already exists.'),
    ('app_public.clients', 'clients_email_check', 'A client''s email must look like name@example.com (no spaces, one @, a dot in the domain).'),
    ('app_public.clients', 'clients_full_name_check', 'A client''s fullName must be 1 to 200 characters, not only spaces.'),
    ('app_public.clients', 'clients_notes_check', 'A client''s notes may be at most 20,000 characters.'),
    ('app_public.clients', 'clients_phone_check', 'A client''s phone must be 5 to 30 digits, spaces, dots, dashes or brackets, with an optional leading +.'),
    ('app_public.clients', 'clients_deletion_state', 'A client''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteClient and restoreClient.'),
    ('app_public.clients', 'clients_coach_profile_id_fkey', 'A client''s coachProfileId must name an existing coach profile.'),
    ('app_public.clients', 'clients_deleted_by_fkey', 'A client''s deletedBy must name an existing user.'),
    -- coaching_sessions
    ('app_public.coaching_sessions', 'coaching_sessions_pkey', 'A coaching session with this rowId already exists.'),
    ('app_public.coaching_sessions', 'coaching_sessions_id_coach_profile_id_key', 'A coaching session with this rowId already exists.'),
    ('app_public.coaching_sessions', 'coaching_sessions_audio_duration_seconds_check', 'A coaching session''s audioDurationSeconds may not be negative.'),
    ('app_public.coaching_sessions', 'coaching_sessions_audio_object_key_check', 'A coaching session''s audioObjectKey must be 1 to 1,024 characters, not only spaces.'),
    ('app_public.coaching_sessions', 'coaching_sessions_title_check', 'A coaching session''s title must be 1 to 300 characters, not only spaces.'),
    ('app_public.coaching_sessions', 'coaching_sessions_deletion_state', 'A coaching session''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteCoachingSession and restoreCoachingSession.'),
    ('app_public.coaching_sessions', 'coaching_sessions_client_id_coach_profile_id_fkey', 'A coaching session''s clientId must name an existing client of the same coach.'),
    ('app_public.coaching_sessions', 'coaching_sessions_deleted_by_fkey', 'A coaching session''s deletedBy must name an existing user.'),
    -- transcriptions
    ('app_public.transcriptions', 'transcriptions_pkey', 'A transcription with this rowId already exists.'),
    ('app_public.transcriptions', 'transcriptions_id_coach_profile_id_key', 'A transcription with this rowId already exists.'),
    ('app_public.transcriptions', 'transcriptions_id_session_id_key', 'A transcription with this rowId already exists.'),
    ('app_public.transcriptions', 'transcriptions_billed_duration_seconds_check', 'A transcription''s billedDurationSeconds may not be negative.'),
    ('app_public.transcriptions', 'transcriptions_check', 'A transcription''s retryOf may not name the transcription itself.'),
    ('app_public.transcriptions', 'transcriptions_check1', 'A transcription''s finishedAt may not be before its startedAt.'),
    ('app_public.transcriptions', 'transcriptions_completed_has_billed_duration', 'A completed transcription needs billedDurationSeconds.'),
    ('app_public.transcriptions', 'transcriptions_error_message_check', 'A transcription''s errorMessage may be at most 2,000 characters.'),
    ('app_public.transcriptions', 'transcriptions_language_check', 'A transcription''s language must be a language tag such as en or pt-BR.'),
    ('app_public.transcriptions', 'transcriptions_model_check', 'A transcription''s model must be 1 to 100 characters, not only spaces.'),
    ('app_public.transcriptions', 'transcriptions_provider_check', 'A transcription''s provider must be 1 to 63 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit (such as deepgram).'),
    ('app_public.transcriptions', 'transcriptions_deletion_state', 'A transcription''s isDeleted, deletedAt and deletion batch must agree; delete and restore it with deleteTranscription and restoreTranscription.'),
    ('app_public.transcriptions', 'transcriptions_session_id_coach_profile_id_fkey', 'A transcription''s sessionId must name an existing coaching session of the same coach.'),
    ('app_public.transcriptions', 'transcriptions_retry_of_session_id_fkey', 'A transcription''s retryOf must name an earlier transcription of the same session.'),
    ('app_public.transcriptions', 'transcriptions_requested_by_fkey', 'A transcription''s requestedBy must name an existing user.'),
    ('app_public.transcriptions', 'transcriptions_deleted_by_fkey', 'A transcription''s deletedBy must name an existing user.'),
    -- usage_events
    ('app_public.usage_events', 'usage_events_pkey', 'A usage event with this rowId already exists.'),
    ('app_public.usage_events', 'usage_events_one_per_attempt', 'This transcription attempt already has its usage event; an attempt is metered once.'),
    ('app_public.usage_events', 'usage_events_one_void_per_event', 'This usage event is already voided; an event can be voided once.'),
    ('app_public.usage_events', 'usage_events_corrects_event_id_fkey', 'A usage event''s correctsEventId must name an existing usage event, and an event that a correction names cannot be deleted.'),
    -- usage_daily
    ('app_public.usage_daily', 'usage_daily_key', 'The daily usage already has a row for this day, coach, plan, provider, model and billing month.'),
    -- billing_months
    ('app_public.billing_months', 'billing_months_pkey', 'This month is already closed.'),
    ('app_public.billing_months', 'billing_months_month_check', 'A billing month must be the first day of a month, such as 2026-11-01.'),
    -- invoices
    ('app_public.invoices', 'invoices_pkey', 'This coach already has an invoice for this month.'),
    ('app_public.invoices', 'invoices_closed_at_check', 'A frozen invoice must say when its month was closed (closedAt).'),
    ('app_public.invoices', 'invoices_month_fkey', 'An invoice''s month must be a closed billing month, and a closed month with invoices cannot be deleted.'),
    -- legal_holds
    ('app_public.legal_holds', 'legal_holds_pkey', 'A legal hold with this rowId already exists.'),
    ('app_public.legal_holds', 'legal_holds_client_id_fkey', 'A legal hold''s clientId must name an existing client, and a client under a legal hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_user_id_fkey', 'A legal hold''s userId must name an existing user, and a user under a legal hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_coach_profile_id_fkey', 'A legal hold''s coachProfileId must name an existing coach profile, and a coach profile under a legal hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_placed_by_fkey', 'A legal hold''s placedBy must name an existing user, and a user who placed a hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_released_by_fkey', 'A legal hold''s releasedBy must name an existing user, and a user who released a hold cannot be deleted.'),
    ('app_public.legal_holds', 'legal_holds_reason_check', 'A legal hold''s reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.legal_holds', 'legal_holds_release_reason_check', 'A legal hold''s releaseReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.legal_holds', 'legal_holds_one_target', 'A legal hold covers exactly one of clientId, userId or coachProfileId.'),
    ('app_public.legal_holds', 'legal_holds_release_state', 'A legal hold is released with a reason: releasedAt and releaseReason go together (use releaseLegalHold).'),
    -- data_subject_requests
    ('app_public.data_subject_requests', 'data_subject_requests_pkey', 'A data-subject request with this rowId already exists.'),
    ('app_public.data_subject_requests', 'data_subject_requests_client_id_fkey', 'A data-subject request''s clientId must name an existing client, and a client with requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_user_id_fkey', 'A data-subject request''s userId must name an existing user, and a user with requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_filed_by_fkey', 'A data-subject request''s filedBy must name an existing user, and a user who filed requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_verified_by_fkey', 'A data-subject request''s verifiedBy must name an existing user, and a user who verified requests cannot be deleted.'),
    ('app_public.data_subject_requests', 'data_subject_requests_extension_months_check', 'A data-subject request''s extensionMonths must be 0, 1 or 2: the deadline can be extended by at most two months (Art. 12(3)).'),
    ('app_public.data_subject_requests', 'data_subject_requests_extension_reason_check', 'A data-subject request''s extensionReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_requests', 'data_subject_requests_verification_check', 'A data-subject request''s verification must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_requests', 'data_subject_requests_rejection_reason_check', 'A data-subject request''s rejectionReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_requests', 'data_subject_requests_one_subject', 'A data-subject request is about exactly one person: give either clientId or userId.'),
    ('app_public.data_subject_requests', 'data_subject_requests_extension_has_reason', 'Extending a data-subject request''s deadline needs an extensionReason, and only an extension has one.'),
    ('app_public.data_subject_requests', 'data_subject_requests_verified_state', 'A data-subject request is verified, in progress or completed only with its verification: say how the person''s identity was checked.'),
    ('app_public.data_subject_requests', 'data_subject_requests_rejection_has_reason', 'Rejecting a data-subject request needs a rejectionReason, and only a rejected request has one.'),
    ('app_public.data_subject_requests', 'data_subject_requests_closed_state', 'A data-subject request''s closedAt is set by the database when it is completed or rejected.'),
    -- governance
    ('governance.hard_deletions', 'hard_deletions_reason_check', 'A hard delete''s reason must be 3 to 2,000 characters, not only spaces.')
$$ language sql immutable;
comment on function app_private.constraint_words() is
  E'The sentence a user reads when a write breaks a constraint or unique index: one row per (table, constraint), naming the field as the API spells it and the rule.';

-- The API server reads them once, as itself, before any request role is set.
revoke all on function app_private.constraint_words() from public;
grant execute on function app_private.constraint_words() to custodian_authenticator;
--! EndIncluded domain/constraint-words.sql

select audit.enable_tracking('governance.personal_data_columns');
select audit.enable_tracking('app_public.legal_holds');
select audit.enable_tracking('app_public.data_subject_requests', subject_column => 'subject_id');

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
  -- Governance
  ('governance.hard_deletions', 'table_schema', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'table_name', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'row_id', 'technical', 'any', 'Which row a hard delete removed.', 'legal_obligation'),
  ('governance.hard_deletions', 'reason', 'not_personal', 'none', 'Why an operator hard-deleted: the case, not details of the person.', 'not_applicable'),
  ('governance.soft_delete_tables', 'key_type', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.soft_delete_tables', 'noun', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.personal_data_columns', 'purpose', 'not_personal', 'none', 'The map of personal data itself.', 'not_applicable'),
  -- GDPR
  ('app_public.legal_holds', 'reason', 'not_personal', 'none', 'Why data must be kept: the case or obligation, not details of the person.', 'not_applicable'),
  ('app_public.legal_holds', 'release_reason', 'not_personal', 'none', 'Why a hold no longer applies.', 'not_applicable'),
  ('app_public.data_subject_requests', 'subject_id', 'technical', 'any', 'Whom a request is about.', 'legal_obligation'),
  ('app_public.data_subject_requests', 'verification', 'content', 'any', 'Proof that the requester is the person (Art. 12(6)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'extension_reason', 'content', 'any', 'Why answering takes longer (Art. 12(3)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'rejection_reason', 'content', 'any', 'Why a request was refused (Art. 12(4)).', 'legal_obligation')
) as m(target, column_name, category, subject_kind, purpose, legal_basis);
--! EndIncluded gdpr/classify-custodian.sql
