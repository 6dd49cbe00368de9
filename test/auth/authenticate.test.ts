import jwt from "jsonwebtoken";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { TEST_JWT_SECRET } from "../support/environment.ts";
import { apiUrl, graphql, login } from "../support/http.ts";

let coach: User;

beforeAll(async () => {
  coach = await createUser(rootPool() as never, "coach", "auth-coach");
});

afterAll(async () => {
  await rootPool().query("delete from app_public.users where id = $1", [coach.id]);
  await closeRootPool();
});

const authenticate = (email: string, password: string) =>
  graphql<any>(
    "mutation ($email: String!, $password: String!) { authenticate(input: { email: $email, password: $password }) { jwtToken } }",
    { email, password },
  );

describe("authenticate", () => {
  test("the right email and password return a signed HS256 token with the user's id, role and expiry", async () => {
    const { body } = await authenticate(coach.email.toUpperCase(), PASSWORD);
    const token = body.data.authenticate.jwtToken as string;
    const claims = jwt.verify(token, TEST_JWT_SECRET, { algorithms: ["HS256"] }) as jwt.JwtPayload;
    expect(claims).toMatchObject({ user_id: coach.id, role: "coach", aud: "custodian", iss: "custodian" });
    expect(claims.exp! - claims.iat!).toBe(8 * 3600);
    expect(jwt.decode(token, { complete: true })?.header.alg).toBe("HS256");
  });

  test("a wrong password and an unknown email give the same error", async () => {
    const wrongPassword = await authenticate(coach.email, "not the password");
    const unknownEmail = await authenticate("nobody@test.example", PASSWORD);
    expect(wrongPassword.body.errors).toEqual([expect.objectContaining({ message: "Incorrect email or password.", extensions: { code: "CREDS" } })]);
    expect(unknownEmail.body.errors?.[0]?.message).toBe(wrongPassword.body.errors?.[0]?.message);
    expect(unknownEmail.body.errors?.[0]?.extensions).toEqual(wrongPassword.body.errors?.[0]?.extensions);
    expect(wrongPassword.body.data?.authenticate?.jwtToken ?? null).toBeNull();
  });

  test("currentUser is the token's user, and null without a token", async () => {
    const token = await login(coach.email);
    const signedIn = await graphql<any>("{ currentUser { rowId email role } }", {}, token);
    expect(signedIn.body.data.currentUser).toEqual({ rowId: coach.id, email: coach.email, role: "COACH".toLowerCase() });
    const anonymous = await graphql<any>("{ currentUser { rowId } }");
    expect(anonymous.body.data.currentUser).toBeNull();
  });

  test("an anonymous caller cannot read data", async () => {
    const { body } = await graphql<any>("{ clients { totalCount } }");
    expect(body.errors?.[0]?.extensions?.code).toBe("42501");
  });

  test("a forged, expired or malformed token is refused with 401", async () => {
    const forged = jwt.sign({ user_id: coach.id, role: "admin" }, "another-secret-that-is-long-enough-123456", {
      audience: "custodian",
      issuer: "custodian",
    });
    const expired = jwt.sign({ user_id: coach.id, role: "coach", exp: Math.floor(Date.now() / 1000) - 60 }, TEST_JWT_SECRET, {
      audience: "custodian",
      issuer: "custodian",
    });
    for (const [header, message] of [
      [`Bearer ${forged}`, "The token is invalid."],
      [`Bearer ${expired}`, "The token has expired; authenticate again."],
      ["Basic abc", "The Authorization header must be 'Bearer <token>'."],
    ]) {
      const response = await fetch(apiUrl("/graphql"), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: header! },
        body: JSON.stringify({ query: "{ currentUser { rowId } }" }),
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as any).errors[0].message).toBe(message);
    }
  });
});
