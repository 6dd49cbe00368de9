import crypto from "node:crypto";
import jwt from "jsonwebtoken";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { TEST_JWT_SECRET } from "../support/environment.ts";
import { apiUrl, login } from "../support/http.ts";

// A token that Custodian did not sign as it is, for a session that is still
// open, for the role the account has now, is refused with 401 and words that
// say why, through GraphQL and through a REST route alike; nothing runs as
// anyone for it.

let coach: User;
let otherCoach: User;
let coachToken: string;
let coachClaims: jwt.JwtPayload;

beforeAll(async () => {
  coach = await createUser(rootPool(), "coach", "forged-coach");
  otherCoach = await createUser(rootPool(), "coach", "forged-other");
  coachToken = await login(coach.email);
  coachClaims = jwt.decode(coachToken) as jwt.JwtPayload;
});

afterAll(async () => {
  await rootPool().query("delete from app_public.users where id = any($1)", [[coach.id, otherCoach.id]]);
  await closeRootPool();
});

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A token signed with the test secret, or another, from the coach's own claims with changes. */
function sign(changes: Record<string, unknown>, options: { secret?: string; audience?: string; issuer?: string } = {}): string {
  const { iat: _iat, exp: _exp, aud: _aud, iss: _iss, ...claims } = coachClaims;
  return jwt.sign({ ...claims, ...changes }, options.secret ?? TEST_JWT_SECRET, {
    audience: options.audience ?? "custodian",
    issuer: options.issuer ?? "custodian",
    expiresIn: 3600,
  });
}

const invalid = "The token is invalid.";
const sessionEnded = "This session has ended (signed out, or the account was disabled or removed); authenticate again.";

const forgeries: Array<[string, () => string | Promise<string>, string]> = [
  [
    "alg none (no signature)",
    () => `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ ...coachClaims })}.`,
    invalid,
  ],
  [
    "alg none with the header changed on a real token",
    () => `${base64url({ alg: "none", typ: "JWT" })}.${coachToken.split(".")[1]}.${coachToken.split(".")[2]}`,
    invalid,
  ],
  ["HS512 instead of HS256", () => jwt.sign({ ...coachClaims }, TEST_JWT_SECRET, { algorithm: "HS512" }), invalid],
  ["another key", () => sign({}, { secret: "another-secret-that-is-long-enough-0123456789" }), invalid],
  ["another audience", () => sign({}, { audience: "someone-else" }), invalid],
  ["another issuer", () => sign({}, { issuer: "someone-else" }), invalid],
  ["a payload changed after signing", () => {
    const [header, , signature] = coachToken.split(".");
    return `${header}.${base64url({ ...coachClaims, role: "admin" })}.${signature}`;
  }, invalid],
  [
    "expired",
    () => {
      const { iat: _iat, exp: _exp, ...claims } = coachClaims;
      return jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, TEST_JWT_SECRET);
    },
    "The token has expired; authenticate again.",
  ],
  ["malformed (not three parts)", () => "not.a-token", invalid],
  ["malformed (garbage)", () => "eyJhbGciOiJIUzI1NiJ9.%%%.###", invalid],
  ["a user id that is not a UUID", () => sign({ user_id: "1 or 1=1" }), "The token's claims are not Custodian's; authenticate again."],
  ["a role the account does not have (admin)", () => sign({ role: "admin" }), "The token's role is not this account's role; authenticate again."],
  ["a role that does not exist", () => sign({ role: "superuser" }), "The token's role is not this account's role; authenticate again."],
  ["no role claim", () => sign({ role: undefined }), "The token's role is not this account's role; authenticate again."],
  ["another user's id with this session's id", () => sign({ user_id: otherCoach.id }), sessionEnded],
  ["a session id that was never opened", () => sign({ session_id: crypto.randomUUID() }), sessionEnded],
];

async function throughGraphql(token: string) {
  const response = await fetch(apiUrl("/graphql"), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ currentUser { rowId role } }" }),
  });
  return { status: response.status, body: await response.json() };
}

async function throughRest(token: string) {
  const response = await fetch(apiUrl("/api/v1/usage?from=2026-01-01&to=2026-02-01"), { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json() };
}

describe("a forged or unusable token is refused with 401", () => {
  test.each(forgeries)("%s", async (_name, forge, message) => {
    const token = await forge();
    expect(await throughGraphql(token)).toEqual({ status: 401, body: { errors: [{ message, extensions: { code: "UNAUTHENTICATED" } }] } });
    expect(await throughRest(token)).toEqual({ status: 401, body: { error: message } });
  });

  test("the genuine token is accepted, so the refusals above are the forgeries'", async () => {
    expect(await throughGraphql(coachToken)).toEqual({ status: 200, body: { data: { currentUser: { rowId: coach.id, role: "coach" } } } });
    expect((await throughRest(coachToken)).status).toBe(200);
  });

  test("a token of a session that was signed out is refused, while the same account's other session goes on", async () => {
    const [ending, other] = [await login(coach.email), await login(coach.email)];
    const signOut = await fetch(apiUrl("/graphql"), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ending}` },
      body: JSON.stringify({ query: "mutation { signOut(input: {}) { clientMutationId } }" }),
    });
    expect(signOut.status).toBe(200);
    expect(await throughGraphql(ending)).toEqual({ status: 401, body: { errors: [{ message: sessionEnded, extensions: { code: "UNAUTHENTICATED" } }] } });
    expect(await throughRest(ending)).toEqual({ status: 401, body: { error: sessionEnded } });
    expect((await throughGraphql(other)).status).toBe(200);
  });
});
