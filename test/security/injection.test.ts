import crypto from "node:crypto";
import pg from "pg";
import { getNamedType, isEnumType, isInputObjectType, isScalarType, type GraphQLSchema } from "graphql";
import { restRoutes } from "../../src/server/rest/routes.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { deleteErasedCoach } from "../support/gdpr.ts";
import { argumentsFor, introspectedSchema, type Target } from "../support/graphql-fuzz.ts";
import { apiUrl, graphql, login } from "../support/http.ts";
import { fingerprintChanges, markTransactionStart, rateEverythingPending, rebuiltForEveryCoach, rowsHolding, victimMarkers } from "../support/rls-fuzz.ts";

/**
 * Injection attempts through every REST query parameter (the routes read
 * from the app's own routers, their parameters from each route's answer to
 * one it does not know) and every scalar argument of every GraphQL root field
 * and string filter: quotes, SQL, LIKE and escape characters, NUL bytes, long
 * strings, unicode, JSON and array syntax, numbers out of range, bad dates
 * and uuids. Never a 500, never internals, never coach B's rows to coach A,
 * and the database unchanged.
 */

const payloads = [
  "'", "''", "'; drop table app_public.clients; --", "\" or 1=1 --", "' or '1'='1", "%", "_%_", "\\", "\\'", "\\x00",
  "\u0000", "a\u0000b", "x".repeat(6000), "😀 Ωμέγα 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202e", "{\"id\": \"x\"}", "[1, 2]", "{1,2}", "$1", "null",
  "99999999999999999999999", "-1", "1e309", "NaN", "2026-02-30", "2026-13-01", "0000-00-00", "infinity", "275760-09-13",
  "00000000-0000-0000-0000-00000000000g", "../../../etc/passwd", "<script>alert(1)</script>",
];

let a: Coach;
let b: Coach;
let auditor: User;
let tokens: { coach: string; auditor: string };
let markers: string[];
let schema: GraphQLSchema;
let before: Map<string, string[]>;

beforeAll(async () => {
  const pool = rootPool();
  await markTransactionStart(pool);
  const tag = `injb${crypto.randomBytes(4).toString("hex")}`;
  a = await createCoach(pool as never, "inj-a");
  b = await createCoach(pool as never, tag);
  auditor = await createUser(pool as never, "auditor");
  tokens = { coach: await login(a.user.email), auditor: await login(auditor.email) };
  await rateEverythingPending(pool);
  markers = await victimMarkers(pool, [tag, b.user.id, b.profileId]);
  before = await rowsHolding(pool, [...markers, a.profileId, a.user.id]);
  schema = await introspectedSchema(tokens.coach);
});

afterAll(async () => {
  const pool = rootPool();
  await deleteErasedCoach(pool as never, b);
  await deleteCoach(pool as never, a);
  await pool.query("delete from app_public.users where id = $1", [auditor.id]);
  await closeRootPool();
});

/** Runs `work` over `items`, a few at a time (the server's pool has ten connections). */
async function inParallel<T>(items: T[], work: (item: T) => Promise<void>, width = 4): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** Internals an answer must never carry: a stack, a source path, SQL text, PostgreSQL's own error position. */
const internals = /\n\s+at |\.ts:\d+|node_modules|\bselect\b[^"]*\bfrom\b|syntax error at or near|"position"|Internal error|An error occurred \(logged/i;

function problemsOf(label: string, status: number, text: string, asCoach: boolean): string[] {
  const problems: string[] = [];
  if (status >= 500) problems.push(`${label}: status ${status} ${text.slice(0, 200)}`);
  const internal = text.match(internals);
  if (internal) problems.push(`${label}: internals (${internal[0]}) in ${text.slice(0, 300)}`);
  if (asCoach) {
    const leaked = markers.filter((marker) => text.includes(marker));
    if (leaked.length) problems.push(`${label}: shows coach B's ${leaked.join(", ")}`);
  }
  return problems;
}

/** The GET routes the app mounts under /api/v1, read from its routers (a pool that never connects: only the paths are read). */
function restPaths(): string[] {
  const idle = new pg.Pool({ max: 1 });
  const paths = restRoutes(idle).flatMap((router) =>
    router.stack.filter((layer) => layer.route && (layer.route as { methods?: Record<string, boolean> }).methods?.get).map((layer) => layer.route!.path as string));
  void idle.end();
  return [...new Set(paths)];
}

/** A route's parameters, as the route names them when refusing one it does not know. */
async function parametersOf(path: string, token: string): Promise<string[]> {
  const response = await fetch(apiUrl(`${path}?zz_not_a_parameter=1`), { headers: { authorization: `Bearer ${token}` } });
  const { error } = (await response.json()) as { error: string };
  const listed = error.match(/use (.*)\.$/)?.[1];
  if (response.status !== 400 || !listed) throw new Error(`${path} did not name its parameters: ${response.status} ${error}`);
  return listed.split(", ");
}

describe("injection attempts", () => {
  test("through every REST query parameter and path parameter: never a 500, internals or coach B's rows", async () => {
    const paths = restPaths();
    expect(paths.length).toBeGreaterThan(20);
    const requests: Array<{ label: string; url: string; role: "coach" | "auditor" }> = [];
    for (const route of paths) {
      const path = route.replace(":id", b.clientId);
      // Staff-only routes refuse a coach before reading the query: the auditor sends those.
      const probe = await fetch(apiUrl(path), { headers: { authorization: `Bearer ${tokens.coach}` } });
      const role = probe.status === 403 ? "auditor" : "coach";
      if (!route.includes(":")) expect(probe.status).not.toBe(404);
      for (const parameter of await parametersOf(path, tokens[role])) {
        for (const payload of payloads) {
          requests.push({ label: `${route} ${parameter}=${JSON.stringify(payload.slice(0, 40))}`, url: `${path}?${new URLSearchParams({ from: "2026-11-01", to: "2026-12-01", [parameter]: payload })}`, role });
        }
      }
      if (route.includes(":id")) {
        for (const payload of payloads) {
          requests.push({ label: `${route} id=${JSON.stringify(payload.slice(0, 40))}`, url: route.replace(":id", encodeURIComponent(payload)), role });
        }
      }
    }
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    await inParallel(requests, async ({ label, url, role }) => {
      const response = await fetch(apiUrl(url), { headers: { authorization: `Bearer ${tokens[role]}` } });
      const text = await response.text();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      problems.push(...problemsOf(label, response.status, text, role === "coach"));
    });
    expect(problems).toEqual([]);
    // Most attempts are refused in words (400); some are read as text and answered (200).
    expect(statuses.get(400)).toBeGreaterThan(requests.length / 2);
  });

  test("through every scalar argument of every GraphQL root field and the string filters: never a 500, internals or coach B's rows", async () => {
    // The other arguments name coach A's own rows, so that what comes back is about the payload, and any key of B's in it leaked.
    const target: Target = { rowIds: { CoachProfile: a.profileId, Client: a.clientId, User: a.user.id }, nodeIds: { Client: ["x"] }, tag: "x", email: a.user.email, usageEventId: null };
    const operations: Array<{ label: string; query: string; variables: Record<string, unknown> }> = [];
    let turn = 0;
    // Each argument gets a third of the payloads, in turn, so every payload reaches every kind of argument.
    const sample = () => payloads.filter((_, i) => (i + turn) % 3 === 0);
    for (const field of Object.values(schema.getQueryType()!.getFields())) {
      const named = getNamedType(field.type);
      const selection = isScalarType(named) || isEnumType(named) ? "" : named.name.endsWith("Connection") ? " { totalCount }" : " { __typename }";
      for (const arg of field.args) {
        const argType = getNamedType(arg.type);
        if (isScalarType(argType) && argType.name !== "Boolean") {
          const call = argumentsFor(field, target, [`${arg.name}: $v`], arg.name);
          if (call === null) continue;
          turn++;
          for (const payload of sample()) {
            operations.push({ label: `${field.name}(${arg.name}: ${JSON.stringify(payload.slice(0, 40))})`, query: `query ($v: ${argType.name}) { ${field.name}${call}${selection} }`, variables: { v: payload } });
          }
        } else if (arg.name === "filter" && isInputObjectType(argType)) {
          for (const [name, filterField] of Object.entries(argType.getFields())) {
            if (getNamedType(filterField.type).name !== "StringFilter") continue;
            turn++;
            for (const [i, payload] of sample().entries()) {
              const operator = ["equalTo", "includes", "like", "startsWithInsensitive", "in"][i % 5]!;
              const call = argumentsFor(field, target, [`filter: { ${name}: { ${operator}: $v } }`]);
              if (call === null) continue;
              operations.push({
                label: `${field.name} filter ${name} ${operator} ${JSON.stringify(payload.slice(0, 40))}`,
                query: `query ($v: ${operator === "in" ? "[String!]" : "String"}) { ${field.name}${call}${selection} }`,
                variables: { v: operator === "in" ? [payload, "'"] : payload },
              });
            }
          }
        }
      }
    }
    expect(operations.length).toBeGreaterThan(300);
    const problems: string[] = [];
    await inParallel(operations, async ({ label, query, variables }) => {
      const response = await fetch(apiUrl("/graphql"), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${tokens.coach}` },
        body: JSON.stringify({ query, variables }),
      });
      problems.push(...problemsOf(label, response.status, await response.text(), true));
    });
    expect(problems).toEqual([]);
  });

  test("a NUL character in text and a LIKE pattern ending in a backslash are refused in words (400, 22021 and 22025), not an internal error", async () => {
    const nul = await graphql("query ($t: String!) { searchClients(term: $t) { totalCount } }", { t: "a\u0000b" }, tokens.coach);
    expect(nul.body.errors?.[0]).toMatchObject({ message: "Text may not contain the NUL character (\\u0000); remove it.", extensions: { code: "22021" } });
    const like = await graphql('{ clients(filter: { fullName: { like: "\\\\" } }) { totalCount } }', {}, tokens.coach);
    expect(like.body.errors?.[0]).toMatchObject({ message: "LIKE pattern must not end with escape character. Write \\\\ for a backslash itself.", extensions: { code: "22025" } });
    const rest = await fetch(apiUrl("/api/v1/usage?from=2026-11-01&to=2026-12-01&provider=a%00b"), { headers: { authorization: `Bearer ${tokens.coach}` } });
    expect(rest.status).toBe(400);
    expect(await rest.json()).toEqual({ error: expect.stringMatching(/0x00/) });
  });

  test("afterwards the database is unchanged: coach A's and coach B's rows as they were, every table still there", async () => {
    const pool = rootPool();
    expect(fingerprintChanges(before, await rowsHolding(pool, [...markers, a.profileId, a.user.id]), rebuiltForEveryCoach)).toEqual([]);
    const { rows } = await pool.query("select count(*)::int as n from pg_catalog.pg_tables where schemaname = 'app_public'");
    expect(rows[0].n).toBeGreaterThan(20);
    expect((await graphql("{ currentUser { rowId } }", {}, tokens.coach)).body.data).toEqual({ currentUser: { rowId: a.user.id } });
  });
});
