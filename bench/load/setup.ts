// The load's world, written by the owner before the load: one plan, the
// providers' rates, an admin, and coaches; the first `active` coaches each get
// a client who consents to recording and transcription (whose sessions they
// transcribe) and one whose consent they change. Nothing here is counted.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type pg from "pg";
import { LOAD_WORDING } from "./coach-doors.ts";
import type { CoachClients } from "./workloads.ts";

export interface LoadCoach {
  email: string;
  userId: string;
  profileId: string;
  clients: CoachClients;
}

export interface LoadWorld {
  password: string;
  admin: { email: string; userId: string };
  /** The transcription pipeline's account (an admin): it moves attempts through their statuses. */
  pipeline: { email: string; userId: string };
  activeCoaches: LoadCoach[];
}

export async function setUpLoad(owner: pg.Client, coaches: number, active: number): Promise<LoadWorld> {
  const password = crypto.randomBytes(12).toString("hex");
  // bench.write_history, as bench:usage builds its history.
  await owner.query(fs.readFileSync(path.join(import.meta.dirname, "..", "usage-setup.sql"), "utf8"));
  const { rows: [plan] } = await owner.query(
    `insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor)
     values ('Load plan', 2900, 300, 12) returning id`);
  // The models of the history and of the load's attempts, each with a cost, so reconcile knows every one.
  await owner.query(
    `insert into app_public.provider_rates (provider, model, cost_per_minute_minor)
     values ('deepgram', 'nova-2', 0.43), ('openai', 'whisper-1', 0.60), ('assemblyai', 'best', 0.65)`);
  const { rows: [admin] } = await owner.query("select id from app_private.create_user('load-admin@example.com', $1, 'admin')", [password]);
  const { rows: [pipeline] } = await owner.query("select id from app_private.create_user('load-pipeline@example.com', $1, 'admin')", [password]);
  const activeCoaches: LoadCoach[] = [];
  for (let n = 1; n <= coaches; n++) {
    const email = `load-coach${n}@example.com`;
    const { rows: [user] } = await owner.query("select id from app_private.create_user($1, $2, 'coach')", [email, password]);
    const { rows: [profile] } = await owner.query(
      "insert into app_public.coach_profiles (user_id, display_name, plan_id) values ($1, $2, $3) returning id", [user.id, `Load coach ${n}`, plan.id]);
    if (n > active) continue;
    const { rows: clients } = await owner.query(
      `insert into app_public.clients (coach_profile_id, full_name, email)
       values ($1, 'Load client', $2), ($1, 'Consent client', $3) returning id, full_name`,
      [profile.id, `load-client-${n}@load.example`, `consent-client-${n}@load.example`]);
    await owner.query(
      `insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256)
       select c, p, 'granted', $2, $3 from unnest($1::uuid[]) c, unnest(array['recording', 'transcription']::app_public.consent_purpose[]) p`,
      [clients.map((client) => client.id), LOAD_WORDING.version, LOAD_WORDING.sha256]);
    const idOf = (name: string) => clients.find((client) => client.full_name === name)!.id as string;
    activeCoaches.push({ email, userId: user.id, profileId: profile.id, clients: { workClientId: idOf("Load client"), consentClientId: idOf("Consent client") } });
  }
  await owner.query("analyze");
  return {
    password,
    admin: { email: "load-admin@example.com", userId: admin.id },
    pipeline: { email: "load-pipeline@example.com", userId: pipeline.id },
    activeCoaches,
  };
}
