--!include gdpr/readiness.sql

-- The console's request queue filters by kind and state (few rows: no index needed).
comment on column app_public.data_subject_requests.kind is E'@behavior +filterBy\naccess, portability, erasure, rectification or restriction.';
comment on column app_public.data_subject_requests.state is E'@behavior +filterBy\nreceived, verified, in_progress, completed or rejected.';
