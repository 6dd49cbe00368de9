import { loadConfig } from "../../src/config.ts";
import { makePool } from "../../src/db/pool.ts";
import { limitOperation } from "../../src/server/operation-limits.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";

// What one request may cost is bounded before it runs: depth, page size and
// the rows an operation could return (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_PAGE_SIZE,
// GRAPHQL_MAX_COST), the body's size (MAX_REQUEST_BYTES), and every SQL
// statement while it runs (STATEMENT_TIMEOUT_MS). The test server runs with
// the defaults.

const limits = loadConfig({}).limits;
let admin: User;
let token: string;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "limits-admin");
  token = await login(admin.email);
});

afterAll(async () => {
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

/** clients → nodes → coachProfile, `levels` times: each level nests three fields. */
function nested(levels: number, first: number | string): string {
  let inner = "rowId";
  for (let level = 0; level < levels; level++) inner = `clients(first: ${first}) { nodes { coachProfile { ${inner} } } }`;
  return `{ ${inner} }`;
}

async function post(body: string) {
  const response = await fetch(apiUrl("/graphql"), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body,
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function expectStillAnswering() {
  const { status, body } = await graphql("{ currentUser { role } }", {}, token);
  expect({ status, body }).toEqual({ status: 200, body: { data: { currentUser: { role: "admin" } } } });
}

describe("refused before they run, with a 400 naming the limit, and the server answers the next request", () => {
  test("an operation nested deeper than GRAPHQL_MAX_DEPTH", async () => {
    const { status, body } = await post(JSON.stringify({ query: nested(5, 1) }));
    expect(status).toBe(400);
    expect(body.errors[0].message).toMatch(/^The operation nests fields 13 deep at .*; the limit is 12 \(GRAPHQL_MAX_DEPTH\)\.$/);
    await expectStillAnswering();
  });

  test("a page larger than GRAPHQL_MAX_PAGE_SIZE, as a literal or a variable", async () => {
    const literal = await post(JSON.stringify({ query: "{ clients(first: 1001) { nodes { rowId } } }" }));
    expect(literal).toMatchObject({ status: 400, body: { errors: [{ message: "first: 1001 on clients is more than the largest page, 1000 (GRAPHQL_MAX_PAGE_SIZE)." }] } });
    const variable = await post(JSON.stringify({ query: "query ($n: Int) { clients(last: $n) { nodes { rowId } } }", variables: { n: 5000 } }));
    expect(variable).toMatchObject({ status: 400, body: { errors: [{ message: "last: 5000 on clients is more than the largest page, 1000 (GRAPHQL_MAX_PAGE_SIZE)." }] } });
    await expectStillAnswering();
  });

  test("an operation that could return more rows than GRAPHQL_MAX_COST (the nesting that took a server down)", async () => {
    const { status, body } = await post(JSON.stringify({ query: nested(3, 200) }));
    expect(status).toBe(400);
    expect(body.errors[0].message).toMatch(/^The operation could return about [\d,]+ rows at clients; the limit is 2,000,000 \(GRAPHQL_MAX_COST\)\./);
    await expectStillAnswering();
  });

  test("a body larger than MAX_REQUEST_BYTES", async () => {
    const padding = " ".repeat(limits.maxRequestBytes + 1);
    const response = await fetch(apiUrl("/graphql"), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: `{"query": "{ currentUser { role } }"${padding}}`,
    });
    expect(response.status).toBe(413);
    await expectStillAnswering();
  });

  test("operations within the limits run as before, introspection included", async () => {
    const ok = await post(JSON.stringify({ query: nested(3, 2) }));
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    const introspection = await post(JSON.stringify({ query: "{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }" }));
    expect(introspection.status).toBe(200);
    expect(introspection.body.data.__schema.types.length).toBeGreaterThan(50);
  });
});

describe("every connection gets a page", () => {
  test("a connection that names no first or last gets the default page; one that does keeps its own", () => {
    const given = "{ clients { totalCount nodes { rowId coachingSessions(first: 5) { nodes { rowId } } } } }";
    const limited = limitOperation(given, {}, limits);
    expect(limited).toContain("clients(first: 100)");
    expect(limited).toContain("coachingSessions(first: 5)");
    expect(limitOperation("{ currentUser { role } }", {}, limits)).toBe("{ currentUser { role } }");
  });

  test("over HTTP, a list without a page size still answers, with its total", async () => {
    const { status, body } = await post(JSON.stringify({ query: "{ users { totalCount nodes { rowId } } }" }));
    expect(status).toBe(200);
    expect(body.data.users.nodes.length).toBe(Math.min(Number(body.data.users.totalCount), limits.defaultPageSize));
  });
});

describe("STATEMENT_TIMEOUT_MS", () => {
  test("the API's pool stops a statement that runs longer, with 57014", async () => {
    const pool = makePool(process.env.TEST_DATABASE_URL!, 1, "limits-test", 200);
    try {
      await expect(pool.query("select pg_sleep(2)")).rejects.toMatchObject({ code: "57014" });
      expect((await pool.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
