-- Issue 14, sealing: a seal hashes its batch at once instead of chaining
-- event by event, over a cheaper digest. A version 2 seal keeps each event's
-- digest (so verify still names the first event altered) and one hash,
-- sha256(previous seal's hash || the digests in id order). Seals made
-- before stay as they are, version 1, and verify as before: the chain runs
-- on from their last hash.

alter table audit.seals
  add column version smallint not null default 1,
  add column digests bytea,
  alter column chain drop not null,
  drop constraint seals_check1,
  drop constraint seals_check3;
alter table audit.seals
  alter column version drop default,
  add constraint seals_version_check check (case version
    when 1 then digests is null and chain is not null and cardinality(chain) = cardinality(event_ids)
      and cardinality(chain) > 0 and chain[cardinality(chain)] is not distinct from hash
    when 2 then chain is null and digests is not null and cardinality(event_ids) > 0
      and octet_length(digests) = 32 * cardinality(event_ids) and hash = pg_catalog.sha256(previous_hash || digests)
    else false end);
comment on table audit.seals is
  E'The hash chain over the events, one row per sealed batch, each starting from the previous seal''s hash. Version 2: hash = sha256(previous_hash || digests); version 1 (before migration 000006): h(i) = sha256(h(i-1) || sha256(event i)) event by event.';
comment on column audit.seals.version is
  E'How the seal hashes: 2, one hash over the batch''s digests (audit.event_digest_v2); 1, a chain event by event (audit.event_digest), for seals made before migration 000006.';
comment on column audit.seals.digests is
  E'Version 2: each event''s digest (32 bytes) in id order, so that verify names the first event altered.';
comment on column audit.seals.chain is E'Version 1: the chain hash after each event, so that verify names the first event altered.';
comment on column audit.seals.hash is E'The chain hash after the batch: the next seal starts from it.';

--!include audit/sealing.sql
