-- Issue 17 (archive): restoring archived rows through the normal write path.
create table governance.archive_restorations (
  id bigint generated always as identity primary key,
  archive_id uuid not null,
  table_name text not null,
  transaction_id xid8 not null default pg_catalog.pg_current_xact_id(),
  restored_by name not null default session_user,
  started_at timestamptz not null default pg_catalog.now()
);
comment on table governance.archive_restorations is
  E'Every restore of archived rows into their original table (`custodian archive restore`). While one is recorded for the current transaction, insert triggers keep the archived created_at, updated_at and other derived columns, so the rows come back as they were.';
comment on column governance.archive_restorations.id is E'The restore''s id.';
comment on column governance.archive_restorations.archive_id is E'The archive the rows came from (its folder in the archive store).';
comment on column governance.archive_restorations.table_name is E'The table the rows went back into ("schema.table").';
comment on column governance.archive_restorations.transaction_id is E'The transaction that restored.';
comment on column governance.archive_restorations.restored_by is E'The database login that restored.';
comment on column governance.archive_restorations.started_at is E'When.';
alter table governance.archive_restorations enable row level security;

--!include archive/restore.sql
--!include domain/timestamps.sql
--!include domain/derived-columns.sql
--!include gdpr/consents.sql
--!include gdpr/classify-custodian.sql

-- Who restored what, and when, is itself part of the trail.
select audit.enable_tracking('governance.archive_restorations');
