-- bench:gdpr's heavy client: one client of the first demo coach with
-- $2 sessions and $3 transcriptions of about $4 bytes each (all distinct),
-- then a rename and a correction of every tenth transcript, so that their
-- audit history holds inserts and updates. Every attempt is captured for usage.
create function pg_temp.seed_heavy_client(tag text, sessions integer, transcripts integer, transcript_bytes integer)
returns uuid as $$
declare
  coach uuid := (select p.id from app_public.coach_profiles p join app_public.users u on u.id = p.user_id
                 where u.email = 'coach1@example.com');
  heavy uuid;
begin
  insert into app_public.clients (coach_profile_id, full_name, email, phone, notes)
  values (coach, 'Heavy Oldname ' || tag, 'heavy-' || tag || '@bench.example', '+44 20 7000 0000',
          'Heavy client ' || tag || ': weekly sessions, sensitive family matters.')
  returning id into heavy;
  update app_public.clients set full_name = 'Heavy Client ' || tag where id = heavy;
  -- Transcribing a session needs its client's consent.
  insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256)
  select heavy, p, 'granted', 'bench-1', pg_catalog.encode(pg_catalog.sha256('I agree.'), 'hex')
  from unnest(array['recording', 'transcription']::app_public.consent_purpose[]) p;

  create temp table heavy_sessions on commit drop as
    select gen_random_uuid() as id, n, now() - make_interval(days => 1 + n % 170, hours => n % 24) as recorded_at
    from generate_series(1, sessions) n;
  insert into app_public.coaching_sessions (id, coach_profile_id, client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
    select s.id, coach, heavy, pg_catalog.format('Heavy session %s of %s', s.n, tag), s.recorded_at,
           pg_catalog.format('recordings/heavy/%s.m4a', s.id), 1800 + s.n % 600
    from heavy_sessions s;
  insert into app_public.transcriptions (coach_profile_id, session_id, status, provider, model, language,
                                         billed_duration_seconds, transcript_text, started_at, finished_at)
    select coach, s.id, 'completed', 'deepgram', 'nova-2', 'en', 1800 + s.n % 600,
           pg_catalog.format('Heavy transcript %s of %s. ', t, tag)
             || pg_catalog.left(pg_catalog.repeat(pg_catalog.md5(tag || t::text) || ' Coach: and how did that feel? Client: ', transcript_bytes / 60 + 1), transcript_bytes),
           s.recorded_at + interval '1 hour', s.recorded_at + interval '1 hour 3 minutes'
    from generate_series(1, transcripts) t
    join heavy_sessions s on s.n = 1 + (t - 1) % sessions;
  update app_public.transcriptions t set transcript_text = t.transcript_text || ' (corrected)'
  where t.session_id in (select id from heavy_sessions where n % 10 = 0);
  return heavy;
end;
$$ language plpgsql;

-- Byte-for-byte fingerprints of every figure the erasure must keep.
create function pg_temp.figures() returns jsonb as $$
  select jsonb_build_object(
    'usage_events', (select md5(string_agg(e::text, E'\n' order by e.id)) from app_public.usage_events e),
    'usage_daily', (select md5(string_agg(d::text, E'\n' order by d::text)) from app_public.usage_daily d),
    'usage_daily_totals', (select md5(string_agg(d::text, E'\n' order by d::text)) from app_private.usage_daily_totals d),
    'invoices', (select md5(string_agg(i::text, E'\n' order by i::text))
                 from generate_series(date_trunc('month', now()) - interval '6 months', date_trunc('month', now()), interval '1 month') m,
                      app_private.month_invoices(m::date) i));
$$ language sql;
