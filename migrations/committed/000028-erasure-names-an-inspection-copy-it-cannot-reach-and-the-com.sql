--! Previous: sha1:441843c514249ec7c744ee8788338b4d1bc92b66
--! Hash: sha1:baa37d639677913116ebd834d4cc013d7c05d079
--! Message: erasure names an inspection copy it cannot reach and the command that drops it

-- An erasure that meets an inspection copy it cannot tie to a person says so
-- in its own words: which copy, and the command that drops it.
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
  target_schema name;
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
      select n.nspname into target_schema
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = erasing.target;
      if governance.is_inspection_schema(target_schema) then
        -- A copy of archived rows made for inspection keeps its original's
        -- personal data but not always its path to the person (a
        -- transcription reaches its client through its session): which of its
        -- rows are this person's is unknown, so the copy must go first.
        raise exception 'Table % is an inspection copy of archived rows (custodian archive restore --into-schema) and holds personal data (%) that nothing ties to a person, so this erasure cannot reach it: drop the copy with custodian archive drop-inspection %, then erase again.',
          erasing.target, pg_catalog.array_to_string(erasing.columns, ', '), target_schema using errcode = '55000';
      end if;
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
