--! Previous: sha1:9b6786e0fc53445884e47643af6de72ebb74ad2b
--! Hash: sha1:ee5e03a58875ab64c83d782afcda4d3f586cdf1b
--! Message: Issue 16 readiness report and the console request queue filters

--! Included gdpr/readiness.sql
-- The readiness report: the planning document's "GDPR audit readiness" as a
-- percentage, and the parts it is made of, one row each. A part another
-- feature measures (erasure's residue scan, consent, restriction) is a row
-- whose value is null and measured false until that feature's query takes
-- its place below; the percentage counts such a part as not ready.

drop function if exists app_public.gdpr_readiness(timestamptz);
drop function if exists app_public.gdpr_readiness_parts(timestamptz);

create function app_public.gdpr_readiness_parts(as_of timestamptz default pg_catalog.now())
returns table (
  ordinal integer, part text, label text, value numeric, unit text, target text,
  scored boolean, measured boolean, ok boolean
) as $$
  with requests_completed as (
    select extract(epoch from r.closed_at - r.received_at) / 86400 as days
    from app_public.data_subject_requests r
    where r.state = 'completed' and r.closed_at <= as_of and r.closed_at > as_of - interval '365 days'
  ),
  measured_parts (ordinal, part, label, value, unit, target, scored, ok) as (
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
  ),
  -- Built on other branches of issue 16; each row is replaced by its
  -- feature's query (value, and ok from it) when that feature lands.
  unmeasured_parts (ordinal, part, label, unit, target, scored) as (
    values
      (5, 'erasures_with_residue', 'Erasures whose residue scan was not zero', 'erasures', '0', true),
      (6, 'transcriptions_without_consent', 'Active transcriptions without consent', 'transcriptions', '0', true),
      (7, 'subjects_under_restriction', 'Subjects under restriction', 'subjects', 'informational', false)
  )
  select ordinal, part, label, value, unit, target, scored, true, ok from measured_parts
  union all
  select ordinal, part, label, null::numeric, unit, target, scored, false, null::boolean from unmeasured_parts
  order by 1;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.gdpr_readiness_parts(timestamptz) is
  E'The parts of GDPR audit readiness at asOf (now by default; deadlines are judged against it), one row each, in order: unclassified personal columns (target 0), requests overdue (0), requests due within 7 days (informational), median days from receipt to completion of the requests completed in the 365 days before asOf (at most 30), erasures whose residue scan was not zero (0), active transcriptions without consent (0), subjects under restriction (informational). scored says whether a part counts toward the percentage; measured is false, and value and ok null, for a part not measured yet; ok says whether the part meets its target. Admins and auditors.';

create function app_public.gdpr_readiness(as_of timestamptz default pg_catalog.now(),
  out readiness_percent numeric, out parts_scored integer, out parts_ready integer, out parts_not_measured integer)
returns record as $$
  select pg_catalog.round(100.0 * pg_catalog.count(*) filter (where p.ok) / pg_catalog.count(*), 1),
         pg_catalog.count(*)::integer,
         (pg_catalog.count(*) filter (where p.ok))::integer,
         (pg_catalog.count(*) filter (where not p.measured))::integer
  from app_public.gdpr_readiness_parts(as_of) p
  where p.scored;
$$ language sql stable set search_path = pg_catalog, public, pg_temp;
comment on function app_public.gdpr_readiness(timestamptz) is
  E'GDPR audit readiness at asOf (now by default): the percentage of the scored parts of gdprReadinessParts that meet their target, one decimal; a part not measured yet counts as not ready (partsNotMeasured says how many). One row. Admins and auditors.';

revoke all on function app_public.gdpr_readiness_parts(timestamptz), app_public.gdpr_readiness(timestamptz) from public;
grant execute on function app_public.gdpr_readiness_parts(timestamptz), app_public.gdpr_readiness(timestamptz)
  to custodian_admin, custodian_auditor;
--! EndIncluded gdpr/readiness.sql

-- The console's request queue filters by kind and state (few rows: no index needed).
comment on column app_public.data_subject_requests.kind is E'@behavior +filterBy\naccess, portability, erasure, rectification or restriction.';
comment on column app_public.data_subject_requests.state is E'@behavior +filterBy\nreceived, verified, in_progress, completed or rejected.';
