-- Issue 16 (GDPR): consent (Art. 7), restriction of processing (Art. 18) and rectification (Art. 16).

-- Consent ---------------------------------------------------------------------------
create type app_public.consent_purpose as enum ('recording', 'transcription');
comment on type app_public.consent_purpose is
  E'What a client consents to: recording (their sessions'' audio is recorded) or transcription (the audio is sent to a transcription provider and the transcript kept). A later feature that needs consent adds its purpose.';
create type app_public.consent_decision as enum ('granted', 'withdrawn');
comment on type app_public.consent_decision is E'A consent decision: granted, or withdrawn (Art. 7(3)).';

create table app_public.consents (
  id uuid primary key default gen_random_uuid(),
  client_id uuid not null references app_public.clients on delete cascade,
  purpose app_public.consent_purpose not null,
  decision app_public.consent_decision not null,
  wording_version text constraint consents_wording_version_check check (length(btrim(wording_version)) between 1 and 100),
  wording_sha256 text constraint consents_wording_sha256_check check (wording_sha256 ~ '^[0-9a-f]{64}$'),
  recorded_by uuid references app_public.users on delete restrict,
  recorded_at timestamptz not null default now(),
  constraint consents_grant_has_wording check (decision = 'withdrawn' or wording_version is not null),
  constraint consents_wording_pair check ((wording_version is null) = (wording_sha256 is null))
);
create index consents_client_id_purpose_recorded_at_idx on app_public.consents (client_id, purpose, recorded_at desc, id desc);
create index consents_recorded_by_idx on app_public.consents (recorded_by);
comment on table app_public.consents is
  E'@behavior -update -delete\nA client''s consent decision (GDPR Art. 7) for one purpose: granted or withdrawn, who recorded it, when, and the wording the client was shown. Append-only for every writer: a withdrawal is a new record, and the latest decision per client and purpose is the state (currentConsents). Transcribing a session needs its client''s active consent for transcription. Admins and the client''s coach record them; auditors read them all; a coach sees their own clients''.';
comment on column app_public.consents.client_id is E'The client who decided.';
comment on column app_public.consents.purpose is E'What the decision is about: recording or transcription.';
comment on column app_public.consents.decision is E'granted or withdrawn.';
comment on column app_public.consents.wording_version is E'The version of the consent text the client was shown (1 to 100 characters); required to grant.';
comment on column app_public.consents.wording_sha256 is E'The SHA-256 of the exact text shown, as 64 lowercase hex digits; given with wordingVersion.';
comment on column app_public.consents.recorded_by is E'Who recorded the decision: the caller (null when an operator recorded it from the command line).';
comment on column app_public.consents.recorded_at is E'When the decision was recorded, set by the database.';
alter table app_public.consents enable row level security;

-- Restriction of processing ---------------------------------------------------------
create table app_public.processing_restrictions (
  id uuid primary key default gen_random_uuid(),
  client_id uuid not null references app_public.clients on delete restrict,
  request_id uuid not null references app_public.data_subject_requests on delete restrict,
  reason text not null constraint processing_restrictions_reason_check check (length(btrim(reason)) between 3 and 2000),
  placed_by uuid references app_public.users on delete restrict,
  placed_at timestamptz not null default now(),
  lifted_by uuid references app_public.users on delete restrict,
  lifted_at timestamptz,
  lift_reason text constraint processing_restrictions_lift_reason_check check (length(btrim(lift_reason)) between 3 and 2000),
  constraint processing_restrictions_lift_state check ((lifted_at is null) = (lift_reason is null))
);
create index processing_restrictions_active_client_id_idx on app_public.processing_restrictions (client_id) where lifted_at is null;
create index processing_restrictions_client_id_idx on app_public.processing_restrictions (client_id);
create index processing_restrictions_request_id_idx on app_public.processing_restrictions (request_id);
comment on table app_public.processing_restrictions is
  E'@behavior -update\nA restriction of processing (GDPR Art. 18) on a client, placed under the verified restriction or rectification request that asked for it: while active, new transcriptions of the client''s sessions are refused; reading and exporting stay possible. Placed and lifted by admins, read by auditors and by the client''s coach; never deleted. Its reason describes the ground, not the person.';
comment on column app_public.processing_restrictions.client_id is E'The client restricted: the request''s, set by the database.';
comment on column app_public.processing_restrictions.request_id is E'The data-subject request (restriction or rectification, verified) that asked for it.';
comment on column app_public.processing_restrictions.reason is E'The ground (3 to 2,000 characters), such as accuracy contested until checked (Art. 18(1)(a)); not details of the person.';
comment on column app_public.processing_restrictions.placed_by is E'The admin who placed it.';
comment on column app_public.processing_restrictions.placed_at is E'When it was placed.';
comment on column app_public.processing_restrictions.lifted_by is E'The admin who lifted it.';
comment on column app_public.processing_restrictions.lifted_at is E'When it was lifted; null while active.';
comment on column app_public.processing_restrictions.lift_reason is E'Why it no longer applies.';
alter table app_public.processing_restrictions enable row level security;

--!include gdpr/consents.sql
--!include gdpr/restrictions.sql
--!include gdpr/rectification.sql
--!include domain/constraint-words.sql

select audit.enable_tracking('app_public.consents', subject_column => 'client_id');
select audit.enable_tracking('app_public.processing_restrictions', subject_column => 'client_id');

--!include gdpr/classify-custodian.sql
