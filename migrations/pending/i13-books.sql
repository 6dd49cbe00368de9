-- Issue 13, correct books.

-- An invoice as it stands (a preview of an open month) has no close time; a
-- frozen invoice always has one.
alter table app_public.invoices alter column closed_at drop not null;
alter table app_public.invoices drop constraint if exists invoices_closed_at_check;
alter table app_public.invoices add constraint invoices_closed_at_check check (closed_at is not null);
comment on column app_public.invoices.closed_at is
  E'When the month was closed; null in a preview of a month not closed yet.';

-- Money an admin types has an upper bound, like credits: a plan's fee and its
-- price per minute (a few digits too many would overflow the month's sums).
alter table app_public.billing_plans drop constraint if exists billing_plans_monthly_fee_minor_bound;
alter table app_public.billing_plans add constraint billing_plans_monthly_fee_minor_bound
  check (monthly_fee_minor <= 100000000);
alter table app_public.billing_plans drop constraint if exists billing_plans_price_per_extra_minute_minor_bound;
alter table app_public.billing_plans add constraint billing_plans_price_per_extra_minute_minor_bound
  check (price_per_extra_minute_minor <= 1000000);

--!include usage/invoices.sql
--!include usage/close-month.sql
--!include usage/corrections.sql
--!include domain/transcription-status.sql
