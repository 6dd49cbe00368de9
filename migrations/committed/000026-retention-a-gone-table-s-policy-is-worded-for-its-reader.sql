--! Previous: sha1:00f75f985a1ecfa6dbd1d9629319d41b81d8fb09
--! Hash: sha1:f93aeb6aa626d88a0b9a24d8bb7d2c19fa5203d3
--! Message: retention: a gone table's policy is worded for its reader

-- A policy whose table is gone is reported as such ("dropped or renamed
-- since the policy was written?"), while a policy being written that names
-- no table keeps the words that tell the writer what to name.
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
    problem := pg_catalog.format('Retention policy %s: there is no table "%s" (dropped or renamed since the policy was written?); point the policy at its table or delete the policy.',
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
  if found_problem.code = '42P01' then
    -- Being written, the name is the writer's to correct.
    raise exception 'Retention policy %: there is no table "%"; name it with its schema, e.g. app_public.clients.', NEW.name, NEW.target_table
      using errcode = '42P01';
  elsif found_problem.problem is not null then
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
