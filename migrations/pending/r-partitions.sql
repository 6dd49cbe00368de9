-- Issue 17, audit events by partition: a month of the trail past its period
-- leaves whole, after it is archived with its seals; a checkpoint of the hash
-- chain stays, so that verify goes on across the dropped range.

create table audit.chain_checkpoints (
  id bigint generated always as identity primary key,
  partition_name text not null check (partition_name ~ '^events_[0-9]{4}_[0-9]{2}$'),
  month date not null check (extract(day from month) = 1),
  event_count bigint not null check (event_count > 0),
  first_event_id bigint not null,
  last_event_id bigint not null,
  event_ids int8multirange not null,
  first_seal_id bigint not null,
  last_seal_id bigint not null,
  continues_from_seal_id bigint,
  continues_after_event_id bigint,
  continues_from_hash bytea not null check (octet_length(continues_from_hash) = 32),
  archive_id uuid not null unique references app_public.retention_archives (id) on delete restrict,
  archive_store text not null,
  dropped_at timestamptz not null default now(),
  check (lower(event_ids) = first_event_id and upper(event_ids) = last_event_id + 1),
  check (first_seal_id <= last_seal_id),
  check ((continues_from_seal_id is null) = (continues_after_event_id is null))
);
comment on table audit.chain_checkpoints is
  E'One row per month of audit events archived and dropped: which events left, the archive that holds them with their seals, and where the hash chain continues. Append-only for every writer; audit.drop_archived_partition writes it. The seals of dropped months stay in audit.seals.';
comment on column audit.chain_checkpoints.partition_name is E'The partition dropped, e.g. events_2019_01.';
comment on column audit.chain_checkpoints.month is E'The first day of the month the partition held (UTC).';
comment on column audit.chain_checkpoints.event_count is E'How many events left with the partition.';
comment on column audit.chain_checkpoints.first_event_id is E'The lowest id among them.';
comment on column audit.chain_checkpoints.last_event_id is E'The highest id among them.';
comment on column audit.chain_checkpoints.event_ids is E'Exactly the ids that left: verify excuses these, and only these, from the seals that list them.';
comment on column audit.chain_checkpoints.first_seal_id is E'The first seal covering the events (copied into the archive).';
comment on column audit.chain_checkpoints.last_seal_id is E'The last seal covering the events (copied into the archive).';
comment on column audit.chain_checkpoints.continues_from_seal_id is
  E'The newest seal up to which every sealed event has been archived and dropped: verify starts after it. Null while events older than the dropped ones remain (verify then starts from the first seal).';
comment on column audit.chain_checkpoints.continues_after_event_id is E'That seal''s last event: no event at or below it is left in the trail.';
comment on column audit.chain_checkpoints.continues_from_hash is E'That seal''s hash (the genesis hash when there is none): the chain continues from it.';
comment on column audit.chain_checkpoints.archive_id is E'The verified archive (kind audit_partition, recorded in app_public.retention_archives) holding the events and the seals covering them.';
comment on column audit.chain_checkpoints.archive_store is E'Where that archive was written, e.g. "directory /data/archive".';
comment on column audit.chain_checkpoints.dropped_at is E'When the partition was detached and dropped.';
alter table audit.chain_checkpoints enable row level security;

--!include audit/append-only.sql
--!include audit/policies.sql
--!include audit/chain-checkpoints.sql
--!include audit/partition-retention.sql
--!include audit/sealing.sql
--!include gdpr/classify-custodian.sql
