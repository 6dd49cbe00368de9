import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Restriction of processing (Art. 18): placed under a verified request, lifted
// with a reason, never deleted; while active, new transcriptions are refused.

afterAll(closeRootPool);

/** A request of this kind about the client, verified (as root, the way an admin would). */
async function verifiedRequest(client: pg.ClientBase, clientId: string, kind = "restriction", verify = true): Promise<string> {
  const { rows } = await client.query(
    "insert into app_public.data_subject_requests (kind, client_id, received_at) values ($1, $2, '2026-02-02T09:00:00Z') returning id",
    [kind, clientId]);
  if (verify) {
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'Signed letter checked' where id = $1", [rows[0].id]);
  }
  return rows[0].id;
}

const transcribe = (sessionId: string): [string, unknown[]] =>
  ["insert into app_public.transcriptions (session_id, provider, model) values ($1, 'deepgram', 'nova-2')", [sessionId]];

test("an admin restricts a client under their verified request: new attempts are refused with the reason, reading stays; lifted, they are allowed", () =>
  withRootDb(async (client) => {
    await client.query("set transaction isolation level repeatable read"); // the readiness count reasons about this snapshot only
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const requestId = await verifiedRequest(client, coach.clientId);
    const restrictedBefore = Number((await client.query("select app_private.restricted_subjects_count() as n")).rows[0].n);
    await becomeUser(client, admin);
    const { rows: [placed] } = await client.query(
      `insert into app_public.processing_restrictions (request_id, reason) values ($1, 'Accuracy contested (Art. 18(1)(a))')
       returning id, client_id, placed_by, lifted_at`, [requestId]);
    expect(placed).toEqual({ id: expect.any(String), client_id: coach.clientId, placed_by: admin.id, lifted_at: null });
    await becomeRoot(client);
    expect(Number((await client.query("select app_private.restricted_subjects_count() as n")).rows[0].n)).toBe(restrictedBefore + 1);

    const message = `Cannot transcribe session ${coach.sessionId}: processing of client ${coach.clientId}'s data is restricted ` +
      `(restriction ${placed.id} placed at `;
    for (const actor of [coach.user, admin, null]) {
      if (actor) await becomeUser(client, actor); else await becomeRoot(client);
      const refused = await errorOf(client, ...transcribe(coach.sessionId));
      expect(refused?.code).toBe("55000");
      expect(refused?.message.startsWith(message)).toBe(true);
      expect(refused?.message.endsWith(": Accuracy contested (Art. 18(1)(a))).")).toBe(true);
    }
    // Reading stays possible: the coach reads the client's transcript and the restriction itself.
    await becomeUser(client, coach.user);
    const read = await client.query(
      `select (select transcript_text from app_public.transcriptions where id = $1) as transcript,
              (select reason from app_public.processing_restrictions where client_id = $2) as reason`,
      [coach.transcriptionId, coach.clientId]);
    expect(read.rows[0]).toEqual({ transcript: "Hello.", reason: "Accuracy contested (Art. 18(1)(a))" });

    await becomeUser(client, admin);
    const lifted = await client.query(
      "select lifted_by, lift_reason, lifted_at is not null as lifted from app_public.lift_processing_restriction($1, 'Accuracy checked; data corrected')",
      [placed.id]);
    expect(lifted.rows[0]).toEqual({ lifted_by: admin.id, lift_reason: "Accuracy checked; data corrected", lifted: true });
    await becomeUser(client, coach.user);
    expect((await client.query(...transcribe(coach.sessionId))).rowCount).toBe(1);
    await becomeRoot(client);
    expect(Number((await client.query("select app_private.restricted_subjects_count() as n")).rows[0].n)).toBe(restrictedBefore);
  }));

test("a restriction is never deleted or rewritten, by anyone: only lifted once, with a reason", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const requestId = await verifiedRequest(client, coach.clientId);
    const { rows } = await client.query(
      "insert into app_public.processing_restrictions (request_id, reason) values ($1, 'Unlawful processing; erasure opposed') returning id", [requestId]);
    const id = rows[0].id;
    const snapshot = async () => (await client.query("select * from app_public.processing_restrictions where id = $1", [id])).rows;
    const before = await snapshot();
    expect((await errorOf(client, "delete from app_public.processing_restrictions where id = $1", [id]))?.message)
      .toBe("Restrictions are never deleted; lift the restriction instead.");
    expect((await errorOf(client, "truncate app_public.processing_restrictions"))?.code).toBe("55000");
    expect((await errorOf(client, "update app_public.processing_restrictions set reason = 'other' where id = $1", [id]))?.message)
      .toBe("A restriction cannot be changed, only lifted with a reason (liftProcessingRestriction).");
    expect(await snapshot()).toEqual(before);
    await client.query("select app_public.lift_processing_restriction($1, 'Legal claim settled')", [id]);
    expect((await errorOf(client, "select app_public.lift_processing_restriction($1, 'Again')", [id]))?.message)
      .toMatch(/^Restriction .* was lifted at .*; a lifted restriction cannot change\. Place a new one instead\.$/);
  }));

test("bad restrictions are refused in words and nothing is written: an unknown request, one not verified, one of another kind, a short reason", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const received = await verifiedRequest(client, coach.clientId, "restriction", false);
    const erasure = await verifiedRequest(client, coach.clientId, "erasure");
    const verified = await verifiedRequest(client, coach.clientId);
    await becomeUser(client, admin);
    const place = (requestId: string, reason = "Accuracy contested") =>
      errorOf(client, "insert into app_public.processing_restrictions (request_id, reason) values ($1, $2)", [requestId, reason]);
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect(await place(unknown)).toMatchObject({ code: "P0002", message: `There is no data-subject request ${unknown}.` });
    expect(await place(received)).toMatchObject({
      code: "55000", message: `Request ${received} is received; a restriction is placed once the person's identity is verified (verify the request first).` });
    expect(await place(erasure)).toMatchObject({
      code: "22023",
      message: `Request ${erasure} is an erasure request about a client; a restriction is placed under a client's restriction or rectification request (Art. 18(1)).` });
    expect((await place(verified, " x "))?.message).toMatch(/processing_restrictions_reason_check/);
    await becomeRoot(client);
    expect((await client.query("select count(*)::int as n from app_public.processing_restrictions where client_id = $1", [coach.clientId])).rows[0].n).toBe(0);
  }));

test("coaches read their own clients' restrictions but place and lift none; auditors read all and change none", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "restrict-a");
    const other = await createCoach(client, "restrict-b");
    const auditor = await createUser(client, "auditor");
    const mine = await verifiedRequest(client, coach.clientId);
    const theirs = await verifiedRequest(client, other.clientId);
    const { rows } = await client.query(
      "insert into app_public.processing_restrictions (request_id, reason) values ($1, 'Objection pending'), ($2, 'Objection pending') returning id",
      [mine, theirs]);
    const visible = async () => (await client.query(
      "select client_id from app_public.processing_restrictions where client_id = any($1) order by 1", [[coach.clientId, other.clientId]])).rows.map((row) => row.client_id);
    await becomeUser(client, coach.user);
    expect(await visible()).toEqual([coach.clientId]);
    expect((await errorOf(client, "insert into app_public.processing_restrictions (request_id, reason) values ($1, 'Mine')", [mine]))?.code).toBe("42501");
    expect((await errorOf(client, "select app_public.lift_processing_restriction($1, 'No')", [rows[0].id]))?.code).toBe("42501");
    await becomeUser(client, auditor);
    expect(await visible()).toEqual([coach.clientId, other.clientId].sort());
    expect((await errorOf(client, "select app_public.lift_processing_restriction($1, 'No')", [rows[0].id]))?.code).toBe("42501");
  }));

describe("restriction over GraphQL", () => {
  let coach: Coach;
  let admin: User;
  let requestId: string;
  beforeAll(async () => {
    coach = await createCoach(rootPool(), "gdpr-restrict-coach");
    admin = await createUser(rootPool(), "admin", "gdpr-restrict-admin");
    const { rows } = await rootPool().query(
      "insert into app_public.data_subject_requests (kind, client_id) values ('restriction', $1) returning id", [coach.clientId]);
    requestId = rows[0].id;
    await rootPool().query("update app_public.data_subject_requests set state = 'verified', verification = 'Video call, ID shown' where id = $1", [requestId]);
  });
  afterAll(async () => {
    // Restrictions are never deleted through any door; the test's own are removed by the owner with the trigger set aside.
    await rootPool().query(`begin; alter table app_public.processing_restrictions disable trigger _200_append_only;
      delete from app_public.processing_restrictions where client_id = '${coach.clientId}';
      alter table app_public.processing_restrictions enable trigger _200_append_only; commit;`);
    await rootPool().query("delete from app_public.data_subject_requests where client_id = $1", [coach.clientId]);
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  });

  test("an admin restricts; the coach's attempt is refused with the reason; the admin lifts it and the attempt goes through", async () => {
    const adminToken = await login(admin.email);
    const placed = await graphql(
      `mutation ($requestId: UUID!) { createProcessingRestriction(input: { processingRestriction: { requestId: $requestId, reason: "Accuracy contested" } }) {
        processingRestriction { rowId clientId placedBy liftedAt } } }`,
      { requestId }, adminToken);
    expect(placed.body.errors).toBeUndefined();
    const restriction = placed.body.data!.createProcessingRestriction.processingRestriction;
    expect(restriction).toEqual({ rowId: expect.any(String), clientId: coach.clientId, placedBy: admin.id, liftedAt: null });

    const coachToken = await login(coach.user.email);
    const attempt = () => graphql(
      `mutation ($id: UUID!) { createTranscription(input: { transcription: { sessionId: $id, provider: "deepgram", model: "nova-2" } }) {
        transcription { status } } }`, { id: coach.sessionId }, coachToken);
    const refused = await attempt();
    expect(refused.body.errors?.[0]?.extensions?.code).toBe("55000");
    expect(refused.body.errors?.[0]?.message).toMatch(
      new RegExp(`^Cannot transcribe session ${coach.sessionId}: processing of client ${coach.clientId}'s data is restricted \\(restriction ${restriction.rowId} placed at .+: Accuracy contested\\)\\.$`));
    // The coach still reads the transcript and why their attempt was refused.
    const read = await graphql(
      `query ($id: UUID!) { client(rowId: $id) { processingRestrictions { nodes { reason liftedAt } } } }`, { id: coach.clientId }, coachToken);
    expect(read.body.data!.client.processingRestrictions.nodes).toEqual([{ reason: "Accuracy contested", liftedAt: null }]);

    const byCoach = await graphql(
      `mutation ($id: UUID!) { liftProcessingRestriction(input: { restrictionId: $id, reason: "Not mine to lift" }) { result { rowId } } }`,
      { id: restriction.rowId }, coachToken);
    expect(byCoach.body.errors?.[0]?.message).toBeTruthy();
    const lifted = await graphql(
      `mutation ($id: UUID!) { liftProcessingRestriction(input: { restrictionId: $id, reason: "Accuracy checked" }) { result { liftReason liftedBy } } }`,
      { id: restriction.rowId }, adminToken);
    expect(lifted.body.errors).toBeUndefined();
    expect(lifted.body.data!.liftProcessingRestriction.result).toEqual({ liftReason: "Accuracy checked", liftedBy: admin.id });
    const allowed = await attempt();
    expect(allowed.body.data?.createTranscription.transcription).toEqual({ status: "queued" });
  });
});
