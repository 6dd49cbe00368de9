-- Issue 16 (GDPR), the foundation: the map of personal data, legal holds and data-subject requests.

-- The map of personal data --------------------------------------------------------
create type governance.data_category as enum ('identity', 'contact', 'content', 'technical', 'not_personal');
comment on type governance.data_category is
  E'What a column holds about a person: identity (names), contact (email, phone), content (notes, titles, transcript text, free text), technical (identifiers, addresses, secrets), or not personal.';
create type governance.data_subject_kind as enum ('client', 'user', 'any', 'none');
comment on type governance.data_subject_kind is
  E'Whose personal data a column holds: a coach''s client, a user account (a coach, admin or auditor), any of them (the audit trail, sign-in attempts), or no one.';
create type governance.legal_basis as enum ('contract', 'legal_obligation', 'legitimate_interests', 'consent', 'not_applicable');
comment on type governance.legal_basis is
  E'The GDPR Art. 6 basis for keeping a column''s personal data; not_applicable for data that is not personal.';

create table governance.personal_data_columns (
  table_oid regclass not null,
  column_number smallint not null check (column_number > 0),
  category governance.data_category not null,
  subject_kind governance.data_subject_kind not null,
  purpose text not null check (length(btrim(purpose)) between 3 and 500),
  legal_basis governance.legal_basis not null,
  subject_column name,
  primary key (table_oid, column_number),
  check ((category = 'not_personal') = (subject_kind = 'none')),
  check ((category = 'not_personal') = (legal_basis = 'not_applicable'))
);
comment on table governance.personal_data_columns is
  E'The map of personal data: per column, its category, whose data it is, why it is kept and on what legal basis. Keyed by the column''s number, so that a rename keeps it. Written through governance.classify_column, which also sets the column''s audit policy from the category (one truth).';
comment on column governance.personal_data_columns.category is E'identity, contact, content, technical or not_personal.';
comment on column governance.personal_data_columns.subject_kind is E'Whose data: client, user, any or none (not personal).';
comment on column governance.personal_data_columns.purpose is E'Why the platform keeps it, in words an auditor reads.';
comment on column governance.personal_data_columns.subject_column is
  E'For a table the audit trail does not track: the uuid column naming the person. A tracked table''s subject comes from audit.tracked_tables.';
comment on column governance.personal_data_columns.legal_basis is E'The Art. 6 basis: contract, legal_obligation, legitimate_interests, consent, or not_applicable.';
alter table governance.personal_data_columns enable row level security;

-- Legal holds ----------------------------------------------------------------------
create table app_public.legal_holds (
  id uuid primary key default gen_random_uuid(),
  client_id uuid references app_public.clients on delete restrict,
  user_id uuid references app_public.users on delete restrict,
  coach_profile_id uuid references app_public.coach_profiles on delete restrict,
  reason text not null constraint legal_holds_reason_check check (length(btrim(reason)) between 3 and 2000),
  placed_by uuid references app_public.users on delete restrict,
  placed_at timestamptz not null default now(),
  released_by uuid references app_public.users on delete restrict,
  released_at timestamptz,
  release_reason text constraint legal_holds_release_reason_check check (length(btrim(release_reason)) between 3 and 2000),
  constraint legal_holds_one_target check (num_nonnulls(client_id, user_id, coach_profile_id) = 1),
  constraint legal_holds_release_state check ((released_at is null) = (release_reason is null))
);
create index legal_holds_client_id_idx on app_public.legal_holds (client_id);
create index legal_holds_user_id_idx on app_public.legal_holds (user_id);
create index legal_holds_coach_profile_id_idx on app_public.legal_holds (coach_profile_id);
comment on table app_public.legal_holds is
  E'@behavior -update\nA legal hold: while active it keeps a person''s (a client''s or a user''s) or a whole coach profile''s data from erasure and retention deletes. Placed and released by admins, read by auditors; never deleted. Its reason describes the case, not the person.';
comment on column app_public.legal_holds.client_id is E'The client the hold covers (one of clientId, userId, coachProfileId).';
comment on column app_public.legal_holds.user_id is E'The user account the hold covers.';
comment on column app_public.legal_holds.coach_profile_id is E'The coach profile the hold covers, with all its clients.';
comment on column app_public.legal_holds.reason is E'Why the data must be kept (3 to 2,000 characters): the case or obligation, not details of the person.';
comment on column app_public.legal_holds.placed_by is E'The admin who placed it (null when an operator placed it from the command line).';
comment on column app_public.legal_holds.placed_at is E'When it was placed.';
comment on column app_public.legal_holds.released_by is E'The admin who released it.';
comment on column app_public.legal_holds.released_at is E'When it was released; null while active.';
comment on column app_public.legal_holds.release_reason is E'Why it no longer applies.';
alter table app_public.legal_holds enable row level security;

-- Data-subject requests ------------------------------------------------------------
create type app_public.data_subject_request_kind as enum ('access', 'portability', 'erasure', 'rectification', 'restriction');
comment on type app_public.data_subject_request_kind is E'What the person asks for (GDPR Art. 15, 20, 17, 16, 18).';
create type app_public.data_subject_request_state as enum ('received', 'verified', 'in_progress', 'completed', 'rejected');
comment on type app_public.data_subject_request_state is
  E'Where a request stands: received -> verified -> in_progress -> completed, or rejected (with a reason) while open.';

create table app_public.data_subject_requests (
  id uuid primary key default gen_random_uuid(),
  kind app_public.data_subject_request_kind not null,
  client_id uuid references app_public.clients on delete restrict,
  user_id uuid references app_public.users on delete restrict,
  subject_id uuid generated always as (coalesce(client_id, user_id)) stored,
  filed_by uuid references app_public.users on delete restrict,
  received_at timestamptz not null default now(),
  due_at timestamptz not null,
  extension_months smallint not null default 0 constraint data_subject_requests_extension_months_check check (extension_months between 0 and 2),
  extension_reason text constraint data_subject_requests_extension_reason_check check (length(btrim(extension_reason)) between 3 and 2000),
  state app_public.data_subject_request_state not null default 'received',
  state_changed_at timestamptz not null default now(),
  verification text constraint data_subject_requests_verification_check check (length(btrim(verification)) between 3 and 2000),
  verified_by uuid references app_public.users on delete restrict,
  verified_at timestamptz,
  rejection_reason text constraint data_subject_requests_rejection_reason_check check (length(btrim(rejection_reason)) between 3 and 2000),
  closed_at timestamptz,
  constraint data_subject_requests_one_subject check (num_nonnulls(client_id, user_id) = 1),
  constraint data_subject_requests_extension_has_reason check ((extension_months = 0) = (extension_reason is null)),
  constraint data_subject_requests_verified_state check (state in ('received', 'rejected') or verification is not null),
  constraint data_subject_requests_rejection_has_reason check ((state = 'rejected') = (rejection_reason is not null)),
  constraint data_subject_requests_closed_state check ((state in ('completed', 'rejected')) = (closed_at is not null))
);
create index data_subject_requests_client_id_idx on app_public.data_subject_requests (client_id);
create index data_subject_requests_user_id_idx on app_public.data_subject_requests (user_id);
create index data_subject_requests_open_due_at_idx on app_public.data_subject_requests (due_at) where state not in ('completed', 'rejected');
comment on table app_public.data_subject_requests is
  E'@behavior -delete\nA data-subject request (GDPR Art. 12-18): what a client or a user asked for, who filed it, how their identity was verified, when it is due (received plus one month, Art. 12(3), plus an extension of at most two months with a reason) and where it stands. Admins manage requests, auditors read them, a coach files and reads them for their own clients. Never deleted; every change is in the audit trail.';
comment on column app_public.data_subject_requests.kind is E'access, portability, erasure, rectification or restriction.';
comment on column app_public.data_subject_requests.client_id is E'The client the request is about (one of clientId and userId).';
comment on column app_public.data_subject_requests.user_id is E'The user account the request is about.';
comment on column app_public.data_subject_requests.subject_id is E'The person the request is about: clientId or userId.';
comment on column app_public.data_subject_requests.filed_by is E'Who filed it: the caller (null when an operator filed it from the command line).';
comment on column app_public.data_subject_requests.received_at is E'When the person''s request reached the platform (now by default; earlier when it arrived by letter); never in the future.';
comment on column app_public.data_subject_requests.due_at is E'The deadline: receivedAt plus one month plus extensionMonths, set by the database.';
comment on column app_public.data_subject_requests.extension_months is E'Extra months (0 to 2, Art. 12(3)); can only grow, with extensionReason.';
comment on column app_public.data_subject_requests.extension_reason is E'Why the deadline was extended (3 to 2,000 characters).';
comment on column app_public.data_subject_requests.state is E'received, verified, in_progress, completed or rejected.';
comment on column app_public.data_subject_requests.state_changed_at is E'When the state last changed.';
comment on column app_public.data_subject_requests.verification is E'How the person''s identity was verified (3 to 2,000 characters), recorded when the request is verified.';
comment on column app_public.data_subject_requests.verified_by is E'Who verified it.';
comment on column app_public.data_subject_requests.verified_at is E'When it was verified.';
comment on column app_public.data_subject_requests.rejection_reason is E'Why it was rejected (3 to 2,000 characters); required to reject.';
comment on column app_public.data_subject_requests.closed_at is E'When it was completed or rejected.';
alter table app_public.data_subject_requests enable row level security;

--!include gdpr/classification.sql
--!include gdpr/legal-holds.sql
--!include gdpr/requests.sql
--!include domain/constraint-words.sql

select audit.enable_tracking('governance.personal_data_columns');
select audit.enable_tracking('app_public.legal_holds');
select audit.enable_tracking('app_public.data_subject_requests', subject_column => 'subject_id');

--!include gdpr/classify-custodian.sql
