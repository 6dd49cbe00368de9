import crypto from "node:crypto";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, deleteCoach, type User } from "../support/fixtures.ts";
import { graphql, login, type GraphQLResponse } from "../support/http.ts";
import { createTree, type Tree } from "./tree.ts";

// The delete and restore mutations over GraphQL: who may call them, what they
// change in SQL (checked as the superuser), and how they refuse. The mutations
// commit, so each test that changes rows gets a family of its own; every
// family is hard-deleted in afterAll.

/** A coach's tree (2 clients × 2 sessions × 2 transcriptions) with its parent links and a token. */
interface Family {
  tree: Tree;
  token: string;
  sessionsOf: Record<string, string[]>;
  transcriptionsOf: Record<string, string[]>;
}

const families: Family[] = [];

async function createFamily(label: string): Promise<Family> {
  const root = rootPool();
  const tree = await createTree(root as never, label);
  const sessions = await root.query("select id, client_id from app_public.coaching_sessions where coach_profile_id = $1", [tree.coach.profileId]);
  const transcriptions = await root.query("select id, session_id from app_public.transcriptions where coach_profile_id = $1", [tree.coach.profileId]);
  const family: Family = {
    tree,
    token: await login(tree.coach.user.email),
    sessionsOf: Object.fromEntries(tree.clients.map((c) => [c, sessions.rows.filter((s) => s.client_id === c).map((s) => s.id as string)])),
    transcriptionsOf: Object.fromEntries(tree.sessions.map((s) => [s, transcriptions.rows.filter((t) => t.session_id === s).map((t) => t.id as string)])),
  };
  families.push(family);
  return family;
}

type Table = "coach_profiles" | "clients" | "coaching_sessions" | "transcriptions";

interface Row {
  table: Table;
  id: string;
}

/** The rows a soft delete of `row` takes with it, itself included. */
function cascadeOf(family: Family, row: Row): Row[] {
  switch (row.table) {
    case "coach_profiles":
      return [row, ...family.tree.clients.flatMap((id) => cascadeOf(family, { table: "clients", id }))];
    case "clients":
      return [row, ...family.sessionsOf[row.id]!.flatMap((id) => cascadeOf(family, { table: "coaching_sessions", id }))];
    case "coaching_sessions":
      return [row, ...family.transcriptionsOf[row.id]!.map((id) => ({ table: "transcriptions" as const, id }))];
    default:
      return [row];
  }
}

interface RowState extends Row {
  is_deleted: boolean;
  deleted_at: string | null;
  deleted_by: string | null;
  deletion_batch_id: string | null;
  updated_at: string;
}

const key = (row: Row) => `${row.table}:${row.id}`;
const keys = (rows: Row[]) => rows.map(key).sort();

/** Every row of the family with its deletion columns, read as the superuser; times as text, to the microsecond. */
async function familyState(family: Family): Promise<RowState[]> {
  const columns = "id, is_deleted, deleted_at::text, deleted_by, deletion_batch_id, updated_at::text";
  const { rows } = await rootPool().query(
    `select 'coach_profiles' as table, ${columns} from app_public.coach_profiles where id = $1
     union all select 'clients', ${columns} from app_public.clients where coach_profile_id = $1
     union all select 'coaching_sessions', ${columns} from app_public.coaching_sessions where coach_profile_id = $1
     union all select 'transcriptions', ${columns} from app_public.transcriptions where coach_profile_id = $1`,
    [family.tree.coach.profileId],
  );
  return (rows as RowState[]).sort((a, b) => key(a).localeCompare(key(b)));
}

const deletedRows = (state: RowState[]) => state.filter((row) => row.is_deleted);
const liveRows = (state: RowState[]) => state.filter((row) => !row.is_deleted);
/** Live rows carry no deletion columns at all. */
const deletionColumns = (rows: RowState[]) => rows.map((row) => [row.deleted_at, row.deleted_by, row.deletion_batch_id]);

const upper = (name: string) => name[0]!.toUpperCase() + name.slice(1);
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A timestamptz as PostgreSQL prints it in a message. */
const timestamp = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?`;

interface Case {
  noun: string;
  type: string;
  table: Table;
  /** The row the test deletes: on the path profile → first client → its first session → its first transcription. */
  target: (family: Family) => string;
  /** A row deleted on its own before the target: a child of it, or for a transcription a sibling. */
  separately: (family: Family) => Row;
  /** The parent that must be live, and how an admin would create a row under it. */
  parent?: {
    noun: string;
    table: Table;
    id: (family: Family) => string;
    create: (parentId: string) => { mutation: string; variables: Record<string, unknown> };
  };
}

const cases: Case[] = [
  {
    noun: "coach profile",
    type: "coachProfile",
    table: "coach_profiles",
    target: (f) => f.tree.coach.profileId,
    separately: (f) => ({ table: "clients", id: f.tree.clients[1]! }),
  },
  {
    noun: "client",
    type: "client",
    table: "clients",
    target: (f) => f.tree.coach.clientId,
    separately: (f) => ({ table: "coaching_sessions", id: f.sessionsOf[f.tree.coach.clientId]!.find((s) => s !== f.tree.coach.sessionId)! }),
    parent: {
      noun: "coach profile",
      table: "coach_profiles",
      id: (f) => f.tree.coach.profileId,
      create: (id) => ({
        mutation: `mutation ($id: UUID!) { createClient(input: { client: { coachProfileId: $id, fullName: "Under a deleted coach" } }) { client { rowId } } }`,
        variables: { id },
      }),
    },
  },
  {
    noun: "coaching session",
    type: "coachingSession",
    table: "coaching_sessions",
    target: (f) => f.tree.coach.sessionId,
    separately: (f) => ({ table: "transcriptions", id: f.transcriptionsOf[f.tree.coach.sessionId]!.find((t) => t !== f.tree.coach.transcriptionId)! }),
    parent: {
      noun: "client",
      table: "clients",
      id: (f) => f.tree.coach.clientId,
      create: (id) => ({
        mutation: `mutation ($id: UUID!) { createCoachingSession(input: { coachingSession: { clientId: $id, title: "Under a deleted client",
          recordedAt: "2026-01-01T10:00:00Z", audioObjectKey: "recordings/deleted-parent.m4a", audioDurationSeconds: 60 } }) { coachingSession { rowId } } }`,
        variables: { id },
      }),
    },
  },
  {
    noun: "transcription",
    type: "transcription",
    table: "transcriptions",
    target: (f) => f.tree.coach.transcriptionId,
    separately: (f) => ({ table: "transcriptions", id: f.transcriptionsOf[f.tree.coach.sessionId]!.find((t) => t !== f.tree.coach.transcriptionId)! }),
    parent: {
      noun: "coaching session",
      table: "coaching_sessions",
      id: (f) => f.tree.coach.sessionId,
      create: (id) => ({
        mutation: `mutation ($id: UUID!) { createTranscription(input: { transcription: { sessionId: $id, provider: "deepgram", model: "nova-2" } }) { transcription { rowId } } }`,
        variables: { id },
      }),
    },
  },
];

const caseOf = (table: Table) => cases.find((c) => c.table === table)!;

/** Calls delete<Type> or restore<Type> for one row, asking only for the clientMutationId. */
function call(action: "delete" | "restore", kind: Case, id: string, token: string): Promise<GraphQLResponse> {
  return graphql(
    `mutation ($id: UUID!) { ${action}${upper(kind.type)}(input: { rowId: $id, clientMutationId: "sd" }) { clientMutationId } }`,
    { id },
    token,
  );
}

/** A call that must succeed: its payload echoes the clientMutationId and there is no error. */
async function succeed(action: "delete" | "restore", kind: Case, id: string, token: string): Promise<void> {
  const { body } = await call(action, kind, id, token);
  expect(body).toEqual({ data: { [`${action}${upper(kind.type)}`]: { clientMutationId: "sd" } } });
}

/** A call that must fail: no payload, and the first error's code and message. */
async function refusal(action: "delete" | "restore", kind: Case, id: string, token: string) {
  const { body } = await call(action, kind, id, token);
  const error = body.errors?.[0];
  return { payload: body.data?.[`${action}${upper(kind.type)}`] ?? null, code: error?.extensions?.code, message: error?.message };
}

let owner: Family;
let admin: User;
let auditor: User;
let tokens: { admin: string; auditor: string };

beforeAll(async () => {
  const root = rootPool();
  owner = await createFamily("sd-mut-owner");
  admin = await createUser(root as never, "admin", "sd-mut-admin");
  auditor = await createUser(root as never, "auditor", "sd-mut-auditor");
  const [adminToken, auditorToken] = await Promise.all([login(admin.email), login(auditor.email)]);
  tokens = { admin: adminToken, auditor: auditorToken };
});

afterAll(async () => {
  const root = rootPool();
  for (const family of families) await deleteCoach(root as never, family.tree.coach);
  await root.query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

describe.each(cases)("deleting and restoring a $noun over GraphQL", (kind) => {
  const { noun, type, table } = kind;
  const Type = upper(type);

  test(`a coach deletes their own ${noun}: it and everything under it are soft-deleted in one batch, by that coach`, async () => {
    const family = await createFamily(`sd-mut-own-${type}`);
    const id = kind.target(family);
    await succeed("delete", kind, id, family.token);

    const state = await familyState(family);
    const deleted = deletedRows(state);
    expect(keys(deleted)).toEqual(keys(cascadeOf(family, { table, id })));
    const root = deleted.find((row) => row.id === id)!;
    expect(root).toMatchObject({ is_deleted: true, deleted_by: family.tree.coach.user.id, deletion_batch_id: expect.stringMatching(uuid) });
    expect(root.deleted_at).toMatch(new RegExp(`^${timestamp}$`));
    expect(deletionColumns(deleted)).toEqual(deleted.map(() => [root.deleted_at, family.tree.coach.user.id, root.deletion_batch_id]));
    expect(deletionColumns(liveRows(state))).toEqual(liveRows(state).map(() => [null, null, null]));
  });

  test(`the delete and restore payloads return the ${noun} under the field ${type}, with its deletion columns`, async () => {
    const family = await createFamily(`sd-mut-payload-${type}`);
    const id = kind.target(family);
    const fields = "rowId isDeleted deletedAt deletedBy deletionBatchId";
    const deleted = await graphql(`mutation ($id: UUID!) { delete${Type}(input: { rowId: $id }) { ${type} { ${fields} } } }`, { id }, family.token);
    const [root] = deletedRows(await familyState(family)).filter((row) => row.id === id);
    expect(deleted.body).toEqual({
      data: { [`delete${Type}`]: { [type]: { rowId: id, isDeleted: true, deletedAt: expect.any(String), deletedBy: family.tree.coach.user.id, deletionBatchId: root?.deletion_batch_id } } },
    });
    const restored = await graphql(`mutation ($id: UUID!) { restore${Type}(input: { rowId: $id }) { ${type} { ${fields} } } }`, { id }, family.token);
    expect(restored.body).toEqual({
      data: { [`restore${Type}`]: { [type]: { rowId: id, isDeleted: false, deletedAt: null, deletedBy: null, deletionBatchId: null } } },
    });
  });

  test(`restoring the ${noun} brings back exactly its batch; a row deleted on its own before stays deleted, untouched`, async () => {
    const family = await createFamily(`sd-mut-batch-${type}`);
    const id = kind.target(family);
    const separate = kind.separately(family);
    await succeed("delete", caseOf(separate.table), separate.id, family.token);
    const afterSeparate = await familyState(family);
    expect(keys(deletedRows(afterSeparate))).toEqual(keys(cascadeOf(family, separate)));

    await succeed("delete", kind, id, family.token);
    const afterBoth = await familyState(family);
    const batches = new Set(deletedRows(afterBoth).map((row) => row.deletion_batch_id));
    expect(batches.size).toBe(2);

    await succeed("restore", kind, id, family.token);
    const afterRestore = await familyState(family);
    expect(deletedRows(afterRestore)).toEqual(deletedRows(afterSeparate));
    expect(deletionColumns(liveRows(afterRestore))).toEqual(liveRows(afterRestore).map(() => [null, null, null]));
    expect(afterRestore.length).toBe(15);
  });

  test(`a coach can neither delete nor restore another coach's ${noun}, nor one that does not exist: not found (404) in words`, async () => {
    const victim = await createFamily(`sd-mut-victim-${type}`);
    const id = kind.target(victim);
    const live = await familyState(victim);
    expect(await refusal("delete", kind, id, owner.token)).toEqual({
      payload: null, code: "P0002", message: `No ${noun} ${id} that you may delete: it does not exist or is not yours to delete. Nothing was deleted.`,
    });
    expect(await familyState(victim)).toEqual(live);

    await succeed("delete", kind, id, victim.token);
    const deleted = await familyState(victim);
    expect(await refusal("restore", kind, id, owner.token)).toEqual({
      payload: null, code: "P0002", message: `No ${noun} ${id} that you may restore: it does not exist or is not yours to restore. Nothing was restored.`,
    });
    expect(await familyState(victim)).toEqual(deleted);

    const nowhere = crypto.randomUUID();
    expect(await refusal("delete", kind, nowhere, owner.token)).toEqual({
      payload: null, code: "P0002", message: `No ${noun} ${nowhere} that you may delete: it does not exist or is not yours to delete. Nothing was deleted.`,
    });
    expect(await refusal("restore", kind, nowhere, tokens.admin)).toEqual({
      payload: null, code: "P0002", message: `No ${noun} ${nowhere} that you may restore: it does not exist or is not yours to restore. Nothing was restored.`,
    });
  });

  test(`an auditor can neither delete nor restore a ${noun}`, async () => {
    const id = kind.target(owner);
    const before = await familyState(owner);
    for (const action of ["delete", "restore"] as const) {
      const refused = await refusal(action, kind, id, tokens.auditor);
      expect({ payload: refused.payload, code: refused.code }).toEqual({ payload: null, code: "42501" });
    }
    expect(await familyState(owner)).toEqual(before);
  });

  test(`deleting a ${noun} that is already deleted is refused with 55000 and changes nothing`, async () => {
    const family = await createFamily(`sd-mut-twice-${type}`);
    const id = kind.target(family);
    await succeed("delete", kind, id, family.token);
    const before = await familyState(family);
    const root = before.find((row) => row.id === id)!;
    const refused = await refusal("delete", kind, id, family.token);
    expect({ ...refused, state: await familyState(family) }).toEqual({
      payload: null,
      code: "55000",
      message: expect.stringMatching(new RegExp(`^The ${noun} ${id} is already deleted \\(at ${timestamp}, batch ${root.deletion_batch_id}\\); nothing changed\\.$`)),
      state: before,
    });
  });

  test(`restoring a ${noun} that is not deleted is refused with 55000 and changes nothing`, async () => {
    const id = kind.target(owner);
    const before = await familyState(owner);
    expect(deletedRows(before)).toEqual([]);
    const refused = await refusal("restore", kind, id, owner.token);
    expect({ ...refused, state: await familyState(owner) }).toEqual({
      payload: null, code: "55000", message: `The ${noun} ${id} is not deleted; nothing changed.`, state: before,
    });
  });

  test(`a coach cannot restore a ${noun} deleted more than 30 days ago, while an admin can`, async () => {
    const family = await createFamily(`sd-mut-old-${type}`);
    const id = kind.target(family);
    await succeed("delete", kind, id, family.token);
    const [{ deletion_batch_id: batch }] = deletedRows(await familyState(family)).filter((row) => row.id === id) as [RowState];
    for (const each of ["coach_profiles", "clients", "coaching_sessions", "transcriptions"]) {
      await rootPool().query(`update app_public.${each} set deleted_at = now() - interval '31 days' where deletion_batch_id = $1`, [batch]);
    }
    const old = await familyState(family);
    expect(keys(deletedRows(old))).toEqual(keys(cascadeOf(family, { table, id })));

    const refused = await refusal("restore", kind, id, family.token);
    expect({ ...refused, state: await familyState(family) }).toEqual({
      payload: null,
      code: "42501",
      message: expect.stringMatching(new RegExp(`^The ${noun} ${id} was deleted at ${timestamp}, more than 30 days ago; only an admin can restore it now\\.$`)),
      state: old,
    });

    await succeed("restore", kind, id, tokens.admin);
    const restored = await familyState(family);
    expect(deletedRows(restored)).toEqual([]);
    expect(deletionColumns(restored)).toEqual(restored.map(() => [null, null, null]));
  });

  test(`an admin deletes and restores any coach's ${noun}; the deletion names the admin`, async () => {
    const family = await createFamily(`sd-mut-admin-${type}`);
    const id = kind.target(family);
    await succeed("delete", kind, id, tokens.admin);
    const deleted = deletedRows(await familyState(family));
    expect(keys(deleted)).toEqual(keys(cascadeOf(family, { table, id })));
    expect(new Set(deleted.map((row) => row.deleted_by))).toEqual(new Set([admin.id]));
    await succeed("restore", kind, id, tokens.admin);
    expect(deletedRows(await familyState(family))).toEqual([]);
  });

  const { parent } = kind;
  if (parent) {
    test(`restoring a ${noun} whose ${parent.noun} is still deleted is refused, naming the ${parent.noun}`, async () => {
      const family = await createFamily(`sd-mut-orphan-${type}`);
      const id = kind.target(family);
      const parentId = parent.id(family);
      await succeed("delete", caseOf(parent.table), parentId, family.token);
      const before = await familyState(family);
      expect(before.find((row) => row.id === id)?.is_deleted).toBe(true);
      for (const token of [family.token, tokens.admin]) {
        const refused = await refusal("restore", kind, id, token);
        expect({ ...refused, state: await familyState(family) }).toEqual({
          payload: null, code: "23503", message: `The ${parent.noun} ${parentId} is deleted; restore it first.`, state: before,
        });
      }
    });

    test(`an admin cannot create a ${noun} under a deleted ${parent.noun}`, async () => {
      const family = await createFamily(`sd-mut-under-${type}`);
      const parentId = parent.id(family);
      await succeed("delete", caseOf(parent.table), parentId, tokens.admin);
      const before = await familyState(family);
      const { mutation, variables } = parent.create(parentId);
      const { body } = await graphql(mutation, variables, tokens.admin);
      expect({
        data: body.data ?? null,
        code: body.errors?.[0]?.extensions?.code,
        message: body.errors?.[0]?.message,
        state: await familyState(family),
      }).toEqual({
        data: { [`create${upper(type)}`]: null },
        code: "23503",
        message: `The ${parent.noun} ${parentId} is deleted; restore it first.`,
        state: before,
      });
    });
  }
});

describe("moving a row under a deleted parent", () => {
  test("an admin cannot move a coaching session to a deleted client of the same coach", async () => {
    const family = await createFamily("sd-mut-move");
    const [deletedClient, liveClient] = family.tree.clients as [string, string];
    await succeed("delete", caseOf("clients"), deletedClient, tokens.admin);
    const before = await familyState(family);
    const session = family.sessionsOf[liveClient]![0]!;
    const { body } = await graphql(
      `mutation ($id: UUID!, $client: UUID!) { updateCoachingSession(input: { rowId: $id, patch: { clientId: $client } }) { coachingSession { clientId } } }`,
      { id: session, client: deletedClient },
      tokens.admin,
    );
    expect({ code: body.errors?.[0]?.extensions?.code, message: body.errors?.[0]?.message, state: await familyState(family) }).toEqual({
      code: "23503", message: `The client ${deletedClient} is deleted; restore it first.`, state: before,
    });
  });
});

describe("a deleted client's email", () => {
  test("a coach adds a client again with the email of a client they deleted, and only then", async () => {
    const family = await createFamily("sd-mut-email");
    const clientId = family.tree.coach.clientId;
    const { rows } = await rootPool().query("select email::text from app_public.clients where id = $1", [clientId]);
    const email: string = rows[0].email;
    const create = `mutation ($email: String!) { createClient(input: { client: { fullName: "Returning Client", email: $email } }) { client { rowId email coachProfileId isDeleted } } }`;

    const whileLive = await graphql(create, { email }, family.token);
    expect(whileLive.body.errors?.[0]?.extensions?.code).toBe("23505");

    await succeed("delete", caseOf("clients"), clientId, family.token);
    const again = await graphql(create, { email }, family.token);
    expect(again.body.errors).toBeUndefined();
    const created = again.body.data?.createClient?.client;
    expect(created).toEqual({ rowId: expect.stringMatching(uuid), email, coachProfileId: family.tree.coach.profileId, isDeleted: false });
    expect(created.rowId).not.toBe(clientId);

    const both = await rootPool().query(
      "select id, is_deleted from app_public.clients where coach_profile_id = $1 and email = $2 order by is_deleted",
      [family.tree.coach.profileId, email],
    );
    expect(both.rows).toEqual([{ id: created.rowId, is_deleted: false }, { id: clientId, is_deleted: true }]);
  });
});

describe("soft delete and restore in the audit trail", () => {
  test("the delete and the restore are SOFT_DELETE and RESTORE events with their actor and the batch, on the row and its cascade", async () => {
    const family = await createFamily("sd-mut-audit");
    const { clientId, sessionId, user } = family.tree.coach;
    await succeed("delete", caseOf("clients"), clientId, family.token);
    const [{ deletion_batch_id: batch }] = deletedRows(await familyState(family)).filter((row) => row.id === clientId) as [RowState];
    await succeed("restore", caseOf("clients"), clientId, tokens.admin);

    const query = `query ($table: String!, $id: JSON!) {
      auditEvents(tableName: $table, recordKey: $id) { totalCount nodes { operation details actorKind actorUserId recordKey } } }`;
    const events = async (table: string, id: string) => {
      const { body } = await graphql(query, { table, id }, tokens.admin);
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data!.auditEvents;
    };
    const story = (id: string) => ({
      totalCount: 3,
      nodes: [
        expect.objectContaining({ operation: "INSERT", recordKey: { id } }),
        { operation: "SOFT_DELETE", details: { batch_id: batch }, actorKind: "user", actorUserId: user.id, recordKey: { id } },
        { operation: "RESTORE", details: { batch_id: batch }, actorKind: "user", actorUserId: admin.id, recordKey: { id } },
      ],
    });
    expect(await events("clients", clientId)).toEqual(story(clientId));
    expect(await events("coaching_sessions", sessionId)).toEqual(story(sessionId));
  });
});
