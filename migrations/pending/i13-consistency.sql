-- Consistency: enums for the analytics' granularity and the audit trail's
-- operation and actor kind (GraphQL offers their values; a wrong one is
-- refused before any SQL runs), clients searchable and sortable by name and
-- email, and a coach who asks for another coach's usage is told so.

create type app_public.usage_granularity as enum ('day', 'week', 'month');
comment on type app_public.usage_granularity is E'The length of the periods usage is counted by: a day, an ISO week (from Monday) or a calendar month.';

comment on type audit.operation is E'@name AuditOperation\nThe kind of write an event records.';
comment on type audit.actor_kind is
  E'@name AuditActorKind\nWho wrote: an API user, a worker job, a migration, a Custodian command (system), or an unattributed session (unknown).';

-- The readers return the trail's enums, not their text.
alter type app_public.audit_event
  alter attribute operation type audit.operation,
  alter attribute actor_kind type audit.actor_kind;

comment on column app_public.clients.full_name is E'@behavior +orderBy +filterBy\nThe client''s full name.';
comment on column app_public.clients.email is E'@behavior +orderBy +filterBy\nThe client''s email; unique among one coach''s clients.';

--!include audit/filters.sql
--!include audit/read-api.sql
--!include usage/analytics.sql
--!include usage/usage-in-range.sql
--!include domain/client-search.sql
