import { becomeUser, closeRootPool, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Reading the audit trail through GraphQL, as the roles that may (and may not) read it.
// The writes below go through the API and are committed, so every query is
// narrowed to this file's own records: other test files write at the same time.

interface AuditEvent {
  rowId: string;
  occurredAt: string;
  tableSchema: string;
  tableName: string;
  recordKey: Record<string, unknown>;
  operation: string;
  oldValues: Record<string, unknown> | null;
  newValues: Record<string, unknown> | null;
  changedColumns: string[] | null;
  details: Record<string, unknown> | null;
  actorKind: string | null;
  actorUserId: string | null;
  actorRole: string | null;
  requestId: string | null;
}

const eventFields = `rowId occurredAt tableSchema tableName recordKey operation oldValues newValues changedColumns details
  actorKind actorUserId actorRole requestId`;

const eventsQuery = `query ($tableName: String, $recordKey: JSON, $actorId: UUID, $actorKind: AuditActorKind, $operation: AuditOperation,
    $occurredFrom: Datetime, $occurredBefore: Datetime, $first: Int, $after: Cursor) {
  auditEvents(tableName: $tableName, recordKey: $recordKey, actorId: $actorId, actorKind: $actorKind, operation: $operation,
      occurredFrom: $occurredFrom, occurredBefore: $occurredBefore, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { ${eventFields} }
  }
}`;

const historyQuery = `query ($tableName: String, $recordKey: JSON) {
  auditRecordHistory(tableName: $tableName, recordKey: $recordKey) { totalCount nodes { ${eventFields} } }
}`;

const asOfQuery = `query ($tableName: String, $recordKey: JSON, $at: Datetime) {
  auditRecordAsOf(tableName: $tableName, recordKey: $recordKey, at: $at)
}`;

type Connection = { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: AuditEvent[] };

/** auditEvents as `token` sees it; fails loudly on a GraphQL error. */
async function auditEvents(token: string, filter: Record<string, unknown>): Promise<Connection> {
  const { body } = await graphql<{ auditEvents: Connection }>(eventsQuery, filter, token);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!.auditEvents;
}

async function history(token: string, tableName: string, recordKey: unknown): Promise<AuditEvent[]> {
  const { body } = await graphql<{ auditRecordHistory: { nodes: AuditEvent[] } }>(historyQuery, { tableName, recordKey }, token);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!.auditRecordHistory.nodes;
}

async function asOf(token: string, tableName: string, recordKey: unknown, at: string): Promise<Record<string, unknown> | null> {
  const { body } = await graphql<{ auditRecordAsOf: Record<string, unknown> | null }>(asOfQuery, { tableName, recordKey, at }, token);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!.auditRecordAsOf;
}

/** Runs a mutation as `token` and returns its data; fails loudly on a GraphQL error. */
async function mutate(token: string, mutation: string, variables: Record<string, unknown>): Promise<any> {
  const { body } = await graphql(mutation, variables, token);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const operations = (events: AuditEvent[]) => events.map((event) => event.operation);
const ids = (events: AuditEvent[]) => events.map((event) => event.rowId);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** An instant strictly between two event times (they are microseconds; Date keeps milliseconds). */
const between = (earlier: string, later: string) =>
  new Date(Math.floor((Date.parse(earlier) + Date.parse(later)) / 2)).toISOString();
const millisecondsBefore = (time: string, ms: number) => new Date(Date.parse(time) - ms).toISOString();
const timestamp = expect.stringMatching(/^\d{4}-\d\d-\d\dT/);

let a: Coach;
let b: Coach;
let erased: Coach;
let admin: User;
let auditor: User;
let tokens: { a: string; b: string; admin: string; auditor: string; erased: string };

/**
 * The story of one client, written through the API: coach A adds them, adds a
 * note, an admin adds a phone number, and coach A deletes them (a soft delete).
 */
let story: { clientId: string; email: string; insert: AuditEvent; note: AuditEvent; phone: AuditEvent; delete: AuditEvent };

beforeAll(async () => {
  const root = rootPool();
  a = await createCoach(root, "audit-gql-a");
  b = await createCoach(root, "audit-gql-b");
  erased = await createCoach(root, "audit-gql-erased");
  admin = await createUser(root, "admin", "audit-gql-admin");
  auditor = await createUser(root, "auditor", "audit-gql-auditor");
  const [ta, tb, tadmin, tauditor, terased] = await Promise.all(
    [a.user, b.user, admin, auditor, erased.user].map((user) => login(user.email)),
  );
  tokens = { a: ta!, b: tb!, admin: tadmin!, auditor: tauditor!, erased: terased! };

  const email = `story-${Date.now()}@test.example`;
  const created = await mutate(tokens.a,
    `mutation ($email: String!) { createClient(input: { client: { fullName: "Story Client", email: $email } }) { client { rowId } } }`,
    { email });
  const clientId: string = created.createClient.client.rowId;
  await sleep(20);
  await mutate(tokens.a, `mutation ($id: UUID!) { updateClient(input: { rowId: $id, patch: { notes: "First note." } }) { clientMutationId } }`, { id: clientId });
  await sleep(20);
  await mutate(tokens.admin, `mutation ($id: UUID!) { updateClient(input: { rowId: $id, patch: { phone: "+44 20 7946 0000" } }) { clientMutationId } }`, { id: clientId });
  await sleep(20);
  await mutate(tokens.a, `mutation ($id: UUID!) { deleteClient(input: { rowId: $id }) { clientMutationId } }`, { id: clientId });

  const events = (await auditEvents(tokens.admin, { tableName: "clients", recordKey: { id: clientId } })).nodes;
  expect(operations(events)).toEqual(["INSERT", "UPDATE", "UPDATE", "SOFT_DELETE"]);
  const [insert, note, phone, deleted] = events as [AuditEvent, AuditEvent, AuditEvent, AuditEvent];
  story = { clientId, email, insert, note, phone, delete: deleted };

  // Erasure is for good: this coach's client exists only to be forgotten.
  await root.query("select audit.destroy_subject_key($1)", [erased.clientId]);
});

afterAll(async () => {
  const root = rootPool();
  for (const coach of [a, b, erased]) await deleteCoach(root, coach);
  await root.query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

describe("an admin lists audit events with filters and pagination", () => {
  test("a record key selects that record's events in id order, whether given as an object or as a bare value", async () => {
    const byObject = await auditEvents(tokens.admin, { tableName: "clients", recordKey: { id: story.clientId } });
    const byValue = await auditEvents(tokens.admin, { tableName: "app_public.clients", recordKey: story.clientId });
    expect(byObject.totalCount).toBe(4);
    expect(ids(byValue.nodes)).toEqual(ids(byObject.nodes));
    const numeric = ids(byObject.nodes).map(Number);
    expect(numeric).toEqual([...numeric].sort((x, y) => x - y));
    expect(new Set(byObject.nodes.map((event) => `${event.tableSchema}.${event.tableName}`))).toEqual(new Set(["app_public.clients"]));
    expect(byObject.nodes.every((event) => event.recordKey.id === story.clientId)).toBe(true);
  });

  test("actorId selects the writes of one user, and each event names who wrote it", async () => {
    const byCoach = await auditEvents(tokens.admin, { tableName: "clients", recordKey: story.clientId, actorId: a.user.id });
    expect(ids(byCoach.nodes)).toEqual(ids([story.insert, story.note, story.delete]));
    const byAdmin = await auditEvents(tokens.admin, { actorId: admin.id });
    expect(ids(byAdmin.nodes)).toEqual([story.phone.rowId]);
    expect(byAdmin.nodes[0]).toMatchObject({ actorKind: "user", actorUserId: admin.id, actorRole: "admin", requestId: expect.any(String) });
  });

  test("actorKind separates writes through the API from writes by an unattributed session", async () => {
    const viaApi = await auditEvents(tokens.admin, { tableName: "clients", recordKey: story.clientId, actorKind: "user" });
    expect(viaApi.totalCount).toBe(4);
    expect(await auditEvents(tokens.admin, { tableName: "clients", recordKey: story.clientId, actorKind: "unknown" })).toMatchObject({ totalCount: 0, nodes: [] });
    // The fixtures insert coach A's first client as the superuser, outside the API.
    const bySuperuser = await auditEvents(tokens.admin, { tableName: "clients", recordKey: a.clientId, actorKind: "unknown" });
    expect(bySuperuser.nodes).toEqual([expect.objectContaining({ operation: "INSERT", actorKind: "unknown", actorUserId: null })]);
  });

  test("operation selects one kind of write, named by the AuditOperation enum", async () => {
    const updates = await auditEvents(tokens.admin, { tableName: "clients", recordKey: story.clientId, operation: "UPDATE" });
    expect(ids(updates.nodes)).toEqual(ids([story.note, story.phone]));
    const deletes = await auditEvents(tokens.admin, { tableName: "clients", recordKey: story.clientId, operation: "SOFT_DELETE" });
    expect(ids(deletes.nodes)).toEqual([story.delete.rowId]);
  });

  test("the time range includes occurredFrom and excludes occurredBefore", async () => {
    const range = await auditEvents(tokens.admin, {
      tableName: "clients", recordKey: story.clientId, occurredFrom: story.note.occurredAt, occurredBefore: story.delete.occurredAt,
    });
    expect(ids(range.nodes)).toEqual(ids([story.note, story.phone]));
    const onlyFrom = await auditEvents(tokens.admin, { tableName: "clients", recordKey: story.clientId, occurredFrom: story.phone.occurredAt });
    expect(ids(onlyFrom.nodes)).toEqual(ids([story.phone, story.delete]));
    const onlyBefore = await auditEvents(tokens.admin, { tableName: "clients", recordKey: story.clientId, occurredBefore: story.note.occurredAt });
    expect(ids(onlyBefore.nodes)).toEqual([story.insert.rowId]);
  });

  test("first and after page through the events in order without gaps or repeats", async () => {
    const filter = { tableName: "clients", recordKey: story.clientId };
    const page1 = await auditEvents(tokens.admin, { ...filter, first: 2 });
    expect(ids(page1.nodes)).toEqual(ids([story.insert, story.note]));
    expect(page1.pageInfo.hasNextPage).toBe(true);
    expect(page1.totalCount).toBe(4);
    const page2 = await auditEvents(tokens.admin, { ...filter, first: 2, after: page1.pageInfo.endCursor });
    expect(ids(page2.nodes)).toEqual(ids([story.phone, story.delete]));
    expect(page2.pageInfo.hasNextPage).toBe(false);
    const page3 = await auditEvents(tokens.admin, { ...filter, first: 2, after: page2.pageInfo.endCursor });
    expect(page3.nodes).toEqual([]);
  });
});

describe("a record's history and its state at a time", () => {
  test("auditRecordHistory gives the INSERT, then each UPDATE's changed columns with old and new values, then the SOFT_DELETE", async () => {
    const events = await history(tokens.admin, "clients", story.clientId);
    expect(events).toEqual([story.insert, story.note, story.phone, story.delete]);
    const wholeRow = {
      id: story.clientId, coach_profile_id: a.profileId, full_name: "Story Client", email: story.email,
      phone: null, notes: null, created_at: timestamp, updated_at: timestamp,
      is_deleted: false, deleted_at: null, deleted_by: null, deletion_batch_id: null,
    };
    expect(story.insert).toMatchObject({ operation: "INSERT", oldValues: null, changedColumns: null, newValues: wholeRow });
    expect(story.note).toMatchObject({
      operation: "UPDATE",
      changedColumns: ["notes", "updated_at"],
      oldValues: { notes: null, updated_at: timestamp },
      newValues: { notes: "First note.", updated_at: timestamp },
    });
    expect(Object.keys(story.note.newValues!).sort()).toEqual(["notes", "updated_at"]);
    expect(story.phone).toMatchObject({
      operation: "UPDATE",
      changedColumns: ["phone", "updated_at"],
      oldValues: { phone: null, updated_at: story.note.newValues!.updated_at },
      newValues: { phone: "+44 20 7946 0000", updated_at: timestamp },
    });
    expect(story.delete).toMatchObject({
      operation: "SOFT_DELETE",
      changedColumns: ["updated_at", "is_deleted", "deleted_at", "deleted_by", "deletion_batch_id"],
      oldValues: { is_deleted: false, deleted_at: null, deleted_by: null, deletion_batch_id: null, updated_at: story.phone.newValues!.updated_at },
      newValues: { is_deleted: true, deleted_at: timestamp, deleted_by: a.user.id, deletion_batch_id: expect.any(String), updated_at: timestamp },
      details: { batch_id: story.delete.newValues!.deletion_batch_id },
    });
  });

  test("auditRecordAsOf rebuilds the record between two updates, is null before it existed, and shows the soft delete", async () => {
    const key = { id: story.clientId };
    const afterNote = await asOf(tokens.admin, "clients", key, between(story.note.occurredAt, story.phone.occurredAt));
    expect(afterNote).toEqual({
      id: story.clientId, coach_profile_id: a.profileId, full_name: "Story Client", email: story.email,
      phone: null, notes: "First note.", created_at: story.insert.newValues!.created_at, updated_at: story.note.newValues!.updated_at,
      is_deleted: false, deleted_at: null, deleted_by: null, deletion_batch_id: null,
    });
    const afterPhone = await asOf(tokens.admin, "clients", key, between(story.phone.occurredAt, story.delete.occurredAt));
    expect(afterPhone).toMatchObject({ notes: "First note.", phone: "+44 20 7946 0000" });
    expect(await asOf(tokens.admin, "clients", key, story.insert.occurredAt)).toMatchObject({ notes: null, phone: null });
    expect(await asOf(tokens.admin, "clients", key, millisecondsBefore(story.insert.occurredAt, 1000))).toBeNull();
    expect(await asOf(tokens.admin, "clients", key, story.delete.occurredAt)).toMatchObject({ phone: "+44 20 7946 0000", is_deleted: true });
    expect(await asOf(tokens.admin, "clients", key, new Date().toISOString())).toMatchObject({ is_deleted: true });
  });

  test("an auditor reads the same events, history and state as an admin", async () => {
    const filter = { tableName: "clients", recordKey: story.clientId };
    expect((await auditEvents(tokens.auditor, filter)).nodes).toEqual((await auditEvents(tokens.admin, filter)).nodes);
    expect(await history(tokens.auditor, "clients", story.clientId)).toEqual([story.insert, story.note, story.phone, story.delete]);
    const at = between(story.note.occurredAt, story.phone.occurredAt);
    expect(await asOf(tokens.auditor, "clients", story.clientId, at)).toEqual(await asOf(tokens.admin, "clients", story.clientId, at));
  });
});

describe("a coach reads the trail of their own records only", () => {
  test("a coach reads their own client's history, but not who else wrote to it", async () => {
    const events = await history(tokens.a, "clients", story.clientId);
    expect(ids(events)).toEqual(ids([story.insert, story.note, story.phone, story.delete]));
    const own = events.filter((event) => event.rowId !== story.phone.rowId);
    expect(own.every((event) => event.actorKind === "user" && event.actorUserId === a.user.id)).toBe(true);
    const byAdmin = events.find((event) => event.rowId === story.phone.rowId)!;
    expect(byAdmin).toMatchObject({ actorKind: null, actorUserId: null, actorRole: null, requestId: null });
  });

  test("another coach gets no events, no history and no state for that client, over GraphQL and in SQL", async () => {
    expect(await history(tokens.b, "clients", story.clientId)).toEqual([]);
    expect(await auditEvents(tokens.b, { tableName: "clients", recordKey: story.clientId })).toMatchObject({ totalCount: 0, nodes: [] });
    expect(await asOf(tokens.b, "clients", story.clientId, between(story.note.occurredAt, story.phone.occurredAt))).toBeNull();
    expect(await auditEvents(tokens.b, { actorId: a.user.id })).toMatchObject({ totalCount: 0 });

    const countAs = (coach: Coach) =>
      withRootDb(async (db) => {
        await becomeUser(db, coach.user);
        const { rows } = await db.query(
          "select count(*)::int as events from app_public.audit_events(table_name => 'clients', record_key => $1)",
          [JSON.stringify({ id: story.clientId })],
        );
        return rows[0].events;
      });
    expect(await countAs(b)).toBe(0);
    expect(await countAs(a)).toBe(4);
  });

  test("a coach reads their own client's personal data in clear", async () => {
    const [inserted] = await history(tokens.a, "clients", a.clientId);
    expect(inserted!.newValues).toMatchObject({ id: a.clientId, full_name: "Client of audit-gql-a", email: expect.stringMatching(/@test\.example$/) });
  });

  test("a coach never reads another subject's personal data: the event is hidden and its stored values reveal as redacted", async () => {
    const stored = await rootPool().query(
      "select new_values, subject_id from audit.events where table_name = 'clients' and record_key = $1 and operation = 'INSERT'",
      [JSON.stringify({ id: a.clientId })],
    );
    const { new_values: newValues, subject_id: subjectId } = stored.rows[0];
    expect(newValues.full_name).toEqual({ $pii: expect.any(String) });

    const seenByB = await withRootDb(async (db) => {
      await becomeUser(db, b.user);
      const hidden = await db.query(
        "select audit.reveal(new_values, subject_id) from audit.events where table_name = 'clients' and record_key = $1",
        [JSON.stringify({ id: a.clientId })],
      );
      const revealed = await db.query("select audit.reveal($1::jsonb, $2::uuid) as value", [newValues, subjectId]);
      return { hiddenRows: hidden.rowCount, revealed: revealed.rows[0].value };
    });
    expect(seenByB.hiddenRows).toBe(0);
    expect(seenByB.revealed).toMatchObject({
      id: a.clientId,
      coach_profile_id: a.profileId,
      full_name: { $redacted: "pii" },
      email: { $redacted: "pii" },
    });
  });
});

describe("erased personal data", () => {
  test("after the client's key is destroyed an admin reads $erased for their pii, while every event row stays", async () => {
    const clientEvents = await auditEvents(tokens.admin, { tableName: "clients", recordKey: erased.clientId });
    expect(clientEvents.nodes).toEqual([expect.objectContaining({ operation: "INSERT" })]);
    expect(clientEvents.nodes[0]!.newValues).toMatchObject({
      id: erased.clientId,
      full_name: { $erased: true },
      email: { $erased: true },
      phone: null,
      notes: null,
    });
    // Data about the client held in other tables goes with the key: session titles and transcripts.
    const [session] = (await auditEvents(tokens.admin, { tableName: "coaching_sessions", recordKey: erased.sessionId })).nodes;
    expect(session!.newValues).toMatchObject({ title: { $erased: true }, audio_object_key: "recordings/test.m4a" });
    const [transcription] = (await auditEvents(tokens.admin, { tableName: "transcriptions", recordKey: erased.transcriptionId })).nodes;
    expect(transcription!.newValues).toMatchObject({ transcript_text: { $erased: true }, provider: "deepgram" });
    // The coach is another person: their own data is still readable.
    const [profile] = (await auditEvents(tokens.admin, { tableName: "coach_profiles", recordKey: erased.profileId })).nodes;
    expect(profile!.newValues).toMatchObject({ display_name: "audit-gql-erased" });

    const { rows } = await rootPool().query(
      `select count(*)::int as events from audit.events
       where (table_name, record_key) in (('clients', $1::jsonb), ('coaching_sessions', $2::jsonb), ('transcriptions', $3::jsonb))`,
      [JSON.stringify({ id: erased.clientId }), JSON.stringify({ id: erased.sessionId }), JSON.stringify({ id: erased.transcriptionId })],
    );
    expect(rows[0].events).toBe(3);
  });

  test("the erased client's own coach reads $erased too", async () => {
    const [inserted] = await history(tokens.erased, "clients", erased.clientId);
    expect(inserted!.newValues).toMatchObject({ full_name: { $erased: true }, email: { $erased: true } });
  });
});

describe("who may not read, and filters that cannot mean anything", () => {
  test("an anonymous caller gets an error and no audit data", async () => {
    const events = await graphql(eventsQuery, { tableName: "clients", recordKey: story.clientId });
    expect(events.body.data?.auditEvents ?? null).toBeNull();
    expect(events.body.errors?.[0]?.extensions?.code).toBe("42501");
    const recordHistory = await graphql(historyQuery, { tableName: "clients", recordKey: story.clientId });
    expect(recordHistory.body.data?.auditRecordHistory ?? null).toBeNull();
    expect(recordHistory.body.errors?.[0]?.extensions?.code).toBe("42501");
    const state = await graphql(asOfQuery, { tableName: "clients", recordKey: story.clientId, at: story.note.occurredAt });
    expect(state.body.data?.auditRecordAsOf ?? null).toBeNull();
    expect(state.body.errors?.[0]?.extensions?.code).toBe("42501");
  });

  const badFilters = [
    { name: "an untracked table", filter: { tableName: "no_such_table" }, code: "42P01", message: 'Table "no_such_table" is not tracked by the audit trail.' },
    { name: "a table name with too many parts", filter: { tableName: "a.b.c" }, code: "22023", message: /^tableName must be a table name, optionally with its schema .* not "a\.b\.c"\.$/ },
    { name: "an empty time range", filter: { occurredFrom: "2026-01-02T00:00:00Z", occurredBefore: "2026-01-01T00:00:00Z" }, code: "22023", message: /^The time range is empty: occurredFrom \(.+\) must be before occurredBefore \(.+\)\.$/ },
    { name: "a time range that is one instant", filter: { occurredFrom: "2026-01-01T00:00:00Z", occurredBefore: "2026-01-01T00:00:00Z" }, code: "22023", message: /^The time range is empty/ },
    { name: "a record key that is an array", filter: { tableName: "clients", recordKey: [1, 2] }, code: "22023", message: /^recordKey must be an object of the primary key's columns.* not \[1, 2\]\.$/ },
    { name: "a bare record key without a table", filter: { recordKey: "abc" }, code: "22023", message: /^recordKey must be an object .* not "abc"\.$/ },
    { name: "a timestamp that is not one", filter: { occurredFrom: "yesterday-ish" }, code: "22007", message: /"yesterday-ish"/ },
  ];

  test.each(badFilters)("$name is refused with a clear error and code $code", async ({ filter, code, message }) => {
    // Narrowed to this file's record where possible, the refusal must not depend on any row matching.
    const { body } = await graphql(eventsQuery, filter, tokens.admin);
    expect(body.data?.auditEvents ?? null).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe(code);
    if (typeof message === "string") expect(body.errors?.[0]?.message).toBe(message);
    else expect(body.errors?.[0]?.message).toMatch(message);
  });

  test("an operation or actor kind outside its enum is refused before any SQL runs, naming the enum", async () => {
    for (const [filter, message] of [
      [{ operation: "UPSERT" }, /"UPSERT" does not exist in "AuditOperation" enum/],
      [{ operation: "update" }, /"update" does not exist in "AuditOperation" enum/],
      [{ actorKind: "robot" }, /"robot" does not exist in "AuditActorKind" enum/],
    ] as const) {
      const { status, body } = await graphql(eventsQuery, filter, tokens.admin);
      expect(status).toBe(400);
      expect(body.data ?? null).toBeNull();
      expect(body.errors?.[0]?.message).toMatch(message);
    }
  });

  test("a bad filter is refused even when no event could match it", async () => {
    const nothing = { tableName: "clients", recordKey: crypto.randomUUID() };
    for (const filter of [{ occurredFrom: "2026-01-02T00:00:00Z", occurredBefore: "2026-01-01T00:00:00Z" }]) {
      const { body } = await graphql(eventsQuery, { ...nothing, ...filter }, tokens.admin);
      expect(body.errors?.[0]?.extensions?.code).toBe("22023");
    }
  });

  test("history needs a table and a record key, and the state needs a time", async () => {
    const noTable = await graphql(historyQuery, { recordKey: story.clientId }, tokens.admin);
    expect(noTable.body.errors?.[0]?.extensions?.code).toBe("22023");
    expect(noTable.body.errors?.[0]?.message).toMatch(/^tableName must be a table name/);
    const noKey = await graphql(historyQuery, { tableName: "clients" }, tokens.admin);
    expect(noKey.body.errors?.[0]?.extensions?.code).toBe("22023");
    expect(noKey.body.errors?.[0]?.message).toMatch(/^recordKey must be an object/);
    const noTime = await graphql(asOfQuery, { tableName: "clients", recordKey: story.clientId }, tokens.admin);
    expect(noTime.body.errors?.[0]).toMatchObject({ message: "at is required: the time to rebuild the record at.", extensions: { code: "22023" } });
  });
});
