import crypto from "node:crypto";
import { parseStrictCsv } from "../support/csv.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";

// GET /api/v1/audit: the audit trail as JSON Lines or CSV. The writes below go
// through the API and are committed, so every export is narrowed to this
// file's own records: other test files write at the same time.

/** The export's columns, in order, as the CSV header and the JSON keys name them. */
const exportColumns = [
  "id", "occurredAt", "tableSchema", "tableName", "recordKey", "operation", "oldValues", "newValues", "changedColumns",
  "transactionId", "actorKind", "actorUserId", "actorRole", "requestId", "clientIp", "userAgent", "task", "jobId",
  "databaseRole", "sessionUserName", "applicationName", "clientAddr", "details",
];
const jsonColumns = new Set(["recordKey", "oldValues", "newValues", "changedColumns"]);

type ExportedEvent = Record<string, any>;

/** GETs the export with these query parameters, as `token` when given. */
function exportAudit(parameters: Record<string, string>, token?: string): Promise<Response> {
  const query = new URLSearchParams(parameters).toString();
  return fetch(apiUrl(`/api/v1/audit?${query}`), { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

async function exportJsonLines(parameters: Record<string, string>, token: string): Promise<ExportedEvent[]> {
  const response = await exportAudit({ ...parameters, format: "jsonl" }, token);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${response.status}: ${text}`);
  return parseJsonLines(text);
}

/** Every page of an export in JSON Lines, following the Link headers; checks each page holds at most `limit`. */
async function exportAllPages(parameters: Record<string, string>, token: string): Promise<ExportedEvent[]> {
  const events: ExportedEvent[] = [];
  let path: string | null = `/api/v1/audit?${new URLSearchParams({ ...parameters, format: "jsonl" })}`;
  while (path) {
    const response: Response = await fetch(apiUrl(path), { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`${response.status}: ${await response.text()}`);
    const page = parseJsonLines(await response.text());
    expect(page.length).toBeLessThanOrEqual(Number(parameters.limit ?? 1000));
    events.push(...page);
    path = /^<([^>]+)>; rel="next"$/.exec(response.headers.get("link") ?? "")?.[1] ?? null;
  }
  return events;
}

function parseJsonLines(text: string): ExportedEvent[] {
  if (text === "") return [];
  expect(text.endsWith("\n")).toBe(true);
  return text.slice(0, -1).split("\n").map((line) => JSON.parse(line));
}

/** CSV rows as objects like the JSON Lines ones: JSON columns parsed, empty fields null. */
function csvEvents(text: string): { header: string[]; events: ExportedEvent[] } {
  const [header, ...rows] = parseStrictCsv(text);
  const events = rows.map((row) => {
    expect(row).toHaveLength(header!.length);
    return Object.fromEntries(header!.map((name, i) => {
      const value = row[i]!;
      return [name, value === "" ? null : jsonColumns.has(name) ? JSON.parse(value) : value];
    }));
  });
  return { header: header!, events };
}

/** A GraphQL mutation sent with our own request id and user agent, so that the attribution can be checked. */
async function mutateAs(token: string, requestId: string, mutation: string, variables: Record<string, unknown>): Promise<any> {
  const { body } = await graphql(mutation, variables, token, {
    "x-request-id": requestId,
    "user-agent": "custodian-tests/1.0 (audit export)",
  });
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const ids = (events: ExportedEvent[]) => events.map((event) => event.id);
const recordIds = (events: ExportedEvent[]) => new Set(events.map((event) => event.recordKey.id));

let a: Coach;
let b: Coach;
let bulk: Coach;
let admin: User;
let tokens: { a: string; b: string; admin: string; bulk: string };
const requestIds = { create: `export-create-${crypto.randomUUID()}`, note: `export-note-${crypto.randomUUID()}`, phone: `export-phone-${crypto.randomUUID()}` };
/** A note a naive CSV writer or reader gets wrong. */
const awkwardNote = 'Said "no, thanks",\nthen left; café ☕\r\nend';
let clientId: string;
const clientFilter = () => ({ table_name: "clients", record_key: clientId });

beforeAll(async () => {
  const root = rootPool();
  a = await createCoach(root, "audit-rest-a");
  b = await createCoach(root, "audit-rest-b");
  bulk = await createCoach(root, "audit-rest-bulk");
  admin = await createUser(root, "admin", "audit-rest-admin");
  const [ta, tb, tadmin, tbulk] = await Promise.all([a.user, b.user, admin, bulk.user].map((user) => login(user.email)));
  tokens = { a: ta!, b: tb!, admin: tadmin!, bulk: tbulk! };

  // Coach A adds a client and a note; an admin adds a phone number.
  const created = await mutateAs(tokens.a, requestIds.create,
    `mutation { createClient(input: { client: { fullName: "Export, \\"the\\" Client" } }) { client { rowId } } }`, {});
  clientId = created.createClient.client.rowId;
  await mutateAs(tokens.a, requestIds.note,
    `mutation ($id: UUID!, $notes: String!) { updateClient(input: { rowId: $id, patch: { notes: $notes } }) { clientMutationId } }`,
    { id: clientId, notes: awkwardNote });
  await mutateAs(tokens.admin, requestIds.phone,
    `mutation ($id: UUID!) { updateClient(input: { rowId: $id, patch: { phone: "+1 555 0100" } }) { clientMutationId } }`,
    { id: clientId });

  // More clients than the export fetches in one batch (500), written in one statement.
  await root.query(
    `insert into app_public.clients (coach_profile_id, full_name)
     select $1, 'Bulk client ' || n from generate_series(1, 1099) n`,
    [bulk.profileId],
  );
});

afterAll(async () => {
  const root = rootPool();
  for (const coach of [a, b, bulk]) await deleteCoach(root, coach);
  await root.query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

describe("the audit export's formats", () => {
  test("JSON Lines is the default: one object per event with camelCase keys, served as application/x-ndjson", async () => {
    const response = await exportAudit(clientFilter(), tokens.admin);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="audit-export.jsonl"');
    const events = parseJsonLines(await response.text());
    expect(events.map((event) => event.operation)).toEqual(["INSERT", "UPDATE", "UPDATE"]);
    for (const event of events) expect(Object.keys(event)).toEqual(exportColumns);
    expect(events[0]).toMatchObject({
      tableSchema: "app_public",
      tableName: "clients",
      recordKey: { id: clientId },
      oldValues: null,
      newValues: { id: clientId, coach_profile_id: a.profileId, full_name: 'Export, "the" Client', notes: null },
      changedColumns: null,
    });
    expect(events[1]).toMatchObject({ changedColumns: ["notes", "updated_at"], oldValues: { notes: null }, newValues: { notes: awkwardNote } });
    expect(events[2]).toMatchObject({ changedColumns: ["phone", "updated_at"], oldValues: { phone: null }, newValues: { phone: "+1 555 0100" } });
  });

  test("CSV has a header of the camelCase names, then one properly quoted row per event, served as text/csv", async () => {
    const response = await exportAudit({ ...clientFilter(), format: "csv" }, tokens.admin);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="audit-export.csv"');
    const text = await response.text();
    const { header, events } = csvEvents(text);
    expect(header).toEqual(exportColumns);
    expect(events).toHaveLength(3);
    expect(events[0]!.newValues.full_name).toBe('Export, "the" Client');
    expect(events[1]!.newValues.notes).toBe(awkwardNote);
    // Field for field, the CSV says what the JSON Lines say.
    expect(events).toEqual(await exportJsonLines(clientFilter(), tokens.admin));
  });

  test("an export matching nothing is empty in JSON Lines and only the header in CSV", async () => {
    const nothing = { table_name: "clients", record_key: crypto.randomUUID() };
    const jsonl = await exportAudit(nothing, tokens.admin);
    expect(jsonl.status).toBe(200);
    expect(await jsonl.text()).toBe("");
    const csv = await exportAudit({ ...nothing, format: "csv" }, tokens.admin);
    expect(await csv.text()).toBe(exportColumns.join(",") + "\r\n");
  });

  test("an export comes a page at a time (1000 events unless limit says fewer, at most 10,000): a Link header names the next page until the last; together the pages hold every event exactly once, in id order", async () => {
    const filter = { table_name: "clients", operation: "INSERT" };
    const first = await exportAudit({ ...filter, format: "jsonl" }, tokens.bulk);
    const firstEvents = parseJsonLines(await first.text());
    expect(firstEvents).toHaveLength(1000);
    const next = /^<(\/api\/v1\/audit\?[^>]+)>; rel="next"$/.exec(first.headers.get("link") ?? "");
    expect(next).not.toBeNull();
    expect(new URL(next![1]!, "http://x").searchParams.get("after")).toBe(firstEvents[999]!.id);
    const second = await fetch(apiUrl(next![1]!), { headers: { authorization: `Bearer ${tokens.bulk}` } });
    expect(second.headers.get("link")).toBeNull();
    const events = [...firstEvents, ...parseJsonLines(await second.text())];
    expect(events).toHaveLength(1100);
    // Smaller pages, followed to the end, give the same events; so does CSV.
    expect(ids(await exportAllPages({ ...filter, limit: "400" }, tokens.bulk))).toEqual(ids(events));
    const numeric = ids(events).map(Number);
    expect(numeric).toEqual([...numeric].sort((x, y) => x - y));
    expect(new Set(numeric).size).toBe(1100);
    const { rows } = await rootPool().query("select array_agg(id::text) as ids from app_public.clients where coach_profile_id = $1", [bulk.profileId]);
    expect(recordIds(events)).toEqual(new Set(rows[0].ids));
    const csv = csvEvents(await (await exportAudit({ ...filter, format: "csv", limit: "10000" }, tokens.bulk)).text());
    expect(ids(csv.events)).toEqual(ids(events));
  });
});

describe("what the export contains for each caller", () => {
  test("each filter narrows the export to exactly the matching events", async () => {
    const all = await exportJsonLines(clientFilter(), tokens.admin);
    const [insert, note, phone] = all;
    expect(ids(await exportJsonLines({ ...clientFilter(), actor_id: admin.id }, tokens.admin))).toEqual([phone!.id]);
    expect(ids(await exportJsonLines({ ...clientFilter(), actor_id: a.user.id }, tokens.admin))).toEqual([insert!.id, note!.id]);
    expect(ids(await exportJsonLines({ ...clientFilter(), operation: "UPDATE" }, tokens.admin))).toEqual([note!.id, phone!.id]);
    expect(ids(await exportJsonLines({ ...clientFilter(), actor_kind: "USER" }, tokens.admin))).toEqual(ids(all));
    expect(await exportJsonLines({ ...clientFilter(), actor_kind: "worker" }, tokens.admin)).toEqual([]);
    expect(ids(await exportJsonLines({ table_name: "app_public.clients", record_key: JSON.stringify({ id: clientId }) }, tokens.admin))).toEqual(ids(all));
    const phoneAt = Date.parse(phone!.occurredAt);
    expect(ids(await exportJsonLines({ ...clientFilter(), occurred_before: new Date(phoneAt).toISOString() }, tokens.admin)))
      .toEqual([insert!.id, note!.id]);
    expect(ids(await exportJsonLines({ ...clientFilter(), occurred_from: new Date(phoneAt + 1).toISOString() }, tokens.admin))).toEqual([]);
  });

  test("an admin's export carries who wrote each event: user, role, request id, client address and user agent", async () => {
    const [insert, note, phone] = await exportJsonLines(clientFilter(), tokens.admin);
    const viaApi = {
      actorKind: "user",
      clientIp: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/),
      userAgent: "custodian-tests/1.0 (audit export)",
      databaseRole: expect.stringMatching(/^custodian_(coach|admin)$/),
      sessionUserName: expect.any(String),
      transactionId: expect.stringMatching(/^\d+$/),
      task: null,
      jobId: null,
    };
    expect(insert).toMatchObject({ ...viaApi, actorUserId: a.user.id, actorRole: "coach", requestId: requestIds.create, databaseRole: "custodian_coach" });
    expect(note).toMatchObject({ ...viaApi, actorUserId: a.user.id, actorRole: "coach", requestId: requestIds.note });
    expect(phone).toMatchObject({ ...viaApi, actorUserId: admin.id, actorRole: "admin", requestId: requestIds.phone, databaseRole: "custodian_admin" });
    expect(new Set([insert!.transactionId, note!.transactionId, phone!.transactionId]).size).toBe(3);
  });

  test("a coach's export holds only the events of their own records, and only their own attribution", async () => {
    const own = await exportJsonLines({ table_name: "clients" }, tokens.a);
    expect(recordIds(own)).toEqual(new Set([a.clientId, clientId]));
    expect(await exportJsonLines({ table_name: "clients", record_key: b.clientId }, tokens.a)).toEqual([]);
    expect(await exportJsonLines({ table_name: "clients", record_key: clientId }, tokens.b)).toEqual([]);
    const csv = csvEvents(await (await exportAudit({ table_name: "clients", format: "csv" }, tokens.b)).text());
    expect(recordIds(csv.events)).toEqual(new Set([b.clientId]));

    const story = own.filter((event) => event.recordKey.id === clientId);
    expect(story.map((event) => [event.actorKind, event.actorUserId, event.requestId])).toEqual([
      ["user", a.user.id, requestIds.create],
      ["user", a.user.id, requestIds.note],
      [null, null, null], // the admin's write: that it happened, not who made it
    ]);
    expect(story[0]!.newValues.full_name).toBe('Export, "the" Client');
  });

  test("the export and GraphQL's auditEvents give the same events for the same filter", async () => {
    const fields = exportColumns.map((name) => (name === "id" ? "rowId" : name)).join(" ");
    for (const [token, filter] of [
      [tokens.admin, clientFilter()],
      [tokens.admin, { ...clientFilter(), operation: "UPDATE", actor_id: admin.id }],
      [tokens.a, { table_name: "clients" }],
    ] as const) {
      // The REST parameters are GraphQL's arguments in snake_case.
      const variables = Object.fromEntries(Object.entries(filter).map(([name, value]) => [name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), value]));
      const { body } = await graphql<{ auditEvents: { nodes: ExportedEvent[] } }>(
        `query ($tableName: String, $recordKey: JSON, $operation: AuditOperation, $actorId: UUID) {
           auditEvents(tableName: $tableName, recordKey: $recordKey, operation: $operation, actorId: $actorId) { nodes { ${fields} } } }`,
        variables, token);
      const viaGraphQL = body.data!.auditEvents.nodes.map(({ rowId, ...rest }) => ({ id: rowId, ...rest }));
      const exported = await exportJsonLines(filter, token);
      expect(viaGraphQL.length).toBeGreaterThan(0);
      // occurredAt is compared as an instant here; its precision has a test of its own.
      const instant = (events: ExportedEvent[]) => events.map((event) => ({ ...event, occurredAt: new Date(event.occurredAt).getTime() }));
      expect(instant(exported)).toEqual(instant(viaGraphQL));
    }
  });

  test("the export keeps each event's time to the microsecond, as GraphQL and the stored row values do", async () => {
    const [insert] = await exportJsonLines(clientFilter(), tokens.admin);
    // PostgreSQL reads the exported text back to the same microsecond.
    const { rows } = await rootPool().query("select occurred_at = $2::timestamptz as same from audit.events where id = $1", [
      insert!.id,
      insert!.occurredAt,
    ]);
    expect(insert!.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00$/);
    expect(rows[0].same).toBe(true);
  });
});

describe("who may export, and parameters the export refuses", () => {
  test("without a token the export is 401 and holds no events", async () => {
    const response = await exportAudit(clientFilter());
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "Sign in: send 'Authorization: Bearer <token>'." });
  });

  test("a forged token is 401", async () => {
    const response = await exportAudit(clientFilter(), "not.a.token");
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "The token is invalid." });
  });

  const badParameters: Array<{ name: string; parameters: Record<string, string> | string; message: string | RegExp }> = [
    { name: "an unknown parameter", parameters: { table: "clients" }, message: 'Unknown parameter "table"; use table_name, record_key, actor_id, actor_kind, operation, occurred_from, occurred_before, limit, after, format.' },
    { name: "a parameter given twice", parameters: "table_name=clients&table_name=users", message: 'Give "table_name" once, as a plain value.' },
    { name: "a parameter given by its new and its former name", parameters: "table_name=clients&tableName=users", message: 'Give "table_name" once (tableName is its former name).' },
    { name: "an unknown format", parameters: { format: "xml" }, message: 'format must be jsonl or csv, not "xml".' },
    { name: "an unparseable timestamp", parameters: { occurred_from: "yesterday" }, message: '"occurred_from" must be an ISO 8601 timestamp (like 2026-11-25T10:00:00Z), not "yesterday".' },
    { name: "an actor_id that is not a UUID", parameters: { actor_id: "42" }, message: '"actor_id" must be a UUID, not "42".' },
    { name: "an untracked table", parameters: { table_name: "no_such_table" }, message: 'Table "no_such_table" is not tracked by the audit trail.' },
    { name: "a table name with too many parts", parameters: { table_name: "a.b.c" }, message: /^table_name must be a table name, optionally with its schema .* not "a\.b\.c"\.$/ },
    { name: "a record key that is an array", parameters: { table_name: "clients", record_key: "[1,2]" }, message: /^record_key must be an object of the primary key's columns/ },
    { name: "a bare record key without a table", parameters: { record_key: "abc" }, message: /^record_key must be an object .* not "abc"\.$/ },
    { name: "an unknown operation", parameters: { operation: "UPSERT" }, message: '"operation" must be one of INSERT, UPDATE, DELETE, TRUNCATE, SOFT_DELETE, RESTORE, HARD_DELETE (in any letter case), not "UPSERT".' },
    { name: "an unknown actor kind", parameters: { actor_kind: "robot" }, message: '"actor_kind" must be one of user, worker, migration, system, unknown (in any letter case), not "robot".' },
    { name: "an empty time range", parameters: { occurred_from: "2026-01-02T00:00:00Z", occurred_before: "2026-01-01T00:00:00Z" }, message: /^The time range is empty: occurred_from \(.+\) must be before occurred_before \(.+\)\.$/ },
    { name: "a limit of 0", parameters: { limit: "0" }, message: '"limit" must be a whole number from 1 to 10000, not "0".' },
    { name: "a limit above 10,000", parameters: { limit: "10001" }, message: '"limit" must be a whole number from 1 to 10000, not "10001".' },
    { name: "an after that is no event id", parameters: { after: "last" }, message: /^"after" must be a whole number from 0 to \d+, not "last"\.$/ },
  ];

  test("the former camelCase names (tableName, recordKey, actorId, actorKind, occurredFrom, occurredBefore) are still accepted, and an operation in any letter case", async () => {
    const all = await exportJsonLines(clientFilter(), tokens.admin);
    const [, note, phone] = all;
    expect(ids(await exportJsonLines({ tableName: "clients", recordKey: clientId }, tokens.admin))).toEqual(ids(all));
    expect(ids(await exportJsonLines({ ...clientFilter(), actorId: admin.id, actorKind: "user" }, tokens.admin))).toEqual([phone!.id]);
    expect(ids(await exportJsonLines({ ...clientFilter(), operation: "update" }, tokens.admin))).toEqual([note!.id, phone!.id]);
    const phoneAt = Date.parse(phone!.occurredAt);
    expect(ids(await exportJsonLines({ ...clientFilter(), occurredFrom: new Date(phoneAt).toISOString(), occurredBefore: new Date(phoneAt + 1).toISOString() }, tokens.admin)))
      .toEqual([phone!.id]);
  });

  test.each(badParameters)("$name is a 400 with a clear message", async ({ parameters, message }) => {
    const response =
      typeof parameters === "string"
        ? await fetch(apiUrl(`/api/v1/audit?${parameters}`), { headers: { authorization: `Bearer ${tokens.admin}` } })
        : await exportAudit(parameters, tokens.admin);
    const error = typeof message === "string" ? message : expect.stringMatching(message);
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 400, body: { error } });
  });
});
