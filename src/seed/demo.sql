-- Demo data for development and benchmarks: coaches on every plan, their
-- clients and sessions, and transcription attempts with failures, retries
-- and re-transcriptions. `custodian seed` loads these functions into pg_temp
-- and calls them in batches; nothing here becomes part of the schema.
--
-- The demo is a history: its sessions span the 180 days before `as_of` (the
-- seed's now), so plans, coaches and clients are created before the first of
-- them, and every row says when it was created in that history. The reports
-- (monthly revenue, invoices, previews) then agree on every month: a coach is
-- live, and pays its plan's fee, from the month its profile was created.

-- The history starts this long before as_of: before the oldest session
-- (180 days and 4 hours), in the month before it at the latest.
create function pg_temp.demo_history_start(as_of timestamptz) returns timestamptz as $$
  select as_of - interval '183 days';
$$ language sql immutable;

-- created_at is the database's (app_private.tg__timestamps sets it to now());
-- a seeded history sets its own, in this transaction only.
create function pg_temp.seed_own_timestamps(tables regclass[], own boolean) returns void as $$
declare
  target regclass;
begin
  foreach target in array tables loop
    execute pg_catalog.format('alter table %s %s trigger _100_timestamps', target, case when own then 'disable' else 'enable' end);
  end loop;
end;
$$ language plpgsql;

-- Plans and rates exist a day before the history starts.
create function pg_temp.seed_reference_data(as_of timestamptz) returns void as $$
begin
  perform pg_temp.seed_own_timestamps(array['app_public.billing_plans', 'app_public.provider_rates']::regclass[], true);
  insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor, currency,
                                        created_at, updated_at)
  select name, fee, included, price, 'EUR', pg_temp.demo_history_start(as_of) - interval '1 day',
         pg_temp.demo_history_start(as_of) - interval '1 day'
  from (values ('Starter', 1900, 120, 15), ('Professional', 4900, 600, 12), ('Practice', 14900, 2400, 9)) p (name, fee, included, price)
  on conflict (name) do nothing;
  insert into app_public.provider_rates (provider, model, cost_per_minute_minor, currency, created_at, updated_at)
  select provider, model, cost, 'EUR', pg_temp.demo_history_start(as_of) - interval '1 day',
         pg_temp.demo_history_start(as_of) - interval '1 day'
  from (values ('deepgram', 'nova-2', 0.4300), ('openai', 'whisper-1', 0.6000), ('assemblyai', 'best', 0.6500)) r (provider, model, cost)
  on conflict (provider, model, effective_from) do nothing;
  perform pg_temp.seed_own_timestamps(array['app_public.billing_plans', 'app_public.provider_rates']::regclass[], false);
end;
$$ language plpgsql;

create function pg_temp.demo_name(n integer) returns text as $$
  select (array['Amara','Bruno','Chen','Dalia','Emeka','Freya','Goran','Hana','Ines','Jonas','Kiri','Lucia',
                'Mateo','Nadia','Omar','Priya','Quinn','Rosa','Sven','Tariq','Uma','Viktor','Wen','Yusuf'])[1 + n % 24]
      || ' ' ||
      (array['Adeyemi','Bianchi','Costa','Dubois','Eriksen','Fischer','Garcia','Horvat','Ivanova','Jensen',
             'Kowalski','Lindqvist','Moreau','Novak','Okafor','Petrov','Rossi','Santos','Tanaka','Weber'])[1 + (n / 24) % 20];
$$ language sql immutable;

create function pg_temp.seed_staff(password text) returns void as $$
  select app_private.create_user('admin@example.com', password, 'admin', 'Ada Admin')
  where not exists (select from app_public.users where email = 'admin@example.com');
  select app_private.create_user('auditor@example.com', password, 'auditor', 'Otto Auditor')
  where not exists (select from app_public.users where email = 'auditor@example.com');
$$ language sql;

-- The consent text a demo client is shown for a purpose (its SHA-256 is recorded with the decision).
create function pg_temp.demo_consent_text(purpose app_public.consent_purpose) returns text as $$
  select case purpose
    when 'recording' then 'I agree that my coaching sessions are recorded. I can withdraw this consent at any time by telling my coach.'
    when 'transcription' then 'I agree that recordings of my coaching sessions are transcribed by a transcription provider and the transcripts kept for my coach. I can withdraw this consent at any time by telling my coach.'
  end;
$$ language sql immutable;

-- Coaches first_number..last_number with 8 clients each, 4 sessions per
-- client, and 1 to 3 attempts per session, in the 180 days before as_of.
-- Accounts and profiles are created when the history starts (coach n, n
-- minutes later), clients an hour after their coach, sessions when recorded,
-- attempts when queued.
create function pg_temp.seed_coaches(first_number integer, last_number integer, password_hash text, as_of timestamptz)
returns void as $$
declare
  plans uuid[] := array(select id from app_public.billing_plans order by monthly_fee_minor, name);
  models text[][] := array[['deepgram', 'nova-2'], ['openai', 'whisper-1'], ['assemblyai', 'best']];
  seeded regclass[] := array['app_public.users', 'app_public.coach_profiles', 'app_public.clients', 'app_public.consents',
                             'app_public.coaching_sessions', 'app_public.transcriptions']::regclass[];
begin
  perform pg_temp.seed_own_timestamps(seeded, true);
  create temp table seed_coaches on commit drop as
    select n, gen_random_uuid() as user_id, gen_random_uuid() as profile_id,
           pg_temp.demo_history_start(as_of) + make_interval(mins => n) as created_at
    from generate_series(first_number, last_number) n
    where not exists (select from app_public.users where email = pg_catalog.format('coach%s@example.com', n));

  insert into app_public.users (id, email, display_name, role, created_at, updated_at)
    select user_id, pg_catalog.format('coach%s@example.com', n), pg_temp.demo_name(n), 'coach', created_at, created_at
    from seed_coaches;
  insert into app_private.user_secrets (user_id, password_hash)
    select user_id, password_hash from seed_coaches;
  insert into app_public.coach_profiles (id, user_id, display_name, bio, timezone, plan_id, created_at, updated_at)
    select profile_id, user_id, pg_temp.demo_name(n),
           'Leadership and career coach; ICF certified.',
           (array['Europe/London', 'Europe/Berlin', 'America/New_York', 'Asia/Singapore'])[1 + n % 4],
           plans[1 + n % array_length(plans, 1)], created_at, created_at
    from seed_coaches;

  create temp table seed_clients on commit drop as
    select c.n, k, gen_random_uuid() as client_id, c.profile_id, c.created_at + make_interval(hours => 1, mins => k) as created_at
    from seed_coaches c cross join generate_series(1, 8) k;
  insert into app_public.clients (id, coach_profile_id, full_name, email, phone, notes, created_at, updated_at)
    select client_id, profile_id, pg_temp.demo_name(n * 8 + k + 7),
           pg_catalog.format('client%s.%s@example.net', n, k),
           pg_catalog.format('+44 20 7946 %s', lpad(((n * 8 + k) % 10000)::text, 4, '0')),
           'Wants to grow into a leadership role; prefers morning sessions.', created_at, created_at
    from seed_clients;
  -- Each client agrees to recording and transcription when their coach adds
  -- them (transcribing a session needs it), recorded by the coach.
  insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256, recorded_by, recorded_at)
    select cl.client_id, p.purpose, 'granted', '2026-01', pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_temp.demo_consent_text(p.purpose), 'UTF8')), 'hex'),
           c.user_id, cl.created_at
    from seed_clients cl join seed_coaches c on c.n = cl.n
    cross join unnest(array['recording', 'transcription']::app_public.consent_purpose[]) p (purpose);

  create temp table seed_sessions on commit drop as
    select app_private.time_ordered_uuid(t.recorded_at) as session_id, cl.client_id, cl.profile_id, s,
           (cl.n * 32 + cl.k * 4 + s) % 20 as pattern,
           t.recorded_at,
           1200 + ((cl.n * 97 + cl.k * 31 + s * 13) % 2400) as duration,
           models[1 + (cl.n + s) % 3][1] as provider,
           models[1 + (cl.n + s) % 3][2] as model
    from seed_clients cl cross join generate_series(1, 4) s
    cross join lateral (select as_of - make_interval(days => ((cl.n * 37 + cl.k * 11 + s * 7) % 180) + 1, hours => s) as recorded_at) t;
  insert into app_public.coaching_sessions (id, coach_profile_id, client_id, title, recorded_at, audio_object_key,
                                           audio_duration_seconds, created_at, updated_at)
    select session_id, profile_id, client_id,
           (array['Goal setting', 'Quarterly review', 'Career direction', 'Feedback conversation', 'Follow-up'])[1 + s % 5],
           recorded_at, pg_catalog.format('recordings/%s/%s.m4a', profile_id, session_id), duration, recorded_at, recorded_at
    from seed_sessions;

  -- Patterns: 0-12 one success; 13-15 failure then a successful retry;
  -- 16-17 success then a re-transcription; 18 two failures then success;
  -- 19 still queued or processing.
  create temp table seed_attempts on commit drop as
    select session_id, profile_id, provider, model, duration, recorded_at, pattern, app_private.time_ordered_uuid(recorded_at) as first_id,
           app_private.time_ordered_uuid(recorded_at) as second_id, app_private.time_ordered_uuid(recorded_at) as third_id
    from seed_sessions;
  insert into app_public.transcriptions (id, coach_profile_id, session_id, status, provider, model, language,
                                         billed_duration_seconds, transcript_text, error_message, started_at, finished_at,
                                         created_at, updated_at)
    select first_id, profile_id, session_id,
           (case when pattern < 13 or pattern in (16, 17) then 'completed'
                 when pattern = 19 then (case when duration % 2 = 0 then 'queued' else 'processing' end)
                 else 'failed' end)::app_public.transcription_status,
           provider, model, 'en',
           case when pattern < 13 or pattern in (16, 17) then duration end,
           case when pattern < 13 or pattern in (16, 17) then 'Coach: What would success look like this quarter? Client: Leading the new team with confidence.' end,
           case when pattern between 13 and 15 or pattern = 18 then 'Provider timed out after 300 seconds.' end,
           case when pattern <> 19 or duration % 2 = 1 then recorded_at + interval '1 hour' end,
           case when pattern <> 19 then recorded_at + interval '1 hour' + make_interval(secs => duration / 10) end,
           recorded_at + interval '50 minutes',
           case when pattern <> 19 then recorded_at + interval '1 hour' + make_interval(secs => duration / 10)
                when duration % 2 = 1 then recorded_at + interval '1 hour'
                else recorded_at + interval '50 minutes' end
    from seed_attempts;
  insert into app_public.transcriptions (id, coach_profile_id, session_id, status, provider, model, language,
                                         billed_duration_seconds, transcript_text, error_message, retry_of, started_at, finished_at,
                                         created_at, updated_at)
    select second_id, profile_id, session_id,
           (case when pattern = 18 then 'failed' else 'completed' end)::app_public.transcription_status,
           provider, case when pattern in (16, 17) then model || '-large' else model end, 'en',
           case when pattern <> 18 then duration end,
           case when pattern <> 18 then 'Coach: What would success look like this quarter? Client: Leading the new team with confidence.' end,
           case when pattern = 18 then 'Audio could not be decoded.' end,
           case when pattern between 13 and 15 or pattern = 18 then first_id end,
           recorded_at + interval '2 hours', recorded_at + interval '2 hours' + make_interval(secs => duration / 10),
           recorded_at + interval '110 minutes', recorded_at + interval '2 hours' + make_interval(secs => duration / 10)
    from seed_attempts where pattern between 13 and 18;
  insert into app_public.transcriptions (id, coach_profile_id, session_id, status, provider, model, language,
                                         billed_duration_seconds, transcript_text, retry_of, started_at, finished_at,
                                         created_at, updated_at)
    select third_id, profile_id, session_id, 'completed', provider, model, 'en', duration,
           'Coach: What would success look like this quarter? Client: Leading the new team with confidence.',
           second_id, recorded_at + interval '3 hours', recorded_at + interval '3 hours' + make_interval(secs => duration / 10),
           recorded_at + interval '170 minutes', recorded_at + interval '3 hours' + make_interval(secs => duration / 10)
    from seed_attempts where pattern = 18;
  perform pg_temp.seed_own_timestamps(seeded, false);
end;
$$ language plpgsql;

-- Something for the console's audit viewer and deleted items: an admin
-- corrects a client's notes and a coach's bio and deletes one of coach 2's
-- clients (with its sessions and transcriptions); coach 1 deletes a session
-- today and, 45 days before as_of, a client (past the 30 days a coach may
-- restore in). Each person's writes in their own transaction, attributed to
-- them as the API would; once only: a demo that shows deletions is left as it is.
create function pg_temp.demo_profile(email text) returns uuid as $$
  select p.id from app_public.coach_profiles p join app_public.users u on u.id = p.user_id where u.email = demo_profile.email;
$$ language sql stable;

create function pg_temp.demo_has_deletions() returns boolean as $$
  select exists (select from app_public.clients
                 where is_deleted and coach_profile_id in (pg_temp.demo_profile('coach1@example.com'), pg_temp.demo_profile('coach2@example.com')))
      or exists (select from app_public.coaching_sessions
                 where is_deleted and coach_profile_id = pg_temp.demo_profile('coach1@example.com'));
$$ language sql stable;

create function pg_temp.act_as(email text) returns void as $$
  select pg_catalog.set_config('custodian.actor_kind', 'user', true),
         pg_catalog.set_config('jwt.claims.user_id', u.id::text, true),
         pg_catalog.set_config('jwt.claims.role', u.role::text, true)
  from app_public.users u where u.email = act_as.email;
$$ language sql;

create function pg_temp.seed_admin_actions() returns void as $$
declare
  coach1 uuid := pg_temp.demo_profile('coach1@example.com');
  coach2 uuid := pg_temp.demo_profile('coach2@example.com');
begin
  if coach1 is null or coach2 is null or pg_temp.demo_has_deletions() then
    return;
  end if;
  perform pg_temp.act_as('admin@example.com');
  update app_public.clients set notes = 'Moved to fortnightly sessions from next month; prefers video calls.'
  where id = (select id from app_public.clients where coach_profile_id = coach1 order by created_at, id limit 1);
  update app_public.coach_profiles set bio = 'Leadership and career coach; ICF PCC certified since 2024.' where id = coach1;
  delete from app_public.clients where id = (select id from app_public.clients where coach_profile_id = coach2 order by created_at desc, id limit 1);
end;
$$ language plpgsql;

create function pg_temp.seed_coach_deletions(as_of timestamptz) returns void as $$
declare
  coach1 uuid := pg_temp.demo_profile('coach1@example.com');
begin
  if coach1 is null or exists (select from app_public.clients where is_deleted and coach_profile_id = coach1) then
    return;
  end if;
  perform pg_temp.act_as('coach1@example.com');
  delete from app_public.coaching_sessions where id = (
    select s.id from app_public.coaching_sessions s
    where s.client_id = (select id from app_public.clients where coach_profile_id = coach1 order by created_at, id offset 1 limit 1)
    order by s.recorded_at desc, s.id limit 1);
  -- A deletion long past: the soft delete keeps the time it is given.
  update app_public.clients set is_deleted = true, deleted_at = as_of - interval '45 days'
  where id = (select id from app_public.clients where coach_profile_id = coach1 order by created_at desc, id limit 1);
end;
$$ language plpgsql;

-- One client withdraws their consent to transcription (Art. 7(3)), today,
-- through their coach: their transcripts so far stay, and transcribing any of
-- their sessions again is refused. Once only.
create function pg_temp.seed_consent_withdrawal() returns void as $$
declare
  coach1 uuid := pg_temp.demo_profile('coach1@example.com');
  withdrawing uuid;
begin
  if coach1 is null or exists (select from app_public.consents c join app_public.clients cl on cl.id = c.client_id
                               where cl.coach_profile_id = coach1 and c.decision = 'withdrawn') then
    return;
  end if;
  select id into withdrawing from app_public.clients where coach_profile_id = coach1 and not is_deleted order by created_at, id offset 2 limit 1;
  perform pg_temp.act_as('coach1@example.com');
  insert into app_public.consents (client_id, purpose, decision) values (withdrawing, 'transcription', 'withdrawn');
end;
$$ language plpgsql;
