--! Previous: sha1:35e81ab7eba6ce1b3f7fe2c6025ba628de40d6fb
--! Hash: sha1:a20100dd309eda613635bb7572e3dc2800a876d9
--! Message: issue 17 streaming exports

-- Issue 17 exports: the queries the streaming exports read through a cursor.
--! Included exports/exports.sql
-- What the streaming exports (GET /api/v1/exports/..., custodian export) read.
--
-- Plain SQL functions, not PL/pgSQL: PL/pgSQL's RETURN QUERY collects its
-- whole result before the first row goes out, where a plain SQL function is
-- inlined into the caller's query, planned for its cursor and read a batch
-- at a time. The range check is immutable, so with the arguments inlined it
-- runs while the query is planned: a null or inverted range is refused before
-- any row. The coach check runs once, before the first row.

create or replace function app_private.usage_events_export(from_day date, to_day date, coach_profile_id uuid default null)
returns setof app_public.usage_events as $$
  -- Day by day, each day's events in order: the planner cannot merge the
  -- ordered branches of usage_events_visible (a union by caller), so one
  -- sort over the range would hold all of it before the first row; a day's
  -- sort holds one day. The days come in order, and each day's rows after
  -- the one before (a nested loop over the series, no parallel plan under a
  -- cursor), so the whole is in (occurred_at, id) order without a final sort.
  select e.* from pg_catalog.generate_series(from_day, to_day - 1, interval '1 day') d,
    lateral (
      select v.* from app_private.usage_events_visible v
      where v.occurred_at >= (d::timestamp at time zone 'UTC')
        and v.occurred_at < ((d + interval '1 day')::timestamp at time zone 'UTC')
        and (usage_events_export.coach_profile_id is null or v.coach_profile_id = usage_events_export.coach_profile_id)
      order by v.occurred_at, v.id) e
  where app_private.check_range(from_day, to_day)
    -- A void result is never null: this only has the check run.
    and app_private.require_visible_coach_profile(usage_events_export.coach_profile_id) is not null;
$$ language sql stable;
comment on function app_private.usage_events_export(date, date, uuid) is
  E'The usage events of a range of days (UTC, to exclusive), oldest first, of one coach if named: what app_public.usage_in_range returns for the same range and coach, as a query a cursor streams (usage_in_range, PL/pgSQL, collects its whole result first). A coach''s own, or any coach''s for admins and auditors; the provider cost for admins and auditors only.';

grant execute on function app_private.usage_events_export(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;

create or replace function app_private.invoices_export(from_month date, to_month date, coach_profile_id uuid default null)
returns setof app_public.invoices as $$
  -- Month by month, as app_public.invoice_preview gives each (frozen once
  -- closed, else as it stands): it holds one month's invoices at a time, one
  -- per coach, however long the range. The months come in order.
  select i.* from pg_catalog.generate_series(date_trunc('month', from_month), to_month - 1, interval '1 month') m,
    lateral app_public.invoice_preview(invoices_export.coach_profile_id, m::date) i
  where app_private.check_range(from_month, to_month);
$$ language sql stable;
comment on function app_private.invoices_export(date, date, uuid) is
  E'The invoices of the billing months from from_month up to (not including) to_month, month by month as app_public.invoice_preview gives each (frozen once the month is closed, else as it stands), of one coach if named: a coach''s own, every coach''s for admins and auditors.';

grant execute on function app_private.invoices_export(date, date, uuid) to custodian_coach, custodian_admin, custodian_auditor;
--! EndIncluded exports/exports.sql
