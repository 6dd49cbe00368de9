-- Issue 16, erasure and proof of erasure: the record of each erasure (counts,
-- never values), the residue scan and the erasure itself.

create table app_public.data_subject_erasures (
  id uuid primary key default gen_random_uuid(),
  request_id uuid not null constraint data_subject_erasures_request_id_key unique
    references app_public.data_subject_requests on delete restrict,
  subject_id uuid not null,
  erased_by uuid references app_public.users on delete restrict,
  erased_at timestamptz not null default now(),
  rows_by_table jsonb not null,
  rows_erased integer not null,
  values_searched integer not null,
  values_shared_skipped integer not null,
  residue_count integer not null,
  override_reason text constraint data_subject_erasures_override_reason_check check (length(btrim(override_reason)) between 3 and 2000),
  overridden_hold_id uuid references app_public.legal_holds on delete restrict,
  constraint data_subject_erasures_override_has_hold check ((override_reason is null) = (overridden_hold_id is null)),
  constraint data_subject_erasures_counts_check check (rows_erased >= 0 and values_searched >= 0 and values_shared_skipped >= 0 and residue_count >= 0)
);
create index data_subject_erasures_erased_by_idx on app_public.data_subject_erasures (erased_by);
create index data_subject_erasures_overridden_hold_id_idx on app_public.data_subject_erasures (overridden_hold_id);
comment on table app_public.data_subject_erasures is
  E'@behavior -insert -update -delete\nThe record of one erasure (GDPR Art. 17): which request, who ran it and when, which tables it reached and how many rows, how many former values the residue scan searched for and how many places still held one (zero: an erasure with residue does not commit), and the legal hold it overrode with the admin''s reason. Never the erased data. Written by eraseDataSubject only; admins and auditors read it.';
comment on column app_public.data_subject_erasures.request_id is E'The erasure request it ran.';
comment on column app_public.data_subject_erasures.subject_id is E'The person erased (their id, which carries nothing about them once their data is gone).';
comment on column app_public.data_subject_erasures.erased_by is E'The admin who ran it; null when an operator ran it from the command line or a worker job.';
comment on column app_public.data_subject_erasures.erased_at is E'When it ran (the transaction''s time).';
comment on column app_public.data_subject_erasures.rows_by_table is E'Rows anonymized per table, as {"schema.table": count}.';
comment on column app_public.data_subject_erasures.rows_erased is E'Rows anonymized in all.';
comment on column app_public.data_subject_erasures.values_searched is E'Distinct former values the residue scan searched for.';
comment on column app_public.data_subject_erasures.values_shared_skipped is E'Former values not searched for because other people''s rows hold them too (a template note, a common title): they say nothing about this person.';
comment on column app_public.data_subject_erasures.residue_count is E'Places where the residue scan still found a former value before commit: always 0, since an erasure with residue is refused.';
comment on column app_public.data_subject_erasures.override_reason is E'Why an admin erased although a legal hold covered the person (3 to 2,000 characters).';
comment on column app_public.data_subject_erasures.overridden_hold_id is E'The legal hold that was overridden.';
comment on constraint data_subject_erasures_request_id_fkey on app_public.data_subject_erasures is
  E'@fieldName request\n@foreignFieldName erasure';
comment on constraint data_subject_erasures_overridden_hold_id_fkey on app_public.data_subject_erasures is
  E'@fieldName overriddenHold\n@foreignFieldName erasuresOverriding';
comment on constraint data_subject_erasures_erased_by_fkey on app_public.data_subject_erasures is
  E'@fieldName eraser\n@foreignFieldName erasuresRun';
alter table app_public.data_subject_erasures enable row level security;

--!include domain/constraint-words.sql
--!include gdpr/residue-scan.sql
--!include gdpr/erasure.sql

select audit.enable_tracking('app_public.data_subject_erasures');

--!include gdpr/classify-custodian.sql
