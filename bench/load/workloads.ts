// The load's writers and readers, each a loop until the deadline. A write the
// answer acknowledged goes in the ledger; one refused is counted as refused;
// one left without an answer is in doubt (neither counted nor owed).
import { print } from "@0no-co/graphql.web";
import { PAGES, type PageContext, type Role } from "../console-pages.ts";
import { graphql, InDoubt, Refused, restGet, type Api } from "./api.ts";
import { LOAD_WORDING, type AttemptStatus, type CoachDoor } from "./coach-doors.ts";
import type { Door, Ledger, Write } from "./ledger.ts";
import type { ReconnectingClient } from "./reconnecting-client.ts";

/** A write's outcome into the ledger; resolves to its result, or null when it was refused or left in doubt. */
async function write<T>(ledger: Ledger, known: Omit<Write, "id"> & { id?: string }, work: () => Promise<T>, idOf: (result: T) => string | undefined = () => known.id): Promise<T | null> {
  try {
    const result = await work();
    ledger.acknowledge({ ...known, id: idOf(result) ?? known.id! });
    return result;
  } catch (error) {
    if (error instanceof Refused) {
      ledger.refuse(`${known.door} ${known.table} ${known.operation}: ${error.message.replace(/[0-9a-f-]{36}/g, "<id>").slice(0, 160)}`);
      return null;
    }
    if (error instanceof InDoubt) {
      ledger.doubt(known);
      // The server failed (under LOAD_FAULT, the database is away): a client waits a moment before its next write.
      await new Promise((resolve) => setTimeout(resolve, 250));
      return null;
    }
    throw error;
  }
}

/** An admin's write accounted outside the audit trail (a usage credit, a retention run's request); null when refused or in doubt. */
async function other(ledger: Ledger, what: string, work: () => Promise<string>): Promise<string | null> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Refused) ledger.refuse(`graphql_admin ${what}: ${error.message.slice(0, 160)}`);
    else if (error instanceof InDoubt) ledger.doubtOther(what);
    else throw error;
    return null;
  }
}

export interface CoachClients {
  /** A client with consent to recording and transcription, whose sessions are transcribed. */
  workClientId: string;
  /** A client whose recording consent the coach withdraws and grants again. */
  consentClientId: string;
}

/** An attempt taken from queued through processing to `status`; returns its id once terminal, else null. */
async function attempt(door: CoachDoor, ledger: Ledger, sessionId: string, retryOf: string | null, status: AttemptStatus): Promise<string | null> {
  const d = door.door;
  const id = await write(ledger, { door: d, table: "transcriptions", operation: "INSERT" }, () => door.createAttempt(sessionId, retryOf), (id) => id);
  if (!id) return null;
  const p = door.pipelineDoor;
  if ((await write(ledger, { door: p, table: "transcriptions", operation: "UPDATE", id }, async () => (await door.moveAttempt(id, "processing"), id))) === null) return null;
  if ((await write(ledger, { door: p, table: "transcriptions", operation: "UPDATE", id }, async () => (await door.moveAttempt(id, status), id))) === null) return null;
  ledger.terminalAttempts.push(id);
  return id;
}

/**
 * A coach's work until the deadline: sessions transcribed (a fifth of the
 * attempts fail and are retried; some completed ones are transcribed again),
 * sessions soft-deleted and restored, and consent withdrawn and granted again.
 */
export async function runCoach(door: CoachDoor, ledger: Ledger, clients: CoachClients, deadline: number): Promise<void> {
  const d = door.door;
  let round = 0;
  while (performance.now() < deadline) {
    round++;
    const dice = Math.random();
    if (dice < 0.7) {
      const sessionId = await write(ledger, { door: d, table: "coaching_sessions", operation: "INSERT" },
        () => door.createSession(clients.workClientId, `Load session ${round}`), (id) => id);
      if (!sessionId) continue;
      const outcome = Math.random() < 0.2 ? "failed" : "completed";
      const first = await attempt(door, ledger, sessionId, null, outcome);
      if (!first) continue;
      // A failed attempt is retried; a completed one is now and then transcribed again.
      const last = outcome === "failed" ? await attempt(door, ledger, sessionId, first, "completed") : first;
      if (last && Math.random() < 0.15) await attempt(door, ledger, sessionId, last, "completed");
    } else if (dice < 0.85) {
      const sessionId = await write(ledger, { door: d, table: "coaching_sessions", operation: "INSERT" },
        () => door.createSession(clients.workClientId, `Deleted and restored ${round}`), (id) => id);
      if (!sessionId) continue;
      if ((await write(ledger, { door: d, table: "coaching_sessions", operation: "SOFT_DELETE", id: sessionId }, async () => (await door.deleteSession(sessionId), sessionId))) === null) continue;
      await write(ledger, { door: d, table: "coaching_sessions", operation: "RESTORE", id: sessionId }, async () => (await door.restoreSession(sessionId), sessionId));
    } else {
      for (const decision of ["withdrawn", "granted"] as const) {
        const id = await write(ledger, { door: d, table: "consents", operation: "INSERT" },
          () => door.recordConsent(clients.consentClientId, decision), (id) => id);
        if (!id) break;
      }
    }
  }
}

const ADMIN = {
  CreateClient: `mutation CreateClient($input: CreateClientInput!) { createClient(input: $input) { client { rowId } } }`,
  RecordConsent: `mutation RecordConsent($input: CreateConsentInput!) { createConsent(input: $input) { consent { rowId } } }`,
  CreateSession: `mutation CreateSession($input: CreateCoachingSessionInput!) { createCoachingSession(input: $input) { coachingSession { rowId } } }`,
  DeleteClient: `mutation DeleteClient($rowId: UUID!) { deleteClient(input: { rowId: $rowId }) { client { rowId } } }`,
  RestoreClient: `mutation RestoreClient($rowId: UUID!) { restoreClient(input: { rowId: $rowId }) { client { rowId } } }`,
  IssueUsageCredit: `mutation IssueUsageCredit($input: IssueUsageCreditInput!) { issueUsageCredit(input: $input) { result { rowId } } }`,
  FileRequest: `mutation FileRequest($input: CreateDataSubjectRequestInput!) { createDataSubjectRequest(input: $input) { dataSubjectRequest { rowId } } }`,
  VerifyRequest: `mutation VerifyRequest($input: UpdateDataSubjectRequestInput!) { updateDataSubjectRequest(input: $input) { dataSubjectRequest { rowId state } } }`,
  RequestErasure: `mutation RequestErasure($requestId: UUID!) { requestDataSubjectErasure(input: { requestId: $requestId }) { result { rowId } } }`,
  RequestRetentionRun: `mutation RequestRetentionRun { requestRetentionRun(input: { dryRun: true }) { result } }`,
};

/**
 * An admin's work until the deadline: clients created for coaches with their
 * consents (half of them deleted and restored), usage credits, and, once each,
 * an erasure (a client filed, verified, and its erasure asked of the worker)
 * and a retention run.
 */
export async function runAdmin(api: Api, token: string, ledger: Ledger, coachProfileIds: string[], started: number, deadline: number): Promise<void> {
  const d: Door = "graphql_admin";
  const run = (name: keyof typeof ADMIN, variables: Record<string, unknown> = {}) => graphql(api, token, name, ADMIN[name], variables);
  const newClient = async (label: string) => {
    const coachProfileId = coachProfileIds[Math.floor(Math.random() * coachProfileIds.length)]!;
    const clientId = await write(ledger, { door: d, table: "clients", operation: "INSERT" },
      async () => (await run("CreateClient", { input: { client: { coachProfileId, fullName: `${label} ${Math.random().toString(36).slice(2, 8)}`, email: `${Math.random().toString(36).slice(2, 10)}@load.example` } } })).createClient.client.rowId as string,
      (id) => id);
    if (!clientId) return null;
    for (const purpose of ["recording", "transcription"]) {
      const consent = await write(ledger, { door: d, table: "consents", operation: "INSERT" },
        async () => (await run("RecordConsent", { input: { consent: { clientId, purpose, decision: "granted", wordingVersion: LOAD_WORDING.version, wordingSha256: LOAD_WORDING.sha256 } } })).createConsent.consent.rowId as string,
        (id) => id);
      if (!consent) return null;
    }
    return { clientId, coachProfileId };
  };
  let erased = false;
  let retained = false;
  let round = 0;
  while (performance.now() < deadline) {
    round++;
    const elapsed = (performance.now() - started) / (deadline - started);
    // Once each, tried again until acknowledged (under LOAD_FAULT the first try may meet no database).
    if (!erased && elapsed > 0.3) {
      const subject = await newClient("Erased client");
      if (!subject) continue;
      const sessionId = await write(ledger, { door: d, table: "coaching_sessions", operation: "INSERT" },
        async () => (await run("CreateSession", { input: { coachingSession: { clientId: subject.clientId, title: "Session to erase", recordedAt: new Date().toISOString(), audioObjectKey: "recordings/erase.m4a", audioDurationSeconds: 300 } } })).createCoachingSession.coachingSession.rowId as string,
        (id) => id);
      if (!sessionId) continue;
      const requestId = await write(ledger, { door: d, table: "data_subject_requests", operation: "INSERT" },
        async () => (await run("FileRequest", { input: { dataSubjectRequest: { kind: "erasure", clientId: subject.clientId } } })).createDataSubjectRequest.dataSubjectRequest.rowId as string,
        (id) => id);
      if (!requestId) continue;
      const verified = await write(ledger, { door: d, table: "data_subject_requests", operation: "UPDATE", id: requestId },
        async () => (await run("VerifyRequest", { input: { rowId: requestId, patch: { state: "verified", verification: "Identity checked (load)." } } }), requestId));
      if (!verified) continue;
      // As the console does: the worker runs it (at volume its residue scan outlasts a request).
      const runId = await write(ledger, { door: d, table: "data_subject_erasure_runs", operation: "INSERT" },
        async () => (await run("RequestErasure", { requestId })).requestDataSubjectErasure.result.rowId as string, (id) => id);
      if (runId) {
        ledger.erasureRuns.push(runId);
        erased = true;
      }
      continue;
    }
    if (!retained && elapsed > 0.5) {
      const jobId = await other(ledger, "retention run", async () => String((await run("RequestRetentionRun")).requestRetentionRun.result));
      if (jobId) {
        ledger.retentionJobs.push(jobId);
        retained = true;
      }
      continue;
    }
    if (round % 5 === 0) {
      const coachProfileId = coachProfileIds[Math.floor(Math.random() * coachProfileIds.length)]!;
      const creditId = await other(ledger, "usage credit",
        async () => String((await run("IssueUsageCredit", { input: { coachProfileId, amountMinor: "25", reason: "Load credit" } })).issueUsageCredit.result.rowId));
      if (creditId) ledger.credits.push(creditId);
      continue;
    }
    const created = await newClient("Admin's client");
    if (!created || Math.random() < 0.5) continue;
    const id = created.clientId;
    if ((await write(ledger, { door: d, table: "clients", operation: "SOFT_DELETE", id }, async () => (await run("DeleteClient", { rowId: id }), id))) === null) continue;
    await write(ledger, { door: d, table: "clients", operation: "RESTORE", id }, async () => (await run("RestoreClient", { rowId: id }), id));
  }
}

/** The REST reads a role makes, by route: the usage list, analytics (staff) and the audit trail. */
function restReads(role: Role, context: PageContext): Array<[route: string, pathAndQuery: string]> {
  const range = `from=${context.from}&to=${context.to}`;
  return [
    ["GET /api/v1/usage", `/api/v1/usage?${range}`],
    ["GET /api/v1/audit", "/api/v1/audit?limit=50"],
    ...(role === "admin"
      ? ([
          ["GET /api/v1/admin/analytics/usage", `/api/v1/admin/analytics/usage?${range}`],
          ["GET /api/v1/admin/analytics/top-coaches", `/api/v1/admin/analytics/top-coaches?${range}`],
          ["GET /api/v1/retention/runs", "/api/v1/retention/runs"],
        ] as Array<[string, string]>)
      : []),
  ];
}

/** A console user reading until the deadline: every page the role opens (its GraphQL operations), then the REST reads. */
export async function runReader(api: Api, token: string, role: Role, context: PageContext, deadline: number, failures: string[]): Promise<void> {
  while (performance.now() < deadline) {
    for (const { roles, operations } of Object.values(PAGES)) {
      if (!roles.includes(role)) continue;
      for (const [document, variables] of operations(context, role)) {
        const definition = document.definitions[0] as { name?: { value: string } };
        await graphql(api, token, definition.name?.value ?? "anonymous", print(document), variables)
          .catch((error: Error) => failures.push(error.message.slice(0, 200)));
      }
    }
    for (const [route, pathAndQuery] of restReads(role, context)) {
      await restGet(api, token, route, pathAndQuery).catch((error: Error) => failures.push(error.message.slice(0, 200)));
    }
  }
}

/**
 * The worker's door: besides its crontab (rating, sealing and rollups every
 * minute or ten), the jobs are queued every few seconds, as a busier
 * installation's schedule would, so the worker writes throughout the load.
 */
export async function runJobKicker(kicker: ReconnectingClient, deadline: number, everySeconds = 5): Promise<number> {
  let queued = 0;
  while (performance.now() < deadline) {
    for (const task of ["usage_rate", "audit_seal", "usage_aggregate"]) {
      try {
        await kicker.query("select graphile_worker.add_job($1, '{}'::json, job_key := $1, max_attempts := 5)", [task]);
        queued++;
      } catch (error) {
        if (!(error instanceof Refused || error instanceof InDoubt)) throw error; // the database is away: the next round queues again
      }
    }
    const until = Math.min(deadline, performance.now() + everySeconds * 1000);
    while (performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return queued;
}
