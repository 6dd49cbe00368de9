--! Previous: sha1:11a733b7f9e91609aa636694a8bf995da616b3fb
--! Hash: sha1:cd594b859e2feaba8cff4f13316bdcdd2b685f04
--! Message: Issue 14: JIT off again beside nested loops off, in every capture and the pricing: where PostgreSQL has JIT a one-row UPDATE compiled its statement first (0.6-1 s on 15); an erasure run's passing failure is retried, not kept

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
  -- own. Nested loops are off so that UPDATE's pairing is a hash join
  -- whatever the first statement's size (without it, a session whose first
  -- updates were of one row took a 20,000-row update past 15 s). JIT is off
  -- because nested loops are: where a plan still needs one (the laterals that
  -- look up pii keys), the planner adds its penalty for a disabled node, the
  -- plan's cost passes jit_above_cost, and wherever PostgreSQL has JIT (most
  -- servers; not the embedded one) every capture compiled its statement
  -- first: 0.6-1 s for a one-row UPDATE on PostgreSQL 15. Each SET clause
  -- costs every call (about 4 µs of a one-row update's 100).
  execute pg_catalog.format(
    'create or replace function audit.%I() returns trigger as %L language plpgsql volatile security definer set enable_nestloop = off set jit = off',
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
--! Included usage/rating.sql
-- Rating: raw usage records become priced usage events, a moment after capture.

-- THE pricing of captured records, set-based: the readers that show money run
-- it on the fly, and the rating step inserts what it returns. Each coach's
-- records are priced in id order within their billing month, continuing that
-- month's ledger, by app_private.decide_charge: the included seconds used
-- before a record are the ledger's plus the batch's earlier completed seconds,
-- capped at the plan's (exactly what calling the rule one record at a time
-- with the running totals gives), and the charge before it the ledger's plus
-- the batch's earlier charged seconds at the plan's price.
create or replace function app_private.price_usage_records(only_coach uuid default null, max_records integer default null)
returns setof app_public.usage_events as $$
begin
  -- One plan, kept for the session (planning this costs more than pricing a
  -- few records). The queue's statistics are always stale (it fills and
  -- empties every minute), so its joins are hash joins whatever the estimate
  -- (enable_nestloop off, for this function only); the events are probed by
  -- their indexes, one subquery per record, never scanned. JIT is off with
  -- nested loops: a plan that still needs one (one coach's records) gets the
  -- planner's penalty for a disabled node, which passes jit_above_cost, and
  -- where PostgreSQL has JIT each call compiled first (1.5 s on 15).
  return query
  with records as (
    select r.*, p.id as plan_id, p.included_minutes::bigint * 60 as included_cap, p.price_per_extra_minute_minor as price,
      date_trunc('month', r.finished_at at time zone 'UTC')::date as used_in
    from app_private.usage_records r
    join app_public.coach_profiles cp on cp.id = r.coach_profile_id
    join app_public.billing_plans p on p.id = cp.plan_id
    where (price_usage_records.only_coach is null or r.coach_profile_id = price_usage_records.only_coach)
      -- It runs as its owner, so it keeps to the caller's rows itself: staff
      -- (and the worker) price every coach's, a coach only their own, whatever
      -- only_coach names.
      and ((select app_private.is_staff()) or r.coach_profile_id = (select app_private.current_coach_profile_id()))
      -- The first terminal status is the one billed: a record of an attempt
      -- already rated is left out (the rating step deletes it).
      -- (A probe of the unique key per record, never a scan of every event.)
      and (select e.id from app_public.usage_events e where e.transcription_id = r.transcription_id and e.kind = 'attempt') is null
    order by r.id
    limit price_usage_records.max_records),
  -- Each month's billing month: its own, or the first open one after it if closed.
  months as materialized (
    select m.used_in, case when exists (select from app_public.billing_months b where b.month = m.used_in)
      then app_private.first_open_month(m.used_in) else m.used_in end as billed_in
    from (select distinct r.used_in from records r) m),
  -- Each rate with the moment the next one for its provider and model starts.
  rates as materialized (
    select pr.provider, pr.model, pr.cost_per_minute_minor as rate, pr.effective_from,
      pg_catalog.lead(pr.effective_from) over (partition by pr.provider, pr.model order by pr.effective_from) as effective_until
    from app_public.provider_rates pr),
  facts as (
    select r.*, m.billed_in, rt.rate,
      -- Whether the session already has a rated success: a probe of its index.
      exists (select from app_public.usage_events e
              where e.session_id = r.session_id and e.outcome = 'completed' and e.kind = 'attempt') as had_rated_success,
      case when r.outcome = 'completed' then r.billed_duration_seconds
           else coalesce(r.billed_duration_seconds,
             (select s.audio_duration_seconds from app_public.coaching_sessions s where s.id = r.session_id), 0) end as seconds
    from records r
    join months m on m.used_in = r.used_in
    left join rates rt on rt.provider = r.provider and rt.model = r.model and rt.effective_from <= r.finished_at
      and (rt.effective_until is null or rt.effective_until > r.finished_at)),
  running as (
    select f.*, coalesce(l.included_seconds_used, 0) as used_before_batch, coalesce(l.charge_sixtieths, 0) as sixtieths_before_batch,
      coalesce(sum(case when f.outcome = 'completed' then f.seconds else 0 end) over earlier_in_month, 0) as seconds_before,
      f.had_rated_success or coalesce(pg_catalog.bool_or(f.outcome = 'completed') over (partition by f.session_id order by f.id
        rows between unbounded preceding and 1 preceding), false) as had_success
    from facts f
    left join app_private.usage_ledgers l on l.coach_profile_id = f.coach_profile_id and l.billing_month = f.billed_in
    window earlier_in_month as (partition by f.coach_profile_id, f.billed_in order by f.id rows between unbounded preceding and 1 preceding)),
  positioned as (
    select r.*, greatest(r.used_before_batch, least(r.included_cap, r.used_before_batch + r.seconds_before)) as used_before
    from running r)
  select r.id, 'attempt'::app_public.usage_kind, r.finished_at, r.recorded_at, r.coach_profile_id, r.session_id, r.transcription_id,
    r.is_retry, r.outcome = 'completed' and r.had_success, r.provider, r.model, r.language, r.seconds, r.outcome,
    c.billable, c.billing_reason, c.included_seconds, c.charged_seconds, r.price, c.amount_minor,
    pg_catalog.round(r.seconds * r.rate / 60.0, 6)::numeric(18, 6), r.plan_id, r.used_in, r.billed_in,
    app_public.billing_rule_version(), null::bigint, null::text, null::uuid
  from positioned r,
    app_private.decide_charge(r.outcome, r.seconds, r.had_success, r.included_cap - r.used_before, r.price,
      r.sixtieths_before_batch + r.price * (r.seconds_before - (r.used_before - r.used_before_batch))) c;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp set enable_nestloop = off set jit = off;
comment on function app_private.price_usage_records(uuid, integer) is
  E'The usage events the captured records not yet rated become (of one coach if given; the first max_records in id order if given), priced now by app_private.decide_charge, continuing each coach''s billing-month ledger in id order, with the record''s id as the event''s. What the rating step writes, and what readers add to the rated events so that no total is stale. Records of a coach without a plan are left out (app_private.unratable_usage_records lists them). A coach calling it gets their own records only.';

create or replace function app_private.unratable_usage_records()
returns table (record_id bigint, transcription_id uuid, coach_profile_id uuid, finished_at timestamptz, reason text) as $$
  select r.id, r.transcription_id, r.coach_profile_id, r.finished_at,
    pg_catalog.format('coach profile %s has no billing plan', r.coach_profile_id)
  from app_private.usage_records r
  where not exists (select from app_public.coach_profiles cp join app_public.billing_plans p on p.id = cp.plan_id
                    where cp.id = r.coach_profile_id)
    and not exists (select from app_public.usage_events e where e.transcription_id = r.transcription_id and e.kind = 'attempt')
  order by r.id;
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.unratable_usage_records() is
  E'Captured records that cannot be rated (their coach has no billing plan): kept, never dropped, and rated once the coach has one. The rating run logs them and usage_reconcile lists them.';

create or replace function app_private.rate_usage_records(max_records integer default 50000)
returns table (rated integer, unratable integer) as $$
declare
  rated_now integer;
begin
  -- One rating run at a time: a second waits here, then (a new statement, a
  -- new snapshot) sees what the first rated and does not rate it again.
  perform pg_catalog.pg_advisory_xact_lock('app_private.usage_records'::pg_catalog.regclass::pg_catalog.oid::integer, 0);
  -- A month close in progress is waited for, so that late records see it
  -- and are billed in the next open month; none starts until this commits.
  lock table app_private.usage_ledgers in row exclusive mode;
  with priced as materialized (
    select * from app_private.price_usage_records(null, max_records)),
  events as (
    insert into app_public.usage_events overriding system value select * from priced
    returning 1),
  ledgers as (
    insert into app_private.usage_ledgers as l (coach_profile_id, billing_month, included_seconds_used, charged_seconds,
      charge_sixtieths, charged_minor, last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor,
      billable_audio_seconds, attempts, late_attempts, last_event_id, last_plan_id)
    select p.coach_profile_id, p.billing_month, sum(p.included_seconds), sum(p.charged_seconds),
      sum(p.charged_seconds::bigint * p.unit_price_minor), sum(p.amount_minor),
      (pg_catalog.array_agg(p.billing_reason order by p.id desc))[1], (pg_catalog.array_agg(p.included_seconds order by p.id desc))[1],
      (pg_catalog.array_agg(p.charged_seconds order by p.id desc))[1], (pg_catalog.array_agg(p.amount_minor order by p.id desc))[1],
      coalesce(sum(p.audio_seconds) filter (where p.billable), 0), count(*), count(*) filter (where p.usage_month < p.billing_month),
      max(p.id), (pg_catalog.array_agg(p.plan_id order by p.id desc))[1]
    from priced p
    group by p.coach_profile_id, p.billing_month
    on conflict (coach_profile_id, billing_month) do update set
      included_seconds_used = l.included_seconds_used + excluded.included_seconds_used,
      charged_seconds = l.charged_seconds + excluded.charged_seconds,
      charge_sixtieths = l.charge_sixtieths + excluded.charge_sixtieths,
      charged_minor = l.charged_minor + excluded.charged_minor,
      (last_billing_reason, last_included_seconds, last_charged_seconds, last_amount_minor) =
        (excluded.last_billing_reason, excluded.last_included_seconds, excluded.last_charged_seconds, excluded.last_amount_minor),
      billable_audio_seconds = l.billable_audio_seconds + excluded.billable_audio_seconds,
      attempts = l.attempts + excluded.attempts,
      late_attempts = l.late_attempts + excluded.late_attempts,
      (last_event_id, last_plan_id) = (excluded.last_event_id, excluded.last_plan_id)
    returning 1),
  -- The rated events' days are rolled up again (their ids may lie below the
  -- rollup watermark: they are the records').
  dirty as (
    insert into app_private.usage_dirty_days (day)
    select distinct (p.occurred_at at time zone 'UTC')::date from priced p
    on conflict (day) do nothing
    returning 1),
  -- Rated records leave the queue; so do records of attempts rated before.
  done as (
    delete from app_private.usage_records r
    where r.id in (select p.id from priced p)
       or exists (select from app_public.usage_events e where e.transcription_id = r.transcription_id and e.kind = 'attempt')
    returning 1)
  select (select count(*) from events)::integer
  into rated_now
  from (select count(*) from ledgers) l, (select count(*) from dirty) d, (select count(*) from done) x;
  return query select rated_now, (select count(*)::integer from app_private.unratable_usage_records());
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.rate_usage_records(integer) is
  E'The rating step: prices up to max_records captured records (all when null) in id order by app_private.price_usage_records, writes their usage events (one per attempt: the unique key on the rated charge) and moves the coaches'' ledgers on, in one statement, and takes the records off the queue; returns how many were rated and how many cannot be (no plan). Idempotent and exactly once: runs are serialized, a record is rated in the transaction that deletes it, and a run killed midway rolls back whole. Run by the usage_rate job every minute, by custodian usage rate and aggregate, and by close_month.';

revoke all on function app_private.rate_usage_records(integer) from public;
grant execute on function app_private.price_usage_records(uuid, integer) to custodian_coach, custodian_admin, custodian_auditor;
grant execute on function app_private.unratable_usage_records() to custodian_admin, custodian_auditor;

-- A coach profile deleted for good takes its plan with it: what it captured is
-- rated first, so that no charge is lost.
create or replace function app_private.tg_coach_profiles__rate_usage() returns trigger as $$
begin
  if exists (select from app_private.usage_records r where r.coach_profile_id = old.id) then
    perform app_private.rate_usage_records(null);
  end if;
  return old;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.tg_coach_profiles__rate_usage() is
  E'Before a coach profile is deleted, rates the usage it captured and that is not rated yet (rating needs the coach''s plan).';

drop trigger if exists _300_rate_usage on app_public.coach_profiles;
create trigger _300_rate_usage before delete on app_public.coach_profiles
  for each row execute function app_private.tg_coach_profiles__rate_usage();
--! EndIncluded usage/rating.sql
--! Included gdpr/erasure-runs.sql
-- An erasure run by the worker: asked for by an admin through the API
-- (request_data_subject_erasure), run by the gdpr_erasure_run task, its
-- outcome kept with the run. The erasure is the same one transaction as
-- eraseDataSubject's, attributed to the admin who asked.

drop policy if exists staff_read on app_public.data_subject_erasure_runs;
create policy staff_read on app_public.data_subject_erasure_runs for select to custodian_admin, custodian_auditor using (true);
grant select on app_public.data_subject_erasure_runs to custodian_admin, custodian_auditor;

create or replace function app_public.request_data_subject_erasure(request_id uuid, override_reason text default null)
returns app_public.data_subject_erasure_runs as $$
declare
  asked app_public.data_subject_erasure_runs;
begin
  -- Refusals that need no scan are said now, in the erasure's own words
  -- (the worker checks again when it runs: a hold may be placed meanwhile).
  perform app_private.check_erasure_request(request_data_subject_erasure.request_id, override_reason);
  -- Asked again while a run waits: that run, not a second.
  select r.* into asked from app_public.data_subject_erasure_runs r
  where r.request_id = request_data_subject_erasure.request_id and r.finished_at is null;
  if found then
    return asked;
  end if;
  insert into app_public.data_subject_erasure_runs (request_id, requested_by, override_reason)
  values (request_id, app_public.current_user_id(), override_reason)
  returning * into asked;
  perform graphile_worker.add_job('gdpr_erasure_run', pg_catalog.json_build_object('runId', asked.id), max_attempts => 3);
  return asked;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.request_data_subject_erasure(uuid, text) is
  E'Asks the worker to run a verified erasure request (as eraseDataSubject does, in one transaction, recorded as erased by the admin who asked), for erasures whose residue scan outlasts a request at volume. What can be refused at once is (not verified, a legal hold without an override reason, ...); asked again while a run waits, returns that run. Its outcome appears on the run: the erasure''s record, or the error that refused it. Admins only.';
revoke all on function app_public.request_data_subject_erasure(uuid, text) from public;
grant execute on function app_public.request_data_subject_erasure(uuid, text) to custodian_admin;

create or replace function app_private.run_data_subject_erasure(run_id uuid) returns app_public.data_subject_erasure_runs as $$
declare
  run app_public.data_subject_erasure_runs;
  started timestamptz := pg_catalog.clock_timestamp();
  erased app_public.data_subject_erasures;
  hint text;
begin
  select r.* into run from app_public.data_subject_erasure_runs r where r.id = run_data_subject_erasure.run_id for update;
  if not found then
    raise exception 'There is no erasure run %.', run_id using errcode = 'P0002';
  end if;
  -- Run again (a retried job): its outcome stands.
  if run.finished_at is not null then
    return run;
  end if;
  begin
    erased := app_private.erase_data_subject_as(run.request_id, run.override_reason, run.requested_by);
    update app_public.data_subject_erasure_runs r
    set finished_at = pg_catalog.clock_timestamp(), erasure_id = erased.id,
      seconds = pg_catalog.round(extract(epoch from pg_catalog.clock_timestamp() - started)::numeric, 3)
    where r.id = run.id
    returning * into run;
  exception
  when transaction_rollback or lock_not_available or insufficient_resources then
    -- A deadlock, a serialization failure, a lock not granted in time, a
    -- full disk: nothing of the erasure stays, the run stays waiting, and the
    -- job fails so that the worker tries it again later. (A statement timeout
    -- is never caught here: OTHERS does not match query_canceled.)
    raise;
  when others then
    -- Refused (or failed): nothing of the erasure stays; why is kept with the
    -- run, with what to do about it when the refusal says.
    get stacked diagnostics hint = pg_exception_hint;
    update app_public.data_subject_erasure_runs r
    set finished_at = pg_catalog.clock_timestamp(), error = sqlerrm || coalesce(' ' || nullif(hint, ''), ''),
      seconds = pg_catalog.round(extract(epoch from pg_catalog.clock_timestamp() - started)::numeric, 3)
    where r.id = run.id
    returning * into run;
  end;
  return run;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.run_data_subject_erasure(uuid) is
  E'Runs an erasure run (the worker''s gdpr_erasure_run task): the erasure of its request, in this transaction, as erased by who asked; on success the run names the erasure''s record, on a refusal the run keeps its error and nothing of the erasure stays; on a failure that may pass (a deadlock, a serialization failure, a lock not granted, resources exhausted) it raises, the run stays waiting and the worker retries the job. Idempotent: a finished run is left as it is.';
revoke all on function app_private.run_data_subject_erasure(uuid) from public;

create or replace function app_public.data_subject_requests_latest_erasure_run(request app_public.data_subject_requests)
returns app_public.data_subject_erasure_runs as $$
  select r.* from app_public.data_subject_erasure_runs r
  where r.request_id = request.id
  order by r.requested_at desc, r.id desc limit 1;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.data_subject_requests_latest_erasure_run(app_public.data_subject_requests) is
  E'The last erasure run asked for of this request: waiting, erased, or refused with its error; null if none (or for a reader who may not see runs: admins and auditors do).';
grant execute on function app_public.data_subject_requests_latest_erasure_run(app_public.data_subject_requests) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded gdpr/erasure-runs.sql

-- Every tracked table's capture again: JIT off beside nested loops off.
select audit.generate_capture(t.table_oid) from audit.tracked_tables t where t.disabled_at is null;
