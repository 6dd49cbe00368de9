--! Previous: sha1:0dc97aacb6c8be8a12f35cebcc4e47bd15093c01
--! Hash: sha1:00abe55de92fb100cb9018fc3c334584e331418b
--! Message: Issue 18: the residue scan reads each table once and the audit trail with its subjects' keys joined; an erasure at volume no longer scans the usage events once per text column

-- The residue scan reads each table once, whatever its number of text
-- columns, and the audit trail with its keys joined (issue 18: an erasure at
-- volume spent its time scanning the usage events five times).
--! Included audit/reveal.sql
-- Reading pii back: decrypted, redacted or erased, depending on the caller.

create or replace function audit.may_reveal(subject_id uuid, owner_id uuid) returns boolean as $$
  select coalesce(case coalesce(nullif(pg_catalog.current_setting('role'), 'none'), current_user)
    when 'custodian_admin' then true
    when 'custodian_auditor' then true
    -- A coach reads the personal data in their own records (their clients',
    -- even once deleted) and their own; nobody else's. Anyone can call this
    -- naming themselves as the owner, so the owner given is believed only for
    -- a person who is nobody's client or user now (a client deleted for good)
    -- and still has a key: otherwise the answer would decrypt, or tell apart,
    -- another coach's people.
    when 'custodian_coach' then
      subject_id = app_public.current_user_id()
      or exists (select from app_public.clients c
                 where c.id = subject_id and c.coach_profile_id = app_private.current_coach_profile_id())
      or ((owner_id = app_private.current_coach_profile_id() or owner_id = app_public.current_user_id())
          and not exists (select from app_public.clients c where c.id = subject_id)
          and not exists (select from app_public.users u where u.id = subject_id)
          and exists (select from app_private.audit_subject_keys k where k.subject_id = may_reveal.subject_id))
    when 'custodian_anonymous' then false
    else true -- the owner and superusers hold the keys anyway
  end, false);
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function audit.may_reveal(uuid, uuid) is
  E'Whether the caller may read a person''s pii in an event: admins and auditors may; a coach their own clients'' and their own, and in the records they own, those of a person deleted for good whose key remains.';

-- How a pii value is opened: base64(iv || AES-256-CBC ciphertext) under the subject's key.
create or replace function audit.open_sealed(sealed text, key bytea) returns jsonb as $$
  select pg_catalog.convert_from(public.decrypt_iv(
    pg_catalog.substr(pg_catalog.decode(sealed, 'base64'), 17), key,
    pg_catalog.substr(pg_catalog.decode(sealed, 'base64'), 1, 16), 'aes-cbc/pad:pkcs'), 'UTF8')::jsonb;
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.open_sealed(text, bytea) is
  E'One stored pii value decrypted with its subject''s key; raises on a forged or damaged value (audit.decrypt_value says so in the value instead).';

create or replace function audit.decrypt_value(sealed text, key bytea) returns jsonb as $$
begin
  return audit.open_sealed(sealed, key);
exception when others then
  -- One damaged value must not hide every other event from the reader.
  return '{"$corrupt": true}'::jsonb;
end;
$$ language plpgsql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.decrypt_value(text, bytea) is
  E'One stored pii value decrypted; {"$corrupt": true} when it cannot be (a forged or damaged value).';

-- The residue scan reads every event as the key holder: the keys joined to
-- the events rather than looked up one at a time, and no subtransaction per
-- value (a damaged value raises, and the scan reads that table again with
-- audit.reveal).
create or replace function audit.reveal_with_key(stored jsonb, key bytea) returns jsonb as $$
  select case when stored is null then null else stored operator(pg_catalog.||) coalesce(
    (select pg_catalog.jsonb_object_agg(e.key,
       case when e.value operator(pg_catalog.->>) '$pii' is null or reveal_with_key.key is null then '{"$erased": true}'::pg_catalog.jsonb
         else audit.open_sealed(e.value operator(pg_catalog.->>) '$pii', reveal_with_key.key) end)
     from pg_catalog.jsonb_each(stored) e
     where pg_catalog.jsonb_typeof(e.value) = 'object' and e.value operator(pg_catalog.?) '$pii'),
    '{}'::pg_catalog.jsonb) end;
$$ language sql immutable set search_path = pg_catalog, public, pg_temp;
comment on function audit.reveal_with_key(jsonb, bytea) is
  E'Stored values with their pii decrypted by the given key (the subject''s), {"$erased": true} without one; raises on a damaged value. For the key holder only (the residue scan).';

revoke all on function audit.open_sealed(text, bytea), audit.reveal_with_key(jsonb, bytea) from public;

create or replace function audit.reveal(stored jsonb, subject_id uuid, owner_id uuid default null) returns jsonb as $$
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

grant execute on function audit.reveal(jsonb, uuid, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded audit/reveal.sql
--! Included gdpr/residue-scan.sql
-- Proof of erasure: where a person's former values can still be read. The
-- erasure collects them inside its transaction and passes them here; they are
-- never written to a table.

create or replace function governance.row_key_sql(target regclass, alias text) returns text as $$
  select coalesce(
    (select 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format('%L, %s.%I', a.attname, alias, a.attname), ', ' order by k.n) || ')'
     from pg_catalog.pg_index i
     cross join lateral pg_catalog.unnest(i.indkey) with ordinality k(attnum, n)
     join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
     where i.indrelid = target and i.indisprimary),
    (select pg_catalog.format('pg_catalog.jsonb_build_object(''id'', %s.id)', alias)
     from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = 'id' and not a.attisdropped),
    pg_catalog.format('pg_catalog.jsonb_build_object(''ctid'', %s.ctid::text)', alias));
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_key_sql(regclass, text) is
  E'SQL naming one row of a table as a jsonb object: its primary key, else its id (the audit events), else its ctid.';

drop function if exists governance.readable_value_sql(regclass, name, text);
create or replace function governance.readable_value_sql(target regclass, column_name name, alias text, tolerant boolean)
returns text as $$
  select case
    -- The trail's sealed values count as found only while they can be
    -- decrypted: with the keys joined to the events (readable_joins_sql), or
    -- tolerant of a damaged value, through audit.reveal a value at a time.
    when target = 'audit.events'::regclass and column_name = 'old_values' then
      case when tolerant then pg_catalog.format('audit.reveal(%1$s.old_values, coalesce(%1$s.old_subject_id, %1$s.subject_id), %1$s.owner_id)', alias)
        else pg_catalog.format('audit.reveal_with_key(%s.old_values, old_key.key)', alias) end
    when target = 'audit.events'::regclass and column_name = 'new_values' then
      case when tolerant then pg_catalog.format('audit.reveal(%1$s.new_values, %1$s.subject_id, %1$s.owner_id)', alias)
        else pg_catalog.format('audit.reveal_with_key(%s.new_values, new_key.key)', alias) end
    else pg_catalog.format('%s.%I', alias, column_name)
  end;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.readable_value_sql(regclass, name, text, boolean) is
  E'SQL for a column''s value as someone holding the keys reads it: the audit trail''s old and new values with their pii decrypted (or {"$erased": true} once the key is gone), any other column as stored. Not tolerant, the keys come from readable_joins_sql and a damaged value raises; tolerant, it reads {"$corrupt": true}.';

create or replace function governance.readable_joins_sql(target regclass, alias text) returns text as $$
  select case when target = 'audit.events'::regclass then pg_catalog.format(
    ' left join app_private.audit_subject_keys old_key on old_key.subject_id = coalesce(%1$s.old_subject_id, %1$s.subject_id)'
    ' left join app_private.audit_subject_keys new_key on new_key.subject_id = %1$s.subject_id', alias)
    else '' end;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.readable_joins_sql(regclass, text) is
  E'The joins readable_value_sql''s values need (the subjects'' keys of the audit trail''s events), or nothing.';

-- One table's part of the residue scan: one pass over its rows, whatever
-- its number of text columns (at volume the cost is reading the rows: the
-- usage events, the audit trail). $1: identifiers as LIKE patterns, $2: the
-- contents' digests, $3: their lengths in bytes (a digest is taken only of a
-- value of one of those lengths). Gives a jsonb array of [column, row key].
create or replace function governance.residue_query_sql(target regclass, columns name[], json_columns boolean[], tolerant boolean)
returns text as $$
declare
  readable text;
  value_sql text[] := '{}';
  computed text[] := '{}';
  matches text[] := '{}';
begin
  for i in 1 .. pg_catalog.cardinality(columns) loop
    readable := governance.readable_value_sql(target, columns[i], 't', tolerant);
    -- A value read as stored is used where it is; one that must be computed
    -- (decrypted) is computed once a row, in a lateral subquery (x.vN).
    if readable = pg_catalog.format('t.%I', columns[i]) then
      value_sql := value_sql || readable;
    else
      value_sql := value_sql || pg_catalog.format('x.v%s', i);
      computed := computed || pg_catalog.format('%s as v%s', readable, i);
    end if;
    matches := matches || case when json_columns[i] then pg_catalog.format(
        $m$(pg_catalog.lower(%1$s::text) operator(pg_catalog.~~) any ($1)
            or (pg_catalog.cardinality($2) > 0 and exists (
              select from pg_catalog.jsonb_path_query(%1$s, 'strict $.** ? (@.type() == "string")') s
              where pg_catalog.octet_length(s operator(pg_catalog.#>>) '{}') operator(pg_catalog.=) any ($3)
                and pg_catalog.md5(s operator(pg_catalog.#>>) '{}') operator(pg_catalog.=) any ($2))))$m$, value_sql[i])
      else pg_catalog.format(
        $m$(pg_catalog.lower(%1$s::text) operator(pg_catalog.~~) any ($1)
            or (pg_catalog.octet_length(%1$s::text) operator(pg_catalog.=) any ($3) and pg_catalog.md5(%1$s::text) operator(pg_catalog.=) any ($2)))$m$,
        value_sql[i])
      end;
  end loop;
  -- offset 0 keeps each computed value computed once a row (decrypting is the
  -- dear part); which columns held one is worked out only for the rows that did.
  return pg_catalog.format(
    'select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(c.column_name, f.row_key) order by c.column_name, f.row_key::text), ''[]'')
     from (
       select %s as row_key, pg_catalog.array_remove(array[%s]::text[], null) as names
       from %s t%s%s
       where %s) f
     cross join lateral pg_catalog.unnest(f.names) c(column_name)',
    governance.row_key_sql(target, 't'),
    (select pg_catalog.string_agg(pg_catalog.format('case when %s then %L end', matches[i], columns[i]), ', ' order by i)
     from pg_catalog.generate_subscripts(matches, 1) i),
    target, governance.readable_joins_sql(target, 't'),
    case when pg_catalog.cardinality(computed) > 0
      then pg_catalog.format(' cross join lateral (select %s offset 0) x', pg_catalog.array_to_string(computed, ', ')) else '' end,
    pg_catalog.array_to_string(matches, ' or '));
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.residue_query_sql(regclass, name[], boolean[], boolean) is
  E'SQL for one table''s part of the residue scan: one pass over its rows, every text column searched for the identifiers ($1, LIKE patterns) and the contents ($2 digests, $3 lengths in bytes), giving a jsonb array of [column, row key]; tolerant, damaged sealed values read as {"$corrupt": true} instead of raising.';

create or replace function governance.residue_scan(identifiers text[], contents text[])
returns table (table_name text, column_name text, row_key jsonb) as $$
declare
  -- Identifiers as LIKE patterns (%needle%, with LIKE's own characters escaped).
  identifier_patterns text[];
  content_digests text[];
  -- A value equals a content only if it has its length in bytes: the digest is taken only then.
  content_lengths integer[];
  target record;
  found jsonb;
begin
  -- Identifiers (names, emails, phones) are looked for inside any text, in
  -- any case, as stored and as JSON spells them; content (notes, titles,
  -- transcripts) as a whole value. Values under 4 characters say nothing.
  select coalesce(pg_catalog.array_agg(distinct '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(n, '\', '\\'), '%', '\%'), '_', '\_') || '%'), '{}')
  into identifier_patterns
  from pg_catalog.unnest(identifiers) i,
    lateral (values (pg_catalog.lower(pg_catalog.btrim(i))),
                    (pg_catalog.lower(pg_catalog.btrim(pg_catalog.to_jsonb(pg_catalog.btrim(i))::text, '"')))) v(n)
  where pg_catalog.length(pg_catalog.btrim(i)) >= 4;
  -- Contents are compared by digest: the set stays small enough to hash
  -- (10,000 transcripts of 3 kB would not fit work_mem, and compared one by one
  -- the scan took minutes).
  select coalesce(pg_catalog.array_agg(distinct pg_catalog.md5(c)), '{}'), coalesce(pg_catalog.array_agg(distinct pg_catalog.octet_length(c)), '{}')
  into content_digests, content_lengths
  from pg_catalog.unnest(contents) c where pg_catalog.length(pg_catalog.btrim(c)) >= 4;
  if pg_catalog.cardinality(identifier_patterns) + pg_catalog.cardinality(content_digests) = 0 then
    return;
  end if;

  -- One pass over each table, whatever its number of text columns: the cost
  -- is reading its rows (at volume, the usage events and the audit trail).
  for target in
    select pg_catalog.format('%I.%I', m.table_schema, m.table_name)::regclass as oid, m.table_schema, m.table_name,
      pg_catalog.array_agg(m.column_name order by m.column_name) as columns,
      pg_catalog.array_agg(m.data_type = 'jsonb' order by m.column_name) as json_columns
    from governance.personal_data_map m
    where m.is_free_text
    group by m.table_schema, m.table_name
    order by m.table_schema, m.table_name
  loop
    -- Matches are few: gathered first, so that a damaged sealed value (which
    -- raises) lets the table be read again, tolerant of it, from the start.
    begin
      execute governance.residue_query_sql(target.oid, target.columns, target.json_columns, false)
        into found using identifier_patterns, content_digests, content_lengths;
    exception when others then
      execute governance.residue_query_sql(target.oid, target.columns, target.json_columns, true)
        into found using identifier_patterns, content_digests, content_lengths;
    end;
    return query select target.table_schema || '.' || target.table_name, f operator(pg_catalog.->>) 0, f operator(pg_catalog.->) 1
      from pg_catalog.jsonb_array_elements(found) f;
  end loop;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function governance.residue_scan(text[], text[]) is
  E'The residue scan (proof of erasure): every text, varchar, citext and jsonb column of every Custodian table (the map''s tables, the audit trail with all its partitions included, its pii decrypted where the key still exists) searched for a person''s former values; one row per place still holding one: table, column and row key, never the value. identifiers are found inside any text, ignoring case; contents only as a whole value (or a whole string inside jsonb); values shorter than 4 characters are not searched. The erasure runs it before committing; admins may run it on its own.';

revoke all on function governance.residue_scan(text[], text[]) from public;
grant execute on function governance.residue_scan(text[], text[]) to custodian_admin;
revoke all on function governance.row_key_sql(regclass, text), governance.readable_value_sql(regclass, name, text, boolean),
  governance.readable_joins_sql(regclass, text), governance.residue_query_sql(regclass, name[], boolean[], boolean) from public;
--! EndIncluded gdpr/residue-scan.sql
