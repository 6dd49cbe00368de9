import { loadManifest } from "../../src/server/persisted-operations.ts";
import { startCli, type RunningCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { apiUrl, login } from "../support/http.ts";

// The console's operations are persisted (web/persisted-operations.json, by
// documentId). Every server runs a documentId it knows; one started with
// GRAPHQL_PERSISTED_ONLY=on runs nothing else. The suite's server runs with
// the setting off (the default); a second server, started here on the same
// database, runs with it on (and a small GRAPHQL_MAX_PAGE_SIZE, to show that
// the limits see a persisted operation's text).

let persistedServer: RunningCli & { match: RegExpMatchArray };
let admin: User;
let token: string;
const manifest = loadManifest();

/** The documentId of the console's operation of that name. */
function shipped(name: string): { documentId: string; text: string } {
  const found = Object.entries(manifest).find(([, text]) => new RegExp(`^(query|mutation) ${name}\\b`).test(text));
  if (!found) throw new Error(`no operation ${name} in the manifest`);
  return { documentId: found[0], text: found[1] };
}

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "persisted-admin");
  token = await login(admin.email);
  persistedServer = await startCli(
    ["start"],
    testEnvironment({ PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!, GRAPHQL_PERSISTED_ONLY: "on", GRAPHQL_MAX_PAGE_SIZE: "20", GRAPHQL_DEFAULT_PAGE_SIZE: "20" }),
    /GraphQL\s+(http:\S+)\/graphql/,
  );
}, 60_000);

afterAll(async () => {
  await persistedServer?.stop();
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

const persistedUrl = () => `${persistedServer.match[1]}/graphql`;

async function post(url: string, body: Record<string, unknown>, bearer: string | null = token) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

const persistedOnlyRefusal =
  "This installation runs only the operations its console shipped (GRAPHQL_PERSISTED_ONLY=on): name one by its documentId from web/persisted-operations.json, or set GRAPHQL_PERSISTED_ONLY=off to accept other operations.";

describe("with GRAPHQL_PERSISTED_ONLY=on", () => {
  test("the start-up lines say so", () => {
    expect(persistedServer.output().stdout).toContain("Operations the console's persisted ones only (GRAPHQL_PERSISTED_ONLY=on)");
    expect(persistedServer.output().stdout).toContain("GraphiQL  off (GRAPHIQL=off)");
  });

  test("a shipped operation named by its documentId runs: signing in, then reading the signed-in user", async () => {
    const signIn = await post(persistedUrl(), { documentId: shipped("Authenticate").documentId, variables: { email: admin.email, password: PASSWORD } }, null);
    expect(signIn.status).toBe(200);
    const jwt = signIn.body.data.authenticate.jwtToken;
    expect(typeof jwt).toBe("string");
    const me = await post(persistedUrl(), { documentId: shipped("CurrentUser").documentId }, jwt);
    expect(me).toEqual({ status: 200, body: { data: { currentUser: { displayName: "persisted-admin", email: admin.email, role: "admin" } } } });
  });

  test("an unknown documentId is refused, in words", async () => {
    const unknown = `sha256:${"0".repeat(64)}`;
    const answer = await post(persistedUrl(), { documentId: unknown });
    expect(answer.status).toBe(400);
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors).toEqual([
      expect.objectContaining({
        message: `No operation with documentId "${unknown}" was shipped with this Custodian (its console's operations are in web/persisted-operations.json); reload the console if Custodian was updated.`,
        extensions: { code: "PERSISTED", statusCode: 400 },
      }),
    ]);
  });

  test("an operation sent as text is refused naming GRAPHQL_PERSISTED_ONLY, even the text of a shipped one, and introspection too", async () => {
    for (const query of ["{ users(first: 5) { nodes { email } } }", shipped("CurrentUser").text, "{ __schema { types { name } } }"]) {
      const answer = await post(persistedUrl(), { query });
      expect(answer.status).toBe(403);
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors).toEqual([expect.objectContaining({ message: persistedOnlyRefusal, extensions: { code: "PERSISTED", statusCode: 403 } })]);
    }
  });

  test("a body naming both a documentId and a text is refused (which one would run is not left to chance), and so is one naming neither", async () => {
    const both = await post(persistedUrl(), { documentId: shipped("CurrentUser").documentId, query: "{ users { nodes { email } } }" });
    expect(both.status).toBe(400);
    expect(both.body.errors).toEqual([expect.objectContaining({ message: "Send an operation's documentId or its text (query), not both." })]);
    for (const url of [persistedUrl(), apiUrl("/graphql")]) {
      const neither = await post(url, { variables: { email: admin.email, password: PASSWORD } });
      expect(neither.status).toBe(400);
      expect(neither.body.errors).toEqual([expect.objectContaining({ message: "Send an operation: its documentId, or its text as query." })]);
    }
  });

  test("the limits apply to a persisted operation's text: AuditEvents with first: 50 is refused by GRAPHQL_MAX_PAGE_SIZE=20", async () => {
    const { documentId } = shipped("AuditEvents");
    const refused = await post(persistedUrl(), { documentId, variables: { first: 50 } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([
      expect.objectContaining({ message: "first: 50 on auditEvents is more than the largest page, 20 (GRAPHQL_MAX_PAGE_SIZE).", extensions: { code: "LIMIT", statusCode: 400 } }),
    ]);
    const within = await post(persistedUrl(), { documentId, variables: { first: 5 } });
    expect(within.status).toBe(200);
    expect(within.body.errors).toBeUndefined();
    expect(within.body.data.auditEvents.nodes.length).toBeLessThanOrEqual(5);
  });
});

describe("with GRAPHQL_PERSISTED_ONLY=off (the default, the suite's server)", () => {
  test("text is run, and so is a shipped documentId", async () => {
    const text = await post(apiUrl("/graphql"), { query: "{ currentUser { role } }" });
    expect(text).toEqual({ status: 200, body: { data: { currentUser: { role: "admin" } } } });
    const byId = await post(apiUrl("/graphql"), { documentId: shipped("CurrentUser").documentId });
    expect(byId.status).toBe(200);
    expect(byId.body.data.currentUser.email).toBe(admin.email);
  });

  test("an unknown documentId is still refused rather than ignored", async () => {
    const answer = await post(apiUrl("/graphql"), { documentId: "sha256:not-one-of-ours" });
    expect(answer.status).toBe(400);
    expect(answer.body.errors[0].message).toMatch(/^No operation with documentId "sha256:not-one-of-ours" was shipped with this Custodian/);
  });
});
