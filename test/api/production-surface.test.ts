import { getIntrospectionQuery } from "postgraphile/graphql";
import { loadConfig } from "../../src/config.ts";
import { runCli, startCli, type RunningCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { login } from "../support/http.ts";

// What the API shows of itself: GraphiQL (Ruru at /graphiql) and
// introspection are on in development and test, off when NODE_ENV=production
// unless GRAPHIQL=on and GRAPHQL_INTROSPECTION=on ask for them. Two
// production servers on the suite's database: one with the defaults, one
// with both settings on.

type Server = RunningCli & { match: RegExpMatchArray };
let production: Server;
let productionWithTools: Server;
let admin: User;
let token: string;

const ready = /GraphQL\s+(http:\S+)\/graphql/;
const productionEnvironment = (extra: Record<string, string> = {}) =>
  testEnvironment({ NODE_ENV: "production", PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!, ...extra });

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "surface-admin");
  token = await login(admin.email);
  production = await startCli(["start"], productionEnvironment(), ready);
  productionWithTools = await startCli(["start"], productionEnvironment({ GRAPHIQL: "on", GRAPHQL_INTROSPECTION: "on" }), ready);
}, 90_000);

afterAll(async () => {
  await production?.stop();
  await productionWithTools?.stop();
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

async function post(server: Server, query: string) {
  const response = await fetch(`${server.match[1]}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

const introspectionOff =
  "Introspection is off in this installation (GRAPHQL_INTROSPECTION=off, the default when NODE_ENV=production); the schema is published as schema.graphql. Set GRAPHQL_INTROSPECTION=on to answer __schema and __type.";
const graphiqlOff =
  "GraphiQL is off in this installation (GRAPHIQL=off, the default when NODE_ENV=production). Set GRAPHIQL=on and GRAPHQL_INTROSPECTION=on to serve it at /graphiql.";

describe("NODE_ENV=production with the defaults", () => {
  test("/graphiql and Ruru's assets answer 404 saying GraphiQL is off and how to turn it on; the start-up lines say it is off", async () => {
    for (const path of ["/graphiql", "/ruru-static/ruru.js"]) {
      const response = await fetch(`${production.match[1]}${path}`);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: graphiqlOff });
    }
    expect(production.output().stdout).toContain("GraphiQL  off (GRAPHIQL=off)");
  });

  test("GraphiQL's introspection query, and __type alone, are refused with a 400 saying introspection is off and how to turn it on", async () => {
    for (const query of [getIntrospectionQuery(), '{ __type(name: "User") { fields { name } } }', "{ currentUser { role } schema: __schema { queryType { name } } }"]) {
      const answer = await post(production, query);
      expect(answer.status).toBe(400);
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors).toEqual([expect.objectContaining({ message: introspectionOff, extensions: { code: "INTROSPECTION_OFF" } })]);
    }
  });

  test("the API itself answers, __typename included", async () => {
    expect(await post(production, "{ __typename currentUser { __typename role } }")).toEqual({
      status: 200,
      body: { data: { __typename: "Query", currentUser: { __typename: "User", role: "admin" } } },
    });
  });

  test("the console is served: it needs no introspection (its operations are typed against the committed schema.graphql)", async () => {
    const response = await fetch(`${production.match[1]}/admin/`);
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/<div id="root">/);
  });
});

describe("NODE_ENV=production with GRAPHIQL=on and GRAPHQL_INTROSPECTION=on", () => {
  test("Ruru is served at /graphiql, and the start-up lines name it", async () => {
    const response = await fetch(`${productionWithTools.match[1]}/graphiql`);
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/ruru/i);
    expect(productionWithTools.output().stdout).toContain(`GraphiQL  ${productionWithTools.match[1]}/graphiql`);
  });

  test("GraphiQL's introspection query is answered", async () => {
    const answer = await post(productionWithTools, getIntrospectionQuery({ descriptions: true }));
    expect(answer.status).toBe(200);
    expect(answer.body.data.__schema.types.length).toBeGreaterThan(50);
  });
});

describe("the settings", () => {
  test("on in development and test, off in production, each switchable; persisted-only is off unless asked for", () => {
    const surface = (env: Record<string, string>) => loadConfig({ JWT_SECRET: "x".repeat(32), DATABASE_URL: "postgres://u:p@h/d", AUTHENTICATOR_PASSWORD: "p", ...env }).surface;
    expect(surface({ NODE_ENV: "development" })).toEqual({ graphiql: true, introspection: true, persistedOnly: false });
    expect(surface({ NODE_ENV: "test" })).toEqual({ graphiql: true, introspection: true, persistedOnly: false });
    expect(surface({ NODE_ENV: "production" })).toEqual({ graphiql: false, introspection: false, persistedOnly: false });
    expect(surface({ NODE_ENV: "production", GRAPHQL_INTROSPECTION: "on" })).toEqual({ graphiql: false, introspection: true, persistedOnly: false });
    expect(surface({ NODE_ENV: "development", GRAPHIQL: "off" })).toEqual({ graphiql: false, introspection: true, persistedOnly: false });
    // GraphiQL follows introspection and persisted-only when not named: it could not work without the one or with the other.
    expect(surface({ NODE_ENV: "development", GRAPHQL_INTROSPECTION: "off" })).toEqual({ graphiql: false, introspection: false, persistedOnly: false });
    expect(surface({ NODE_ENV: "development", GRAPHQL_PERSISTED_ONLY: "on" })).toEqual({ graphiql: false, introspection: true, persistedOnly: true });
  });

  const refusals: Array<[string, Record<string, string>, string]> = [
    ["GRAPHIQL=on without introspection", { NODE_ENV: "production", GRAPHIQL: "on" }, "custodian: GRAPHIQL=on needs GRAPHQL_INTROSPECTION=on: GraphiQL reads the schema by introspection. Set both, or leave GRAPHIQL off."],
    ["GRAPHIQL=on with persisted-only", { GRAPHIQL: "on", GRAPHQL_PERSISTED_ONLY: "on" }, "custodian: GRAPHIQL=on cannot work with GRAPHQL_PERSISTED_ONLY=on: GraphiQL sends operations the console did not ship. Turn one of them off."],
    ["a GRAPHQL_INTROSPECTION that is not on or off", { GRAPHQL_INTROSPECTION: "yes" }, 'custodian: GRAPHQL_INTROSPECTION must be one of on, off (got "yes").'],
    ["a GRAPHQL_PERSISTED_ONLY that is not on or off", { GRAPHQL_PERSISTED_ONLY: "true" }, 'custodian: GRAPHQL_PERSISTED_ONLY must be one of on, off (got "true").'],
  ];
  test.each(refusals)("%s: start refuses with one clear line and exit code 1", async (_name, env, line) => {
    const result = await runCli(["start"], testEnvironment({ PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!, ...env }));
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(line);
  });
});
