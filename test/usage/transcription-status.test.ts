import { becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";
import { createBillingCoach, createPlan, createRates, createSession, eventsOfAttempt, insertAttempt } from "./helpers.ts";

afterAll(closeRootPool);

const statuses = ["queued", "processing", "completed", "failed"] as const;
type Status = (typeof statuses)[number];
const allowed = new Set(["queued>processing", "processing>completed", "processing>failed"]);

const refusal = (id: string, from: Status, to: Status) =>
  from === "completed" || from === "failed"
    ? `Transcription ${id} is ${from}, which is final: it cannot go from ${from} to ${to}. To try again, create a new attempt with retry_of = ${id}.`
    : `Transcription ${id} cannot go from ${from} to ${to}: an attempt goes from queued to processing, then to completed or failed.`;

describe("a transcription's status moves queued -> processing -> completed | failed, for every writer", () => {
  test("as an admin in SQL, each of the twelve changes is allowed or refused in words naming both statuses (55000)", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      const admin = await createUser(client, "admin");
      const outcomes: Record<string, string> = {};
      for (const from of statuses) {
        for (const to of statuses) {
          if (from === to) continue;
          const id = await insertAttempt(client, sessionId, { status: from, seconds: from === "completed" ? 60 : null, rate });
          await becomeUser(client, admin);
          const error = await errorOf(client, "update app_public.transcriptions set status = $2, billed_duration_seconds = 60 where id = $1", [id, to]);
          const { rows: [row] } = await client.query("select status::text from app_public.transcriptions where id = $1", [id]);
          await client.query("reset role");
          outcomes[`${from}>${to}`] = error ? `${error.code}: ${error.message}` : `now ${row.status}`;
          expect(outcomes[`${from}>${to}`]).toBe(allowed.has(`${from}>${to}`) ? `now ${to}` : `55000: ${refusal(id, from, to)}`);
          if (!allowed.has(`${from}>${to}`)) expect(row.status).toBe(from);
        }
      }
      expect(Object.values(outcomes).filter((outcome) => outcome.startsWith("now"))).toHaveLength(3);
    }));

  test("the table's owner is held to it too, and an update that keeps the status (a corrected transcript) is not a change", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const id = await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 120, rate });
      const billed = await eventsOfAttempt(client, id);
      await client.query("update app_public.transcriptions set status = 'completed', transcript_text = 'Corrected.' where id = $1", [id]);
      const error = await errorOf(client, "update app_public.transcriptions set status = 'queued' where id = $1", [id]);
      expect(error).toMatchObject({ code: "55000", message: refusal(id, "completed", "queued") });
      expect((await client.query("select status::text, transcript_text from app_public.transcriptions where id = $1", [id])).rows)
        .toEqual([{ status: "completed", transcript_text: "Corrected." }]);
      expect(await eventsOfAttempt(client, id)).toEqual(billed);
    }));

  test("a retry is a new attempt pointing at the failed one: it is billed once, as its own event", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 0, pricePerMinuteMinor: 6 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach, 600);
      const first = await insertAttempt(client, sessionId, { status: "processing", rate });
      await client.query("update app_public.transcriptions set status = 'failed' where id = $1", [first]);
      const retry = await insertAttempt(client, sessionId, { status: "queued", rate, retryOf: first });
      await client.query("update app_public.transcriptions set status = 'processing' where id = $1", [retry]);
      await client.query("update app_public.transcriptions set status = 'completed', billed_duration_seconds = 600 where id = $1", [retry]);
      const outcomes = async (id: string) => (await eventsOfAttempt(client, id)).map(({ outcome, reason, amount, is_retry }) => ({ outcome, reason, amount, is_retry }));
      expect(await outcomes(first)).toEqual([{ outcome: "failed", reason: "failed_free", amount: 0, is_retry: false }]);
      expect(await outcomes(retry)).toEqual([{ outcome: "completed", reason: "first_success", amount: 60, is_retry: true }]);
    }));
});

describe("what a finished attempt was billed on stays as billed", () => {
  test("its billed duration, provider, model, times and session are refused in words naming the columns; its transcript and language may be corrected", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      const id = await insertAttempt(client, sessionId, { status: "completed", seconds: 300, rate, finishedAt: "2026-03-10T10:00:00Z" });
      const failed = await insertAttempt(client, sessionId, { status: "failed", rate, finishedAt: "2026-03-10T11:00:00Z" });
      const admin = await createUser(client, "admin");
      const billed = [...await eventsOfAttempt(client, id), ...await eventsOfAttempt(client, failed)];
      await becomeUser(client, admin);
      const refused = (attempt: string, status: string, columns: string) =>
        `Transcription ${attempt} is ${status}, and its usage was billed from what it was then: ${columns} cannot change. To correct the charge, void its usage event or issue a credit; to transcribe again, create a new attempt.`;
      expect(await errorOf(client, "update app_public.transcriptions set billed_duration_seconds = 3000 where id = $1", [id]))
        .toMatchObject({ code: "55000", message: refused(id, "completed", "billed_duration_seconds") });
      expect(await errorOf(client, "update app_public.transcriptions set started_at = '2026-03-31T23:00:00Z', finished_at = '2026-04-01T00:00:00Z' where id = $1", [id]))
        .toMatchObject({ code: "55000", message: refused(id, "completed", "started_at, finished_at") });
      expect(await errorOf(client, "update app_public.transcriptions set billed_duration_seconds = 60 where id = $1", [failed]))
        .toMatchObject({ code: "55000", message: refused(failed, "failed", "billed_duration_seconds") });
      await client.query("update app_public.transcriptions set transcript_text = 'Corrected.', language = 'de', finished_at = finished_at where id = $1", [id]);
      // The table's owner too (an admin may not write these columns at all).
      await client.query("reset role");
      expect(await errorOf(client, "update app_public.transcriptions set provider = 'other', model = 'm2' where id = $1", [id]))
        .toMatchObject({ code: "55000", message: refused(id, "completed", "provider, model") });
      expect((await client.query(
        "select billed_duration_seconds, model, transcript_text, language from app_public.transcriptions where id = $1", [id])).rows)
        .toEqual([{ billed_duration_seconds: 300, model: rate.model, transcript_text: "Corrected.", language: "de" }]);
      expect([...await eventsOfAttempt(client, id), ...await eventsOfAttempt(client, failed)]).toEqual(billed);
    }));
});

describe("through the API", () => {
  let admin: User;
  let coach: Coach;
  let adminToken: string;

  beforeAll(async () => {
    admin = await createUser(rootPool(), "admin", "status-admin");
    coach = await createCoach(rootPool(), "status-coach");
    adminToken = await login(admin.email);
  });
  afterAll(async () => {
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  });

  const update = `mutation ($id: UUID!, $status: TranscriptionStatus) {
    updateTranscription(input: { rowId: $id, patch: { status: $status } }) { transcription { status } } }`;

  test("an admin sending a completed (billed) attempt back to queued is told why, with the SQLSTATE, and nothing changes", async () => {
    const { body } = await graphql(update, { id: coach.transcriptionId, status: "queued" }, adminToken);
    expect(body.data?.updateTranscription ?? null).toBeNull();
    expect(body.errors?.map((error) => ({ message: error.message, code: error.extensions?.code }))).toEqual([
      { message: refusal(coach.transcriptionId, "completed", "queued"), code: "55000" },
    ]);
    const { rows } = await rootPool().query("select status::text from app_public.transcriptions where id = $1", [coach.transcriptionId]);
    expect(rows).toEqual([{ status: "completed" }]);
  });
});
