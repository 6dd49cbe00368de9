// What a coach writes, through two doors: GraphQL over HTTP with the coach's
// token, and plain SQL as the coach's role (as the API would run it). Each
// method is one write, committed on its own; the workload records what was
// acknowledged.
import crypto from "node:crypto";
import type pg from "pg";
import { graphql, Refused, type Api } from "./api.ts";
import type { Door } from "./ledger.ts";
import type { ReconnectingClient } from "./reconnecting-client.ts";

export type AttemptStatus = "processing" | "completed" | "failed";

/**
 * A coach's writes, and the transcription pipeline's that move the coach's
 * attempts (coaches request attempts; their status, durations and errors come
 * from the pipeline, an admin's account).
 */
export interface CoachDoor {
  door: Door;
  pipelineDoor: Door;
  createSession(clientId: string, title: string): Promise<string>;
  createAttempt(sessionId: string, retryOf: string | null): Promise<string>;
  moveAttempt(id: string, status: AttemptStatus): Promise<void>;
  deleteSession(id: string): Promise<void>;
  restoreSession(id: string): Promise<void>;
  recordConsent(clientId: string, decision: "granted" | "withdrawn"): Promise<string>;
}

/** What a finished attempt carries: a completed one its billed seconds and text, a failed one its error. */
function finish(status: AttemptStatus) {
  if (status === "completed") return { billedDurationSeconds: 600, transcriptText: "Load transcript." };
  if (status === "failed") return { errorMessage: "Provider timed out (load)." };
  return {};
}

const MUTATIONS = {
  CreateSession: `mutation CreateSession($input: CreateCoachingSessionInput!) {
    createCoachingSession(input: $input) { coachingSession { rowId } } }`,
  CreateAttempt: `mutation CreateAttempt($input: CreateTranscriptionInput!) {
    createTranscription(input: $input) { transcription { rowId } } }`,
  MoveAttempt: `mutation MoveAttempt($input: UpdateTranscriptionInput!) {
    updateTranscription(input: $input) { transcription { rowId status } } }`,
  DeleteSession: `mutation DeleteSession($rowId: UUID!) { deleteCoachingSession(input: { rowId: $rowId }) { coachingSession { rowId } } }`,
  RestoreSession: `mutation RestoreSession($rowId: UUID!) { restoreCoachingSession(input: { rowId: $rowId }) { coachingSession { rowId } } }`,
  RecordConsent: `mutation RecordConsent($input: CreateConsentInput!) { createConsent(input: $input) { consent { rowId } } }`,
};

export function graphqlCoachDoor(api: Api, token: string, pipelineToken: string): CoachDoor {
  const run = (name: keyof typeof MUTATIONS, variables: Record<string, unknown>, as = token) => graphql(api, as, name, MUTATIONS[name], variables);
  return {
    door: "graphql_coach",
    pipelineDoor: "graphql_pipeline",
    async createSession(clientId, title) {
      const data = await run("CreateSession", {
        input: { coachingSession: { clientId, title, recordedAt: new Date().toISOString(), audioObjectKey: "recordings/load.m4a", audioDurationSeconds: 600 } },
      });
      return data.createCoachingSession.coachingSession.rowId;
    },
    async createAttempt(sessionId, retryOf) {
      const data = await run("CreateAttempt", {
        input: { transcription: { sessionId, provider: "deepgram", model: "nova-2", language: "en", retryOf } },
      });
      return data.createTranscription.transcription.rowId;
    },
    async moveAttempt(id, status) {
      await run("MoveAttempt", { input: { rowId: id, patch: { status, ...finish(status) } } }, pipelineToken);
    },
    async deleteSession(id) {
      await run("DeleteSession", { rowId: id });
    },
    async restoreSession(id) {
      await run("RestoreSession", { rowId: id });
    },
    async recordConsent(clientId, decision) {
      const data = await run("RecordConsent", { input: { consent: { clientId, purpose: "recording", decision, wordingVersion: LOAD_WORDING.version, wordingSha256: LOAD_WORDING.sha256 } } });
      return data.createConsent.consent.rowId;
    },
  };
}

/** A connection acting as this user for the rest of its session, attributed as the API attributes a user's write. */
export async function actAs(client: pg.Client, role: "coach" | "admin", userId: string): Promise<void> {
  await client.query(
    `select set_config('role', $2, false), set_config('jwt.claims.user_id', $1, false),
            set_config('jwt.claims.role', $3, false), set_config('custodian.actor_kind', 'user', false)`,
    [userId, `custodian_${role}`, role],
  );
}

/** The coach's connection, and the pipeline's (acting as its admin account). */
export function sqlCoachDoor(client: ReconnectingClient, pipeline: ReconnectingClient): CoachDoor {
  const statement = (on: ReconnectingClient, text: string, values: unknown[]) => on.query(text, values);
  return {
    door: "sql",
    pipelineDoor: "sql",
    async createSession(clientId, title) {
      const { rows } = await statement(client,
        `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
         values ($1, $2, now(), 'recordings/load.m4a', 600) returning id`, [clientId, title]);
      return rows[0].id;
    },
    async createAttempt(sessionId, retryOf) {
      const { rows } = await statement(client,
        `insert into app_public.transcriptions (session_id, provider, model, language, retry_of)
         values ($1, 'deepgram', 'nova-2', 'en', $2) returning id`, [sessionId, retryOf]);
      return rows[0].id;
    },
    async moveAttempt(id, status) {
      const facts = finish(status);
      const { rowCount } = await statement(pipeline,
        `update app_public.transcriptions set status = $2, billed_duration_seconds = coalesce($3, billed_duration_seconds),
           transcript_text = coalesce($4, transcript_text), error_message = coalesce($5, error_message) where id = $1`,
        [id, status, facts.billedDurationSeconds ?? null, facts.transcriptText ?? null, facts.errorMessage ?? null]);
      if (rowCount !== 1) throw new Refused(`attempt ${id} was not updated`);
    },
    async deleteSession(id) {
      // A plain DELETE is the governed soft delete (its trigger marks the row, so no row counts as deleted).
      await statement(client, "delete from app_public.coaching_sessions where id = $1", [id]);
    },
    async restoreSession(id) {
      await statement(client, "select app_public.restore_coaching_session($1)", [id]);
    },
    async recordConsent(clientId, decision) {
      const { rows } = await statement(client,
        `insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256) values ($1, 'recording', $2, $3, $4) returning id`,
        [clientId, decision, LOAD_WORDING.version, LOAD_WORDING.sha256]);
      return rows[0].id;
    },
  };
}

/** The consent wording the load's clients are shown: its version and SHA-256, as a consent record keeps them. */
export const LOAD_WORDING = {
  version: "load-1",
  sha256: crypto.createHash("sha256").update("I agree that my coaching sessions are recorded and transcribed (load).").digest("hex"),
};
