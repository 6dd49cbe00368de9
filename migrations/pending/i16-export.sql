-- Issue 16 (GDPR), point 3: the access and portability export. One export per
-- request (the unique constraint is the rule), its bytes in PostgreSQL in
-- chunks so that the worker and the server reach them without a shared disk,
-- and a record that stays once the expired bytes are deleted.

create type app_public.data_subject_export_state as enum ('building', 'ready', 'expired');
comment on type app_public.data_subject_export_state is
  E'Where an export stands: building (the worker is on it), ready (downloadable until it expires), expired (no longer downloadable; its bytes are deleted).';

create table app_public.data_subject_exports (
  id uuid primary key default gen_random_uuid(),
  request_id uuid not null constraint data_subject_exports_one_per_request unique
    constraint data_subject_exports_request_id_fkey references app_public.data_subject_requests on delete restrict,
  requested_by uuid constraint data_subject_exports_requested_by_fkey references app_public.users on delete restrict,
  requested_at timestamptz not null default now(),
  built_at timestamptz,
  expires_at timestamptz,
  byte_size bigint constraint data_subject_exports_byte_size_check check (byte_size > 0),
  sha256 text constraint data_subject_exports_sha256_check check (sha256 ~ '^[0-9a-f]{64}$'),
  manifest jsonb,
  bytes_deleted_at timestamptz,
  constraint data_subject_exports_built_state check (
    num_nonnulls(built_at, expires_at, byte_size, sha256, manifest) in (0, 5)),
  constraint data_subject_exports_expiry_window check (
    expires_at > built_at and expires_at <= built_at + interval '90 days'),
  constraint data_subject_exports_deleted_after_built check (bytes_deleted_at is null or built_at is not null)
);
create index data_subject_exports_expires_at_idx on app_public.data_subject_exports (expires_at) where bytes_deleted_at is null;
comment on table app_public.data_subject_exports is
  E'@behavior -insert -update -delete\nThe export answering an access or portability request (GDPR Art. 15, 20): a zip of everything the platform holds about the person, built by the worker. One per request. It is personal data itself: its bytes are deleted when it expires, and this record (when, size, hash, deleted when) stays.';
comment on column app_public.data_subject_exports.request_id is E'The access or portability request it answers; one export per request.';
comment on column app_public.data_subject_exports.requested_by is E'Who asked for it: the caller (null when an operator asked from the command line).';
comment on column app_public.data_subject_exports.requested_at is E'When it was asked for.';
comment on column app_public.data_subject_exports.built_at is E'When the worker finished building it; null while it is being built.';
comment on column app_public.data_subject_exports.expires_at is E'When it stops being downloadable and its bytes are deleted (GDPR_EXPORT_TTL_DAYS after builtAt, at most 90 days).';
comment on column app_public.data_subject_exports.byte_size is E'The zip''s size in bytes.';
comment on column app_public.data_subject_exports.sha256 is E'The zip''s SHA-256, in hexadecimal.';
comment on column app_public.data_subject_exports.manifest is E'The zip''s manifest: its files with their row counts, sizes and SHA-256 (no personal data).';
comment on column app_public.data_subject_exports.bytes_deleted_at is E'When its bytes were deleted after it expired; null while they are kept.';
alter table app_public.data_subject_exports enable row level security;

-- Not audit-tracked: the bytes repeat what the tracked tables and the trail
-- already hold, and a copy in the trail would outlive the export's expiry.
create table app_private.data_subject_export_chunks (
  export_id uuid not null references app_public.data_subject_exports on delete cascade,
  chunk_number integer not null check (chunk_number >= 0),
  bytes bytea not null check (length(bytes) between 1 and 16777216),
  primary key (export_id, chunk_number)
);
-- A zip is compressed already: TOAST would only try again.
alter table app_private.data_subject_export_chunks alter column bytes set storage external;
comment on table app_private.data_subject_export_chunks is
  E'The bytes of built exports, in order, a megabyte a row, until the export expires. Not in the audit trail: it would keep a copy of the export after its bytes are deleted.';
comment on column app_private.data_subject_export_chunks.export_id is E'The export these bytes belong to.';
comment on column app_private.data_subject_export_chunks.chunk_number is E'The chunk''s place in the file, from 0.';
comment on column app_private.data_subject_export_chunks.bytes is E'Up to a mebibyte of the zip (16 MiB at most, checked).';
alter table app_private.data_subject_export_chunks enable row level security;

select audit.enable_tracking('app_public.data_subject_exports', subject_column => 'request_id',
  subject_via => 'app_public.data_subject_requests', subject_via_column => 'subject_id');

--!include gdpr/subject-rows.sql
--!include gdpr/exports.sql
--!include gdpr/classify-custodian.sql
--!include domain/constraint-words.sql
