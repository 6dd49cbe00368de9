--! Previous: sha1:cd594b859e2feaba8cff4f13316bdcdd2b685f04
--! Hash: sha1:00f75f985a1ecfa6dbd1d9629319d41b81d8fb09
--! Message: retention: a policy whose table is gone is reported per policy

-- A retention policy whose table was dropped or renamed since it was written
-- says so in its own words, per policy: the preview and the compliance figure
-- list it with no figures and the problem, the others are still counted; a
-- run records it as failed and goes on. Before, any report built SQL naming
-- no table and failed whole ("relation "t" does not exist").
--! Included retention/policies.sql
-- Retention policies: the database refuses one that names a table or column
-- that does not exist, a clock that is not a timestamp, or an action the
-- category forbids, for every writer.

create or replace function governance.retention_allowed_actions(target regclass) returns app_public.retention_action[] as $$
  select case
    -- The billing ledger and what it is captured from or rolled up into are kept forever.
    when target in ('app_public.usage_events'::regclass, 'app_private.usage_records'::regclass,
                    'app_public.usage_daily'::regclass, 'app_private.usage_daily_totals'::regclass)
      then array['keep_forever']::app_public.retention_action[]
    -- The audit trail leaves only by whole archived monthly partitions, never row by row.
    when target = 'audit.events'::regclass
      then array['archive_then_delete', 'keep_forever']::app_public.retention_action[]
    else pg_catalog.enum_range(null::app_public.retention_action)
  end;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.retention_allowed_actions(regclass) is
  E'The retention actions a table allows: usage events, usage records and their rollups only keep_forever (the billing ledger is permanent); audit.events only archive_then_delete (by whole partitions, which the runner archives with their seals) or keep_forever; any other table every action.';

create or replace function governance.retention_default_anonymize_columns(target regclass) returns name[] as $$
  select pg_catalog.array_agg(m.column_name::name order by m.column_name)
  from governance.personal_data_map m
  where pg_catalog.format('%I.%I', m.table_schema, m.table_name)::regclass = target
    and m.category in ('identity', 'contact', 'content');
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.retention_default_anonymize_columns(regclass) is
  E'The columns an anonymize policy blanks when it names none: the table''s identity, contact and content columns in the map of personal data.';

create or replace function app_private.retention_policy_problem(policy app_public.retention_policies, out problem text, out code text)
returns record as $$
declare
  target regclass := pg_catalog.to_regclass(policy.target_table);
  clock_type regtype;
  allowed app_public.retention_action[];
  bad_column name;
begin
  if policy.target_table !~ '^[^.]+\.[^.]+$' or target is null then
    problem := pg_catalog.format('Retention policy %s: there is no table "%s"; name it with its schema, e.g. app_public.clients (a table dropped or renamed since leaves its policy here: change or delete the policy).',
      policy.name, policy.target_table);
    code := '42P01';
  elsif (select c.relkind from pg_catalog.pg_class c where c.oid = target) not in ('r', 'p') then
    problem := pg_catalog.format('Retention policy %s: %s is not a table.', policy.name, policy.target_table);
    code := '22023';
  else
    select a.atttypid::regtype into clock_type from pg_catalog.pg_attribute a
    where a.attrelid = target and a.attname = policy.clock_column and a.attnum > 0 and not a.attisdropped;
    allowed := governance.retention_allowed_actions(target);
    if clock_type is null then
      problem := pg_catalog.format('Retention policy %s: table %s has no column "%s".', policy.name, policy.target_table, policy.clock_column);
      code := '42703';
    elsif clock_type <> 'timestamptz'::regtype then
      problem := pg_catalog.format('Retention policy %s: the clock column %s.%s is %s, not a timestamp with time zone (timestamptz).',
        policy.name, policy.target_table, policy.clock_column, clock_type);
      code := '22023';
    elsif policy.action <> all (allowed) then
      problem := pg_catalog.format('Retention policy %s: the action %s is not allowed on %s: %s.', policy.name, policy.action, policy.target_table,
        case when allowed = array['keep_forever']::app_public.retention_action[]
          then 'usage is the billing ledger and is kept forever (keep_forever)'
          else 'audit events leave only by whole archived monthly partitions (archive_then_delete), never row by row' end);
      code := '23514';
    elsif policy.action in ('archive_then_delete', 'delete', 'anonymize') and target <> 'audit.events'::regclass
       and audit.primary_key_columns(target) is null then
      problem := pg_catalog.format('Retention policy %s: %s has no primary key, so its rows cannot be acted on one by one.', policy.name, policy.target_table);
      code := '55000';
    elsif policy.action = 'anonymize' and coalesce(pg_catalog.cardinality(policy.anonymize_columns), 0) = 0 then
      problem := pg_catalog.format('Retention policy %s: name the columns to anonymize (anonymizeColumns); the map of personal data lists no identity, contact or content column of %s.',
        policy.name, policy.target_table);
      code := '22023';
    elsif policy.action = 'anonymize' then
      select c into bad_column from pg_catalog.unnest(policy.anonymize_columns) c
      where not exists (select from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = c and a.attnum > 0 and not a.attisdropped)
         or c = any (audit.primary_key_columns(target)) or c = policy.clock_column
      limit 1;
      if found then
        problem := pg_catalog.format('Retention policy %s: "%s" cannot be anonymized: it is not a column of %s, or it is the key or the clock.',
          policy.name, bad_column, policy.target_table);
        code := '42703';
      end if;
    elsif policy.anonymize_columns is not null then
      problem := pg_catalog.format('Retention policy %s: only an anonymize policy names columns to anonymize.', policy.name);
      code := '22023';
    end if;
  end if;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_policy_problem(app_public.retention_policies) is
  E'Why a policy cannot be applied as it stands, with its SQLSTATE, or nulls: a table or column that does not exist (or no longer: dropped or renamed since), a clock that is not a timestamptz, an action the table forbids (governance.retention_allowed_actions), removal from a table without a primary key, anonymize columns that are not there. The one rule the policy''s write, its preview, its compliance figure and its runs check.';

create or replace function app_public.tg_retention_policies__validate() returns trigger as $$
declare
  target regclass := pg_catalog.to_regclass(NEW.target_table);
  found_problem record;
begin
  if target is not null and NEW.target_table ~ '^[^.]+\.[^.]+$' then
    NEW.target_table := (select pg_catalog.format('%I.%I', n.nspname, c.relname)
                         from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target);
    if NEW.action = 'anonymize' then
      NEW.anonymize_columns := coalesce(NEW.anonymize_columns, governance.retention_default_anonymize_columns(target));
    end if;
  end if;
  found_problem := app_private.retention_policy_problem(NEW);
  if found_problem.problem is not null then
    raise exception '%', found_problem.problem using errcode = found_problem.code;
  end if;
  return NEW;
end;
$$ language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.tg_retention_policies__validate() is
  E'Refuses (for every writer; it reads the catalog and the map of personal data as the owner) a policy app_private.retention_policy_problem finds fault with; fills an anonymize policy''s columns from the map of personal data, and writes the table''s name schema-qualified.';

drop trigger if exists _050_validate on app_public.retention_policies;
create trigger _050_validate before insert or update on app_public.retention_policies
  for each row execute function app_public.tg_retention_policies__validate();
drop trigger if exists _100_timestamps on app_public.retention_policies;
create trigger _100_timestamps before insert or update on app_public.retention_policies
  for each row execute function app_private.tg__timestamps();

revoke all on function governance.retention_allowed_actions(regclass), governance.retention_default_anonymize_columns(regclass),
  app_private.retention_policy_problem(app_public.retention_policies) from public;
--! EndIncluded retention/policies.sql
--! Included retention/rows.sql
-- Which rows a retention policy governs, which are past their period, which
-- a legal hold covers, and what their removal takes with it: SQL text built
-- from the policy and the catalog, the one home the preview, the runs and the
-- compliance figure share. Conditions are on alias t; $1 is the cutoff
-- (as_of minus the period), $2 an array of row keys as text.

create or replace function governance.row_key_text_sql(target regclass, alias text) returns text as $$
  select case when k is null then null
    when pg_catalog.cardinality(k) = 1 then pg_catalog.format('%s.%I::text', alias, k[1])
    else pg_catalog.format('row(%s)::text',
      (select pg_catalog.string_agg(pg_catalog.format('%s.%I', alias, c), ', ' order by o) from pg_catalog.unnest(k) with ordinality u(c, o)))
  end
  from (select audit.primary_key_columns(target) as k) x;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_key_text_sql(regclass, text) is
  E'SQL for a row''s primary key as text: the value of a one-column key, the row literal "(a,b)" of a longer one; null without a key.';

create or replace function governance.row_key_text_match_sql(target regclass, alias text, keys_parameter text) returns text as $$
  select case when k is null then null
    when pg_catalog.cardinality(k) = 1
    then pg_catalog.format('%s.%I operator(pg_catalog.=) any (cast(%s as %s[]))', alias, k[1], keys_parameter,
      (select pg_catalog.format_type(a.atttypid, a.atttypmod) from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = k[1]))
    else pg_catalog.format('%s operator(pg_catalog.=) any (%s)', governance.row_key_text_sql(target, alias), keys_parameter)
  end
  from (select audit.primary_key_columns(target) as k) x;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_key_text_match_sql(regclass, text, text) is
  E'SQL true for the rows whose key (as governance.row_key_text_sql gives it) is in the text array keys_parameter; uses the key''s index for a one-column key.';

create or replace function governance.row_subject_sql(target regclass, alias text) returns text as $$
  select coalesce(
    (select case when t.subject_via is null then pg_catalog.format('%s.%I', alias, t.subject_column)
            else pg_catalog.format('(select v.%I from %s v where v.%I operator(pg_catalog.=) %s.%I)',
              t.subject_via_column, t.subject_via, (audit.primary_key_columns(t.subject_via))[1], alias, t.subject_column) end
     from audit.tracked_tables t where t.table_oid = target and t.subject_column is not null),
    (select pg_catalog.format('%s.%I', alias, min(p.subject_column))
     from governance.personal_data_columns p where p.table_oid = target and p.subject_column is not null
     having min(p.subject_column) is not null));
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_subject_sql(regclass, text) is
  E'SQL for the person a row is about (a client or a user id), from the audit trail''s subject configuration (through subject_via when it has one), else the map''s subject_column, as erasure finds a person''s rows; null when nothing says.';

create or replace function app_private.legal_hold_covered_ids() returns uuid[] as $$
  -- Exactly what app_private.hold_for_subject covers, as one set: the client,
  -- user or coach profile a hold names, a held profile's clients and its user.
  select array(
    select x.id from (
      select h.client_id as id from app_public.legal_holds h where h.released_at is null
      union select h.user_id from app_public.legal_holds h where h.released_at is null
      union select h.coach_profile_id from app_public.legal_holds h where h.released_at is null
      union select c.id from app_public.legal_holds h join app_public.clients c on c.coach_profile_id operator(pg_catalog.=) h.coach_profile_id
        where h.released_at is null
      union select cp.user_id from app_public.legal_holds h join app_public.coach_profiles cp on cp.id operator(pg_catalog.=) h.coach_profile_id
        where h.released_at is null) x
    where x.id is not null);
$$ language sql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_private.legal_hold_covered_ids() is
  E'Every client, user and coach profile id an active legal hold covers (what app_private.hold_for_subject answers for one id), computed once for a whole statement; empty when no hold is active.';

create or replace function governance.row_held_sql(target regclass, alias text) returns text as $$
  -- The covered set is an init plan (computed once per statement); with no
  -- active hold the row's subject is never even looked up.
  select case when pg_catalog.count(e) = 0 then 'false' else pg_catalog.format(
    'case when pg_catalog.cardinality((select app_private.legal_hold_covered_ids())) operator(pg_catalog.=) 0 then false else %s end',
    pg_catalog.string_agg(pg_catalog.format(
      'coalesce(cast(%s as uuid) operator(pg_catalog.=) any (cast((select app_private.legal_hold_covered_ids()) as uuid[])), false)', e), ' or ')) end
  from (select governance.row_subject_sql(target, alias) as e
        union all
        -- The row's coach profile (or the coach's user): a hold on a whole profile covers its rows.
        select pg_catalog.format('%s.%I', alias, t.owner_column) from audit.tracked_tables t
        where t.table_oid = target and t.owner_column is not null) x
  where e is not null;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.row_held_sql(regclass, text) is
  E'SQL true (never null) for a row an active legal hold covers: a hold on the person it is about, or on its owner (its coach profile, or the coach''s user), as app_private.hold_for_subject decides, against the covered set app_private.legal_hold_covered_ids computes once per statement; false for a table with no path to a person.';

create or replace function governance.anonymized_sql(target regclass, columns name[], alias text) returns text as $$
  select coalesce(pg_catalog.string_agg(case governance.erased_value_sql(target, c)
      when 'null' then pg_catalog.format('%s.%I is null', alias, c)
      when '''erased''' then pg_catalog.format('%s.%I::text operator(pg_catalog.=) ''erased''', alias, c)
      when '''{}''::pg_catalog.jsonb' then pg_catalog.format('%s.%I operator(pg_catalog.=) ''{}''::pg_catalog.jsonb', alias, c)
      else pg_catalog.format('%s.%I::text operator(pg_catalog.~) ''^erased-[0-9a-f-]{36}@erased\.invalid$''', alias, c)
    end, ' and '), 'true')
  from pg_catalog.unnest(columns) c;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.anonymized_sql(regclass, name[], text) is
  E'SQL true for a row whose columns already hold what erasure writes (governance.erased_value_sql): such a row needs no anonymizing.';

create or replace function governance.foreign_key_cascade(target regclass, root_condition text, depth integer default 0)
returns table (table_oid regclass, condition text, level integer) as $$
declare
  child record;
begin
  table_oid := target;
  condition := root_condition;
  level := depth;
  return next;
  for child in
    select c.conrelid::regclass as child_table, c.conname,
      (select pg_catalog.string_agg(pg_catalog.format('p%s.%I operator(pg_catalog.=) {row}.%I', depth, pa.attname, ca.attname), ' and ')
       from rows from (pg_catalog.unnest(c.confkey), pg_catalog.unnest(c.conkey)) k(parent_attnum, child_attnum)
       join pg_catalog.pg_attribute pa on pa.attrelid = c.confrelid and pa.attnum = k.parent_attnum
       join pg_catalog.pg_attribute ca on ca.attrelid = c.conrelid and ca.attnum = k.child_attnum) as joined
    from pg_catalog.pg_constraint c
    where c.contype = 'f' and c.confrelid = target and c.confdeltype = 'c' and c.conrelid <> target
    order by c.conrelid::regclass::text, c.conname
  loop
    return query select * from governance.foreign_key_cascade(child.child_table,
      pg_catalog.format('exists (select from %s p%s where %s and (%s))', target, depth, child.joined,
        pg_catalog.replace(root_condition, '{row}', 'p' || depth)),
      depth + 1);
  end loop;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function governance.foreign_key_cascade(regclass, text, integer) is
  E'The rows a delete of target''s rows matching root_condition (on the alias {row}) takes with it: target, then every table an on-delete-cascade foreign key reaches, each with its condition on {row} and its depth. What an archive must hold so that a restore can bring a cascade back.';

create or replace function app_private.retention_policy_sql(policy app_public.retention_policies,
  out target regclass, out key_sql text, out key_match_sql text, out scope_sql text, out due_sql text, out held_sql text,
  out cascade_depth integer, out is_soft_delete boolean)
returns record as $$
declare
  found_problem record := app_private.retention_policy_problem(policy);
begin
  -- A table dropped or renamed since the policy was written: its own words, not SQL naming nothing.
  if found_problem.problem is not null then
    raise exception '%', found_problem.problem using errcode = found_problem.code;
  end if;
  -- The audit trail has no primary key and leaves by whole partitions (the
  -- partitions part decides what a hold means there): its events are named by id.
  select t.oid, case when t.is_audit then 't.id::text' else governance.row_key_text_sql(t.oid, 't') end,
    case when t.is_audit then 't.id operator(pg_catalog.=) any (cast($2 as bigint[]))' else governance.row_key_text_match_sql(t.oid, 't', '$2') end,
    pg_catalog.format('t.%I is not null', policy.clock_column),
    pg_catalog.format('t.%I operator(pg_catalog.<=) $1', policy.clock_column)
      || case when policy.action = 'anonymize' then pg_catalog.format(' and not (%s)', governance.anonymized_sql(t.oid, policy.anonymize_columns, 't')) else '' end,
    case when t.is_audit then 'false' else governance.row_held_sql(t.oid, 't') end,
    (select pg_catalog.count(*)::integer from governance.foreign_key_cascade(t.oid, 'true')),
    exists (select from governance.soft_delete_tables s where s.table_oid = t.oid)
  into target, key_sql, key_match_sql, scope_sql, due_sql, held_sql, cascade_depth, is_soft_delete
  from (select o.oid, o.oid = 'audit.events'::regclass as is_audit from (select pg_catalog.to_regclass(policy.target_table) as oid) o) t;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_policy_sql(app_public.retention_policies) is
  E'A policy''s SQL pieces on alias t: the row key, a match of keys ($2), the rows under the policy (clock set), those past their period ($1 is the cutoff; for anonymize, not anonymized yet), those a legal hold covers; how many tables its removal reaches and whether the table has soft delete.';

create or replace function app_private.retention_counts(policy app_public.retention_policies, as_of timestamptz,
  out rows_under_policy bigint, out rows_due bigint, out oldest_due timestamptz, out newest_due timestamptz, out rows_spared_by_hold bigint)
returns record as $$
declare
  pieces record := app_private.retention_policy_sql(policy);
begin
  if policy.action = 'keep_forever' then
    execute pg_catalog.format('select pg_catalog.count(*) from %s t where %s', pieces.target, pieces.scope_sql) into rows_under_policy;
    rows_due := 0;
    rows_spared_by_hold := 0;
    return;
  end if;
  execute pg_catalog.format(
    'select pg_catalog.count(*), pg_catalog.count(*) filter (where d and not h), pg_catalog.min(c) filter (where d and not h),
            pg_catalog.max(c) filter (where d and not h), pg_catalog.count(*) filter (where d and h)
     from (select t.%1$I as c, (%2$s) as d, case when %2$s then %3$s else false end as h from %4$s t where %5$s) x',
    policy.clock_column, pieces.due_sql, pieces.held_sql, pieces.target, pieces.scope_sql)
    into rows_under_policy, rows_due, oldest_due, newest_due, rows_spared_by_hold
    using as_of - policy.period;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_counts(app_public.retention_policies, timestamptz) is
  E'A policy''s figures at as_of: rows under it (clock set), rows past their period that a run would act on (not held; for anonymize, not anonymized yet) with their oldest and newest clock, and rows past their period a legal hold spares. What the preview, the run log and the compliance figure all count from.';

drop function if exists app_private.retention_due_keys(app_public.retention_policies, timestamptz, integer, text[]);
create or replace function app_private.retention_due_keys(policy app_public.retention_policies, as_of timestamptz,
  batch_size integer, exclude text[] default '{}', after_clock timestamptz default null, after_key text default null)
returns table (key text, clock timestamptz) as $$
declare
  pieces record := app_private.retention_policy_sql(policy);
begin
  if policy.action = 'keep_forever' then
    return;
  end if;
  -- After (after_clock, after_key): a run walks the due rows once, in order,
  -- from an index on the clock, instead of sorting all of them for every batch.
  return query execute pg_catalog.format(
    'select %1$s, t.%2$I from %3$s t where %4$s and not (%5$s) and not (%1$s operator(pg_catalog.=) any ($2))
       and ($3::timestamptz is null or (t.%2$I operator(pg_catalog.>=) $3 and (t.%2$I operator(pg_catalog.>) $3 or %1$s operator(pg_catalog.>) $4)))
     order by t.%2$I, 1 limit %6$s',
    pieces.key_sql, policy.clock_column, pieces.target, pieces.due_sql, pieces.held_sql, batch_size)
    using as_of - policy.period, exclude, after_clock, after_key;
end;
$$ language plpgsql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_due_keys(app_public.retention_policies, timestamptz, integer, text[], timestamptz, text) is
  E'The next batch of rows a run acts on under a policy at as_of, oldest first: past their period, not held, not in exclude (rows that failed already in this run), and after (after_clock, after_key) when given (where the previous batch ended); their keys as text and their clock.';

revoke all on function governance.row_key_text_sql(regclass, text), governance.row_key_text_match_sql(regclass, text, text),
  governance.row_subject_sql(regclass, text), governance.row_held_sql(regclass, text),
  governance.anonymized_sql(regclass, name[], text), governance.foreign_key_cascade(regclass, text, integer) from public;
revoke all on function app_private.retention_policy_sql(app_public.retention_policies),
  app_private.retention_counts(app_public.retention_policies, timestamptz),
  app_private.retention_due_keys(app_public.retention_policies, timestamptz, integer, text[], timestamptz, text),
  app_private.legal_hold_covered_ids() from public;
--! EndIncluded retention/rows.sql
--! Included retention/report.sql
-- What retention would do (the dry run) and how compliant the data is: both
-- counted by app_private.retention_counts, which the runs count from too.

create or replace function app_private.retention_policies_in_run_order(policy text default null)
returns setof app_public.retention_policies as $$
  select p.* from app_public.retention_policies p
  where policy is null or p.name = policy
  -- A child before its parent (transcriptions, sessions, clients, profiles), so
  -- that each policy removes its own rows rather than its parent's cascade; a
  -- policy that cannot be applied as it stands (its table dropped since) last.
  order by case when (app_private.retention_policy_problem(p)).problem is null
    then (app_private.retention_policy_sql(p)).cascade_depth end nulls last, p.name;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_private.retention_policies_in_run_order(text) is
  E'The policies (or the one named) in the order a run applies them: those whose removal reaches fewer tables first.';

drop function if exists app_public.retention_preview(text, timestamptz);
create function app_public.retention_preview(policy text default null, as_of timestamptz default pg_catalog.now())
returns table (
  policy_name text, category text, target_table text, action app_public.retention_action, period interval, enabled boolean,
  cutoff timestamptz, rows_due bigint, oldest_due timestamptz, newest_due timestamptz, sample_keys text[], rows_spared_by_hold bigint,
  problem text
) as $$
declare
  p app_public.retention_policies;
  counts record;
begin
  if policy is not null and not exists (select from app_public.retention_policies x where x.name = retention_preview.policy) then
    raise exception 'There is no retention policy "%".', policy using errcode = 'P0002';
  end if;
  for p in select * from app_private.retention_policies_in_run_order(retention_preview.policy) loop
    policy_name := p.name; category := p.category; target_table := p.target_table; action := p.action;
    period := p.period; enabled := p.enabled; cutoff := as_of - p.period;
    -- A policy that cannot be counted says why, and the others are still previewed.
    problem := (app_private.retention_policy_problem(p)).problem;
    rows_due := null; oldest_due := null; newest_due := null; rows_spared_by_hold := null; sample_keys := null;
    if problem is null then
      counts := app_private.retention_counts(p, as_of);
      rows_due := counts.rows_due; oldest_due := counts.oldest_due; newest_due := counts.newest_due;
      rows_spared_by_hold := counts.rows_spared_by_hold;
      sample_keys := array(select k.key from app_private.retention_due_keys(p, as_of, 10) k);
    end if;
    return next;
  end loop;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retention_preview(text, timestamptz) is
  E'The dry run: per policy (or the one named), at asOf (now by default), the rows a run would act on (past their period, not held; for anonymize, not anonymized yet), their oldest and newest clock, the keys of up to ten of them (oldest first), and the rows past their period that a legal hold spares. In the order a run applies the policies. A policy that cannot be applied as it stands (its table dropped or renamed since) has no figures and says why in problem. Admins and auditors.';

drop function if exists app_public.retention_compliance(timestamptz);
create function app_public.retention_compliance(as_of timestamptz default pg_catalog.now())
returns table (
  policy_name text, category text, action app_public.retention_action, period interval,
  rows_under_policy bigint, rows_within_period bigint, rows_past_period bigint, rows_held bigint, compliance_percent numeric,
  problem text
) as $$
declare
  p app_public.retention_policies;
  counts record;
begin
  for p in select * from app_private.retention_policies_in_run_order() loop
    policy_name := p.name; category := p.category; action := p.action; period := p.period;
    -- A policy that cannot be counted says why, and the others are still measured.
    problem := (app_private.retention_policy_problem(p)).problem;
    rows_under_policy := null; rows_within_period := null; rows_past_period := null; rows_held := null; compliance_percent := null;
    if problem is null then
      counts := app_private.retention_counts(p, as_of);
      rows_under_policy := counts.rows_under_policy;
      rows_within_period := counts.rows_under_policy - counts.rows_due - counts.rows_spared_by_hold;
      rows_past_period := counts.rows_due;
      rows_held := counts.rows_spared_by_hold;
      compliance_percent := case when rows_under_policy - rows_held = 0 then 100.0
        else pg_catalog.round(100.0 * rows_within_period / (rows_under_policy - rows_held), 1) end;
    end if;
    return next;
  end loop;
end;
$$ language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp;
comment on function app_public.retention_compliance(timestamptz) is
  E'Data retention compliance at asOf (now by default), per policy: the rows under it (clock set), those within their period (for anonymize, also those already anonymized), those past it that a run would act on, and those past it kept by a legal hold (counted apart); compliancePercent = within / (under - held), 100 when nothing is under it. A policy that cannot be applied as it stands (its table dropped or renamed since) has no figures and says why in problem. Admins and auditors.';

revoke all on function app_private.retention_policies_in_run_order(text) from public;
revoke all on function app_public.retention_preview(text, timestamptz), app_public.retention_compliance(timestamptz) from public;
grant execute on function app_public.retention_preview(text, timestamptz), app_public.retention_compliance(timestamptz)
  to custodian_admin, custodian_auditor;
--! EndIncluded retention/report.sql
--! Included retention/runs.sql
-- The run log: a run starts only when no other is running (an advisory lock
-- held by the runner's session for the whole run, and a unique index on the
-- running row), and a run whose process died is found and closed by the next.

create or replace function app_private.retention_lock_key() returns bigint as $$
  select 1702170217::bigint;
$$ language sql immutable;
comment on function app_private.retention_lock_key() is
  E'The advisory lock a retention run holds on its session from start to finish: a session that ends (a killed process, a terminated backend) lets it go.';

create or replace function app_private.fail_abandoned_retention_runs() returns integer as $$
declare
  words constant text := 'Abandoned: the process running it ended before it finished. What it archived but had not removed is resumed by the next run.';
  closed integer;
begin
  -- The caller holds the run lock, so a row still marked running belongs to a process that died: it and its open policy rows close as failed.
  update app_public.retention_run_policies p set status = 'failed', finished_at = pg_catalog.now(),
    errors = p.errors + 1, error = coalesce(p.error, words)
  where p.status = 'running' and p.run_id in (select r.id from app_public.retention_runs r where r.status = 'running');
  update app_public.retention_runs r set status = 'failed', finished_at = pg_catalog.now(), error = words
  where r.status = 'running';
  get diagnostics closed = row_count;
  return closed;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.fail_abandoned_retention_runs() is
  E'Closes as failed, with words saying so, every run still marked running and its policies still marked running; returns how many runs. Only for a caller holding the run lock (no run is running then).';

create or replace function app_private.close_abandoned_retention_runs() returns integer as $$
declare
  closed integer := 0;
begin
  if pg_catalog.pg_try_advisory_lock(app_private.retention_lock_key()) then
    closed := app_private.fail_abandoned_retention_runs();
    perform pg_catalog.pg_advisory_unlock(app_private.retention_lock_key());
  end if;
  return closed;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.close_abandoned_retention_runs() is
  E'Closes the runs a dead process left marked running, unless a run is running now (the worker calls it as it starts); returns how many it closed.';

create or replace function app_private.start_retention_run(policy text, dry_run boolean, as_of timestamptz, task text,
  started_by uuid default null)
returns app_public.retention_runs as $$
declare
  running app_public.retention_runs;
  run app_public.retention_runs;
begin
  if policy is not null and not exists (select from app_public.retention_policies p where p.name = start_retention_run.policy) then
    raise exception 'There is no retention policy "%".', policy using errcode = 'P0002',
      hint = 'custodian retention policies lists them.';
  end if;
  if as_of is null then
    raise exception 'A retention run needs the instant its periods are judged at.' using errcode = '22004';
  end if;
  if not dry_run and as_of > pg_catalog.now() then
    raise exception 'A retention run cannot act as of % : that is in the future, and rows would go before their time. Only a dry run may look ahead.', as_of
      using errcode = '22023';
  end if;
  if not pg_catalog.pg_try_advisory_lock(app_private.retention_lock_key()) then
    select * into running from app_public.retention_runs r where r.status = 'running' order by r.started_at desc limit 1;
    raise exception 'Retention run % is running (started at %, by %); only one runs at a time: wait for it to finish.',
      coalesce(running.id::text, '(starting)'), coalesce(running.started_at::text, 'just now'), coalesce(running.task, 'another process')
      using errcode = '55P03';
  end if;
  perform app_private.fail_abandoned_retention_runs();
  insert into app_public.retention_runs (dry_run, as_of, policy_name, task, started_by)
  values (dry_run, as_of, policy, task, started_by)
  returning * into run;
  return run;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.start_retention_run(text, boolean, timestamptz, text, uuid) is
  E'Starts a retention run (one policy, or all when policy is null) as of an instant, taking the run lock on this session: refused with the running run''s id when another holds it, refused for an unknown policy, and refused as of a future instant unless it is a dry run. A run left marked running by a process that died is closed as failed. The runner calls app_private.finish_retention_run on the same session.';

create or replace function app_private.finish_retention_run(run_id uuid, error text default null)
returns app_public.retention_runs as $$
declare
  run app_public.retention_runs;
begin
  -- A run stopped by an error (the archive store gone or full) stops in the middle of a policy: that policy fails with it.
  update app_public.retention_run_policies p set status = 'failed', finished_at = pg_catalog.now(), errors = p.errors + 1,
    error = coalesce(p.error, finish_retention_run.error, 'The run ended before this policy finished.')
  where p.run_id = finish_retention_run.run_id and p.status = 'running';
  update app_public.retention_runs r
  set status = case when finish_retention_run.error is null then 'finished' else 'failed' end,
      finished_at = pg_catalog.now(), error = finish_retention_run.error
  where r.id = finish_retention_run.run_id and r.status = 'running'
  returning * into run;
  perform pg_catalog.pg_advisory_unlock(app_private.retention_lock_key());
  return run;
end;
$$ language plpgsql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.finish_retention_run(uuid, text) is
  E'Ends a run (finished, or failed with the error, as is a policy it stopped in the middle of) and lets go of the run lock.';

create or replace function app_private.start_retention_run_policy(run_id uuid, policy_name text, as_of timestamptz)
returns app_public.retention_run_policies as $$
  insert into app_public.retention_run_policies (run_id, policy_name, action, rows_spared_by_hold)
  select start_retention_run_policy.run_id, p.name, p.action,
    -- A policy that cannot be applied as it stands fails on its own when the run acts on it.
    case when (app_private.retention_policy_problem(p)).problem is null
      then (app_private.retention_counts(p, start_retention_run_policy.as_of)).rows_spared_by_hold else 0 end
  from app_public.retention_policies p where p.name = start_retention_run_policy.policy_name
  returning *;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.start_retention_run_policy(uuid, text, timestamptz) is
  E'Opens a policy''s row in a run, with the rows past their period that a legal hold spares.';

create or replace function app_private.add_retention_figures(run_id uuid, policy_name text,
  archived bigint default 0, deleted bigint default 0, cascade_deleted bigint default 0, anonymized bigint default 0,
  archives integer default 0, errors integer default 0, error text default null)
returns void as $$
  update app_public.retention_run_policies r set
    rows_archived = r.rows_archived + archived, rows_deleted = r.rows_deleted + deleted,
    cascade_rows_deleted = r.cascade_rows_deleted + cascade_deleted, rows_anonymized = r.rows_anonymized + anonymized,
    archives_written = r.archives_written + archives, errors = r.errors + add_retention_figures.errors,
    error = coalesce(r.error, add_retention_figures.error)
  where r.run_id = add_retention_figures.run_id and r.policy_name = add_retention_figures.policy_name;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.add_retention_figures(uuid, text, bigint, bigint, bigint, bigint, integer, integer, text) is
  E'Adds a batch''s figures to a policy''s row in a run, in the batch''s own transaction (so the log says what committed); the first error''s words are kept.';

create or replace function app_private.finish_retention_run_policy(run_id uuid, policy_name text, status text,
  error text default null, note text default null)
returns app_public.retention_run_policies as $$
  update app_public.retention_run_policies r set status = finish_retention_run_policy.status, finished_at = pg_catalog.now(),
    errors = r.errors + case when finish_retention_run_policy.error is not null then 1 else 0 end,
    error = coalesce(r.error, finish_retention_run_policy.error), note = coalesce(finish_retention_run_policy.note, r.note)
  where r.run_id = finish_retention_run_policy.run_id and r.policy_name = finish_retention_run_policy.policy_name
  returning *;
$$ language sql volatile set search_path = pg_catalog, public, pg_temp;
comment on function app_private.finish_retention_run_policy(uuid, text, text, text, text) is
  E'Closes a policy''s row in a run: finished, failed (the error counts as one more) or skipped (with a note).';

revoke all on function app_private.retention_lock_key(), app_private.fail_abandoned_retention_runs(), app_private.close_abandoned_retention_runs(),
  app_private.start_retention_run(text, boolean, timestamptz, text, uuid),
  app_private.finish_retention_run(uuid, text), app_private.start_retention_run_policy(uuid, text, timestamptz),
  app_private.add_retention_figures(uuid, text, bigint, bigint, bigint, bigint, integer, integer, text),
  app_private.finish_retention_run_policy(uuid, text, text, text, text) from public;
--! EndIncluded retention/runs.sql
--! Included gdpr/readiness.sql
-- The readiness report: the planning document's "GDPR audit readiness" as a
-- percentage, and the parts it is made of, one row each.

drop function if exists app_public.gdpr_readiness(timestamptz);
drop function if exists app_public.gdpr_readiness_parts(timestamptz);

create function app_public.gdpr_readiness_parts(as_of timestamptz default pg_catalog.now())
returns table (
  ordinal integer, part text, label text, value numeric, unit text, target text,
  scored boolean, ok boolean
) as $$
  with requests_completed as (
    select extract(epoch from r.closed_at - r.received_at) / 86400 as days
    from app_public.data_subject_requests r
    where r.state = 'completed' and r.closed_at <= as_of and r.closed_at > as_of - interval '365 days'
  ),
  parts (ordinal, part, label, value, unit, target, scored, ok) as (
    select 1, 'unclassified_personal_columns', 'Unclassified personal columns', m.n, 'columns', '0', true, m.n = 0
    from (select pg_catalog.count(*)::numeric as n from governance.personal_data_map
          where is_free_text and category is null) m
    union all
    select 2, 'requests_overdue', 'Requests overdue', o.n, 'requests', '0', true, o.n = 0
    from (select pg_catalog.count(*)::numeric as n from app_public.overdue_data_subject_requests(as_of)) o
    union all
    select 3, 'requests_due_within_7_days', 'Requests due within 7 days', s.n, 'requests', 'informational', false, null::boolean
    from (select pg_catalog.count(*)::numeric as n from app_public.due_soon_data_subject_requests(as_of)) s
    union all
    -- No request completed in the year: nothing was late, so the part is ready.
    select 4, 'median_days_to_complete', 'Median days to complete (last 365 days)', c.median, 'days', '≤ 30', true, coalesce(c.median <= 30, true)
    from (select pg_catalog.round((pg_catalog.percentile_cont(0.5) within group (order by days))::numeric, 1) as median
          from requests_completed) c
    union all
    -- An erasure with residue refuses to commit, so a stored one is 0 unless the rule changes.
    select 5, 'erasures_with_residue', 'Erasures whose residue scan was not zero', x.n, 'erasures', '0', true, x.n = 0
    from (select pg_catalog.count(*)::numeric as n from app_public.data_subject_erasures e
          where e.residue_count > 0 and e.erased_at <= as_of) x
    union all
    -- Consent and restriction are states of now, whatever as_of.
    select 6, 'transcriptions_without_consent', 'Active transcriptions without consent', t.n, 'transcriptions', '0', true, t.n = 0
    from (select app_private.transcriptions_without_consent_count()::numeric as n) t
    union all
    select 7, 'subjects_under_restriction', 'Subjects under restriction', r.n, 'subjects', 'informational', false, null::boolean
    from (select app_private.restricted_subjects_count()::numeric as n) r
    union all
    -- Data retention compliance: rows within their period over rows under a policy, held rows apart.
    -- A policy that cannot be applied as it stands (its table dropped since) is not compliance either.
    select 8, 'retention_compliance', 'Rows within their retention period', k.percent, '%', '100', true, k.percent = 100 and k.unappliable = 0
    from (select case when pg_catalog.sum(c.rows_under_policy - c.rows_held) = 0 then 100.0
            else pg_catalog.round(100.0 * pg_catalog.sum(c.rows_within_period) / pg_catalog.sum(c.rows_under_policy - c.rows_held), 1) end as percent,
            pg_catalog.count(*) filter (where c.problem is not null) as unappliable
          from app_public.retention_compliance(as_of) c) k
  )
  select ordinal, part, label, value, unit, target, scored, ok from parts
  order by 1;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.gdpr_readiness_parts(timestamptz) is
  E'The parts of GDPR audit readiness at asOf (now by default; deadlines are judged against it), one row each, in order: unclassified personal columns (target 0), requests overdue (0), requests due within 7 days (informational), median days from receipt to completion of the requests completed in the 365 days before asOf (at most 30), erasures whose residue scan was not zero (0), active transcriptions without consent (0), subjects under restriction (informational), the share of rows within their retention period (app_public.retention_compliance; held rows apart; target 100 %, and not met while a policy cannot be applied as it stands). scored says whether a part counts toward the percentage; ok says whether the part meets its target. Admins and auditors.';

create function app_public.gdpr_readiness(as_of timestamptz default pg_catalog.now(),
  out readiness_percent numeric, out parts_scored integer, out parts_ready integer)
returns record as $$
  select pg_catalog.round(100.0 * pg_catalog.count(*) filter (where p.ok) / pg_catalog.count(*), 1),
         pg_catalog.count(*)::integer,
         (pg_catalog.count(*) filter (where p.ok))::integer
  from app_public.gdpr_readiness_parts(as_of) p
  where p.scored;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.gdpr_readiness(timestamptz) is
  E'GDPR audit readiness at asOf (now by default): the percentage of the scored parts of gdprReadinessParts that meet their target, one decimal. One row. Admins and auditors.';

revoke all on function app_public.gdpr_readiness_parts(timestamptz), app_public.gdpr_readiness(timestamptz) from public;
grant execute on function app_public.gdpr_readiness_parts(timestamptz), app_public.gdpr_readiness(timestamptz)
  to custodian_admin, custodian_auditor;
--! EndIncluded gdpr/readiness.sql
