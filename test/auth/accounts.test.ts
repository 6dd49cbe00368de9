import { becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";

// Keeping an account through the API: a user changes their own password (the
// account's other sessions end, this one goes on); an admin disables an
// account (its tokens die and stay dead) and enables it again.

let admin: User;
let coach: User;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "accounts-admin");
  coach = await createUser(rootPool(), "coach", "accounts-coach");
});

afterAll(async () => {
  await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, coach.id]]);
  await closeRootPool();
});

/** The coach's password back to PASSWORD, whatever a test did to it. */
afterEach(async () => {
  await rootPool().query("select app_private.set_password($1, $2)", [coach.email, PASSWORD]);
  await rootPool().query("update app_public.users set disabled_at = null where id = $1", [coach.id]);
});

const sessionEnded = "This session has ended (signed out, or the account was disabled or removed); authenticate again.";

async function whoAmI(token: string) {
  const response = await fetch(apiUrl("/graphql"), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ currentUser { rowId } }" }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

const changePassword = (token: string | undefined, currentPassword: string, newPassword: string) =>
  graphql<any>(
    `mutation ($current: String!, $new: String!) {
      changePassword(input: { currentPassword: $current, newPassword: $new }) { otherSessionsEnded }
    }`,
    { current: currentPassword, new: newPassword },
    token,
  );

const authenticate = (email: string, password: string) =>
  graphql<any>(
    "mutation ($email: String!, $password: String!) { authenticate(input: { email: $email, password: $password }) { jwtToken } }",
    { email, password },
  );

describe("changing one's own password", () => {
  test("with the right current password: the new one signs in, the old one no longer does, other sessions end and this one goes on", async () => {
    const other = await login(coach.email);
    const current = await login(coach.email);
    const { body } = await changePassword(current, PASSWORD, "a much better passphrase");
    expect(body).toEqual({ data: { changePassword: { otherSessionsEnded: 1 } } });

    expect((await whoAmI(current)).body.data.currentUser).toEqual({ rowId: coach.id });
    expect(await whoAmI(other)).toEqual({ status: 401, body: { errors: [{ message: sessionEnded, extensions: { code: "UNAUTHENTICATED" } }] } });
    expect((await authenticate(coach.email, PASSWORD)).body.errors?.[0]).toMatchObject({
      message: "Incorrect email or password.", extensions: { code: "CREDS" },
    });
    expect((await whoAmI(await login(coach.email, "a much better passphrase"))).status).toBe(200);
  });

  test("a wrong current password is refused in words and changes nothing", async () => {
    const other = await login(coach.email);
    const token = await login(coach.email);
    const { body } = await changePassword(token, "not my password", "a much better passphrase");
    expect(body.errors).toEqual([expect.objectContaining({
      message: "The current password is incorrect; the password was not changed.", extensions: { code: "CREDS" },
    })]);
    expect(body.data?.changePassword ?? null).toBeNull();
    expect((await whoAmI(other)).status).toBe(200);
    expect((await authenticate(coach.email, "a much better passphrase")).body.errors?.[0]?.extensions?.code).toBe("CREDS");
    expect((await authenticate(coach.email, PASSWORD)).body.data.authenticate.jwtToken).toEqual(expect.any(String));
  });

  test("the new password follows the rule every password follows, in the same words as creating an account", async () => {
    const token = await login(coach.email);
    const tooShort = await withRootDb((client) => errorOf(client, "select app_private.create_user('short@test.example', 'short', 'coach')"));
    const cases: Array<[string, string, string]> = [
      ["short", tooShort!.message, "WEAKP"],
      ["é".repeat(37), "The password may be at most 72 bytes long (bcrypt ignores the rest).", "WEAKP"],
      [PASSWORD, "The new password is the current one; choose another.", "WEAKP"],
    ];
    expect(tooShort).toMatchObject({ code: "WEAKP", message: "The password must be at least 8 characters long." });
    for (const [newPassword, message, code] of cases) {
      const { body } = await changePassword(token, PASSWORD, newPassword);
      expect(body.errors).toEqual([expect.objectContaining({ message, extensions: { code } })]);
    }
    expect((await whoAmI(token)).status).toBe(200);
    expect((await authenticate(coach.email, PASSWORD)).body.errors).toBeUndefined();
  });

  test("without a token there is no password to change", async () => {
    const { body } = await changePassword(undefined, PASSWORD, "a much better passphrase");
    expect(body.errors?.[0]?.extensions?.code).toBe("42501");
    expect((await authenticate(coach.email, PASSWORD)).body.errors).toBeUndefined();
  });

  test("in SQL too: the database checks the current password, whoever calls", () =>
    withRootDb(async (client) => {
      await becomeUser(client, coach);
      expect(await errorOf(client, "select app_public.change_password('wrong password', 'another good one')")).toMatchObject({ code: "CREDS" });
      const { rows } = await client.query("select app_public.change_password($1, 'another good one') as ended", [PASSWORD]);
      expect(rows[0].ended).toBeGreaterThanOrEqual(0);
      await becomeUser(client, null);
      expect(await errorOf(client, "select app_public.change_password('x', 'y')")).toMatchObject({ code: "42501" });
    }));
});

describe("an admin disables and enables an account", () => {
  const setDisabled = (token: string, disabledAt: string | null) =>
    graphql<any>(`mutation ($id: UUID!, $at: Datetime) { updateUser(input: { rowId: $id, patch: { disabledAt: $at } }) { user { disabledAt } } }`,
      { id: coach.id, at: disabledAt }, token);

  test("the disabled account's token is refused on its next request and stays refused after enabling; sign-in is refused in words, then works again", async () => {
    const adminToken = await login(admin.email);
    const coachToken = await login(coach.email);
    expect((await whoAmI(coachToken)).status).toBe(200);

    expect((await setDisabled(adminToken, "2026-12-05T12:00:00Z")).body.errors).toBeUndefined();
    expect(await whoAmI(coachToken)).toEqual({ status: 401, body: { errors: [{ message: sessionEnded, extensions: { code: "UNAUTHENTICATED" } }] } });
    const refused = await authenticate(coach.email, PASSWORD);
    expect(refused.body.errors).toEqual([expect.objectContaining({
      message: "This account is disabled; an admin can enable it again.", extensions: { code: "28000" },
    })]);
    // A wrong password says nothing about the account being disabled.
    expect((await authenticate(coach.email, "not the password")).body.errors?.[0]?.message).toBe("Incorrect email or password.");

    expect((await setDisabled(adminToken, null)).body.errors).toBeUndefined();
    // A token from before the disable does not come back to life.
    expect((await whoAmI(coachToken)).status).toBe(401);
    expect((await whoAmI(await login(coach.email))).body.data.currentUser).toEqual({ rowId: coach.id });
  });

  test("disabling ends the account's sessions in the database, whoever writes disabled_at", () =>
    withRootDb(async (client) => {
      await client.query("insert into app_private.user_sessions (user_id) values ($1), ($1)", [coach.id]);
      await client.query("update app_public.users set disabled_at = '2026-12-05T12:00:00Z' where id = $1", [coach.id]);
      const { rows } = await client.query(
        "select count(*) filter (where signed_out_at is null)::int as open from app_private.user_sessions where user_id = $1", [coach.id]);
      expect(rows[0].open).toBe(0);
    }));
});
