import crypto from "node:crypto";
import jwt from "jsonwebtoken";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { TEST_JWT_SECRET } from "../support/environment.ts";
import { apiUrl, graphql, login } from "../support/http.ts";

// A token names a session; every request asks the database who it speaks for
// now. A role change (the token's role claim no longer the account's), a
// disabled account, a removed account and a sign-out take effect on the next
// request, not when the token expires.

let admin: User;
let coach: User;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "session-admin");
  coach = await createUser(rootPool(), "coach", "session-coach");
});

afterAll(async () => {
  await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, coach.id]]);
  await closeRootPool();
});

/** POSTs { currentUser } with a token; the HTTP status and body. */
async function whoAmI(token: string) {
  const response = await fetch(apiUrl("/graphql"), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ currentUser { rowId role } }" }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

const renameCoach = (token: string, name: string) =>
  graphql(`mutation ($id: UUID!, $name: String!) { updateUser(input: { rowId: $id, patch: { displayName: $name } }) { user { displayName } } }`,
    { id: coach.id, name }, token);

const sessionEnded = "This session has ended (signed out, or the account was disabled or removed); authenticate again.";

describe("the role a request runs as comes from the database", () => {
  test("an admin demoted to auditor loses an admin's powers on the next request: the token claiming admin is refused, and a new sign-in is an auditor's", async () => {
    const token = await login(admin.email);
    expect((await renameCoach(token, "Renamed by an admin")).body.data?.updateUser?.user).toEqual({ displayName: "Renamed by an admin" });
    await rootPool().query("update app_public.users set role = 'auditor' where id = $1", [admin.id]);
    try {
      const refused = await renameCoach(token, "Renamed by a former admin");
      expect(refused.status).toBe(401);
      expect(refused.body.errors).toEqual([{ message: "The token's role is not this account's role; authenticate again.", extensions: { code: "UNAUTHENTICATED" } }]);
      const auditorToken = await login(admin.email);
      const asAuditor = await renameCoach(auditorToken, "Renamed by a former admin");
      expect(asAuditor.body.errors?.[0]).toMatchObject({ message: "An auditor may not change users.", extensions: { code: "42501" } });
      expect((await whoAmI(auditorToken)).body.data.currentUser).toEqual({ rowId: admin.id, role: "auditor" });
    } finally {
      await rootPool().query("update app_public.users set role = 'admin' where id = $1", [admin.id]);
    }
    expect((await renameCoach(token, "Renamed by an admin again")).body.errors).toBeUndefined();
  });

  test("a correctly signed token for a user that does not exist is refused, whatever role it claims", async () => {
    const token = jwt.sign({ user_id: crypto.randomUUID(), session_id: crypto.randomUUID(), role: "admin" }, TEST_JWT_SECRET, {
      audience: "custodian", issuer: "custodian", expiresIn: 3600,
    });
    expect(await whoAmI(token)).toEqual({ status: 401, body: { errors: [{ message: sessionEnded, extensions: { code: "UNAUTHENTICATED" } }] } });
    const rest = await fetch(apiUrl("/api/v1/usage?from=2026-01-01&to=2026-02-01"), { headers: { authorization: `Bearer ${token}` } });
    expect(rest.status).toBe(401);
    expect(await rest.json()).toEqual({ error: sessionEnded });
  });

  test("a token of a real user naming a session that is not theirs, or none, is refused", async () => {
    const token = await login(coach.email);
    const { session_id: coachSession } = jwt.decode(token) as jwt.JwtPayload;
    const borrowed = jwt.sign({ user_id: admin.id, session_id: coachSession, role: "admin" }, TEST_JWT_SECRET, { audience: "custodian", issuer: "custodian" });
    expect((await whoAmI(borrowed)).status).toBe(401);
    const sessionless = jwt.sign({ user_id: admin.id, role: "admin" }, TEST_JWT_SECRET, { audience: "custodian", issuer: "custodian" });
    expect(await whoAmI(sessionless)).toMatchObject({ status: 401, body: { errors: [{ message: "The token's claims are not Custodian's; authenticate again." }] } });
  });
});

describe("disabling an account", () => {
  const setDisabled = (token: string, disabledAt: string | null) =>
    graphql(`mutation ($id: UUID!, $at: Datetime) { updateUser(input: { rowId: $id, patch: { disabledAt: $at } }) { user { disabledAt } } }`,
      { id: coach.id, at: disabledAt }, token);
  const authenticate = (email: string) =>
    graphql("mutation ($email: String!, $password: String!) { authenticate(input: { email: $email, password: $password }) { jwtToken } }",
      { email, password: PASSWORD });

  test("an admin disables a coach: the coach's token stops working at once and the coach cannot sign in; enabled again, they can", async () => {
    const adminToken = await login(admin.email);
    const coachToken = await login(coach.email);
    expect((await whoAmI(coachToken)).status).toBe(200);

    const disabled = await setDisabled(adminToken, "2026-12-05T12:00:00Z");
    // The instant, whatever time zone the database writes it in.
    const disabledAt = disabled.body.data?.updateUser?.user?.disabledAt;
    expect(disabledAt).toEqual(expect.any(String));
    expect(new Date(disabledAt).toISOString()).toBe("2026-12-05T12:00:00.000Z");
    expect(await whoAmI(coachToken)).toMatchObject({ status: 401, body: { errors: [{ message: sessionEnded }] } });
    const refused = await authenticate(coach.email);
    expect(refused.body.errors?.[0]).toMatchObject({ message: "This account is disabled; an admin can enable it again.", extensions: { code: "28000" } });

    try {
      expect(refused.body.data?.authenticate?.jwtToken ?? null).toBeNull();
    } finally {
      expect((await setDisabled(adminToken, null)).body.errors).toBeUndefined();
    }
    expect((await whoAmI(await login(coach.email))).status).toBe(200);
  });

  test("a coach may not disable or enable an account, their own included", async () => {
    const coachToken = await login(coach.email);
    const { body } = await setDisabled(coachToken, "2026-12-05T12:00:00Z");
    expect(body.errors?.[0]).toMatchObject({ message: "A coach may not set email, role or disabledAt of users; leave them out.", extensions: { code: "42501" } });
  });
});

describe("signing out", () => {
  test("signOut ends the session of the token it is sent with; the next request with it is refused; other sessions go on", async () => {
    const first = await login(coach.email);
    const second = await login(coach.email);
    const { body } = await graphql("mutation { signOut(input: {}) { signedOut } }", {}, first);
    expect(body).toEqual({ data: { signOut: { signedOut: true } } });
    expect(await whoAmI(first)).toMatchObject({ status: 401, body: { errors: [{ message: sessionEnded }] } });
    expect((await whoAmI(second)).body.data.currentUser).toEqual({ rowId: coach.id, role: "coach" });
  });

  test("signing out without a token is refused: there is no session to end", async () => {
    const { body } = await graphql("mutation { signOut(input: {}) { signedOut } }");
    expect(body.errors?.[0]).toMatchObject({ message: "Sign in first: signOut is not open to anonymous callers.", extensions: { code: "42501" } });
  });
});
