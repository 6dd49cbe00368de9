-- Issue 14, usage: capture writes one raw record; a rating step prices it a
-- moment later, exactly once.

create table app_private.usage_records (
  -- Drawn from the usage events' sequence: the event a record becomes keeps its id.
  id bigint primary key default pg_catalog.nextval('app_public.usage_events_id_seq'),
  transcription_id uuid not null,
  coach_profile_id uuid not null,
  session_id uuid,
  is_retry boolean not null,
  provider text,
  model text,
  language text,
  outcome app_public.attempt_outcome not null,
  billed_duration_seconds integer,
  finished_at timestamptz not null,
  recorded_at timestamptz not null default pg_catalog.now()
);
-- Exactly once per attempt: a unique key, not a check.
create unique index usage_records_one_per_attempt on app_private.usage_records (transcription_id);
comment on table app_private.usage_records is
  E'Captured usage not rated yet: one raw record per attempt that reached completed or failed, written in the attempt''s transaction with nothing read or locked. The rating step (app_private.rate_usage_records) prices it into app_public.usage_events, keeping its id, and takes it off; readers that show money price it on the fly until then.';
comment on column app_private.usage_records.id is E'The id of the usage event it becomes (from app_public.usage_events_id_seq).';
comment on column app_private.usage_records.transcription_id is E'The attempt.';
comment on column app_private.usage_records.coach_profile_id is E'The coach billed (a key, not a reference).';
comment on column app_private.usage_records.session_id is E'The session transcribed.';
comment on column app_private.usage_records.is_retry is E'The attempt retried an earlier one.';
comment on column app_private.usage_records.provider is E'The transcription provider.';
comment on column app_private.usage_records.model is E'The provider''s model.';
comment on column app_private.usage_records.language is E'The audio''s language.';
comment on column app_private.usage_records.outcome is E'completed or failed.';
comment on column app_private.usage_records.billed_duration_seconds is E'The provider''s billed duration, if any.';
comment on column app_private.usage_records.finished_at is E'When the attempt finished.';
comment on column app_private.usage_records.recorded_at is E'When it was captured.';
alter table app_private.usage_records enable row level security;

comment on table app_private.usage_ledgers is
  E'Running totals per coach and billing month: the included minutes used so far and the exact charge in sixtieths of a minor unit, so that each event''s amount is the growth of the rounded total. The rating step moves each coach-month''s row on once per run, in the statement that writes its events; the last_ columns hold the last event rated.';
comment on table app_public.usage_events is
  E'Permanent, append-only usage: one event per transcription attempt that reached completed or failed, priced by the rating step a moment after capture (its id is the captured record''s), plus admins'' credits and voids. References people by key only, so every figure survives deletion and anonymization.';
comment on column app_public.usage_events.recorded_at is E'When the attempt was captured (for credits and voids: written).';
comment on column app_public.usage_events.plan_id is E'The coach''s plan when the event was rated.';

--!include usage/capture.sql
--!include usage/rating.sql
--!include usage/rollups.sql
--!include usage/dirty-days.sql
--!include usage/rollups-view.sql
--!include usage/invoices.sql
--!include usage/close-month.sql
--!include usage/corrections.sql
--!include usage/reconcile.sql
