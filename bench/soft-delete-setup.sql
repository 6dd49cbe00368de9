-- Setup for bench/soft-delete.ts, run once as custodian_owner on a scratch
-- database that has every migration: one coach profile with 10,000 clients,
-- one session each and 10 transcriptions per session (100,000), written with
-- soft delete and the audit trail on, as in a running system.

select app_private.create_user('bench-coach@example.com', 'password123', 'coach');

insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor)
values ('Bench', 4900, 600, 12);

insert into app_public.coach_profiles (user_id, display_name, plan_id)
select u.id, 'Bench Coach', p.id
from app_public.users u, app_public.billing_plans p
where u.email = 'bench-coach@example.com' and p.name = 'Bench';

insert into app_public.clients (coach_profile_id, full_name, email)
select cp.id, pg_catalog.format('Client %s', n), pg_catalog.format('client%s@bench.example.net', n)
from app_public.coach_profiles cp cross join pg_catalog.generate_series(1, 10000) n
where cp.display_name = 'Bench Coach';

-- Transcribing a session needs its client's consent.
insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256)
select c.id, 'transcription', 'granted', 'bench-1', pg_catalog.encode(pg_catalog.sha256('I agree to transcription.'), 'hex')
from app_public.clients c;

insert into app_public.coaching_sessions (client_id, coach_profile_id, title, recorded_at, audio_object_key, audio_duration_seconds)
select c.id, c.coach_profile_id, 'Weekly session', now() - interval '1 day', 'recordings/' || c.id || '.m4a', 3600
from app_public.clients c;

insert into app_public.transcriptions (session_id, coach_profile_id, status, provider, model, billed_duration_seconds, transcript_text)
select s.id, s.coach_profile_id, 'completed', 'deepgram', 'nova-2', 3600, 'A short transcript of the session.'
from app_public.coaching_sessions s cross join pg_catalog.generate_series(1, 10) n;
