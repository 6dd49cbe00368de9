import { getIntrospectionQuery } from "postgraphile/graphql";
import { loadConfig } from "../../src/config.ts";
import { limitOperation } from "../../src/server/operation-limits.ts";
import { startCli, type RunningCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { apiUrl, login } from "../support/http.ts";

// What one request may cost is bounded before it runs: depth, page size and
// the rows an operation could return (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_PAGE_SIZE,
// GRAPHQL_DEFAULT_PAGE_SIZE, GRAPHQL_MAX_COST), the body's size
// (MAX_REQUEST_BYTES), and every SQL statement while it runs
// (STATEMENT_TIMEOUT_MS). The suite's server runs with the defaults; a second
// server, started here on the same database, runs with small limits.

const defaults = loadConfig({}).limits;
const small = {
  GRAPHQL_MAX_DEPTH: "6",
  GRAPHQL_MAX_PAGE_SIZE: "5",
  GRAPHQL_DEFAULT_PAGE_SIZE: "2",
  GRAPHQL_MAX_COST: "20",
  STATEMENT_TIMEOUT_MS: "500",
  MAX_REQUEST_BYTES: "8000",
};
let smallServer: RunningCli & { match: RegExpMatchArray };
const users: User[] = [];
let token: string;

beforeAll(async () => {
  for (const name of ["a", "b", "c"]) users.push(await createUser(rootPool(), "admin", `limits-admin-${name}`));
  token = await login(users[0]!.email);
  smallServer = await startCli(["start"], testEnvironment({ PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!, ...small }), /GraphQL\s+(http:\S+)\/graphql/);
}, 60_000);

afterAll(async () => {
  await smallServer?.stop();
  await rootPool().query("delete from app_public.users where id = any($1)", [users.map((user) => user.id)]);
  await closeRootPool();
});

const defaultUrl = () => apiUrl("/graphql");
const smallUrl = () => `${smallServer.match[1]}/graphql`;

/** clients → nodes → coachProfile, `levels` times: each level nests three fields. */
function nested(levels: number, first: number): string {
  let inner = "rowId";
  for (let level = 0; level < levels; level++) inner = `clients(first: ${first}) { nodes { coachProfile { ${inner} } } }`;
  return `{ ${inner} }`;
}

async function post(url: string, query: string, variables?: Record<string, unknown>) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function expectStillAnswering(url: string) {
  const answer = await post(url, "{ currentUser { role } }");
  expect(answer).toEqual({ status: 200, body: { data: { currentUser: { role: "admin" } } } });
}

function expectRefused(answer: { status: number; body: any }, status: number, message: string | RegExp) {
  expect(answer.status).toBe(status);
  expect(answer.body.data).toBeUndefined();
  expect(answer.body.errors).toHaveLength(1);
  if (typeof message === "string") expect(answer.body.errors[0].message).toBe(message);
  else expect(answer.body.errors[0].message).toMatch(message);
}

describe("the request that took the server down, with the default limits", () => {
  test("clients → coachProfile → clients eight levels deep is refused by GRAPHQL_MAX_DEPTH, and the server answers the next request", async () => {
    expectRefused(await post(defaultUrl(), nested(8, 100)), 400, `The operation is nested 13 levels deep (at clients); the limit is 12 (GRAPHQL_MAX_DEPTH).`);
    await expectStillAnswering(defaultUrl());
  });

  test("three levels, within the depth, is refused by GRAPHQL_MAX_COST: 100 + 100 × 100 + 100 × 100 × 100 rows", async () => {
    expectRefused(
      await post(defaultUrl(), nested(3, 100)),
      400,
      /^The operation could return about [\d,]+ rows \(at clients\); the limit is 250,000 \(GRAPHQL_MAX_COST\)\. Ask for smaller pages/,
    );
    await expectStillAnswering(defaultUrl());
  });

  test("within the limits it runs, and GraphiQL's introspection query (deeper than the limit) is answered", async () => {
    const ok = await post(defaultUrl(), nested(2, 100));
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    const introspection = await post(smallUrl(), getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, specifiedByUrl: true }));
    expect(introspection.status).toBe(200);
    expect(introspection.body.data.__schema.types.length).toBeGreaterThan(50);
  });

  test("introspection lists nested deeper than GraphiQL's are refused", async () => {
    const runaway = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    expectRefused(await post(defaultUrl(), runaway), 400, "The introspection at __schema nests 4 lists (types, fields, args…); the limit is 3.");
    await expectStillAnswering(defaultUrl());
  });

  test("fragments spread many times over (20 fragments, each spreading the next 30 times) are refused at once, by the fields they expand to", async () => {
    const fragments = [];
    for (let i = 1; i < 20; i++) fragments.push(`fragment F${i} on User { ${Array(30).fill(`...F${i + 1}`).join(" ")} }`);
    fragments.push("fragment F20 on User { role }");
    const started = Date.now();
    expectRefused(await post(defaultUrl(), `{ currentUser { ...F1 } } ${fragments.join(" ")}`), 400, /^The operation has [\d,]+ fields once its fragments are spread; the limit is 10,000\.$/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expectStillAnswering(defaultUrl());
  });

  test("fragments count towards the rows: a list in a fragment spread inside a list", async () => {
    const query = `{ clients(first: 1000) { nodes { ...Coach } } } fragment Coach on Client { coachProfile { clients(first: 1000) { nodes { rowId } } } }`;
    expectRefused(await post(defaultUrl(), query), 400, /^The operation could return about 1,000,000 rows \(at fragment Coach\); the limit is 250,000 \(GRAPHQL_MAX_COST\)/);
  });
});

describe("each limit, on a server with small ones: refused with a 4xx naming it, and the server answers the next request", () => {
  test("GRAPHQL_MAX_DEPTH", async () => {
    expectRefused(await post(smallUrl(), nested(2, 1)), 400, "The operation is nested 7 levels deep (at rowId); the limit is 6 (GRAPHQL_MAX_DEPTH).");
    const inFragment = await post(smallUrl(), "{ clients(first: 1) { nodes { ...Deep } } } fragment Deep on Client { coachProfile { clients(first: 1) { nodes { coachProfile { rowId } } } } }");
    expectRefused(inFragment, 400, "The operation is nested 7 levels deep (at fragment Deep); the limit is 6 (GRAPHQL_MAX_DEPTH).");
    await expectStillAnswering(smallUrl());
    expect((await post(smallUrl(), "{ clients(first: 1) { nodes { coachProfile { clients(first: 1) { nodes { rowId } } } } } }")).status).toBe(200);
  });

  test("GRAPHQL_MAX_PAGE_SIZE, as a literal, a variable, or a variable's default", async () => {
    const message = (argument: string, size: number) => `${argument}: ${size} on users is more than the largest page, 5 (GRAPHQL_MAX_PAGE_SIZE).`;
    expectRefused(await post(smallUrl(), "{ users(first: 6) { nodes { rowId } } }"), 400, message("first", 6));
    expectRefused(await post(smallUrl(), "query ($n: Int) { users(last: $n) { nodes { rowId } } }", { n: 5000 }), 400, message("last", 5000));
    expectRefused(await post(smallUrl(), "query ($n: Int = 6) { users(first: $n) { nodes { rowId } } }"), 400, message("first", 6));
    await expectStillAnswering(smallUrl());
    const within = await post(smallUrl(), "query ($n: Int = 6) { users(first: $n) { nodes { rowId } } }", { n: 5 });
    expect(within.status).toBe(200);
    expect(within.body.data.users.nodes.length).toBeGreaterThanOrEqual(3);
  });

  test("GRAPHQL_DEFAULT_PAGE_SIZE: a connection that names no page, or names it as null, gets the default page", async () => {
    const answers = [
      await post(smallUrl(), "{ users { totalCount pageInfo { hasNextPage } nodes { rowId } } }"),
      await post(smallUrl(), "{ users(first: null) { totalCount pageInfo { hasNextPage } nodes { rowId } } }"),
      await post(smallUrl(), "query ($n: Int) { users(first: $n) { totalCount pageInfo { hasNextPage } nodes { rowId } } }"),
      await post(smallUrl(), "query ($n: Int) { users(first: $n) { totalCount pageInfo { hasNextPage } nodes { rowId } } }", { n: null }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.errors).toBeUndefined();
      expect(Number(answer.body.data.users.totalCount)).toBeGreaterThanOrEqual(3);
      expect(answer.body.data.users.nodes).toHaveLength(2);
      expect(answer.body.data.users.pageInfo.hasNextPage).toBe(true);
    }
  });

  test("GRAPHQL_MAX_COST", async () => {
    const thirty = "{ clients(first: 5) { nodes { coachProfile { clients(first: 5) { nodes { rowId } } } } } }";
    expectRefused(await post(smallUrl(), thirty), 400, "The operation could return about 25 rows (at clients); the limit is 20 (GRAPHQL_MAX_COST). Ask for smaller pages (first/last) or fewer nested lists.");
    // With no page named, the default page counts: 5 + 5 × 2 + 5 × 2 = 25.
    const defaulted = "{ clients(first: 5) { nodes { coachingSessions { totalCount } sessions: coachingSessions { nodes { rowId } } coachProfile { clients { nodes { rowId } } } } } }";
    expectRefused(await post(smallUrl(), defaulted), 400, /^The operation could return about 25 rows \(at clients\); the limit is 20 \(GRAPHQL_MAX_COST\)/);
    await expectStillAnswering(smallUrl());
    expect((await post(smallUrl(), thirty.replaceAll("first: 5", "first: 2"))).status).toBe(200);
  });

  test("MAX_REQUEST_BYTES (grafserv's maxRequestLength)", async () => {
    const response = await fetch(smallUrl(), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: `{ currentUser { role } } # ${"x".repeat(8000)}` }),
    });
    expectRefused({ status: response.status, body: await response.json() }, 413, "The request body is larger than 8,000 bytes (MAX_REQUEST_BYTES).");
    await expectStillAnswering(smallUrl());
  });

  test("STATEMENT_TIMEOUT_MS: a statement waiting longer is stopped and said so; the next request is answered", async () => {
    const blocker = await rootPool().connect();
    try {
      await blocker.query("begin");
      await blocker.query("lock table app_public.clients in access exclusive mode");
      const started = Date.now();
      const answer = await post(smallUrl(), "{ clients(first: 1) { nodes { rowId } } }");
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(answer.body.errors).toEqual([
        expect.objectContaining({
          message: "The request ran longer than 500 ms in the database and was stopped (STATEMENT_TIMEOUT_MS); ask for less.",
          extensions: { code: "57014" },
        }),
      ]);
      expect(answer.body.data?.clients ?? null).toBeNull();
    } finally {
      await blocker.query("rollback");
      blocker.release();
    }
    await expectStillAnswering(smallUrl());
    expect((await post(smallUrl(), "{ clients(first: 1) { nodes { rowId } } }")).status).toBe(200);
  });
});

describe("limitOperation", () => {
  test("adds the default page where none is named, keeps a named one, and leaves other queries as they are", () => {
    const given = "{ clients { totalCount nodes { rowId coachingSessions(first: 5) { nodes { rowId } } } } }";
    const limited = limitOperation(given, {}, defaults);
    expect(limited).toContain("clients(first: 100)");
    expect(limited).toContain("coachingSessions(first: 5)");
    expect(limitOperation("{ currentUser { role } }", {}, defaults)).toBe("{ currentUser { role } }");
  });

  test("a null page variable used only as a page becomes the default page; used for something else it is refused", () => {
    const variables: Record<string, unknown> = { n: null };
    limitOperation("query ($n: Int) { clients(first: $n) { nodes { rowId } } }", variables, defaults);
    expect(variables).toEqual({ n: 100 });
    expect(() => limitOperation("query ($n: Int) { clients(first: $n, offset: $n) { nodes { rowId } } }", { n: null }, defaults)).toThrow(
      /^\$n is null, so a connection would have no page size, but it is also used for something else/,
    );
  });
});
