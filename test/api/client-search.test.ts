import crypto from "node:crypto";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// A coach finds their clients by name or email (searchClients) and sorts and
// filters them by name and email (clients' orderBy and filter), under
// row-level security and soft delete. The clients are committed, so names
// and emails carry this file's suffix where an admin looks across coaches.

const sfx = crypto.randomBytes(4).toString("hex");
let a: Coach;
let b: Coach;
let admin: User;
let tokens: { a: string; b: string; admin: string };

async function addClient(coach: Coach, fullName: string, email: string): Promise<string> {
  const { rows } = await rootPool().query(
    "insert into app_public.clients (coach_profile_id, full_name, email) values ($1, $2, $3) returning id",
    [coach.profileId, fullName, email],
  );
  return rows[0].id;
}

beforeAll(async () => {
  const root = rootPool();
  a = await createCoach(root, "search-a");
  b = await createCoach(root, "search-b");
  admin = await createUser(root, "admin", "search-admin");
  await addClient(a, `Zoë Adams ${sfx}`, `zoe-${sfx}@test.example`);
  await addClient(a, `Adam Brown ${sfx}`, `brown-${sfx}@test.example`);
  await addClient(a, `Carla Diaz ${sfx}`, `carla-${sfx}@adamsfamily.example`);
  await addClient(a, `Bea Smith ${sfx}`, `bea-${sfx}@test.example`);
  const gone = await addClient(a, `Adam Gone ${sfx}`, `gone-${sfx}@test.example`);
  await root.query("delete from app_public.clients where id = $1", [gone]); // a soft delete
  await addClient(b, `Adam Other ${sfx}`, `other-${sfx}@adamsfamily.example`);
  const [ta, tb, tadmin] = await Promise.all([a.user, b.user, admin].map((user) => login(user.email)));
  tokens = { a: ta!, b: tb!, admin: tadmin! };
});

afterAll(async () => {
  await deleteCoach(rootPool(), a);
  await deleteCoach(rootPool(), b);
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

const searchQuery = `query ($term: String, $orderBy: [ClientOrderBy!], $includeDeleted: Boolean, $first: Int) {
  searchClients(term: $term, orderBy: $orderBy, includeDeleted: $includeDeleted, first: $first) { totalCount nodes { fullName email } } }`;

async function search(token: string, variables: Record<string, unknown>): Promise<string[]> {
  const { body } = await graphql(searchQuery, variables, token);
  expect(body.errors).toBeUndefined();
  return body.data!.searchClients.nodes.map((node: { fullName: string }) => node.fullName.replace(` ${sfx}`, ""));
}

describe("searchClients", () => {
  test("finds a coach's own clients whose name or email contains the term, ignoring case, by name", async () => {
    expect(await search(tokens.a, { term: "adam" })).toEqual(["Adam Brown", "Carla Diaz", "Zoë Adams"]);
    expect(await search(tokens.a, { term: "  ADAMS " })).toEqual(["Carla Diaz", "Zoë Adams"]);
    expect(await search(tokens.a, { term: `bea-${sfx}@` })).toEqual(["Bea Smith"]);
    expect(await search(tokens.a, { term: "nobody-by-this-name" })).toEqual([]);
  });

  test("sorts by name or email as asked, and pages", async () => {
    expect(await search(tokens.a, { term: "adam", orderBy: ["EMAIL_DESC"] })).toEqual(["Zoë Adams", "Carla Diaz", "Adam Brown"]);
    expect(await search(tokens.a, { term: "adam", orderBy: ["FULL_NAME_DESC"] })).toEqual(["Zoë Adams", "Carla Diaz", "Adam Brown"]);
    expect(await search(tokens.a, { term: "adam", orderBy: ["EMAIL_ASC"], first: 2 })).toEqual(["Adam Brown", "Carla Diaz"]);
  });

  test("a coach never finds another coach's clients, nor soft-deleted ones, even asking for them", async () => {
    expect(await search(tokens.b, { term: "adam" })).toEqual(["Adam Other"]);
    expect(await search(tokens.a, { term: sfx, includeDeleted: true })).toEqual(["Adam Brown", "Bea Smith", "Carla Diaz", "Zoë Adams"]);
  });

  test("an admin finds every coach's clients, the soft-deleted ones only when asked", async () => {
    expect(await search(tokens.admin, { term: sfx })).toEqual(["Adam Brown", "Adam Other", "Bea Smith", "Carla Diaz", "Zoë Adams"]);
    expect(await search(tokens.admin, { term: sfx, includeDeleted: true })).toEqual(
      ["Adam Brown", "Adam Gone", "Adam Other", "Bea Smith", "Carla Diaz", "Zoë Adams"]);
  });

  test("an empty or missing term is refused in words with 22023", async () => {
    for (const term of ["", "   ", null]) {
      const { body } = await graphql(searchQuery, { term }, tokens.a);
      expect(body.errors?.[0]).toMatchObject({
        message: "term must be 1 to 200 characters of a client's name or email.", extensions: { code: "22023" },
      });
    }
  });
});

describe("clients by name and email", () => {
  const listQuery = `query ($filter: ClientFilter, $orderBy: [ClientOrderBy!]) {
    clients(filter: $filter, orderBy: $orderBy, includeDeleted: false) { nodes { fullName } } }`;
  async function list(token: string, variables: Record<string, unknown>): Promise<string[]> {
    const { body } = await graphql(listQuery, variables, token);
    expect(body.errors).toBeUndefined();
    return body.data!.clients.nodes.map((node: { fullName: string }) => node.fullName.replace(` ${sfx}`, ""));
  }

  test("clients filter by name and email and sort by either, under row-level security", async () => {
    expect(await list(tokens.a, { filter: { fullName: { includesInsensitive: "adam" } }, orderBy: ["FULL_NAME_ASC"] })).toEqual(["Adam Brown", "Zoë Adams"]);
    expect(await list(tokens.a, { filter: { email: { endsWith: "@adamsfamily.example" } } })).toEqual(["Carla Diaz"]);
    expect(await list(tokens.a, { filter: { fullName: { endsWith: sfx } }, orderBy: ["EMAIL_ASC"] })).toEqual(
      ["Bea Smith", "Adam Brown", "Carla Diaz", "Zoë Adams"]);
    expect(await list(tokens.admin, { filter: { fullName: { endsWith: sfx } }, orderBy: ["FULL_NAME_DESC"] })).toEqual(
      ["Zoë Adams", "Carla Diaz", "Bea Smith", "Adam Other", "Adam Brown"]);
  });
});
