import crypto from "node:crypto";
import jwt from "jsonwebtoken";
import { becomeUser, closeRootPool, rootPool, withRootDb } from "../support/db.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Every sign-in attempt, successful or refused, is in the audit trail
// (app_private.sign_in_attempts), written by the database for every caller;
// the password never is. The email an attempt names is personal data, sealed
// under the key of the person it names. Each attempt below carries its own
// X-Request-Id, so that the test finds its own events among other files'.

let admin: User;
let auditor: User;
let coach: User;
let otherCoach: User;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "signin-admin");
  auditor = await createUser(rootPool(), "auditor", "signin-auditor");
  coach = await createUser(rootPool(), "coach", "signin-coach");
  otherCoach = await createUser(rootPool(), "coach", "signin-other");
});

afterAll(async () => {
  await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id, coach.id, otherCoach.id]]);
  await closeRootPool();
});

interface Attempt {
  requestId: string;
  body: { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

/** One authenticate through the API, tagged with a request id of its own. */
async function attempt(email: string, password: string): Promise<Attempt> {
  const requestId = `sign-in-audit-${crypto.randomUUID()}`;
  const { body } = await graphql<any>(
    "mutation ($email: String!, $password: String!) { authenticate(input: { email: $email, password: $password }) { jwtToken } }",
    { email, password },
    undefined,
    { "x-request-id": requestId, "user-agent": "sign-in-audit-test" },
  );
  return { requestId, body };
}

interface Event {
  tableName: string;
  operation: string;
  recordKey: { id: string };
  newValues: Record<string, any>;
  actorKind: string | null;
  actorUserId: string | null;
  requestId: string | null;
  userAgent: string | null;
}

/** The sign-in events of one request, as `token` reads them through auditEvents. */
async function signInEvents(token: string, requestId: string): Promise<Event[]> {
  const { body } = await graphql<any>(
    `query ($requestId: String!) {
      auditEvents(tableName: "app_private.sign_in_attempts", filter: { requestId: { equalTo: $requestId } }) {
        nodes { tableName operation recordKey newValues actorKind actorUserId requestId userAgent }
      }
    }`,
    { requestId },
    token,
  );
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data.auditEvents.nodes;
}

/** The stored events of one record, as they are on disk. */
async function storedEvents(recordId: string) {
  const { rows } = await rootPool().query(
    "select new_values, subject_id, owner_id from audit.events where table_name = 'sign_in_attempts' and record_key = jsonb_build_object('id', $1::text)",
    [recordId],
  );
  return rows as Array<{ new_values: Record<string, any>; subject_id: string; owner_id: string | null }>;
}

describe("sign-ins in the audit trail", () => {
  test("a successful sign-in is an event naming the account, its session and who asked from where, without the password", async () => {
    const { requestId, body } = await attempt(coach.email, PASSWORD);
    // The token carries the claims and nothing of the refusal fields its row has.
    expect(Object.keys(jwt.decode(body.data.authenticate.jwtToken) as object).sort()).toEqual(["aud", "exp", "iat", "iss", "role", "session_id", "user_id"]);
    const events = await signInEvents(await login(admin.email), requestId);
    expect(events).toEqual([expect.objectContaining({
      tableName: "sign_in_attempts",
      operation: "INSERT",
      actorKind: "user",
      actorUserId: null,
      requestId,
      userAgent: "sign-in-audit-test",
    })]);
    const [event] = events;
    expect(event!.newValues).toMatchObject({ email: coach.email, user_id: coach.id, subject_id: coach.id, outcome: "signed_in" });
    const sessions = await rootPool().query("select id from app_private.user_sessions where id = $1 and user_id = $2", [event!.newValues.session_id, coach.id]);
    expect(sessions.rowCount).toBe(1);
    expect(JSON.stringify(await storedEvents(event!.recordKey.id))).not.toContain(PASSWORD);
  });

  test("a wrong password is recorded, though the caller gets an error, and the password tried is stored nowhere", async () => {
    const tried = `wrong-${crypto.randomUUID()}`;
    const { requestId, body } = await attempt(coach.email, tried);
    expect(body.errors).toEqual([expect.objectContaining({ message: "Incorrect email or password.", extensions: { code: "CREDS" } })]);
    const [event, ...more] = await signInEvents(await login(auditor.email), requestId);
    expect(more).toEqual([]);
    expect(event!.newValues).toMatchObject({ email: coach.email, user_id: coach.id, outcome: "wrong_password", session_id: null });
    expect(JSON.stringify(await storedEvents(event!.recordKey.id))).not.toContain(tried);
    const { rows } = await rootPool().query("select count(*)::int as n from app_private.sign_in_attempts where email::text like $1", [`%${tried}%`]);
    expect(rows[0].n).toBe(0);
  });

  test("a disabled account's sign-in with the right password is recorded as disabled", async () => {
    await rootPool().query("update app_public.users set disabled_at = '2026-12-05T12:00:00Z' where id = $1", [otherCoach.id]);
    try {
      const { requestId, body } = await attempt(otherCoach.email, PASSWORD);
      expect(body.errors?.[0]).toMatchObject({ extensions: { code: "28000" } });
      const [event] = await signInEvents(await login(admin.email), requestId);
      expect(event!.newValues).toMatchObject({ user_id: otherCoach.id, outcome: "disabled", session_id: null });
    } finally {
      await rootPool().query("update app_public.users set disabled_at = null where id = $1", [otherCoach.id]);
    }
  });

  test("an unknown email is personal data: sealed under one key per email, read by staff, redacted for others, erased with its key", async () => {
    const stranger = `stranger-${crypto.randomUUID()}@test.example`;
    const first = await attempt(stranger, "whatever it is");
    const second = await attempt(stranger.toUpperCase(), "something else");
    expect(second.body.errors?.[0]).toEqual(first.body.errors?.[0]);
    expect(first.body.errors?.[0]).toMatchObject({ message: "Incorrect email or password.", extensions: { code: "CREDS" } });

    const adminToken = await login(admin.email);
    const [firstEvent] = await signInEvents(adminToken, first.requestId);
    const [secondEvent] = await signInEvents(adminToken, second.requestId);
    expect(firstEvent!.newValues).toMatchObject({ email: stranger, user_id: null, outcome: "unknown_email" });
    // One person, one key: both attempts are filed under the same subject.
    expect(secondEvent!.newValues.subject_id).toBe(firstEvent!.newValues.subject_id);

    const [stored] = await storedEvents(firstEvent!.recordKey.id);
    expect(stored!.subject_id).toBe(firstEvent!.newValues.subject_id);
    expect(stored!.owner_id).toBeNull();
    expect(Object.keys(stored!.new_values.email)).toEqual(["$pii"]);
    expect(JSON.stringify(stored)).not.toContain(stranger.split("@")[0]);

    // A coach reads no one else's sign-ins.
    expect(await signInEvents(await login(coach.email), first.requestId)).toEqual([]);

    await withRootDb(async (client) => {
      await client.query("select audit.destroy_subject_key($1)", [firstEvent!.newValues.subject_id]);
      await becomeUser(client, auditor);
      const { rows } = await client.query(
        "select new_values from app_public.audit_events(table_name => 'app_private.sign_in_attempts', record_key => $1)",
        [JSON.stringify(firstEvent!.recordKey)],
      );
      expect(rows.map((row) => row.new_values.email)).toEqual([{ $erased: true }]);
    });
  });

  test("a coach reads the attempts on their own account, failed ones included", async () => {
    const { requestId } = await attempt(coach.email, "someone guessing");
    const coachToken = await login(coach.email);
    const { body } = await graphql<any>(
      `query ($from: Datetime!) {
        auditEvents(tableName: "sign_in_attempts", occurredFrom: $from) { nodes { newValues requestId } }
      }`,
      { from: new Date(Date.now() - 60_000).toISOString() },
      coachToken,
    );
    const outcomes = body.data.auditEvents.nodes.map((node: any) => [node.newValues.user_id, node.newValues.outcome]);
    expect(outcomes).toContainEqual([coach.id, "wrong_password"]);
    expect(outcomes.every(([userId]: [string]) => userId === coach.id)).toBe(true);
    // Who asked from where is for staff: the anonymous caller's attribution is not the coach's to see.
    expect(body.data.auditEvents.nodes.map((node: any) => node.requestId)).not.toContain(requestId);
  });

  test("a caller in SQL is recorded too: a refusal is an answer with the refusal's code and words, not an error that would roll the record back", () =>
    withRootDb(async (client) => {
      await becomeUser(client, null);
      const refused = await client.query("select * from app_public.authenticate($1, 'not the password')", [coach.email]);
      expect(refused.rows).toEqual([{ role: null, user_id: null, session_id: null, refused_code: "CREDS", refused_message: "Incorrect email or password.", refused_retry_after: null }]);
      const signedIn = await client.query("select * from app_public.authenticate($1, $2)", [coach.email, PASSWORD]);
      expect(signedIn.rows[0]).toMatchObject({ role: "coach", user_id: coach.id, refused_code: null, refused_message: null });
      await client.query("reset role");
      const { rows } = await client.query(
        "select outcome::text from app_private.sign_in_attempts where user_id = $1 and attempted_at = now() order by outcome", [coach.id]);
      expect(rows.map((row) => row.outcome)).toEqual(["signed_in", "wrong_password"]);
    }));
});
