-- Issue 13, correct books.

-- An invoice as it stands (a preview of an open month) has no close time; a
-- frozen invoice always has one.
alter table app_public.invoices alter column closed_at drop not null;
alter table app_public.invoices drop constraint if exists invoices_closed_at_check;
alter table app_public.invoices add constraint invoices_closed_at_check check (closed_at is not null);
comment on column app_public.invoices.closed_at is
  E'When the month was closed; null in a preview of a month not closed yet.';

--!include usage/invoices.sql
--!include usage/close-month.sql
--!include usage/corrections.sql
--!include domain/transcription-status.sql
