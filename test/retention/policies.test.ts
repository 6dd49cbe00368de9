import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Retention policies: the shipped defaults, who may read and write them, and
// every policy the database refuses, in plain SQL as each role and through
// GraphQL.

afterAll(closeRootPool);

const insert = `insert into app_public.retention_policies (name, category, target_table, clock_column, period, action, legal_basis, description)
                values ($1, 'Test category', $2, $3, $4, $5, 'legitimate_interests', 'A policy a test writes.')`;

test("the shipped policies are there, with the actions the platform needs", () =>
  withRootDb(async (client) => {
    const { rows } = await client.query(
      "select name, target_table, clock_column::text, period::text, action::text, anonymize_columns::text[] from app_public.retention_policies order by name");
    expect(rows).toEqual(expect.arrayContaining([
      { name: "soft_deleted_coach_profiles", target_table: "app_public.coach_profiles", clock_column: "deleted_at", period: "90 days", action: "archive_then_delete", anonymize_columns: null },
      { name: "soft_deleted_clients", target_table: "app_public.clients", clock_column: "deleted_at", period: "90 days", action: "archive_then_delete", anonymize_columns: null },
      { name: "soft_deleted_sessions", target_table: "app_public.coaching_sessions", clock_column: "deleted_at", period: "90 days", action: "archive_then_delete", anonymize_columns: null },
      { name: "soft_deleted_transcriptions", target_table: "app_public.transcriptions", clock_column: "deleted_at", period: "90 days", action: "archive_then_delete", anonymize_columns: null },
      { name: "transcript_text", target_table: "app_public.transcriptions", clock_column: "finished_at", period: "3 years", action: "anonymize", anonymize_columns: ["error_message", "transcript_text"] },
      { name: "audit_events", target_table: "audit.events", clock_column: "occurred_at", period: "7 years", action: "archive_then_delete", anonymize_columns: null },
      { name: "usage_events", target_table: "app_public.usage_events", clock_column: "occurred_at", period: null, action: "keep_forever", anonymize_columns: null },
      { name: "data_subject_export_files", target_table: "app_private.data_subject_export_chunks", clock_column: "created_at", period: "91 days", action: "delete", anonymize_columns: null },
    ]));
  }));

test("the database refuses a bad policy with words, whoever writes it: a zero or negative period, an unknown table or column, a clock that is not a timestamp, row-by-row removal of usage or audit events", () =>
  withRootDb(async (client) => {
    const admin = await createUser(client, "admin");
    const cases: { values: unknown[]; code: string; message: RegExp }[] = [
      { values: ["zero_period", "app_public.clients", "deleted_at", "0 days", "delete"], code: "23514", message: /retention_policies_period_check/ },
      { values: ["negative_period", "app_public.clients", "deleted_at", "-1 day", "delete"], code: "23514", message: /retention_policies_period_check/ },
      { values: ["no_period", "app_public.clients", "deleted_at", null, "delete"], code: "23514", message: /retention_policies_period_state/ },
      { values: ["unknown_table", "app_public.no_such_table", "deleted_at", "1 day", "delete"], code: "42P01", message: /Retention policy unknown_table: there is no table "app_public.no_such_table"/ },
      { values: ["unqualified", "clients", "deleted_at", "1 day", "delete"], code: "42P01", message: /name it with its schema/ },
      { values: ["unknown_column", "app_public.clients", "gone_at", "1 day", "delete"], code: "42703", message: /table app_public.clients has no column "gone_at"/ },
      { values: ["text_clock", "app_public.clients", "notes", "1 day", "delete"], code: "22023", message: /the clock column app_public.clients.notes is text, not a timestamp with time zone/ },
      { values: ["usage_delete", "app_public.usage_events", "occurred_at", "1 year", "delete"], code: "23514", message: /the action delete is not allowed on app_public.usage_events: usage is the billing ledger and is kept forever/ },
      { values: ["usage_archive", "app_public.usage_events", "occurred_at", "1 year", "archive_then_delete"], code: "23514", message: /not allowed on app_public.usage_events/ },
      { values: ["records_delete", "app_private.usage_records", "finished_at", "1 year", "delete"], code: "23514", message: /not allowed on app_private.usage_records/ },
      { values: ["audit_delete", "audit.events", "occurred_at", "1 year", "delete"], code: "23514", message: /the action delete is not allowed on audit.events: audit events leave only by whole archived monthly partitions/ },
      { values: ["audit_anonymize", "audit.events", "occurred_at", "1 year", "anonymize"], code: "23514", message: /the action anonymize is not allowed on audit.events/ },
      { values: ["Bad-Name", "app_public.clients", "deleted_at", "1 day", "delete"], code: "23514", message: /retention_policies_name_check/ },
    ];
    for (const writer of ["owner", "admin"] as const) {
      if (writer === "admin") await becomeUser(client, admin);
      for (const { values, code, message } of cases) {
        const error = await errorOf(client, insert, values);
        expect({ name: values[0], code: error?.code, message: error?.message }).toEqual({ name: values[0], code, message: expect.stringMatching(message) });
      }
      // A valid one goes in; changing it to a forbidden action is refused the same way.
      expect(await errorOf(client, insert, [`fine_${writer}`, "app_public.clients", "deleted_at", "2 years", "delete"])).toBeNull();
      expect(await errorOf(client, "update app_public.retention_policies set target_table = 'app_public.usage_events', clock_column = 'occurred_at' where name = $1", [`fine_${writer}`]))
        .toMatchObject({ code: "23514", message: expect.stringMatching(/not allowed on app_public.usage_events/) });
      await becomeRoot(client);
    }
  }));

test("an anonymize policy blanks the map's identity, contact and content columns unless it names its own; it may not name the key or the clock", () =>
  withRootDb(async (client) => {
    await client.query(insert, ["client_details", "app_public.clients", "deleted_at", "1 year", "anonymize"]);
    const { rows: [policy] } = await client.query("select anonymize_columns::text[] from app_public.retention_policies where name = 'client_details'");
    expect(policy.anonymize_columns).toEqual(["email", "full_name", "notes", "phone"]);
    const own = `insert into app_public.retention_policies (name, category, target_table, clock_column, period, action, legal_basis, description, anonymize_columns)
                 values ($1, 'Test', 'app_public.clients', 'deleted_at', '1 year', 'anonymize', 'contract', 'A test.', $2)`;
    expect(await errorOf(client, own, ["client_notes", ["notes"]])).toBeNull();
    expect(await errorOf(client, own, ["client_key", ["id"]])).toMatchObject({ code: "42703", message: expect.stringMatching(/"id" cannot be anonymized/) });
    expect(await errorOf(client, own, ["client_clock", ["deleted_at"]])).toMatchObject({ code: "42703" });
    expect(await errorOf(client, own, ["client_nothing", ["no_such_column"]])).toMatchObject({ code: "42703" });
    expect(await errorOf(client, insert.replace("'legitimate_interests'", "'contract'").replace("description)", "description, anonymize_columns)").replace("'A policy a test writes.')", "'A test.', '{notes}')"),
      ["delete_with_columns", "app_public.clients", "deleted_at", "1 year", "delete"])).toMatchObject({ code: "22023", message: expect.stringMatching(/only an anonymize policy names columns/) });
  }));

test("admins write policies, auditors read them and the runs and archives, coaches reach none of it", () =>
  withRootDb(async (client) => {
    const admin = await createUser(client, "admin");
    const auditor = await createUser(client, "auditor");
    const coach = await createCoach(client);
    await becomeUser(client, admin);
    expect(await errorOf(client, insert, ["admin_wrote", "app_public.clients", "deleted_at", "1 year", "delete"])).toBeNull();
    expect(await errorOf(client, "update app_public.retention_policies set period = '2 years' where name = 'admin_wrote'")).toBeNull();
    // The run log and archives are the runner's: no role writes them.
    expect(await errorOf(client, "insert into app_public.retention_runs (as_of) values (now())")).toMatchObject({ code: "42501" });
    expect(await errorOf(client, "update app_public.retention_archives set rows_removed_at = now()")).toMatchObject({ code: "42501" });
    await becomeUser(client, auditor);
    const { rows } = await client.query("select name from app_public.retention_policies where name = 'admin_wrote'");
    expect(rows).toEqual([{ name: "admin_wrote" }]);
    for (const table of ["retention_runs", "retention_run_policies", "retention_archives"]) {
      expect(await errorOf(client, `select count(*) from app_public.${table}`)).toBeNull();
    }
    expect(await errorOf(client, "update app_public.retention_policies set enabled = false where name = 'admin_wrote'")).toMatchObject({ code: "42501" });
    expect(await errorOf(client, insert, ["auditor_wrote", "app_public.clients", "deleted_at", "1 year", "delete"])).toMatchObject({ code: "42501" });
    await becomeUser(client, coach.user);
    for (const table of ["retention_policies", "retention_runs", "retention_run_policies", "retention_archives"]) {
      expect(await errorOf(client, `select count(*) from app_public.${table}`)).toMatchObject({ code: "42501" });
    }
    expect(await errorOf(client, "select * from app_public.retention_preview()")).toMatchObject({ code: "42501" });
    expect(await errorOf(client, "select * from app_public.retention_compliance()")).toMatchObject({ code: "42501" });
    await becomeRoot(client);
    // Every change to a policy is in the audit trail.
    const { rows: events } = await client.query(
      "select operation::text from audit.events where table_name = 'retention_policies' and record_key = '{\"name\": \"admin_wrote\"}' order by id");
    expect(events.map((event) => event.operation)).toEqual(["INSERT", "UPDATE"]);
  }));

describe("through GraphQL", () => {
  const create = `mutation ($policy: RetentionPolicyInput!) { createRetentionPolicy(input: { retentionPolicy: $policy }) { retentionPolicy { name targetTable period { days } action anonymizeColumns } } }`;
  const remove = `mutation ($name: String!) { deleteRetentionPolicy(input: { name: $name }) { retentionPolicy { name } } }`;
  const policy = (name: string, overrides: Record<string, unknown> = {}) => ({
    name, category: "GraphQL test", targetTable: "app_public.clients", clockColumn: "deleted_at", period: { days: 400 },
    action: "delete", legalBasis: "legitimate_interests", description: "Written by a test through GraphQL.", ...overrides,
  });
  let adminToken: string;
  let auditorToken: string;
  let coachToken: string;
  const users: string[] = [];

  beforeAll(async () => {
    const admin = await createUser(rootPool(), "admin", "retention-gql-admin");
    const auditor = await createUser(rootPool(), "auditor", "retention-gql-auditor");
    const coach = await createUser(rootPool(), "coach", "retention-gql-coach");
    users.push(admin.id, auditor.id, coach.id);
    [adminToken, auditorToken, coachToken] = await Promise.all([login(admin.email), login(auditor.email), login(coach.email)]);
  });
  afterAll(async () => {
    await rootPool().query("delete from app_public.retention_policies where name like 'gql_%'");
    await rootPool().query("delete from app_public.users where id = any($1)", [users]);
  });

  test("an admin creates and deletes a policy; a bad one is refused in words and nothing is written", async () => {
    const made = await graphql(create, { policy: policy("gql_made") }, adminToken);
    expect(made.body.errors).toBeUndefined();
    expect(made.body.data!.createRetentionPolicy.retentionPolicy).toEqual({
      name: "gql_made", targetTable: "app_public.clients", period: { days: 400 }, action: "delete", anonymizeColumns: null,
    });
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ period: { days: -3 } }, /A retention policy's period must be more than zero/],
      [{ targetTable: "app_public.nothing_here" }, /there is no table "app_public.nothing_here"/],
      [{ clockColumn: "notes" }, /is text, not a timestamp with time zone/],
      [{ targetTable: "app_public.usage_events", clockColumn: "occurred_at" }, /usage is the billing ledger and is kept forever/],
      [{ targetTable: "audit.events", clockColumn: "occurred_at", action: "delete" }, /never row by row/],
    ];
    for (const [overrides, message] of refusals) {
      const { body } = await graphql(create, { policy: policy("gql_bad", overrides) }, adminToken);
      expect(body.errors?.[0]?.message).toMatch(message);
    }
    expect((await rootPool().query("select count(*)::int as n from app_public.retention_policies where name = 'gql_bad'")).rows[0].n).toBe(0);
    const removed = await graphql(remove, { name: "gql_made" }, adminToken);
    expect(removed.body.data!.deleteRetentionPolicy.retentionPolicy).toEqual({ name: "gql_made" });
  });

  test("an auditor reads the policies but may not write one; a coach reads nothing", async () => {
    const read = `{ retentionPolicies(orderBy: NAME_ASC) { nodes { name action } } }`;
    const { body } = await graphql(read, {}, auditorToken);
    expect(body.errors).toBeUndefined();
    const sql = (await rootPool().query("select name from app_public.retention_policies order by name")).rows.map((row) => row.name);
    expect(body.data!.retentionPolicies.nodes.map((node: { name: string }) => node.name)).toEqual(sql);
    const written = await graphql(create, { policy: policy("gql_auditor") }, auditorToken);
    expect(written.body.errors?.[0]?.message).toMatch(/auditor may not/i);
    const coach = await graphql(read, {}, coachToken);
    expect(coach.body.data?.retentionPolicies ?? null).toBeNull();
    expect(coach.body.errors?.[0]?.message).toMatch(/coach may not/i);
  });
});
