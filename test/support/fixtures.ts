import crypto from "node:crypto";
import type pg from "pg";
import type { Actor } from "./db.ts";

export const PASSWORD = "correct horse battery staple";

/** A transaction's client, or a pool for data that tests commit. */
type Queryable = pg.ClientBase | pg.Pool;

export interface User extends Actor {
  email: string;
}

export interface Coach {
  user: User;
  profileId: string;
  clientId: string;
  sessionId: string;
  transcriptionId: string;
}

const unique = () => crypto.randomBytes(5).toString("hex");

/** A user with PASSWORD, created the way the CLI creates one. */
export async function createUser(client: Queryable, role: Actor["role"], label: string = role): Promise<User> {
  const email = `${label}-${unique()}@test.example`;
  const { rows } = await client.query("select id from app_private.create_user($1, $2, $3, $4)", [email, PASSWORD, role, label]);
  return { id: rows[0].id, role, email };
}

/**
 * The tests' plan. The global set-up commits it before any test runs, so a
 * test only reads it: an upsert from many files at once would make a
 * repeatable-read test fail to serialize against another file's update.
 */
export async function testPlanId(client: Queryable): Promise<string> {
  const found = await client.query("select id from app_public.billing_plans where name = 'Test plan'");
  if (found.rows[0]) return found.rows[0].id;
  const { rows } = await client.query(
    `insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor)
     values ('Test plan', 2900, 300, 10)
     on conflict (name) do update set name = excluded.name returning id`,
  );
  return rows[0].id;
}

/** The consent text the tests' clients are shown, its version and SHA-256 (what a consent record keeps). */
export const CONSENT_WORDING = {
  version: "test-2026-01",
  text: "I agree that my coaching sessions are recorded and transcribed.",
  get sha256() {
    return crypto.createHash("sha256").update(this.text).digest("hex");
  },
};

/**
 * Records these clients' consent to recording and transcription, with the
 * test wording: transcribing a session needs its client's active consent, so
 * every fixture that creates a client calls this (one way everywhere). Run as
 * superuser, an admin or the clients' coach.
 */
export async function grantConsents(client: Queryable, clientIds: string[]): Promise<void> {
  await client.query(
    `insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256)
     select c, p, 'granted', $2, $3 from unnest($1::uuid[]) c, unnest(array['recording', 'transcription']::app_public.consent_purpose[]) p`,
    [clientIds, CONSENT_WORDING.version, CONSENT_WORDING.sha256],
  );
}

/** A coach with a profile, one client (who consents to recording and transcription), one session and one completed transcription. Run as superuser. */
export async function createCoach(client: Queryable, label = "coach"): Promise<Coach> {
  const user = await createUser(client, "coach", label);
  const planId = await testPlanId(client);
  const profile = await client.query(
    "insert into app_public.coach_profiles (user_id, display_name, plan_id) values ($1, $2, $3) returning id",
    [user.id, label, planId],
  );
  const profileId = profile.rows[0].id;
  const clientRow = await client.query(
    "insert into app_public.clients (coach_profile_id, full_name, email) values ($1, $2, $3) returning id",
    [profileId, `Client of ${label}`, `client-${unique()}@test.example`],
  );
  await grantConsents(client, [clientRow.rows[0].id]);
  const session = await client.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'Kick-off', now() - interval '1 day', 'recordings/test.m4a', 1800) returning id`,
    [clientRow.rows[0].id],
  );
  const transcription = await client.query(
    `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, transcript_text)
     values ($1, 'deepgram', 'nova-2', 'completed', 1800, 'Hello.') returning id`,
    [session.rows[0].id],
  );
  return {
    user,
    profileId,
    clientId: clientRow.rows[0].id,
    sessionId: session.rows[0].id,
    transcriptionId: transcription.rows[0].id,
  };
}

/** Removes a committed coach and everything under it (tests that commit clean up after themselves). */
export async function deleteCoach(client: Queryable, coach: Coach): Promise<void> {
  // A plain DELETE only soft-deletes: cleanup takes the governed hard delete.
  await client.query("select governance.hard_delete('app_public.coach_profiles', $1, 'test cleanup')", [coach.profileId]);
  await client.query("delete from app_public.users where id = $1", [coach.user.id]);
}

/** A provider and model with a known cost per minute, named uniquely, for attempts whose cost a test reasons about. */
export async function createProviderRate(client: Queryable, costPerMinuteMinor = "0.5"): Promise<{ provider: string; model: string }> {
  const rate = { provider: `provider-${unique()}`, model: "model-1" };
  await client.query(
    "insert into app_public.provider_rates (provider, model, cost_per_minute_minor) values ($1, $2, $3)",
    [rate.provider, rate.model, costPerMinuteMinor],
  );
  return rate;
}

/** An attempt of the coach's session that finished (completed or failed) at a pinned instant. Returns its id. */
export async function createAttempt(
  client: Queryable,
  coach: Coach,
  attempt: { status: "completed" | "failed"; seconds: number; finishedAt: string; provider: string; model: string },
): Promise<string> {
  const { rows } = await client.query(
    `insert into app_public.transcriptions (session_id, provider, model, language, status, billed_duration_seconds, started_at, finished_at)
     values ($1, $2, $3, 'en', $4, $5, $6, $6) returning id`,
    [coach.sessionId, attempt.provider, attempt.model, attempt.status, attempt.status === "completed" ? attempt.seconds : null, attempt.finishedAt],
  );
  return rows[0].id;
}
