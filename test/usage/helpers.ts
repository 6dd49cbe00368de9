import crypto from "node:crypto";
import type pg from "pg";
import { createUser, grantConsents, type User } from "../support/fixtures.ts";

/** A transaction's client, or a pool (or a client of one) for data that tests commit. */
type Queryable = pg.ClientBase | pg.Pool;

const unique = () => crypto.randomBytes(5).toString("hex");

export interface Plan {
  id: string;
  feeMinor: number;
  includedMinutes: number;
  pricePerMinuteMinor: number;
}

/** A billing plan of the test's own, so that its numbers are known (7 a minute does not divide 60 evenly). */
export async function createPlan(
  client: Queryable,
  { feeMinor = 1500, includedMinutes = 10, pricePerMinuteMinor = 7 }: Partial<Omit<Plan, "id">> = {},
): Promise<Plan> {
  const { rows } = await client.query(
    `insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor)
     values ($1, $2, $3, $4) returning id`,
    [`Usage test plan ${unique()}`, feeMinor, includedMinutes, pricePerMinuteMinor],
  );
  return { id: rows[0].id, feeMinor, includedMinutes, pricePerMinuteMinor };
}

export interface BillingCoach {
  user: User;
  profileId: string;
  clientId: string;
  planId: string;
}

/** A coach on `planId` with one client (who consents to transcription) and no attempts yet, so that the coach's ledgers start empty. Run as superuser. */
export async function createBillingCoach(client: Queryable, planId: string, label = "billing"): Promise<BillingCoach> {
  const user = await createUser(client, "coach", label);
  const profile = await client.query(
    "insert into app_public.coach_profiles (user_id, display_name, plan_id) values ($1, $2, $3) returning id",
    [user.id, label, planId],
  );
  const profileId = profile.rows[0].id as string;
  const clientRow = await client.query(
    "insert into app_public.clients (coach_profile_id, full_name) values ($1, $2) returning id",
    [profileId, `Client of ${label}`],
  );
  await grantConsents(client, [clientRow.rows[0].id]);
  return { user, profileId, clientId: clientRow.rows[0].id, planId };
}

/** Removes a committed coach for good (the governed hard delete), as fixtures' deleteCoach does. */
export async function deleteBillingCoach(client: Queryable, coach: BillingCoach): Promise<void> {
  await client.query("select governance.hard_delete('app_public.coach_profiles', $1, 'test cleanup')", [coach.profileId]);
  await client.query("delete from app_public.users where id = $1", [coach.user.id]);
}

/** A recorded session of the coach's client; its length is what a failed attempt without a billed duration counts. */
export async function createSession(client: Queryable, coach: BillingCoach, audioSeconds = 1800): Promise<string> {
  const { rows } = await client.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'Session', '2026-01-05T10:00:00Z', 'recordings/usage.m4a', $2) returning id`,
    [coach.clientId, audioSeconds],
  );
  return rows[0].id;
}

export interface Rate {
  provider: string;
  model: string;
}

/** A provider and model of the test's own with the given rates per minute, each from a moment on (from 0001-01-01, always, by default). */
export async function createRates(client: Queryable, rates: Array<{ costPerMinuteMinor: string; from?: string }>): Promise<Rate> {
  const rate = { provider: `prov-${unique()}`, model: "m1" };
  for (const { costPerMinuteMinor, from = "0001-01-01T00:00:00Z" } of rates) {
    await client.query(
      "insert into app_public.provider_rates (provider, model, cost_per_minute_minor, effective_from) values ($1, $2, $3, $4)",
      [rate.provider, rate.model, costPerMinuteMinor, from],
    );
  }
  return rate;
}

export interface AttemptInput {
  status: "queued" | "processing" | "completed" | "failed";
  seconds?: number | null;
  finishedAt?: string | null;
  rate: Rate;
  retryOf?: string | null;
}

/** Inserts an attempt straight in its status (the insert path of the capture). Returns its id. */
export async function insertAttempt(client: Queryable, sessionId: string, input: AttemptInput): Promise<string> {
  const { rows } = await client.query(
    `insert into app_public.transcriptions (session_id, provider, model, language, status, billed_duration_seconds, finished_at, retry_of)
     values ($1, $2, $3, 'en', $4, $5, $6, $7) returning id`,
    [sessionId, input.rate.provider, input.rate.model, input.status, input.seconds ?? null, input.finishedAt ?? null, input.retryOf ?? null],
  );
  return rows[0].id;
}

/**
 * Moves an attempt to a status, as the transcription pipeline does (the
 * update path of the capture): a queued attempt sent to completed or failed
 * goes through processing first, the only way the status rule allows.
 */
export async function setStatus(
  client: Queryable,
  transcriptionId: string,
  status: AttemptInput["status"],
  seconds: number | null = null,
  finishedAt: string | null = null,
): Promise<void> {
  if (status === "completed" || status === "failed") {
    // Started when it finished, if that is given (a finish in the past must not precede its start).
    await client.query(
      "update app_public.transcriptions set status = 'processing', started_at = $2 where id = $1 and status = 'queued'",
      [transcriptionId, finishedAt]);
  }
  await client.query(
    `update app_public.transcriptions
     set status = $2, billed_duration_seconds = coalesce($3, billed_duration_seconds), finished_at = coalesce($4, finished_at)
     where id = $1`,
    [transcriptionId, status, seconds, finishedAt],
  );
}

/** The figures of a usage event, in plain JSON-comparable types. */
export const eventColumns = `e.id::text as id, e.kind::text as kind, e.coach_profile_id, e.session_id, e.transcription_id,
  e.outcome::text as outcome, e.billable, e.billing_reason::text as reason, e.is_retry, e.is_retranscription,
  e.audio_seconds, e.included_seconds, e.charged_seconds, e.unit_price_minor::int as unit_price,
  e.amount_minor::int as amount, e.provider_cost_minor::text as provider_cost, e.plan_id,
  e.usage_month::text as usage_month, e.billing_month::text as billing_month, e.rule_version,
  e.corrects_event_id::text as corrects, e.note, e.created_by`;

export interface UsageEvent {
  id: string;
  kind: string;
  coach_profile_id: string;
  session_id: string | null;
  transcription_id: string | null;
  outcome: string | null;
  billable: boolean;
  reason: string;
  is_retry: boolean;
  is_retranscription: boolean;
  audio_seconds: number;
  included_seconds: number;
  charged_seconds: number;
  unit_price: number | null;
  amount: number;
  provider_cost: string | null;
  plan_id: string | null;
  usage_month: string;
  billing_month: string;
  rule_version: string;
  corrects: string | null;
  note: string | null;
  created_by: string | null;
}

/**
 * Runs the rating step (as the usage_rate job does every minute): captured
 * records become usage events. Returns how many were rated and how many cannot be.
 */
export async function rateUsage(client: Queryable): Promise<{ rated: number; unratable: number }> {
  const { rows } = await client.query("select rated, unratable from app_private.rate_usage_records(null)");
  return rows[0];
}

/** The usage events of one attempt (there should be exactly one), once what was captured is rated. */
export async function eventsOfAttempt(client: Queryable, transcriptionId: string): Promise<UsageEvent[]> {
  await rateUsage(client);
  const { rows } = await client.query(
    `select ${eventColumns} from app_public.usage_events e where e.transcription_id = $1 and e.kind = 'attempt' order by e.id`,
    [transcriptionId],
  );
  return rows;
}

/** The one usage event of an attempt. */
export async function eventOf(client: Queryable, transcriptionId: string): Promise<UsageEvent> {
  const events = await eventsOfAttempt(client, transcriptionId);
  if (events.length !== 1) throw new Error(`expected one usage event for attempt ${transcriptionId}, found ${events.length}`);
  return events[0]!;
}

/** Every usage event of the given coaches, oldest first, once what was captured is rated. */
export async function eventsOfCoaches(client: Queryable, profileIds: string[]): Promise<UsageEvent[]> {
  await rateUsage(client);
  const { rows } = await client.query(
    `select ${eventColumns} from app_public.usage_events e where e.coach_profile_id = any($1::uuid[]) order by e.id`,
    [profileIds],
  );
  return rows;
}

/** A coach's ledger for a billing month, in plain types, once what was captured is rated. */
export async function ledgerOf(client: Queryable, profileId: string, month: string) {
  await rateUsage(client);
  const { rows } = await client.query(
    `select included_seconds_used::int as included, charged_seconds::int as charged,
            (charge_sixtieths / 60.0)::text as exact, charged_minor::int as amount
     from app_private.usage_ledgers where coach_profile_id = $1 and billing_month = $2`,
    [profileId, month],
  );
  return rows[0] ?? null;
}

/** The usage_daily rows of some coaches, in plain types and a stable order. */
export async function dailyRowsOf(client: Queryable, profileIds: string[]) {
  const { rows } = await client.query(
    `select day::text, coach_profile_id, plan_id, provider, model, billing_month::text, attempts, completed, failed,
            free_retries, retranscriptions, audio_seconds::int, billable_seconds::int, charged_seconds::int,
            revenue_minor::int, provider_cost_minor::text, failed_cost_minor::text, unknown_cost_attempts
     from app_public.usage_daily where coach_profile_id = any($1::uuid[])
     order by day, coach_profile_id, provider, model, billing_month`,
    [profileIds],
  );
  return rows;
}

/** A small seeded random number generator (mulberry32), so that a failing random workload can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What each usage event must look like (the table keeps no check constraints
 * for speed: the tests hold the shapes). Returns a line per problem.
 */
export function shapeProblems(events: UsageEvent[]): string[] {
  const problems: string[] = [];
  const firstOfMonth = (day: string) => /^\d{4}-\d{2}-01$/.test(day);
  for (const e of events) {
    const problem = (what: string) => problems.push(`event ${e.id} (${e.kind}): ${what}`);
    if (e.audio_seconds < 0 || e.included_seconds < 0 || e.charged_seconds < 0) problem("negative seconds");
    if (e.unit_price !== null && e.unit_price < 0) problem("negative unit price");
    if (e.provider_cost !== null && Number(e.provider_cost) < 0) problem("negative provider cost");
    if (!firstOfMonth(e.usage_month) || !firstOfMonth(e.billing_month)) problem("a month that is not a first day");
    if (e.billing_month < e.usage_month) problem("billed before the month it belongs to");
    if (e.note !== null && (e.note.trim().length < 3 || e.note.trim().length > 2000)) problem("a note of the wrong length");
    if (e.kind === "attempt") {
      if (e.transcription_id === null || e.session_id === null || e.outcome === null) problem("an attempt without its attempt, session or outcome");
      if (e.billable !== (e.outcome === "completed")) problem("billable is not the same as completed");
      if (e.outcome === "completed" && e.included_seconds + e.charged_seconds !== e.audio_seconds) problem("included + charged is not the audio");
      if (e.outcome === "failed" && (e.included_seconds !== 0 || e.charged_seconds !== 0 || e.amount !== 0)) problem("a failure that costs");
      if (e.amount < 0) problem("a negative attempt");
      if (e.note !== null || e.corrects !== null) problem("an attempt with a note or a correction");
    } else {
      if (e.note === null) problem("a correction without a reason");
      if (e.amount > 0 || e.billable) problem("a correction that charges");
      if ((e.kind === "credit") !== (e.corrects === null)) problem("a credit that corrects, or a void that does not");
    }
  }
  return problems;
}
