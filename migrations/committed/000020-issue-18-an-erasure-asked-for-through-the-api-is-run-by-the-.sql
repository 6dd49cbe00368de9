--! Previous: sha1:df0392d70e439dd60d3579d9e669e6b0a475ad58
--! Hash: sha1:995c248a75680a27c8531696abd2e4cf0a0e1519
--! Message: Issue 18: an erasure asked for through the API is run by the worker (requestDataSubjectErasure, gdpr_erasure_run), its outcome kept with the run; one home for the erasure's checks

-- An erasure asked for through the API, run by the worker (issue 18): at
-- volume the residue scan reads every usage and audit event and can outlast
-- a request's statement timeout, so the console asks for an erasure run,
-- the worker's gdpr_erasure_run task runs it, and its outcome (the erasure's
-- record, or the error that refused it) is kept with the run.
create table app_public.data_subject_erasure_runs (
  id uuid primary key default gen_random_uuid(),
  request_id uuid not null constraint data_subject_erasure_runs_request_id_fkey
    references app_public.data_subject_requests on delete restrict,
  requested_by uuid constraint data_subject_erasure_runs_requested_by_fkey references app_public.users on delete set null,
  requested_at timestamptz not null default now(),
  override_reason text constraint data_subject_erasure_runs_override_reason_check check (length(btrim(override_reason)) between 3 and 2000),
  finished_at timestamptz,
  seconds numeric(12, 3),
  erasure_id uuid constraint data_subject_erasure_runs_erasure_id_fkey references app_public.data_subject_erasures on delete restrict,
  error text,
  constraint data_subject_erasure_runs_finished_state check (
    (finished_at is null) = (seconds is null) and (finished_at is null) = (erasure_id is null and error is null)
    and (erasure_id is null or error is null))
);
-- One run waits for a request at a time (asked again meanwhile: that run).
create unique index data_subject_erasure_runs_waiting_key on app_public.data_subject_erasure_runs (request_id) where finished_at is null;
create index data_subject_erasure_runs_request_id_idx on app_public.data_subject_erasure_runs (request_id, requested_at);
create index data_subject_erasure_runs_requested_by_idx on app_public.data_subject_erasure_runs (requested_by);
create index data_subject_erasure_runs_erasure_id_idx on app_public.data_subject_erasure_runs (erasure_id);
comment on table app_public.data_subject_erasure_runs is
  E'@behavior -insert -update -delete\nErasures asked for by an admin (requestDataSubjectErasure) and run by the worker: who asked and when, the override reason given, when it finished and how long it took, and its outcome: the erasure''s record, or the error that refused it (nothing changed then).';
comment on column app_public.data_subject_erasure_runs.request_id is E'The erasure request to run.';
comment on column app_public.data_subject_erasure_runs.requested_by is E'The admin who asked for it (recorded as the erasure''s erasedBy).';
comment on column app_public.data_subject_erasure_runs.requested_at is E'When it was asked for.';
comment on column app_public.data_subject_erasure_runs.override_reason is E'The admin''s reason for erasing under a legal hold, when one covers the person.';
comment on column app_public.data_subject_erasure_runs.finished_at is E'When the worker finished it; null while it waits or runs.';
comment on column app_public.data_subject_erasure_runs.seconds is E'How long the erasure itself took.';
comment on column app_public.data_subject_erasure_runs.erasure_id is E'The erasure''s record, when it erased.';
comment on column app_public.data_subject_erasure_runs.error is E'Why it did not erase (a refusal in words: a legal hold, residue found), when it did not; nothing changed.';
comment on constraint data_subject_erasure_runs_request_id_fkey on app_public.data_subject_erasure_runs is
  E'@fieldName request\n@foreignFieldName erasureRuns';
comment on constraint data_subject_erasure_runs_erasure_id_fkey on app_public.data_subject_erasure_runs is
  E'@fieldName erasure\n@foreignFieldName runs';
comment on constraint data_subject_erasure_runs_requested_by_fkey on app_public.data_subject_erasure_runs is
  E'@fieldName requester\n@foreignFieldName erasureRunsRequested';
alter table app_public.data_subject_erasure_runs enable row level security;

-- Who asked for an erasure is audited as every governance act is.
select audit.enable_tracking('app_public.data_subject_erasure_runs');

--! Included gdpr/erasure.sql
-- Erasure by anonymization (GDPR Art. 17), in one transaction: the map of
-- personal data says which columns to blank, the audit trail's subject
-- configuration says which rows are the person's, their key is destroyed, the
-- residue scan proves nothing readable is left, and only then does it commit.

create or replace function governance.subject_rows_sql(target regclass, alias text) returns text as $$
  select coalesce(
    (select case when t.subject_via is null then pg_catalog.format('%s.%I operator(pg_catalog.=) $1', alias, t.subject_column)
            else pg_catalog.format('%s.%I in (select v.%I from %s v where v.%I operator(pg_catalog.=) $1)',
              alias, t.subject_column, v.key_columns[1], t.subject_via, t.subject_via_column) end
     from audit.tracked_tables t
     left join audit.tracked_tables v on v.table_oid = t.subject_via
     where t.table_oid = target and t.subject_column is not null),
    (select pg_catalog.format('%s.%I operator(pg_catalog.=) $1', alias, min(p.subject_column))
     from governance.personal_data_columns p where p.table_oid = target and p.subject_column is not null
     having min(p.subject_column) is not null));
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.subject_rows_sql(regclass, text) is
  E'SQL true for the rows of a table that are about the person $1: the audit trail''s subject column (or its path through subject_via), else the map''s subject_column; null when neither says.';

create or replace function governance.erased_value_sql(target regclass, column_name name) returns text as $$
  select case
    when not a.attnotnull then 'null'
    when a.atttypid = 'jsonb'::regtype then '''{}''::pg_catalog.jsonb'
    -- A unique column (an account's email) gets a random, unrelated value.
    when exists (select from pg_catalog.pg_index i where i.indrelid = target and i.indisunique and a.attnum = any (i.indkey)) then
      $v$'erased-' || public.gen_random_uuid() || '@erased.invalid'$v$
    else '''erased'''
  end
  from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = column_name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.erased_value_sql(regclass, name) is
  E'What an erased column becomes: null where allowed, else {} for jsonb, a random address for a unique column, else the word erased; never anything derived from the value (a hash of an email is still personal data).';

create or replace function governance.erasable_columns()
returns table (target regclass, column_name name, category governance.data_category, is_json boolean) as $$
  select pg_catalog.format('%I.%I', m.table_schema, m.table_name)::regclass, m.column_name::name, m.category, m.data_type = 'jsonb'
  from governance.personal_data_map m
  where m.category in ('identity', 'contact', 'content')
    -- Kept under Art. 17(3)(b): the trail (erased by its key) and records kept by law (a request's proof of identity).
    and m.table_schema <> 'audit' and m.legal_basis <> 'legal_obligation'
  order by m.table_schema, m.table_name, m.column_name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.erasable_columns() is
  E'The columns an erasure blanks, straight from the map of personal data: identity, contact and content, except the audit trail (erased by destroying the person''s key) and what is kept by legal obligation. A column classified later is erased too.';

-- The checks a request must pass to be erased: run by the erasure itself and
-- when one is queued (request_data_subject_erasure), so that a refusal is
-- said at once, in the same words.
create or replace function app_private.check_erasure_request(request_id uuid, override_reason text)
returns app_public.legal_holds as $$
declare
  request app_public.data_subject_requests;
  hold app_public.legal_holds;
begin
  select * into request from app_public.data_subject_requests r where r.id = check_erasure_request.request_id for update;
  if not found then
    raise exception 'There is no data-subject request %.', check_erasure_request.request_id using errcode = 'P0002';
  end if;
  if request.kind <> 'erasure' then
    raise exception 'Request % asks for %, not erasure; only an erasure request erases.', request.id, request.kind using errcode = '22023';
  end if;
  -- In progress too: an admin who marked the work as started can still run it.
  if request.state not in ('verified', 'in_progress') then
    raise exception 'Request % is %; only a verified (or in-progress) erasure request is run (verify the requester''s identity first; a completed or rejected request stays as it is).',
      request.id, request.state using errcode = '55000';
  end if;
  hold := app_private.hold_for_subject(request.subject_id);
  if hold.id is null and override_reason is not null then
    raise exception 'No legal hold covers %; an override reason is for erasing under a hold.', request.subject_id using errcode = '22023';
  elsif hold.id is not null and override_reason is null then
    perform app_private.refuse_under_hold(request.subject_id, 'erase');
  end if;
  return hold;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.check_erasure_request(uuid, text) is
  E'Locks an erasure request and refuses, in words, one that cannot be run: not found, not an erasure, not verified (or in progress), under a legal hold without an override reason, or with an override reason and no hold. Returns the hold an override reason overrides (its id null when none).';

create or replace function app_private.erase_data_subject_as(request_id uuid, override_reason text, erased_by uuid)
returns app_public.data_subject_erasures as $$
declare
  request app_public.data_subject_requests;
  hold app_public.legal_holds;
  subject uuid;
  erasing record;
  rows_condition text;
  shared_condition text;
  strings_sql text;
  identifiers text[] := '{}';
  contents text[] := '{}';
  found_values text[];
  own_count integer;
  skipped integer := 0;
  touched integer;
  rows_by_table jsonb := '{}';
  residue record;
  residue_count integer;
  residue_places text;
  erasure app_public.data_subject_erasures;
begin
  hold := app_private.check_erasure_request(erase_data_subject_as.request_id, override_reason);
  select * into request from app_public.data_subject_requests r where r.id = erase_data_subject_as.request_id;
  subject := request.subject_id;

  update app_public.data_subject_requests r set state = 'in_progress' where r.id = request.id and r.state = 'verified';

  for erasing in
    select e.target, pg_catalog.array_agg(e.column_name order by e.column_name) as columns,
      pg_catalog.array_agg(e.category order by e.column_name) as categories,
      pg_catalog.array_agg(e.is_json order by e.column_name) as json_columns
    from governance.erasable_columns() e group by e.target order by e.target::text
  loop
    rows_condition := governance.subject_rows_sql(erasing.target, 't');
    if rows_condition is null then
      raise exception 'Table % holds personal data (%) but nothing says whose: track it with audit.enable_tracking''s subject_column or classify it with a subject_column.',
        erasing.target, pg_catalog.array_to_string(erasing.columns, ', ') using errcode = '55000';
    end if;
    -- The former values, kept in this transaction's memory only. A value
    -- another person's rows hold too (a template note, a common title) says
    -- nothing about this person and is not searched for.
    for i in 1 .. pg_catalog.cardinality(erasing.columns) loop
      strings_sql := case when erasing.json_columns[i]
        then pg_catalog.format('select s operator(pg_catalog.#>>) ''{}'' from %s t, pg_catalog.jsonb_path_query(t.%I, ''strict $.** ? (@.type() == "string")'') s where ', erasing.target, erasing.columns[i])
        else pg_catalog.format('select t.%I::text from %s t where t.%I is not null and ', erasing.columns[i], erasing.target, erasing.columns[i]) end;
      shared_condition := pg_catalog.format('not coalesce(%s, false)', rows_condition);
      execute pg_catalog.format('select (select pg_catalog.count(distinct v)::integer from (%1$s%2$s) o(v)),
          (select pg_catalog.array_agg(v) from ((%1$s%2$s) except (%1$s%3$s)) x(v))',
        strings_sql, rows_condition, shared_condition)
        into own_count, found_values using subject;
      found_values := coalesce(found_values, '{}');
      skipped := skipped + own_count - pg_catalog.cardinality(found_values);
      if erasing.categories[i] = 'content' then
        contents := contents || found_values;
      else
        identifiers := identifiers || found_values;
      end if;
    end loop;
    execute pg_catalog.format('update %s t set %s where %s', erasing.target,
      (select pg_catalog.string_agg(pg_catalog.format('%I = %s', c, governance.erased_value_sql(erasing.target, c)), ', ')
       from pg_catalog.unnest(erasing.columns) c),
      rows_condition) using subject;
    get diagnostics touched = row_count;
    if touched > 0 then
      rows_by_table := rows_by_table || pg_catalog.jsonb_build_object(erasing.target::text, touched);
    end if;
  end loop;

  -- An export already built is a compressed copy of all of it, which the scan cannot read: its bytes go now.
  perform app_private.delete_subject_export_bytes(subject);

  -- After the updates, so that their own history (the old values) is sealed under the key that goes now.
  perform audit.destroy_subject_key(subject);

  select pg_catalog.count(*)::integer,
    pg_catalog.string_agg(pg_catalog.format('%s.%s %s', s.table_name, s.column_name, s.row_key), '; ')
      filter (where s.n <= 10)
    into residue_count, residue_places
  from (select r.*, pg_catalog.row_number() over () as n from governance.residue_scan(identifiers, contents) r) s;
  if residue_count > 0 then
    -- Fail closed: nothing commits, the operator sees where, and reruns once it is dealt with.
    raise exception 'Erasure of % refused: their former values can still be read in % place(s): %', subject, residue_count, residue_places
      using errcode = '55000',
        hint = 'Another person''s record or a record kept by law mentions them; rectify it, then run the erasure again.';
  end if;

  insert into app_public.data_subject_erasures (request_id, subject_id, erased_by, rows_by_table, rows_erased,
    values_searched, values_shared_skipped, residue_count, override_reason, overridden_hold_id)
  values (request.id, subject, erase_data_subject_as.erased_by, rows_by_table,
    coalesce((select pg_catalog.sum(v::integer) from pg_catalog.jsonb_each_text(rows_by_table) e(k, v)), 0)::integer,
    pg_catalog.cardinality(identifiers) + pg_catalog.cardinality(contents), skipped, residue_count,
    override_reason, case when override_reason is not null then hold.id end)
  returning * into erasure;

  update app_public.data_subject_requests r set state = 'completed' where r.id = request.id;
  return erasure;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.erase_data_subject_as(uuid, text, uuid) is
  E'Runs a verified erasure request, in one transaction: blanks every personal column (identity, contact, content, from the map of personal data) of the person''s rows, soft-deleted ones included; deletes the bytes of their exports; destroys their audit key, so their pii in the trail reads as erased while no audit row changes; leaves usage events, invoices and rollups as they are (Art. 17(3)); runs the residue scan and refuses to commit if any former value can still be read; records the erasure (erased_by: who ran it or asked for it) and completes the request. Refused under a legal hold, with its reason, unless an override reason is given (recorded).';

create or replace function app_public.erase_data_subject(request_id uuid, override_reason text default null)
returns app_public.data_subject_erasures as $$
  select * from app_private.erase_data_subject_as(request_id, override_reason, app_public.current_user_id());
$$ language sql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.erase_data_subject(uuid, text) is
  E'Runs a verified erasure request, in one transaction: blanks every personal column (identity, contact, content, from the map of personal data) of the person''s rows, soft-deleted ones included; deletes the bytes of their exports; destroys their audit key, so their pii in the trail reads as erased while no audit row changes; leaves usage events, invoices and rollups as they are (Art. 17(3)); runs the residue scan and refuses to commit if any former value can still be read; records the erasure and completes the request. At volume the residue scan reads every event and can outlast a request''s statement timeout: requestDataSubjectErasure has the worker run it. Refused under a legal hold, with its reason, unless an admin gives an override reason (recorded). Admins only.';

revoke all on function governance.subject_rows_sql(regclass, text), governance.erased_value_sql(regclass, name),
  governance.erasable_columns() from public;
revoke all on function app_private.check_erasure_request(uuid, text), app_private.erase_data_subject_as(uuid, text, uuid) from public;
revoke all on function app_public.erase_data_subject(uuid, text) from public;
grant execute on function app_public.erase_data_subject(uuid, text) to custodian_admin;

-- The record of an erasure: written by erase_data_subject only, read by staff
-- and by the coach of the request's client (the requests they can see).
drop policy if exists staff_read on app_public.data_subject_erasures;
create policy staff_read on app_public.data_subject_erasures for select to custodian_admin, custodian_auditor using (true);
drop policy if exists coach_read on app_public.data_subject_erasures;
create policy coach_read on app_public.data_subject_erasures for select to custodian_coach
  using (request_id in (select r.id from app_public.data_subject_requests r));
grant select on app_public.data_subject_erasures to custodian_coach, custodian_admin, custodian_auditor;

create or replace function app_public.tg_data_subject_erasures__append_only() returns trigger as $$
begin
  raise exception 'An erasure''s record is the proof that it happened; it is never changed or deleted.' using errcode = '55000';
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_data_subject_erasures__append_only() is
  E'Keeps erasure records append-only for every writer, the owner included.';

drop trigger if exists _200_append_only on app_public.data_subject_erasures;
create trigger _200_append_only before update or delete on app_public.data_subject_erasures
  for each row execute function app_public.tg_data_subject_erasures__append_only();
drop trigger if exists _200_append_only_truncate on app_public.data_subject_erasures;
create trigger _200_append_only_truncate before truncate on app_public.data_subject_erasures
  for each statement execute function app_public.tg_data_subject_erasures__append_only();
--! EndIncluded gdpr/erasure.sql
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
  exception when others then
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
  E'Runs an erasure run (the worker''s gdpr_erasure_run task): the erasure of its request, in this transaction, as erased by who asked; on success the run names the erasure''s record, on a refusal or failure the run keeps its error and nothing of the erasure stays. Idempotent: a finished run is left as it is.';
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
  ('app_private.sign_in_attempts', 'client_address', 'technical', 'any', 'Limiting sign-in attempts per address, and investigating attacks on accounts.', 'legitimate_interests'),
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
  ('app_public.usage_reconcile_checks', 'error', 'not_personal', 'none', 'Why a reconcile check failed: a message naming tables and functions, never a person''s values.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'check_name', 'not_personal', 'none', 'Which reconcile check differs.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'subject', 'not_personal', 'none', 'What a difference is about: ids of a coach profile, an attempt or an event, a provider, a model, a plan.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'expected', 'not_personal', 'none', 'Billing measures a reconcile check expected.', 'not_applicable'),
  ('app_public.usage_reconcile_differences', 'actual', 'not_personal', 'none', 'Billing measures a reconcile check found.', 'not_applicable'),
  ('app_private.worker_heartbeats', 'task', 'not_personal', 'none', 'Watching the worker.', 'not_applicable'),
  ('app_private.worker_pools', 'pool_id', 'not_personal', 'none', 'Telling which worker pool locked a job, to free the jobs of one that died.', 'not_applicable'),
  ('app_private.worker_pools', 'host', 'not_personal', 'none', 'Which machine a worker pool runs on, for operators.', 'not_applicable'),
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
  ('audit.chain_checkpoints', 'partition_name', 'not_personal', 'none', 'Which month of the audit trail was archived and dropped.', 'not_applicable'),
  ('audit.chain_checkpoints', 'archive_store', 'not_personal', 'none', 'Where that month''s archive is stored.', 'not_applicable'),
  -- Governance
  ('governance.hard_deletions', 'table_schema', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'table_name', 'not_personal', 'none', 'Which table a hard delete reached.', 'not_applicable'),
  ('governance.hard_deletions', 'row_id', 'technical', 'any', 'Which row a hard delete removed.', 'legal_obligation'),
  ('governance.hard_deletions', 'reason', 'not_personal', 'none', 'Why an operator hard-deleted: the case, not details of the person.', 'not_applicable'),
  ('governance.archive_restorations', 'table_name', 'not_personal', 'none', 'Which table an archive restore wrote into.', 'not_applicable'),
  ('governance.soft_delete_tables', 'key_type', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.soft_delete_tables', 'noun', 'not_personal', 'none', 'Soft delete''s configuration.', 'not_applicable'),
  ('governance.personal_data_columns', 'purpose', 'not_personal', 'none', 'The map of personal data itself.', 'not_applicable'),
  -- GDPR
  ('app_public.legal_holds', 'reason', 'not_personal', 'none', 'Why data must be kept: the case or obligation, not details of the person.', 'not_applicable'),
  ('app_public.legal_holds', 'release_reason', 'not_personal', 'none', 'Why a hold no longer applies.', 'not_applicable'),
  ('app_public.data_subject_requests', 'subject_id', 'technical', 'any', 'Whom a request is about.', 'legal_obligation'),
  ('app_public.data_subject_requests', 'verification', 'content', 'any', 'Proof that the requester is the person (Art. 12(6)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'extension_reason', 'content', 'any', 'Why answering takes longer (Art. 12(3)).', 'legal_obligation'),
  ('app_public.data_subject_requests', 'rejection_reason', 'content', 'any', 'Why a request was refused (Art. 12(4)).', 'legal_obligation'),
  ('app_public.consents', 'client_id', 'technical', 'client', 'Whose consent decision it is: the proof of consent (Art. 7(1)).', 'legal_obligation'),
  ('app_public.consents', 'wording_version', 'not_personal', 'none', 'Which consent text was shown: the same for every client.', 'not_applicable'),
  ('app_public.consents', 'wording_sha256', 'not_personal', 'none', 'The SHA-256 of the consent text shown: a hash of the standard wording, not of anything about the client.', 'not_applicable'),
  ('app_public.processing_restrictions', 'client_id', 'technical', 'client', 'Whose processing is restricted (Art. 18).', 'legal_obligation'),
  ('app_public.processing_restrictions', 'reason', 'not_personal', 'none', 'The ground of a restriction: the Art. 18(1) case, not details of the person.', 'not_applicable'),
  ('app_public.processing_restrictions', 'lift_reason', 'not_personal', 'none', 'Why a restriction no longer applies.', 'not_applicable'),
  ('app_public.data_subject_erasures', 'subject_id', 'technical', 'any', 'Whom an erasure was about: an id, kept as proof the erasure happened (Art. 5(2)).', 'legal_obligation'),
  ('app_public.data_subject_erasures', 'rows_by_table', 'not_personal', 'none', 'Which tables an erasure reached and how many rows: counts, never values.', 'not_applicable'),
  ('app_public.data_subject_erasures', 'override_reason', 'not_personal', 'none', 'Why an admin erased under a legal hold: the case, not details of the person.', 'not_applicable'),
  ('app_public.data_subject_erasure_runs', 'override_reason', 'not_personal', 'none', 'Why an admin asked to erase under a legal hold: the case, not details of the person.', 'not_applicable'),
  ('app_public.data_subject_erasure_runs', 'error', 'not_personal', 'none', 'Why an erasure run did not erase: a refusal naming a request, a hold''s reason or places (table, column, row key), never a person''s values.', 'not_applicable'),
  ('app_public.data_subject_exports', 'sha256', 'technical', 'any', 'Proving which file answered an access or portability request (Art. 15, 20), after its bytes are deleted.', 'legal_obligation'),
  ('app_public.data_subject_exports', 'manifest', 'technical', 'any', 'What an export held (files, row counts, hashes; no values), kept as the record that it was answered.', 'legal_obligation'),
  -- Retention
  ('app_public.retention_policies', 'name', 'not_personal', 'none', 'Naming a retention policy.', 'not_applicable'),
  ('app_public.retention_policies', 'category', 'not_personal', 'none', 'The data category a retention policy governs.', 'not_applicable'),
  ('app_public.retention_policies', 'target_table', 'not_personal', 'none', 'The table a retention policy governs.', 'not_applicable'),
  ('app_public.retention_policies', 'description', 'not_personal', 'none', 'Why a retention period was chosen.', 'not_applicable'),
  ('app_public.retention_runs', 'status', 'not_personal', 'none', 'How a retention run ended.', 'not_applicable'),
  ('app_public.retention_runs', 'policy_name', 'not_personal', 'none', 'Which retention policy a run applied.', 'not_applicable'),
  ('app_public.retention_runs', 'task', 'not_personal', 'none', 'What started a retention run.', 'not_applicable'),
  ('app_public.retention_runs', 'error', 'not_personal', 'none', 'Why a retention run failed: a message naming tables, constraints and keys, never a person''s values.', 'not_applicable'),
  ('app_public.retention_run_policies', 'policy_name', 'not_personal', 'none', 'Which retention policy a run''s figures are about.', 'not_applicable'),
  ('app_public.retention_run_policies', 'status', 'not_personal', 'none', 'How a policy''s part of a run ended.', 'not_applicable'),
  ('app_public.retention_run_policies', 'error', 'not_personal', 'none', 'Why rows of a policy failed: a message naming tables, constraints and keys, never a person''s values.', 'not_applicable'),
  ('app_public.retention_run_policies', 'note', 'not_personal', 'none', 'Why a policy was skipped.', 'not_applicable'),
  ('app_public.retention_archives', 'kind', 'not_personal', 'none', 'What an archive holds.', 'not_applicable'),
  ('app_public.retention_archives', 'policy_name', 'not_personal', 'none', 'Which retention policy wrote an archive.', 'not_applicable'),
  ('app_public.retention_archives', 'store', 'not_personal', 'none', 'Where an archive is stored.', 'not_applicable'),
  ('app_public.retention_archives', 'manifest', 'not_personal', 'none', 'What an archive holds: files, counts, checksums and the archived rows'' keys, never their values.', 'not_applicable')
) as m(target, column_name, category, subject_kind, purpose, legal_basis);
--! EndIncluded gdpr/classify-custodian.sql
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
    -- consents
    ('app_public.consents', 'consents_pkey', 'A consent record with this rowId already exists.'),
    ('app_public.consents', 'consents_client_id_fkey', 'A consent''s clientId must name an existing client.'),
    ('app_public.consents', 'consents_recorded_by_fkey', 'A consent''s recordedBy must name an existing user, and a user who recorded consents cannot be deleted.'),
    ('app_public.consents', 'consents_wording_version_check', 'A consent''s wordingVersion must be 1 to 100 characters, not only spaces.'),
    ('app_public.consents', 'consents_wording_sha256_check', 'A consent''s wordingSha256 must be the SHA-256 of the text shown, as 64 lowercase hex digits.'),
    ('app_public.consents', 'consents_grant_has_wording', 'Granting consent needs the wording the client was shown: wordingVersion and wordingSha256.'),
    ('app_public.consents', 'consents_wording_pair', 'A consent''s wordingVersion and wordingSha256 go together: give both or neither.'),
    -- processing_restrictions
    ('app_public.processing_restrictions', 'processing_restrictions_pkey', 'A restriction with this rowId already exists.'),
    ('app_public.processing_restrictions', 'processing_restrictions_client_id_fkey', 'A restriction''s client must exist, and a client with a restriction on record cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_request_id_fkey', 'A restriction''s requestId must name an existing data-subject request, and a request with a restriction cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_placed_by_fkey', 'A restriction''s placedBy must name an existing user, and a user who placed a restriction cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_lifted_by_fkey', 'A restriction''s liftedBy must name an existing user, and a user who lifted a restriction cannot be deleted.'),
    ('app_public.processing_restrictions', 'processing_restrictions_reason_check', 'A restriction''s reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.processing_restrictions', 'processing_restrictions_lift_reason_check', 'A restriction''s liftReason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.processing_restrictions', 'processing_restrictions_lift_state', 'A restriction is lifted with a reason: liftedAt and liftReason go together (use liftProcessingRestriction).'),
    -- data_subject_erasures (written by eraseDataSubject only)
    ('app_public.data_subject_erasures', 'data_subject_erasures_pkey', 'An erasure record with this rowId already exists.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_request_id_key', 'This erasure request has already been run; a request is erased once.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_request_id_fkey', 'An erasure record''s requestId must name an existing data-subject request.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_erased_by_fkey', 'An erasure record''s erasedBy must name an existing user, and a user who erased cannot be deleted.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_overridden_hold_id_fkey', 'An erasure record''s overriddenHoldId must name an existing legal hold.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_override_reason_check', 'An override reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_override_has_hold', 'An override reason is given exactly when a legal hold was overridden.'),
    ('app_public.data_subject_erasures', 'data_subject_erasures_counts_check', 'An erasure''s counts cannot be negative.'),
    -- data_subject_erasure_runs (written by requestDataSubjectErasure and the worker only)
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_pkey', 'An erasure run with this rowId already exists.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_waiting_key', 'An erasure run already waits for this request; it is run once.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_request_id_fkey', 'An erasure run''s requestId must name an existing data-subject request.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_requested_by_fkey', 'An erasure run''s requestedBy must name an existing user.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_erasure_id_fkey', 'An erasure run''s erasureId must name an existing erasure record.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_override_reason_check', 'An override reason must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.data_subject_erasure_runs', 'data_subject_erasure_runs_finished_state', 'An erasure run has its finishedAt and seconds together, with either its erasure or its error once finished, and none of them before.'),
    -- data_subject_exports
    ('app_public.data_subject_exports', 'data_subject_exports_pkey', 'An export with this rowId already exists.'),
    ('app_public.data_subject_exports', 'data_subject_exports_one_per_request', 'This request has its export already; ask with requestDataSubjectExport, which gives the same export again.'),
    ('app_public.data_subject_exports', 'data_subject_exports_request_id_fkey', 'An export''s requestId must name an existing data-subject request.'),
    ('app_public.data_subject_exports', 'data_subject_exports_requested_by_fkey', 'An export''s requestedBy must name an existing user, and a user who asked for exports cannot be deleted.'),
    ('app_public.data_subject_exports', 'data_subject_exports_byte_size_check', 'An export''s byteSize must be at least one byte.'),
    ('app_public.data_subject_exports', 'data_subject_exports_sha256_check', 'An export''s sha256 must be 64 lowercase hexadecimal digits.'),
    ('app_public.data_subject_exports', 'data_subject_exports_built_state', 'An export is built with its builtAt, expiresAt, byteSize, sha256 and manifest together, or has none of them.'),
    ('app_public.data_subject_exports', 'data_subject_exports_expiry_window', 'An export expires after it is built and at most 90 days after.'),
    ('app_public.data_subject_exports', 'data_subject_exports_deleted_after_built', 'Only a built export''s bytes can be deleted.'),
    -- retention
    ('app_public.retention_policies', 'retention_policies_pkey', 'A retention policy with this name already exists.'),
    ('app_public.retention_policies', 'retention_policies_name_check', 'A retention policy''s name must be snake_case: a lowercase letter, then 2 to 62 lowercase letters, digits or underscores.'),
    ('app_public.retention_policies', 'retention_policies_category_check', 'A retention policy''s category must be 3 to 200 characters, not only spaces.'),
    ('app_public.retention_policies', 'retention_policies_period_check', 'A retention policy''s period must be more than zero (for example 90 days).'),
    ('app_public.retention_policies', 'retention_policies_description_check', 'A retention policy''s description must be 3 to 2,000 characters, not only spaces.'),
    ('app_public.retention_policies', 'retention_policies_period_state', 'A retention policy has a period exactly when it does not keep its rows forever: give a period, or keep_forever without one.'),
    ('app_public.retention_policies', 'retention_policies_anonymize_columns_state', 'Only an anonymize policy has anonymizeColumns.'),
    ('app_public.retention_runs', 'retention_runs_pkey', 'A retention run with this rowId already exists.'),
    ('app_public.retention_runs', 'retention_runs_one_running', 'Another retention run is running; only one runs at a time.'),
    ('app_public.retention_runs', 'retention_runs_status_check', 'A retention run''s status is running, finished or failed.'),
    ('app_public.retention_runs', 'retention_runs_policy_name_fkey', 'A retention run''s policyName must name an existing retention policy, and a policy that has run cannot be deleted (disable it instead).'),
    ('app_public.retention_runs', 'retention_runs_started_by_fkey', 'A retention run''s startedBy must name an existing user.'),
    ('app_public.retention_runs', 'retention_runs_task_check', 'A retention run''s task must be 1 to 200 characters.'),
    ('app_public.retention_runs', 'retention_runs_finished_state', 'A retention run has finishedAt exactly when it is no longer running.'),
    ('app_public.retention_runs', 'retention_runs_error_state', 'Only a failed retention run has an error.'),
    ('app_public.retention_run_policies', 'retention_run_policies_pkey', 'This run already has a row for this policy.'),
    ('app_public.retention_run_policies', 'retention_run_policies_run_id_fkey', 'A run''s policy row must belong to an existing retention run.'),
    ('app_public.retention_run_policies', 'retention_run_policies_policy_name_fkey', 'A run''s policy row must name an existing retention policy, and a policy that has run cannot be deleted (disable it instead).'),
    ('app_public.retention_run_policies', 'retention_run_policies_status_check', 'A run''s policy row is running, finished, failed or skipped.'),
    ('app_public.retention_run_policies', 'retention_run_policies_counts_check', 'A run''s counts cannot be negative.'),
    ('app_public.retention_run_policies', 'retention_run_policies_finished_state', 'A run''s policy row has finishedAt exactly when it is no longer running.'),
    ('app_public.retention_archives', 'retention_archives_pkey', 'An archive with this rowId is already recorded.'),
    ('app_public.retention_archives', 'retention_archives_kind_check', 'An archive''s kind is rows or audit_partition.'),
    ('app_public.retention_archives', 'retention_archives_policy_name_fkey', 'An archive''s policyName must name an existing retention policy, and a policy with archives cannot be deleted (disable it instead).'),
    ('app_public.retention_archives', 'retention_archives_run_id_fkey', 'An archive''s runId must name an existing retention run.'),
    ('app_public.retention_archives', 'retention_archives_store_check', 'An archive''s store must be 1 to 1,000 characters.'),
    ('app_public.retention_archives', 'retention_archives_row_count_check', 'An archive''s rowCount cannot be negative.'),
    ('app_public.retention_archives', 'retention_archives_written_state', 'An archive has its manifest exactly when it has been written (writtenAt).'),
    ('app_public.retention_archives', 'retention_archives_verified_after_written', 'An archive is verified only after it is written.'),
    ('app_public.retention_archives', 'retention_archives_removed_after_verified', 'An archive''s rows are removed only after it is verified.'),
    -- usage_reconcile_checks, usage_reconcile_differences
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_pkey', 'A reconcile check with this rowId already exists.'),
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_range', 'A reconcile check''s fromDay must be before its toDay (to exclusive).'),
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_finished_state', 'A reconcile check has its finishedAt and seconds together, with either its differenceCount or its error once finished, and none of them before.'),
    ('app_public.usage_reconcile_checks', 'usage_reconcile_checks_requested_by_fkey', 'A reconcile check''s requestedBy must name an existing user.'),
    ('app_public.usage_reconcile_differences', 'usage_reconcile_differences_pkey', 'A reconcile check has one difference at each position.'),
    ('app_public.usage_reconcile_differences', 'usage_reconcile_differences_check_id_fkey', 'A difference''s checkId must name an existing reconcile check.'),
    -- governance
    ('governance.hard_deletions', 'hard_deletions_reason_check', 'A hard delete''s reason must be 3 to 2,000 characters, not only spaces.')
$$ language sql immutable;
comment on function app_private.constraint_words() is
  E'The sentence a user reads when a write breaks a constraint or unique index: one row per (table, constraint), naming the field as the API spells it and the rule.';

-- The API server reads them once, as itself, before any request role is set.
revoke all on function app_private.constraint_words() from public;
grant execute on function app_private.constraint_words() to custodian_authenticator;
--! EndIncluded domain/constraint-words.sql
