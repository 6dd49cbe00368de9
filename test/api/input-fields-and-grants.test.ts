import crypto from "node:crypto";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// PostGraphile builds one schema for every role, so a create or update input
// offers each column that any role may write. Every field a role may not
// write must be refused in words that name it, never with PostgreSQL's bare
// "permission denied for table"; and a field a role may write in part (a
// coach naming their own profile) is accepted.

const roles = ["coach", "admin", "auditor"] as const;
type Role = (typeof roles)[number];

let coach: Coach;
let other: Coach;
let admin: User;
let auditor: User;
let tokens: Record<Role, string>;

beforeAll(async () => {
  const pool = rootPool();
  coach = await createCoach(pool, "grants-coach");
  other = await createCoach(pool, "grants-other");
  admin = await createUser(pool, "admin", "grants-admin");
  auditor = await createUser(pool, "auditor", "grants-auditor");
  tokens = { coach: await login(coach.user.email), admin: await login(admin.email), auditor: await login(auditor.email) };
});

afterAll(async () => {
  const pool = rootPool();
  for (const each of [coach, other]) await deleteCoach(pool, each);
  await pool.query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

interface InputField {
  name: string;
  type: { kind: string; name: string | null; ofType: { kind: string; name: string | null } | null };
}

async function inputFields(typeName: string): Promise<InputField[]> {
  const { body } = await graphql(
    `query ($name: String!) { __type(name: $name) { inputFields { name type { kind name ofType { kind name } } } } }`,
    { name: typeName },
  );
  return body.data!.__type.inputFields;
}

/** A value of the field's type that GraphQL accepts; the database refuses before it looks at values. */
async function sampleValue(field: InputField): Promise<unknown> {
  const named = field.type.kind === "NON_NULL" ? field.type.ofType! : field.type;
  switch (named.name) {
    case "UUID": return crypto.randomUUID();
    case "Int": return 1;
    case "BigInt": case "BigFloat": return "1";
    case "Boolean": return true;
    case "Datetime": return "2026-01-05T10:00:00Z";
    case "Date": return "2026-01-05";
    case "String": return "x";
  }
  if (named.kind === "ENUM") {
    const { body } = await graphql(`query ($name: String!) { __type(name: $name) { enumValues { name } } }`, { name: named.name });
    return body.data!.__type.enumValues[0].name;
  }
  throw new Error(`no sample value for ${named.name}`);
}

/** Which columns each role may insert and update, per table, as the database says. */
async function columnGrants(): Promise<Map<string, boolean>> {
  const { rows } = await rootPool().query(
    `select c.relname || ' ' || r || ' ' || p || ' ' || a.attname as key
     from pg_class c join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'app_public'
     join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     cross join unnest(array['coach', 'admin', 'auditor']) r
     cross join unnest(array['INSERT', 'UPDATE']) p
     where c.relkind = 'r' and has_column_privilege('custodian_' || r, c.oid, a.attnum, p)`,
  );
  return new Map(rows.map((row) => [row.key as string, true]));
}

const snake = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
const mutationsOfTables = ["Client", "CoachProfile", "CoachingSession", "Transcription", "BillingPlan", "ProviderRate", "User"];

describe("every create and update mutation, for every role", () => {
  test("a field the role may not write is refused in words naming it (or the table), never with a bare permission error", async () => {
    const grants = await columnGrants();
    let tried = 0;
    for (const type of mutationsOfTables) {
      const table = `${snake(type).slice(1)}s`;
      const operations = [
        { mutation: `create${type}`, privilege: "INSERT", inputType: `${type}Input`, wrap: (values: object) => ({ [type[0]!.toLowerCase() + type.slice(1)]: values }) },
        { mutation: `update${type}`, privilege: "UPDATE", inputType: `${type}Patch`, wrap: (values: object) => ({ rowId: crypto.randomUUID(), patch: values }) },
      ];
      for (const { mutation, privilege, inputType, wrap } of operations) {
        const fields = await inputFields(inputType).catch(() => null);
        if (!fields) continue; // no such mutation (users are created by the CLI)
        const required = fields.filter((field) => field.type.kind === "NON_NULL");
        for (const role of roles) {
          for (const field of fields) {
            if (grants.has(`${table} ${role} ${privilege} ${snake(field.name)}`)) continue;
            const values: Record<string, unknown> = {};
            for (const each of [...required, field]) values[each.name] = await sampleValue(each);
            const { body } = await graphql(
              `mutation ($input: ${mutation[0]!.toUpperCase()}${mutation.slice(1)}Input!) { ${mutation}(input: $input) { clientMutationId } }`,
              { input: wrap(values) },
              tokens[role],
            );
            const error = body.errors?.[0];
            const context = `${role} ${mutation} ${field.name}: ${JSON.stringify(body.errors)}`;
            expect([context, error?.extensions?.code]).toEqual([context, "42501"]);
            expect([context, /permission denied/.test(error!.message)]).toEqual([context, false]);
            const namesIt = error!.message.includes(field.name) || new RegExp(`may not (create|change) ${table}\\.$`).test(error!.message);
            expect([context, namesIt]).toEqual([context, true]);
            tried++;
          }
        }
      }
    }
    expect(tried).toBeGreaterThan(20);
  });

  test("a transcription's pipeline fields are refused to a coach by name", async () => {
    const { body } = await graphql(
      `mutation ($input: CreateTranscriptionInput!) { createTranscription(input: $input) { clientMutationId } }`,
      { input: { transcription: { sessionId: coach.sessionId, provider: "deepgram", model: "nova-2", status: "completed", billedDurationSeconds: 60 } } },
      tokens.coach,
    );
    expect(body.errors?.[0]?.message).toMatch(/^A coach may not set .*status.* of transcriptions; leave them out\.$/);
    expect(body.errors?.[0]?.message).toContain("billedDurationSeconds");
  });
});

describe("fields a role may write for itself", () => {
  test("a coach may pass their own coachProfileId to createClient; another coach's is refused by row-level security", async () => {
    const own = await graphql(
      `mutation ($input: CreateClientInput!) { createClient(input: $input) { client { fullName coachProfileId } } }`,
      { input: { client: { coachProfileId: coach.profileId, fullName: "Named own profile" } } },
      tokens.coach,
    );
    expect(own.body.errors).toBeUndefined();
    expect(own.body.data!.createClient.client).toEqual({ fullName: "Named own profile", coachProfileId: coach.profileId });

    const theirs = await graphql(
      `mutation ($input: CreateClientInput!) { createClient(input: $input) { client { fullName } } }`,
      { input: { client: { coachProfileId: other.profileId, fullName: "Someone else's" } } },
      tokens.coach,
    );
    expect(theirs.body.errors?.[0]).toMatchObject({ extensions: { code: "42501" } });
    expect(theirs.body.errors?.[0]?.message).toBe("A coach may only write clients of their own: this row would belong to another coach (or to none).");
    const { rows } = await rootPool().query("select count(*)::int as n from app_public.clients where full_name = $1", ["Someone else's"]);
    expect(rows[0].n).toBe(0);
  });

  test("a coach without a profile may pass their own userId to createCoachProfile", async () => {
    const pool = rootPool();
    const fresh = await createUser(pool, "coach", "grants-fresh");
    try {
      const token = await login(fresh.email);
      const { rows } = await pool.query("select id from app_public.billing_plans order by name limit 1");
      const { body } = await graphql(
        `mutation ($input: CreateCoachProfileInput!) { createCoachProfile(input: $input) { coachProfile { displayName userId } } }`,
        { input: { coachProfile: { userId: fresh.id, displayName: "Fresh", planId: rows[0].id } } },
        token,
      );
      expect(body.errors).toBeUndefined();
      expect(body.data!.createCoachProfile.coachProfile).toEqual({ displayName: "Fresh", userId: fresh.id });
    } finally {
      await pool.query("select governance.hard_delete('app_public.coach_profiles', id::text, 'test cleanup') from app_public.coach_profiles where user_id = $1", [fresh.id]);
      await pool.query("delete from app_public.users where id = $1", [fresh.id]);
    }
  });
});
