import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, testPlanId, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// A mistake a caller can make is answered with a sentence naming the field
// and the rule, a 4xx, and the SQLSTATE in extensions.code for programs:
// never PostgreSQL's own words ("violates check constraint ...",
// "permission denied for table ...") and never a masked "An error occurred".

let coach: Coach;
let other: Coach;
let admin: User;
let auditor: User;
let tokens: { coach: string; admin: string; auditor: string };

beforeAll(async () => {
  const pool = rootPool();
  coach = await createCoach(pool, "plain-coach");
  other = await createCoach(pool, "plain-other");
  admin = await createUser(pool, "admin", "plain-admin");
  auditor = await createUser(pool, "auditor", "plain-auditor");
  tokens = { coach: await login(coach.user.email), admin: await login(admin.email), auditor: await login(auditor.email) };
});

afterAll(async () => {
  const pool = rootPool();
  for (const each of [coach, other]) await deleteCoach(pool, each);
  await pool.query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

/** The answer's HTTP status, its one error's message and code, and whether anything came back. */
async function answer(query: string, variables: Record<string, unknown>, token: string) {
  const response = await graphql(query, variables, token);
  expect(response.body.errors).toHaveLength(1);
  const [error] = response.body.errors!;
  return { status: response.status, message: error!.message, code: error!.extensions?.code };
}

describe("every constraint has words", () => {
  test("each check, unique, foreign-key, primary-key and exclusion constraint and unique index of app_public has a sentence in app_private.constraint_words()", async () => {
    const { rows } = await rootPool().query(
      `with constraints as (
         select c.conrelid as table_oid, c.conname::text as constraint_name
         from pg_catalog.pg_constraint c
         where c.connamespace = 'app_public'::regnamespace and c.contype in ('c', 'u', 'f', 'p', 'x')
         union
         select i.indrelid, x.relname::text
         from pg_catalog.pg_index i join pg_catalog.pg_class x on x.oid = i.indexrelid
         where x.relnamespace = 'app_public'::regnamespace and i.indisunique
       )
       select 'app_public.' || t.relname || ' ' || constraint_name as missing
       from constraints join pg_catalog.pg_class t on t.oid = constraints.table_oid
       where not exists (select from app_private.constraint_words() w
                         where w.table_name::regclass = constraints.table_oid and w.constraint_name = constraints.constraint_name)
       order by 1`,
    );
    expect(rows.map((row) => row.missing)).toEqual([]);
  });

  test("no words are left for a constraint that no longer exists, and each is a sentence", async () => {
    const { rows } = await rootPool().query(
      `select w.table_name || ' ' || w.constraint_name as stale from app_private.constraint_words() w
       where not exists (select from pg_catalog.pg_constraint c where c.conrelid = w.table_name::regclass and c.conname = w.constraint_name)
         and not exists (select from pg_catalog.pg_index i join pg_catalog.pg_class x on x.oid = i.indexrelid
                         where i.indrelid = w.table_name::regclass and x.relname = w.constraint_name)`,
    );
    expect(rows.map((row) => row.stale)).toEqual([]);
    const { rows: words } = await rootPool().query("select words from app_private.constraint_words()");
    for (const { words: sentence } of words) expect(sentence).toMatch(/^[A-Z].*\.$/);
  });
});

describe("a constraint a write breaks is named in words", () => {
  const updateClient = "mutation ($id: UUID!, $patch: ClientPatch!) { updateClient(input: { rowId: $id, patch: $patch }) { client { rowId } } }";

  test("a 90 KB note names the limit of 20,000 characters", async () => {
    expect(await answer(updateClient, { id: coach.clientId, patch: { notes: "x".repeat(90_000) } }, tokens.coach)).toEqual({
      status: 400, code: "23514", message: "A client's notes may be at most 20,000 characters.",
    });
  });

  test("a time zone PostgreSQL does not know names the field and what it takes", async () => {
    const result = await answer(
      "mutation ($id: UUID!) { updateCoachProfile(input: { rowId: $id, patch: { timezone: \"Mars/Olympus_Mons\" } }) { coachProfile { rowId } } }",
      { id: coach.profileId },
      tokens.coach,
    );
    expect(result).toEqual({ status: 400, code: "23514", message: "A coach profile's timezone must be an IANA time zone name, such as Europe/Berlin or UTC." });
  });

  test("a second coach profile for one user is a duplicate in words", async () => {
    const result = await answer(
      "mutation ($input: CreateCoachProfileInput!) { createCoachProfile(input: $input) { coachProfile { rowId } } }",
      { input: { coachProfile: { userId: coach.user.id, displayName: "Twice", planId: await testPlanId(rootPool()) } } },
      tokens.admin,
    );
    expect(result).toEqual({ status: 400, code: "23505", message: "This user already has a coach profile; a coach has one (delete it first to make another)." });
  });

  test("a bad email, and a coach profile that does not exist, are named", async () => {
    const create = "mutation ($input: CreateClientInput!) { createClient(input: $input) { client { rowId } } }";
    expect(await answer(create, { input: { client: { coachProfileId: coach.profileId, fullName: "X", email: "not-an-email" } } }, tokens.admin)).toEqual({
      status: 400, code: "23514", message: "A client's email must look like name@example.com (no spaces, one @, a dot in the domain).",
    });
    expect(await answer(create, { input: { client: { coachProfileId: "00000000-0000-0000-0000-000000000000", fullName: "X" } } }, tokens.admin)).toEqual({
      status: 400, code: "23503", message: "A client's coachProfileId must name an existing coach profile.",
    });
  });

  test("a coach moving their session to another coach's client is told the client must be their own", async () => {
    const result = await answer(
      "mutation ($id: UUID!, $client: UUID!) { updateCoachingSession(input: { rowId: $id, patch: { clientId: $client } }) { coachingSession { rowId } } }",
      { id: coach.sessionId, client: other.clientId },
      tokens.coach,
    );
    expect(result).toEqual({ status: 400, code: "23503", message: "A coaching session's clientId must name an existing client of the same coach." });
  });

  test("a required column set to null is named", async () => {
    expect(await answer(updateClient, { id: coach.clientId, patch: { fullName: null } }, tokens.coach)).toEqual({
      status: 400, code: "23502", message: "fullName is required for clients; give it a value.",
    });
  });
});

describe("a refusal names the role and the table", () => {
  test("an auditor trying to write is told an auditor may not, with 403", async () => {
    const create = await answer(
      "mutation ($input: CreateClientInput!) { createClient(input: $input) { client { rowId } } }",
      { input: { client: { coachProfileId: coach.profileId, fullName: "By an auditor" } } },
      tokens.auditor,
    );
    expect(create).toEqual({ status: 403, code: "42501", message: "An auditor may not create clients." });
    const update = await answer("mutation ($id: UUID!) { updateClient(input: { rowId: $id, patch: { notes: \"x\" } }) { client { rowId } } }", { id: coach.clientId }, tokens.auditor);
    expect(update).toEqual({ status: 403, code: "42501", message: "An auditor may not change clients." });
    const remove = await answer("mutation ($id: UUID!) { deleteClient(input: { rowId: $id }) { client { rowId } } }", { id: coach.clientId }, tokens.auditor);
    expect(remove).toEqual({ status: 403, code: "42501", message: "An auditor may not use deleteClient." });
  });

  test("a coach aiming a new client at another coach's profile is told the row would not be theirs", async () => {
    const result = await answer(
      "mutation ($input: CreateClientInput!) { createClient(input: $input) { client { rowId } } }",
      { input: { client: { coachProfileId: other.profileId, fullName: "Someone else's" } } },
      tokens.coach,
    );
    expect(result).toEqual({ status: 403, code: "42501", message: "A coach may only write clients of their own: this row would belong to another coach (or to none)." });
  });
});

describe("simple mistakes are the caller's, in words, with 400", () => {
  test("a negative page size or offset is refused before it runs", async () => {
    for (const [query, variables, message] of [
      ["{ clients(first: -1) { nodes { rowId } } }", {}, "first: -1 on clients is negative; a page size is 0 to 1000 (GRAPHQL_MAX_PAGE_SIZE)."],
      ["query ($n: Int) { clients(last: $n) { nodes { rowId } } }", { n: -5 }, "last: -5 on clients is negative; a page size is 0 to 1000 (GRAPHQL_MAX_PAGE_SIZE)."],
      ["{ clients(first: 5, offset: -3) { nodes { rowId } } }", {}, "offset: -3 on clients is negative; skip 0 rows or more."],
    ] as const) {
      const response = await graphql(query, variables, tokens.coach);
      expect({ status: response.status, errors: response.body.errors }).toEqual({
        status: 400, errors: [{ message, extensions: { code: "22023", statusCode: 400 } }],
      });
    }
  });

  test("an id beyond bigint names the range", async () => {
    expect(await answer('{ explainCharge(usageEventId: "99999999999999999999") }', {}, tokens.admin)).toEqual({
      status: 400,
      code: "22003",
      message: 'Value "99999999999999999999" is out of range for type bigint: a bigint is -9,223,372,036,854,775,808 to 9,223,372,036,854,775,807 (ids and amounts are bigints).',
    });
  });

  test("a number, a date or a time that is not one is named", async () => {
    expect(await answer('{ explainCharge(usageEventId: "many") }', {}, tokens.admin)).toEqual({ status: 400, code: "22P02", message: '"many" is not a valid bigint.' });
    const disable = "mutation ($id: UUID!, $at: Datetime) { updateUser(input: { rowId: $id, patch: { disabledAt: $at } }) { user { rowId } } }";
    expect(await answer(disable, { id: coach.user.id, at: "next tuesday" }, tokens.admin)).toEqual({
      status: 400, code: "22007", message: '"next tuesday" is not a valid timestamp with time zone.',
    });
    expect(await answer(disable, { id: coach.user.id, at: "2026-02-30T00:00:00Z" }, tokens.admin)).toEqual({
      status: 400, code: "22008", message: '"2026-02-30T00:00:00Z" is not a valid date or time: a field of it is out of range.',
    });
    const { rows } = await rootPool().query("select disabled_at from app_public.users where id = $1", [coach.user.id]);
    expect(rows[0].disabled_at).toBeNull();
  });

  test("a good answer beside a mistake keeps 200 and its data", async () => {
    const response = await graphql('{ currentUser { role } explainCharge(usageEventId: "99999999999999999999") }', {}, tokens.admin);
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ currentUser: { role: "admin" }, explainCharge: null });
    expect(response.body.errors?.[0]?.extensions?.code).toBe("22003");
  });
});
