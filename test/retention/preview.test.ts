import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";
import { committed, holdClient, plantDeletedClient, removeHolds } from "../support/retention.ts";

// The dry run and the compliance figure, at pinned instants in 2000-2001 (so
// rows of other tests, all later, stay out of them): rows past their period,
// their oldest and newest clock, a sample of keys, and the rows a legal hold
// spares; as each role in SQL, over GraphQL and over REST.

afterAll(closeRootPool);

const preview = "select * from app_public.retention_preview($1, $2)";

test("the preview counts the rows past their period at as_of, oldest first, and counts apart those a hold on the client or on the coach's profile spares", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const auditor = await createUser(client, "auditor");
    const january = await plantDeletedClient(client, coach, "2000-01-10T00:00:00Z", "january");
    const june = await plantDeletedClient(client, coach, "2000-06-01T00:00:00Z", "june");
    const held = await plantDeletedClient(client, coach, "2000-02-01T00:00:00Z", "held");
    await plantDeletedClient(client, coach, "2000-12-01T00:00:00Z", "december");
    await holdClient(client, held);
    await becomeUser(client, auditor);
    // As of 2000-10-01 the cutoff is 2000-07-03: January, the held February and June are past it; December is not.
    const { rows: [clients] } = await client.query(preview, ["soft_deleted_clients", "2000-10-01T00:00:00Z"]);
    expect(clients).toMatchObject({
      policy_name: "soft_deleted_clients", action: "archive_then_delete", rows_due: "2", rows_spared_by_hold: "1",
      sample_keys: [january, june],
    });
    expect(clients.cutoff.toISOString()).toBe("2000-07-03T00:00:00.000Z");
    expect(clients.oldest_due.toISOString()).toBe("2000-01-10T00:00:00.000Z");
    expect(clients.newest_due.toISOString()).toBe("2000-06-01T00:00:00.000Z");
    // Their sessions and transcriptions are past their period too, the held client's spared the same way.
    const { rows: children } = await client.query(
      "select policy_name, rows_due, rows_spared_by_hold from app_public.retention_preview(null, $1) where policy_name in ('soft_deleted_sessions', 'soft_deleted_transcriptions') order by 1",
      ["2000-10-01T00:00:00Z"]);
    expect(children).toEqual([
      { policy_name: "soft_deleted_sessions", rows_due: "2", rows_spared_by_hold: "1" },
      { policy_name: "soft_deleted_transcriptions", rows_due: "2", rows_spared_by_hold: "1" },
    ]);
    // A hold on the whole coach profile spares every one of them.
    await becomeRoot(client);
    await client.query("insert into app_public.legal_holds (coach_profile_id, reason) values ($1, 'Dispute with the coach')", [coach.profileId]);
    await becomeUser(client, auditor);
    const { rows: [all] } = await client.query(preview, ["soft_deleted_clients", "2001-06-01T00:00:00Z"]);
    expect(all).toMatchObject({ rows_due: "0", rows_spared_by_hold: "4", sample_keys: [], oldest_due: null });
  }));

test("usage events are kept forever: never due, whatever the instant", () =>
  withRootDb(async (client) => {
    await createCoach(client);
    const { rows: [usage] } = await client.query(preview, ["usage_events", "2999-01-01T00:00:00Z"]);
    expect(usage).toMatchObject({ action: "keep_forever", period: null, cutoff: null, rows_due: "0", rows_spared_by_hold: "0" });
    const { rows: [compliance] } = await client.query(
      "select rows_under_policy, rows_within_period, rows_past_period from app_public.retention_compliance('2999-01-01') where policy_name = 'usage_events'");
    expect(compliance.rows_under_policy).toBe(compliance.rows_within_period);
    expect(compliance.rows_past_period).toBe("0");
  }));

test("compliance: the share of rows under a policy within their period, held rows counted apart; an unknown policy is refused", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const held = await plantDeletedClient(client, coach, "1990-02-01T00:00:00Z", "held");
    await plantDeletedClient(client, coach, "1990-01-10T00:00:00Z", "due");
    await plantDeletedClient(client, coach, "1990-05-01T00:00:00Z", "recent");
    await holdClient(client, held);
    await becomeUser(client, admin);
    // As of 1990-06-01 (cutoff 1990-03-03), of the rows deleted by then: one past, one held, one within.
    const { rows: [clients] } = await client.query(
      `select rows_under_policy, rows_within_period, rows_past_period, rows_held, compliance_percent::text
       from app_public.retention_compliance('1990-06-01') where policy_name = 'soft_deleted_clients'`);
    const { rows: [others] } = await client.query(
      "select count(*)::text as n from app_public.clients where deleted_at is not null and id not in (select id from app_public.clients where full_name like 'Client %' and coach_profile_id = $1)",
      [coach.profileId]);
    expect(clients).toMatchObject({ rows_past_period: "1", rows_held: "1" });
    expect(Number(clients.rows_under_policy)).toBe(3 + Number(others.n));
    expect(Number(clients.rows_within_period)).toBe(1 + Number(others.n));
    const within = Number(clients.rows_within_period);
    expect(clients.compliance_percent).toBe((Math.round((1000 * within) / (within + 1)) / 10).toFixed(1));
    expect(await errorOf(client, preview, ["no_such_policy", null])).toMatchObject({ code: "P0002", message: 'There is no retention policy "no_such_policy".' });
  }));

describe("over GraphQL and REST", () => {
  const AS_OF = "2000-10-01T00:00:00.000Z";
  let coach: Coach;
  let admin: User;
  let auditor: User;
  let holds: string[] = [];

  beforeAll(async () => {
    coach = await createCoach(rootPool(), "retention-preview-coach");
    admin = await createUser(rootPool(), "admin", "retention-preview-admin");
    auditor = await createUser(rootPool(), "auditor", "retention-preview-auditor");
    await committed(rootPool(), async (client) => {
      await plantDeletedClient(client, coach, "2000-01-10T00:00:00Z", "rest-due");
      holds = [await holdClient(client, await plantDeletedClient(client, coach, "2000-02-10T00:00:00Z", "rest-held"))];
    });
  });
  afterAll(async () => {
    await removeHolds(rootPool(), holds);
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  });

  test("GraphQL's retentionPreview is the SQL function's, for admins and auditors; a coach is refused", async () => {
    const query = `query ($asOf: Datetime) { retentionPreview(policy: "soft_deleted_clients", asOf: $asOf) { nodes { policyName rowsDue rowsSparedByHold sampleKeys oldestDue } } }`;
    const { rows: [sql] } = await rootPool().query(preview, ["soft_deleted_clients", AS_OF]);
    for (const reader of [admin, auditor]) {
      const { body } = await graphql(query, { asOf: AS_OF }, await login(reader.email));
      expect(body.errors).toBeUndefined();
      expect(body.data!.retentionPreview.nodes).toEqual([{
        policyName: "soft_deleted_clients", rowsDue: sql.rows_due, rowsSparedByHold: sql.rows_spared_by_hold, sampleKeys: sql.sample_keys,
        oldestDue: expect.stringMatching(/^2000-01-10T00:00:00/),
      }]);
    }
    expect(sql).toMatchObject({ rows_due: "1", rows_spared_by_hold: "1" });
    const refused = await graphql(query, { asOf: AS_OF }, await login(coach.user.email));
    expect(refused.body.errors?.[0]?.message).toBe("A coach may not use retentionPreview.");
  });

  test("GraphQL's retentionCompliance is the SQL function's, the held row counted apart", async () => {
    const query = `query ($asOf: Datetime) { retentionCompliance(asOf: $asOf) { nodes { policyName rowsUnderPolicy rowsWithinPeriod rowsPastPeriod rowsHeld compliancePercent } } }`;
    const { body } = await graphql(query, { asOf: AS_OF }, await login(admin.email));
    expect(body.errors).toBeUndefined();
    const { rows } = await rootPool().query(
      `select policy_name, rows_under_policy, rows_within_period, rows_past_period, rows_held, compliance_percent::text from app_public.retention_compliance($1)`, [AS_OF]);
    // Rows under a policy now include other tests' rows, written meanwhile; those past their period in 2000 are this file's.
    const stable = (node: Record<string, string>) => ({ policyName: node.policyName, rowsPastPeriod: node.rowsPastPeriod, rowsHeld: node.rowsHeld });
    expect(body.data!.retentionCompliance.nodes.map(stable)).toEqual(rows.map((row) => ({
      policyName: row.policy_name, rowsPastPeriod: row.rows_past_period, rowsHeld: row.rows_held,
    })));
    for (const node of body.data!.retentionCompliance.nodes) {
      expect(Number(node.rowsUnderPolicy)).toBeGreaterThanOrEqual(Number(node.rowsWithinPeriod) + Number(node.rowsPastPeriod) + Number(node.rowsHeld));
    }
    expect(body.data!.retentionCompliance.nodes.find((node: { policyName: string }) => node.policyName === "soft_deleted_clients"))
      .toMatchObject({ rowsPastPeriod: "1", rowsHeld: "1" });
  });

  test("GET /api/v1/retention/preview and /policies answer admins and auditors in JSON, CSV and JSON Lines; a coach gets 403, no token 401, a bad instant 400", async () => {
    const token = await login(auditor.email);
    const get = (path: string, bearer: string | null = token) =>
      fetch(apiUrl(path), { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    const json = await get(`/api/v1/retention/preview?policy=soft_deleted_clients&as_of=${AS_OF}`);
    expect(json.status).toBe(200);
    const [row] = (await json.json()) as Record<string, unknown>[];
    const { rows: [sql] } = await rootPool().query(preview, ["soft_deleted_clients", AS_OF]);
    expect(row).toMatchObject({ policyName: "soft_deleted_clients", rowsDue: sql.rows_due, rowsSparedByHold: "1", sampleKeys: sql.sample_keys, period: "90 days" });
    const all = (await (await get(`/api/v1/retention/preview?as_of=${AS_OF}`)).json()) as { policyName: string }[];
    expect(all.map((item) => item.policyName).sort()).toEqual(
      (await rootPool().query("select name from app_public.retention_policies order by name")).rows.map((item) => item.name));
    const csv = await (await get("/api/v1/retention/policies?format=csv")).text();
    expect(csv.split(/\r?\n/)[0]).toBe("name,category,targetTable,clockColumn,period,action,legalBasis,description,anonymizeColumns,enabled,createdAt,updatedAt");
    expect(csv).toMatch(/^usage_events,Usage events,app_public.usage_events,occurred_at,,keep_forever,legal_obligation,/m);
    const lines = (await (await get("/api/v1/retention/policies?format=jsonl", await login(admin.email))).text()).trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.find((item) => item.name === "transcript_text")).toMatchObject({ action: "anonymize", anonymizeColumns: ["error_message", "transcript_text"], period: "3 years" });
    expect((await get("/api/v1/retention/preview", await login(coach.user.email))).status).toBe(403);
    expect((await get("/api/v1/retention/runs", null)).status).toBe(401);
    const bad = await get("/api/v1/retention/preview?as_of=soon");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: '"as_of" must be an ISO 8601 timestamp (like 2026-11-25T10:00:00Z), not "soon".' });
    const unknown = await get("/api/v1/retention/preview?policy=nothing_like_it");
    expect(unknown.status).toBe(404);
  });
});
