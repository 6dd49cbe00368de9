import crypto from "node:crypto";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// A caller who asks to change something they may not touch, or that does not
// exist, is told so: an update or delete matching no row the caller may
// change answers 404 with words naming what was asked for (PostGraphile
// alone answers `{ client: null }` and no error), and leaving out a
// mutation's required input is refused in words before anything runs
// (rather than "cannot delete client <NULL>").

let coach: Coach;
let other: Coach;
let admin: User;
let tokens: { coach: string; other: string; admin: string };

beforeAll(async () => {
  const pool = rootPool();
  coach = await createCoach(pool, "silent-coach");
  other = await createCoach(pool, "silent-other");
  admin = await createUser(pool, "admin", "silent-admin");
  tokens = { coach: await login(coach.user.email), other: await login(other.user.email), admin: await login(admin.email) };
});

afterAll(async () => {
  const pool = rootPool();
  for (const each of [coach, other]) await deleteCoach(pool, each);
  await pool.query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

const lower = (type: string) => type[0]!.toLowerCase() + type.slice(1);

/** Each table's update mutation, a field a coach and an admin may both set (or an admin alone), and the row of `other` it names. */
const updates = [
  { type: "Client", noun: "client", patch: { notes: "Not yours." }, row: () => other.clientId },
  { type: "CoachProfile", noun: "coach profile", patch: { bio: "Not yours." }, row: () => other.profileId },
  { type: "CoachingSession", noun: "coaching session", patch: { title: "Not yours" }, row: () => other.sessionId },
  { type: "Transcription", noun: "transcription", patch: { transcriptText: "Not yours." }, row: () => other.transcriptionId },
  { type: "User", noun: "user", patch: { displayName: "Not yours" }, row: () => other.user.id },
] as const;

const staffOnly = [
  { type: "BillingPlan", noun: "billing plan", patch: { name: "Nowhere plan" } },
  { type: "ProviderRate", noun: "provider rate", patch: { model: "nowhere" } },
] as const;

async function update(type: string, input: Record<string, unknown>, token: string) {
  const response = await graphql(
    `mutation ($input: Update${type}Input!) { update${type}(input: $input) { ${lower(type)} { rowId } } }`,
    { input },
    token,
  );
  return { status: response.status, data: response.body.data ?? null, errors: response.body.errors };
}

const nothingUpdated = (noun: string, by: string) =>
  `No ${noun} with ${by} that you may update: it does not exist or is not yours to update. Nothing was updated.`;

describe("an update that matches no row the caller may change is refused in words", () => {
  test.each(updates)("a coach updating another coach's $noun is told there is none they may update, and the row is unchanged", async ({ type, noun, patch, row }) => {
    const answer = await update(type, { rowId: row(), patch }, tokens.coach);
    expect(answer).toEqual({
      status: 404,
      data: { [`update${type}`]: null },
      errors: [expect.objectContaining({ message: nothingUpdated(noun, `rowId "${row()}"`), extensions: { code: "P0002", statusCode: 404 } })],
    });
  });

  test.each([...updates, ...staffOnly])("an admin updating a $noun that does not exist is told so", async ({ type, noun, patch }) => {
    const id = crypto.randomUUID();
    const answer = await update(type, { rowId: id, patch }, tokens.admin);
    expect({ status: answer.status, message: answer.errors?.[0]?.message, code: answer.errors?.[0]?.extensions?.code }).toEqual({
      status: 404, message: nothingUpdated(noun, `rowId "${id}"`), code: "P0002",
    });
  });

  test("the rows another coach owns kept their values", async () => {
    const { rows } = await rootPool().query(
      `select c.notes, p.bio, s.title, t.transcript_text, u.display_name
       from app_public.clients c, app_public.coach_profiles p, app_public.coaching_sessions s, app_public.transcriptions t, app_public.users u
       where c.id = $1 and p.id = $2 and s.id = $3 and t.id = $4 and u.id = $5`,
      [other.clientId, other.profileId, other.sessionId, other.transcriptionId, other.user.id],
    );
    expect(rows[0]).toEqual({ notes: null, bio: null, title: "Kick-off", transcript_text: "Hello.", display_name: "silent-other" });
  });

  test("by another unique key (email) and by node id, the key asked for is named", async () => {
    const byEmail = await graphql(
      `mutation { updateUserByEmail(input: { email: "nobody-${crypto.randomUUID()}@test.example", patch: { displayName: "x" } }) { user { rowId } } }`,
      {},
      tokens.admin,
    );
    expect(byEmail.status).toBe(404);
    expect(byEmail.body.errors?.[0]?.message).toMatch(/^No user with email "nobody-.*@test\.example" that you may update: it does not exist or is not yours to update\. Nothing was updated\.$/);

    const { body } = await graphql(`query ($id: UUID!) { client(rowId: $id) { id } }`, { id: other.clientId }, tokens.other);
    const nodeId = body.data!.client.id as string;
    const byNodeId = await graphql(
      `mutation ($id: ID!) { updateClientById(input: { id: $id, patch: { notes: "Not yours." } }) { client { rowId } } }`,
      { id: nodeId },
      tokens.coach,
    );
    expect({ status: byNodeId.status, message: byNodeId.body.errors?.[0]?.message }).toEqual({ status: 404, message: nothingUpdated("client", `id "${nodeId}"`) });
  });

  test("the owner's own update still answers with the row", async () => {
    const answer = await update("Client", { rowId: coach.clientId, patch: { notes: "Mine." } }, tokens.coach);
    expect(answer).toEqual({ status: 200, data: { updateClient: { client: { rowId: coach.clientId } } }, errors: undefined });
  });
});

describe("a delete that matches nothing is refused in words", () => {
  test.each(["BillingPlan", "ProviderRate"])("an admin deleting a %s that does not exist is told so", async (type) => {
    const noun = type === "BillingPlan" ? "billing plan" : "provider rate";
    const response = await graphql(
      `mutation ($id: UUID!) { delete${type}(input: { rowId: $id }) { clientMutationId } }`,
      { id: crypto.randomUUID() },
      tokens.admin,
    );
    expect({ status: response.status, errors: response.body.errors?.map(({ message, extensions }) => ({ message, extensions })) }).toEqual({
      status: 404,
      errors: [{ message: `No ${noun} matching this input that you may delete: it does not exist or is not yours to delete. Nothing was deleted.`, extensions: { code: "P0002", statusCode: 404 } }],
    });
  });

  test.each([
    ["Client", "client", () => other.clientId],
    ["CoachProfile", "coach profile", () => other.profileId],
    ["CoachingSession", "coaching session", () => other.sessionId],
    ["Transcription", "transcription", () => other.transcriptionId],
  ] as const)("a coach soft-deleting or restoring another coach's %s is told there is none they may touch (404)", async (type, noun, row) => {
    for (const action of ["delete", "restore"]) {
      const response = await graphql(`mutation ($id: UUID!) { ${action}${type}(input: { rowId: $id }) { clientMutationId } }`, { id: row() }, tokens.coach);
      expect({ status: response.status, message: response.body.errors?.[0]?.message, code: response.body.errors?.[0]?.extensions?.code }).toEqual({
        status: 404, message: `No ${noun} ${row()} that you may ${action}: it does not exist or is not yours to ${action}. Nothing was ${action}d.`, code: "P0002",
      });
    }
  });
});

describe("missing required input is refused in words before anything runs", () => {
  test.each([
    ["deleteClient(input: {})", 'Field "DeleteClientInput.rowId" of required type "UUID!" was not provided.'],
    ["restoreClient(input: {})", 'Field "RestoreClientInput.rowId" of required type "UUID!" was not provided.'],
    ["deleteCoachProfile(input: {})", 'Field "DeleteCoachProfileInput.rowId" of required type "UUID!" was not provided.'],
    ["restoreCoachProfile(input: {})", 'Field "RestoreCoachProfileInput.rowId" of required type "UUID!" was not provided.'],
    ["deleteCoachingSession(input: {})", 'Field "DeleteCoachingSessionInput.rowId" of required type "UUID!" was not provided.'],
    ["restoreCoachingSession(input: {})", 'Field "RestoreCoachingSessionInput.rowId" of required type "UUID!" was not provided.'],
    ["deleteTranscription(input: {})", 'Field "DeleteTranscriptionInput.rowId" of required type "UUID!" was not provided.'],
    ["restoreTranscription(input: {})", 'Field "RestoreTranscriptionInput.rowId" of required type "UUID!" was not provided.'],
    ['voidUsageEvent(input: { usageEventId: "1" })', 'Field "VoidUsageEventInput.reason" of required type "String!" was not provided.'],
    ['issueUsageCredit(input: { reason: "goodwill" })', 'Field "IssueUsageCreditInput.amountMinor" of required type "BigInt!" was not provided.'],
    ["closeMonth(input: {})", 'Field "CloseMonthInput.month" of required type "Date!" was not provided.'],
  ])("%s", async (call, message) => {
    const response = await graphql(`mutation { ${call} { clientMutationId } }`, {}, tokens.admin);
    expect(response.status).toBe(400);
    expect(response.body.errors?.map((error) => error.message)).toContain(message);
  });

  test("an update whose patch names no field is told so", async () => {
    const response = await graphql("mutation ($id: UUID!) { updateClient(input: { rowId: $id, patch: {} }) { client { rowId } } }", { id: coach.clientId }, tokens.coach);
    expect({ status: response.status, errors: response.body.errors?.map(({ message, extensions }) => ({ message, extensions })) }).toEqual({
      status: 400, errors: [{ message: "The patch names no field to change; give at least one.", extensions: { code: "22023" } }],
    });
  });

  test("a required input given as null is refused the same way", async () => {
    const response = await graphql("mutation ($id: UUID) { deleteClient(input: { rowId: $id }) { clientMutationId } }", { id: null }, tokens.admin);
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]?.message).toBe('Variable "$id" of type "UUID" used in position expecting type "UUID!".');
  });
});
