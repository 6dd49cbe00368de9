import crypto from "node:crypto";
import { getNamedType, isInputObjectType, isNonNullType, isObjectType, type GraphQLInputType, type GraphQLSchema } from "graphql";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { deleteErasedCoach } from "../support/gdpr.ts";
import { argumentsFor, introspectedSchema, learnRefusals, literalFor, newRefused, rootQueries, selectionOf, type Target } from "../support/graphql-fuzz.ts";
import { graphql, login, type GraphQLResponse } from "../support/http.ts";
import { fingerprintChanges, markTransactionStart, rateEverythingPending, rebuiltForEveryCoach, rowsHolding, victimMarkers } from "../support/rls-fuzz.ts";

/**
 * Row-level security fuzz through GraphQL over HTTP, as coach A, against
 * coach B's committed rows: every root field of the introspected schema
 * with arguments aimed at B and relations two deep, filters on B's keys and
 * names, B's node ids, cursors of B's pages, and every mutation aimed at B's
 * rows. Nothing of B's may come back (keys, names, node ids, or counts), and
 * no row of B's may change.
 */

let a: Coach;
let b: Coach;
let admin: User;
let tokenA: string;
let tokenAdmin: string;
let schema: GraphQLSchema;
let target: Target;
let markers: string[];
/** What coach A is refused, learnt as the fuzz goes: selections leave it out, so the rest is read. */
const refused = newRefused();

/** Root fields and mutations the fuzz does not generate, each with why; the test fails when one no longer exists. */
const notGenerated: Record<string, string> = {
  authenticate: "signs in by email and password; forged and wrong credentials are the limits part's tests",
  changePassword: "changes the caller's own password only (it takes no key)",
  signOut: "ends the caller's own session only (it takes no key)",
};

beforeAll(async () => {
  const pool = rootPool();
  await markTransactionStart(pool);
  const tag = `gqlfuzzb${crypto.randomBytes(4).toString("hex")}`;
  a = await createCoach(pool as never, "gql-fuzz-a");
  b = await createCoach(pool as never, tag);
  admin = await createUser(pool as never, "admin");
  const { rows: [request] } = await pool.query(
    "insert into app_public.data_subject_requests (kind, client_id) values ('access', $1) returning id", [b.clientId]);
  [tokenA, tokenAdmin] = await Promise.all([login(a.user.email), login(admin.email)]);
  await rateEverythingPending(pool);
  markers = await victimMarkers(pool, [tag, b.user.id, b.profileId]);
  schema = await introspectedSchema(tokenA);
  const rowIds: Record<string, string> = {
    User: b.user.id, CoachProfile: b.profileId, Client: b.clientId, CoachingSession: b.sessionId,
    Transcription: b.transcriptionId, DataSubjectRequest: request.id,
  };
  // B's node id of each type, as an admin reads it through the type's own fetch by key.
  const nodeIds: Record<string, string[]> = {};
  for (const field of Object.values(schema.getQueryType()!.getFields())) {
    const type = getNamedType(field.type);
    if (!isObjectType(type) || !rowIds[type.name] || !field.args.some((arg) => arg.name === "rowId") || !type.getFields().id) continue;
    const { body } = await graphql(`{ ${field.name}(rowId: ${JSON.stringify(rowIds[type.name])}) { id } }`, {}, tokenAdmin);
    const id = body.data?.[field.name]?.id;
    if (id) nodeIds[type.name] = [...new Set([...(nodeIds[type.name] ?? []), id])];
  }
  markers.push(...Object.values(nodeIds).flat());
  target = { rowIds, nodeIds, tag, email: b.user.email, usageEventId: null };
});

afterAll(async () => {
  const pool = rootPool();
  await deleteErasedCoach(pool as never, b);
  await deleteCoach(pool as never, a);
  await pool.query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

const leaks = (value: unknown) => {
  const text = JSON.stringify(value ?? null);
  return markers.filter((marker) => text.includes(marker));
};

/** Every connection in an answer whose totalCount differs from the rows it shows while it shows fewer than a page: a count of rows not shown. */
function hiddenCounts(value: unknown, path = "data"): string[] {
  if (value === null || typeof value !== "object") return [];
  const found: string[] = [];
  const record = value as Record<string, unknown>;
  if (typeof record.totalCount === "number" && Array.isArray(record.nodes) && record.nodes.length < 5 && record.totalCount !== record.nodes.length) {
    found.push(`${path}: totalCount ${record.totalCount}, ${record.nodes.length} rows shown`);
  }
  for (const [key, inner] of Object.entries(record)) found.push(...hiddenCounts(inner, `${path}.${key}`));
  return found;
}

/** A problem with an answer to coach A: a 500, internals, B's keys or names, or a count of rows not shown. */
async function problemsOf(label: string, query: string, variables: Record<string, unknown> = {}, paged = false): Promise<string[]> {
  const { status, body } = await graphql(query, variables, tokenA);
  return problemsIn(label, status, body, paged);
}

function problemsIn(label: string, status: number, body: GraphQLResponse["body"], paged = false): string[] {
  const problems: string[] = [];
  if (status >= 500) problems.push(`${label}: status ${status}`);
  for (const error of body.errors ?? []) {
    if (/An error occurred \(logged/.test(error.message)) problems.push(`${label}: internal error ${error.message}`);
  }
  const leaked = leaks(body.data);
  if (leaked.length) problems.push(`${label}: shows ${leaked.join(", ")}`);
  // A page after or before a cursor shows part of what totalCount counts.
  if (!paged) problems.push(...hiddenCounts(body.data).map((count) => `${label}: ${count}`));
  return problems;
}

describe("row-level security fuzz through GraphQL, generated from introspection", () => {
  test("the fields left out of the fuzz all still exist", () => {
    const fields = { ...schema.getQueryType()!.getFields(), ...schema.getMutationType()!.getFields() };
    expect(Object.keys(notGenerated).filter((name) => !(name in fields))).toEqual([]);
  });

  test("every root query field, with arguments aimed at coach B and relations two deep, shows coach A nothing of B's", async () => {
    const queries = rootQueries(schema, target, refused);
    expect(queries.filter((entry) => entry.query === null && !(entry.field in notGenerated)).map((entry) => entry.field)).toEqual([]);
    const problems: string[] = [];
    const answered: string[] = [];
    for (const { field } of queries) {
      // Asked again, leaving out what the role is refused, until the answer refuses nothing new.
      for (;;) {
        const query = rootQueries(schema, target, refused).find((entry) => entry.field === field)!.query;
        if (!query) break;
        const { status, body } = await graphql(query, {}, tokenA);
        if (learnRefusals(refused, body.errors)) continue;
        problems.push(...problemsIn(field, status, body));
        if (!body.errors) answered.push(field);
        break;
      }
    }
    expect(problems).toEqual([]);
    expect(queries.length).toBeGreaterThan(80);
    // Not vacuous: most fields answer, and coach A reads their own client through the same generated selection.
    expect(answered.length).toBeGreaterThan(30);
    const { body } = await graphql(`{ clients(first: 50) { ${selectionOf(getNamedType(schema.getQueryType()!.getFields().clients!.type) as never, 2, target, refused)} } }`, {}, tokenA);
    expect(JSON.stringify(body.data)).toContain(a.clientId);
  });

  test("node(id:) with coach B's node id of every type answers null to coach A", async () => {
    expect(Object.keys(target.nodeIds).sort()).toEqual(["Client", "CoachProfile", "CoachingSession", "DataSubjectRequest", "Transcription", "User"]);
    const problems: string[] = [];
    for (const [type, ids] of Object.entries(target.nodeIds)) {
      for (const id of ids) {
        const { body } = await graphql("query ($id: ID!) { node(id: $id) { id __typename } }", { id }, tokenA);
        if (body.data?.node !== null) problems.push(`${type} ${id}: ${JSON.stringify(body)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("every filter field of every connection, aimed at coach B's keys and names, matches nothing for coach A", async () => {
    const problems: string[] = [];
    let tried = 0;
    for (const field of Object.values(schema.getQueryType()!.getFields())) {
      const filterArg = field.args.find((arg) => arg.name === "filter");
      const filterType = filterArg && getNamedType(filterArg.type);
      if (!filterType || !isInputObjectType(filterType)) continue;
      const args = argumentsFor(field, target);
      if (args === null) continue;
      for (const [name, filterField] of Object.entries(filterType.getFields())) {
        const operatorType = getNamedType(filterField.type);
        if (!isInputObjectType(operatorType)) continue;
        const scalar = operatorType.name.replace(/Filter$/, "");
        const value = scalar === "UUID" ? literalFor(name, getNamedType(schema.getType("UUID") as never) as never, target)
          : scalar === "String" ? JSON.stringify(target.tag) : undefined;
        if (value === undefined) continue;
        const operator = scalar === "UUID" ? "equalTo" : "includesInsensitive";
        const filter = `filter: { ${name}: { ${operator}: ${value} } }`;
        const withFilter = args ? args.replace(/\)$/, `, ${filter})`) : `(${filter})`;
        tried++;
        const { status, body } = await graphql(`{ ${field.name}${withFilter} { totalCount nodes { __typename } } }`, {}, tokenA);
        const count = body.data?.[field.name]?.totalCount;
        if (status >= 500 || body.errors?.some((error) => /An error occurred \(logged/.test(error.message))) problems.push(`${field.name} ${filter}: ${status} ${JSON.stringify(body.errors)}`);
        if (typeof count === "number" && (count !== 0 || body.data?.[field.name]?.nodes?.length !== 0)) problems.push(`${field.name} ${filter}: matched ${count}`);
      }
    }
    expect(problems).toEqual([]);
    expect(tried).toBeGreaterThan(30);
  });

  test("cursors taken from coach B's pages by an admin, replayed by coach A, show nothing of B's", async () => {
    const problems: string[] = [];
    let replayed = 0;
    for (const field of Object.values(schema.getQueryType()!.getFields())) {
      const type = getNamedType(field.type);
      if (!isObjectType(type) || !type.name.endsWith("Connection") || !field.args.some((arg) => arg.name === "after")) continue;
      const args = argumentsFor(field, target);
      if (args === null) continue;
      const filterType = getNamedType(field.args.find((arg) => arg.name === "filter")?.type ?? schema.getType("String")!);
      const byB = isInputObjectType(filterType) && filterType.getFields().coachProfileId ? `filter: { coachProfileId: { equalTo: ${JSON.stringify(b.profileId)} } }, ` : "";
      const page = (extra: string) => (args ? args.replace(/\)$/, `, ${extra})`) : `(${extra})`);
      const { body } = await graphql(`{ ${field.name}${page(`${byB}first: 1`)} { edges { cursor } } }`, {}, tokenAdmin);
      const cursor = body.data?.[field.name]?.edges?.[0]?.cursor;
      if (!cursor) continue;
      replayed++;
      for (const [label, paging] of [["after", "after: $c, first: 50"], ["before", "before: $c, last: 50"]] as const) {
        for (;;) {
          const query = `query ($c: Cursor) { ${field.name}${page(paging)} { ${selectionOf(type, 1, target, refused)} } }`;
          const { status, body: answer } = await graphql(query, { c: cursor }, tokenA);
          if (learnRefusals(refused, answer.errors)) continue;
          problems.push(...problemsIn(`${field.name} ${label} B's cursor`, status, answer, true));
          break;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(replayed).toBeGreaterThan(3);
  });

  test("every mutation aimed at coach B's keys, node ids and parents changes none of B's rows", async () => {
    const pool = rootPool();
    const before = await rowsHolding(pool, markers);
    const problems: string[] = [];
    const generated: string[] = [];
    for (const mutation of Object.values(schema.getMutationType()!.getFields())) {
      if (mutation.name in notGenerated) continue;
      const payloadType = getNamedType(mutation.type);
      const ownerType = isObjectType(payloadType)
        ? Object.values(payloadType.getFields()).map((field) => getNamedType(field.type).name).find((name) => name in target.rowIds)
        : undefined;
      const input = mutation.args.find((arg) => arg.name === "input");
      const literal = input ? inputLiteral(input.type, ownerType) : "";
      if (literal === undefined) {
        problems.push(`${mutation.name}: no input generated; add a generator or list it with why`);
        continue;
      }
      generated.push(mutation.name);
      problems.push(...(await problemsOf(mutation.name, `mutation { ${mutation.name}${input ? `(input: ${literal})` : ""} { clientMutationId } }`)));
    }
    expect(problems).toEqual([]);
    expect(fingerprintChanges(before, await rowsHolding(pool, markers), rebuiltForEveryCoach)).toEqual([]);
    expect(generated.length).toBeGreaterThan(50);
  });
});

/**
 * A mutation input aimed at B: every required field, every key (B's) and,
 * in a patch, one text field; the row to create likewise (pointing at B's
 * parents). Undefined when a required field has no value.
 */
function inputLiteral(type: GraphQLInputType, ownerType: string | undefined): string | undefined {
  const named = getNamedType(type);
  if (!isInputObjectType(named)) return literalFor("", type, target, ownerType);
  const parts: string[] = [];
  const fields = Object.values(named.getFields());
  const isPatch = named.name.endsWith("Patch");
  for (const field of fields) {
    const required = isNonNullType(field.type) && field.defaultValue === undefined;
    const fieldNamed = getNamedType(field.type);
    const aimed = ["UUID", "ID"].includes(fieldNamed.name) || (isPatch && fieldNamed.name === "String" && !parts.length);
    if (!required && !aimed && !isInputObjectType(fieldNamed)) continue;
    const value = isInputObjectType(fieldNamed) ? inputLiteral(field.type, ownerType) : field.name === "patch" ? undefined : literalFor(field.name, field.type, target, ownerType);
    if (value === undefined) {
      if (required) return undefined;
      continue;
    }
    parts.push(`${field.name}: ${value}`);
  }
  return `{ ${parts.join(", ")} }`;
}

