import { becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createUser, deleteCoach, createCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// The map of personal data (governance.personal_data_columns through
// governance.classify_column) and the records of processing read from it.

afterAll(closeRootPool);

test("every text, varchar, citext and jsonb column of every Custodian table is classified", () =>
  withRootDb(async (client) => {
    const { rows } = await client.query(
      `select table_schema || '.' || table_name || '.' || column_name as col
       from governance.personal_data_map where is_free_text and category is null order by 1`,
    );
    expect(rows.map((row) => row.col)).toEqual([]);
  }));

test("the audit trail's pii policy is derived from the map: identity, contact and content are sealed, nothing else is", () =>
  withRootDb(async (client) => {
    const { rows } = await client.query(
      `select table_name || '.' || column_name as col, category, audit_policy from governance.personal_data_map
       where audit_policy is not null
         and (audit_policy = 'pii') <> coalesce(category in ('identity', 'contact', 'content'), false)`,
    );
    expect(rows).toEqual([]);
    const sealed = await client.query(
      `select table_name || '.' || column_name as col from governance.personal_data_map
       where audit_policy = 'pii' and table_schema = 'app_public' and table_name = 'clients' order by 1`,
    );
    expect(sealed.rows.map((row) => row.col)).toEqual(["clients.email", "clients.full_name", "clients.notes", "clients.phone"]);
  }));

test("a new free-text column is caught until it is classified, and classifying it as content seals it in the trail", () =>
  withRootDb(async (client) => {
    await client.query("set local role custodian_owner");
    await client.query(`create table app_public.gdpr_probe (id uuid primary key default gen_random_uuid(), person uuid, remark text)`);
    await client.query(`select audit.enable_tracking('app_public.gdpr_probe', subject_column => 'person')`);
    await client.query("reset role");
    const unclassified = async () =>
      (await client.query(`select column_name from governance.personal_data_map where table_name = 'gdpr_probe' and is_free_text and category is null`))
        .rows.map((row) => row.column_name);
    expect(await unclassified()).toEqual(["remark"]);

    await client.query(
      `select governance.classify_column('app_public.gdpr_probe', 'remark', 'content', 'client', 'A probe.', 'contract')`,
    );
    expect(await unclassified()).toEqual([]);
    const person = "6f1c8a4e-1111-4222-8333-944455556666";
    const inserted = await client.query("insert into app_public.gdpr_probe (person, remark) values ($1, 'Zebra-4471') returning id", [person]);
    const { rows } = await client.query(
      `select e.new_values -> 'remark' as stored, audit.reveal(e.new_values, e.subject_id) ->> 'remark' as revealed
       from audit.events e where e.table_name = 'gdpr_probe' and e.record_key = jsonb_build_object('id', $1::uuid)`,
      [inserted.rows[0].id],
    );
    expect(rows[0].stored).toEqual({ $pii: expect.any(String) });
    expect(rows[0].revealed).toBe("Zebra-4471");
    const map = await client.query(
      `select category, subject_kind, subject_path, purpose, legal_basis, audit_policy from governance.personal_data_map
       where table_name = 'gdpr_probe' and column_name = 'remark'`,
    );
    expect(map.rows[0]).toEqual({
      category: "content", subject_kind: "client", subject_path: "gdpr_probe.person", purpose: "A probe.", legal_basis: "contract", audit_policy: "pii",
    });

    // Reclassified as not personal, it is no longer sealed (one truth).
    await client.query(
      `select governance.classify_column('app_public.gdpr_probe', 'remark', 'not_personal', 'none', 'A probe.', 'not_applicable')`,
    );
    expect((await client.query(`select audit.column_policy_of('app_public.gdpr_probe', 'remark') as p`)).rows[0].p).toBe("plain");
  }));

test("classification refuses what would make two truths or none: a subject column on a tracked table, a missing column, a personal column without a legal basis", () =>
  withRootDb(async (client) => {
    expect((await errorOf(client,
      `select governance.classify_column('app_public.clients', 'notes', 'content', 'client', 'Notes.', 'contract', 'id')`))?.message)
      .toMatch(/is tracked by the audit trail, which names its subject/);
    expect((await errorOf(client,
      `select governance.classify_column('app_public.clients', 'no_such', 'content', 'client', 'Notes.', 'contract')`))?.message)
      .toBe("Table app_public.clients has no column no_such.");
    expect((await errorOf(client,
      `select governance.classify_column('app_public.clients', 'notes', 'content', 'client', 'Notes.', 'not_applicable')`))?.code)
      .toBe("23514");
  }));

test("the records of processing list the personal columns with their subject's path, purpose and legal basis", () =>
  withRootDb(async (client) => {
    const admin = await createUser(client, "admin");
    await becomeUser(client, admin);
    const { rows } = await client.query(
      `select table_name, column_name, category, subject_kind, subject_path, legal_basis, audit_policy
       from app_public.records_of_processing where table_name in ('transcriptions', 'events') order by table_name, column_name`,
    );
    expect(rows).toContainEqual({
      table_name: "transcriptions", column_name: "transcript_text", category: "content", subject_kind: "client",
      subject_path: "transcriptions.session_id -> coaching_sessions.client_id", legal_basis: "contract", audit_policy: "pii",
    });
    expect(rows).toContainEqual({
      table_name: "events", column_name: "client_ip", category: "technical", subject_kind: "user",
      subject_path: "events.user_id", legal_basis: "legitimate_interests", audit_policy: null,
    });
    expect(rows.some((row) => row.category === "not_personal")).toBe(false);
  }));

describe("records of processing over GraphQL", () => {
  let coach: Coach;
  let admin: User;
  let auditor: User;
  beforeAll(async () => {
    coach = await createCoach(rootPool(), "gdpr-map-coach");
    admin = await createUser(rootPool(), "admin", "gdpr-map-admin");
    auditor = await createUser(rootPool(), "auditor", "gdpr-map-auditor");
  });
  afterAll(async () => {
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  });

  const query = `{ processingRecords(condition: { tableName: "clients" }, orderBy: COLUMN_NAME_ASC) {
    nodes { tableSchema tableName columnName category subjectKind subjectPath purpose legalBasis auditPolicy retentionPeriod } } }`;

  test("admins and auditors read the same records as the SQL view; a coach is refused", async () => {
    const expected = (await rootPool().query(
      `select column_name from app_public.records_of_processing where table_name = 'clients' order by column_name`,
    )).rows.map((row) => row.column_name);
    for (const user of [admin, auditor]) {
      const { body } = await graphql(query, {}, await login(user.email));
      expect(body.errors).toBeUndefined();
      const nodes = body.data!.processingRecords.nodes;
      expect(nodes.map((node: { columnName: string }) => node.columnName)).toEqual(expected);
      expect(nodes.find((node: { columnName: string }) => node.columnName === "email")).toEqual({
        tableSchema: "app_public", tableName: "clients", columnName: "email", category: "contact", subjectKind: "client",
        subjectPath: "clients.id", purpose: "The coach contacting their client.", legalBasis: "contract", auditPolicy: "pii", retentionPeriod: "90 days after deleted_at: archived, then removed (soft_deleted_clients)",
      });
    }
    const { body } = await graphql(query, {}, await login(coach.user.email));
    expect(body.data?.processingRecords ?? null).toBeNull();
    expect(body.errors?.[0]?.message).toMatch(/permission|not allowed|may not/i);
  });
});
