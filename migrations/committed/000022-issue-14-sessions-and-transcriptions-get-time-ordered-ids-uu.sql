--! Previous: sha1:af11971914b3c42a83f08d3c5322b917bbc2af84
--! Hash: sha1:c7cf90b05ee3c8e977d0d8121eb08dabe8ed7627
--! Message: Issue 14: sessions and transcriptions get time-ordered ids (UUID version 7), so that the usage events' indexes on them grow at one end

--! Included domain/time-ordered-ids.sql
-- Sessions and transcriptions get time-ordered ids (UUID version 7).
--
-- Their ids are keys of the usage events' indexes (one event per attempt,
-- a session's earlier success). With random ids each new key lands on a
-- random page of an index that outgrows memory: at 10 million events rating
-- spent most of its time reading and writing those pages (bench/usage.ts).
-- Time-ordered ids put what is written now beside what was written a moment
-- ago. The id says roughly when the row was made, which its created_at says
-- anyway to whoever may read it.

create or replace function app_private.time_ordered_uuid(at timestamptz default pg_catalog.clock_timestamp())
returns uuid as $$
  -- RFC 9562 version 7: 48 bits of Unix milliseconds, then gen_random_uuid()'s
  -- random bits with the version nibble turned from 4 into 7 (bits 52 and 53).
  select pg_catalog.encode(pg_catalog.set_bit(pg_catalog.set_bit(pg_catalog.overlay(
      pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
      pg_catalog.substr(pg_catalog.int8send(pg_catalog.floor(pg_catalog.date_part('epoch', at) * 1000)::bigint), 3),
      1, 6), 52, 1), 53, 1), 'hex')::uuid;
$$ language sql volatile parallel safe;
comment on function app_private.time_ordered_uuid(timestamptz) is
  E'A new UUID version 7 for the instant given (now by default): ids made later sort later, so that indexes on them grow at one end.';
grant execute on function app_private.time_ordered_uuid(timestamptz) to custodian_coach, custodian_admin, custodian_auditor;

alter table app_public.coaching_sessions alter column id set default app_private.time_ordered_uuid();
alter table app_public.transcriptions alter column id set default app_private.time_ordered_uuid();
--! EndIncluded domain/time-ordered-ids.sql
