-- Setup for bench/audit.ts, run once as custodian_owner on a scratch database
-- that has every migration: the table the synthetic workloads write, the
-- coach and clients the clients workloads write, and the design we compare
-- the audit trail with.

create schema bench;
comment on schema bench is E'Benchmark tables and helpers; only ever in a scratch database.';

-- Synthetic workload ----------------------------------------------------------

create table bench.accounts (
  id integer primary key,
  balance integer not null,
  filler text
);
comment on table bench.accounts is E'A plain narrow table: the audit trail''s cost without pii or other triggers.';
comment on column bench.accounts.id is E'Seeded 1..100000; inserts use ids above 1000000.';
comment on column bench.accounts.balance is E'What the updates change.';
comment on column bench.accounts.filler is E'About 80 characters, so that a row has a realistic width.';
alter table bench.accounts enable row level security; -- as every table; its owner runs the bench and is exempt

insert into bench.accounts (id, balance, filler)
select n, 0, pg_catalog.rpad(pg_catalog.md5(n::text), 80, pg_catalog.md5((n + 1)::text))
from pg_catalog.generate_series(1, 100000) n;

-- Domain workload: the real app_public.clients, tracked as the migration set
-- it up (notes, full_name and email are pii, encrypted per client). The
-- clients are inserted while tracking is on, so that every client already has
-- its audit key when the updates start, as in a running system.

select app_private.create_user('bench-coach@example.com', 'password123', 'coach');

insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor)
values ('Bench', 4900, 600, 12);

insert into app_public.coach_profiles (user_id, display_name, plan_id)
select u.id, 'Bench Coach', p.id
from app_public.users u, app_public.billing_plans p
where u.email = 'bench-coach@example.com' and p.name = 'Bench';

insert into app_public.clients (coach_profile_id, full_name, email, notes)
select cp.id, pg_catalog.format('Client %s', n), pg_catalog.format('client%s@bench.example.net', n),
  'Wants to grow into a leadership role; prefers morning sessions.'
from app_public.coach_profiles cp cross join pg_catalog.generate_series(1, 10000) n
where cp.display_name = 'Bench Coach';

-- The comparison: supa_audit's design, one full-row jsonb insert per row
-- written. Kept to its cheapest form (no record ids hashed from the key, no
-- SET clause on the function), so that the comparison favours it.

create table bench.row_audit (
  id bigserial primary key,
  ts timestamptz default now(),
  table_oid oid,
  op text,
  record jsonb,
  old_record jsonb
);
comment on table bench.row_audit is E'The per-row audit log of the comparison design: whole rows as jsonb, unpartitioned.';
comment on column bench.row_audit.ts is E'When the row was written.';
comment on column bench.row_audit.table_oid is E'The table written.';
comment on column bench.row_audit.op is E'INSERT, UPDATE or DELETE.';
comment on column bench.row_audit.record is E'The row after the write; null for DELETE.';
comment on column bench.row_audit.old_record is E'The row before the write; null for INSERT.';
alter table bench.row_audit enable row level security;

create function bench.tg__row_audit() returns trigger as $$
begin
  insert into bench.row_audit (table_oid, op, record, old_record)
  values (TG_RELID, TG_OP,
    case when TG_OP <> 'DELETE' then pg_catalog.to_jsonb(new) end,
    case when TG_OP <> 'INSERT' then pg_catalog.to_jsonb(old) end);
  return null;
end;
$$ language plpgsql volatile;
comment on function bench.tg__row_audit() is
  E'Records one written row, whole, into bench.row_audit (the supa_audit design).';

-- Switching designs -------------------------------------------------------------

create function bench.use_variant(
  target regclass, variant text, owner_column name default null, subject_column name default null
) returns void as $$
begin
  perform audit.disable_tracking(target);
  execute pg_catalog.format('drop trigger if exists _500_row_audit on %s', target);
  if variant = 'tracked' then
    perform audit.enable_tracking(target,
      owner_column => use_variant.owner_column, subject_column => use_variant.subject_column);
  elsif variant = 'row_jsonb' then
    execute pg_catalog.format(
      'create trigger _500_row_audit after insert or update or delete on %s for each row execute function bench.tg__row_audit()',
      target);
  elsif variant is distinct from 'untracked' then
    raise exception 'variant must be untracked, tracked or row_jsonb, not "%".', variant using errcode = '22023';
  end if;
end;
$$ language plpgsql volatile;
comment on function bench.use_variant(regclass, text, name, name) is
  E'Puts a table under one audit design: untracked, tracked (audit.enable_tracking with the given owner and subject columns; column policies are kept across switches) or row_jsonb.';
