import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, deleteCoach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";
import { createTree, type Tree } from "./tree.ts";

// What each role sees over GraphQL once a coach has soft-deleted one of their
// rows: coaches never see a deleted row (row-level security), admins and
// auditors see deleted rows in lists only with includeDeleted: true, and by
// id always. Every list is narrowed to this file's coaches: other test files
// commit rows at the same time.

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

/** The same family seen from everywhere the API shows these rows; narrowed to one coach profile. */
const snapshotQuery = `query Snapshot($profile: UUID!, $client: UUID!, $session: UUID!, $transcription: UUID!, $user: UUID!, $inc: Boolean!) {
  coachProfiles(condition: { rowId: $profile }, includeDeleted: $inc) { totalCount nodes { rowId isDeleted } }
  clients(condition: { coachProfileId: $profile }, includeDeleted: $inc) { totalCount nodes { rowId isDeleted } }
  coachingSessions(condition: { coachProfileId: $profile }, includeDeleted: $inc) { totalCount nodes { rowId isDeleted } }
  transcriptions(condition: { coachProfileId: $profile }, includeDeleted: $inc) { totalCount nodes { rowId isDeleted } }
  coachProfile(rowId: $profile) {
    rowId isDeleted
    clients(first: 10, includeDeleted: $inc) { totalCount nodes {
      rowId isDeleted
      coachingSessions(first: 10, includeDeleted: $inc) { totalCount nodes {
        rowId isDeleted
        transcriptions(first: 10, includeDeleted: $inc) { totalCount nodes { rowId isDeleted } }
      } }
    } }
  }
  client(rowId: $client) { rowId isDeleted coachingSessions(includeDeleted: $inc) { totalCount nodes { rowId isDeleted } } }
  coachingSession(rowId: $session) { rowId isDeleted transcriptions(includeDeleted: $inc) { totalCount nodes { rowId isDeleted } } }
  transcription(rowId: $transcription) { rowId isDeleted }
  user(rowId: $user) { coachProfile { rowId } }
}`;

/** The same query with includeDeleted left out everywhere: its default must apply. */
const snapshotQueryByDefault = snapshotQuery
  .replace(", $inc: Boolean!", "")
  .replaceAll(", includeDeleted: $inc", "")
  .replaceAll("(includeDeleted: $inc)", "");

async function snapshot(family: Family, token: string, includeDeleted: boolean | "left out"): Promise<unknown> {
  const { coach } = family.tree;
  const byDefault = includeDeleted === "left out";
  const { body } = await graphql(byDefault ? snapshotQueryByDefault : snapshotQuery, {
    profile: coach.profileId,
    client: coach.clientId,
    session: coach.sessionId,
    transcription: coach.transcriptionId,
    user: coach.user.id,
    ...(byDefault ? {} : { inc: includeDeleted }),
  }, token);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

interface Viewer {
  /** Admins and auditors: a fetch by id returns a deleted row, and includeDeleted shows them in lists. */
  staff: boolean;
  includeDeleted: boolean;
}

/** What the snapshot must be for a viewer, when the rows in `deleted` are soft-deleted. */
function expectedSnapshot(family: Family, deleted: ReadonlySet<string>, viewer: Viewer) {
  const { coach, clients } = family.tree;
  const listsDeleted = viewer.staff && viewer.includeDeleted;
  const row = (rowId: string) => ({ rowId, isDeleted: deleted.has(rowId) });
  const list = <T>(ids: string[], node: (id: string) => T) => {
    const shown = ids.filter((id) => listsDeleted || !deleted.has(id)).sort();
    return { totalCount: shown.length, nodes: shown.map(node) };
  };
  const fetched = <T extends object>(id: string, rest: T) => (viewer.staff || !deleted.has(id) ? { ...row(id), ...rest } : null);
  const sessions = clients.flatMap((c) => family.sessionsOf[c]!);
  const transcriptions = sessions.flatMap((s) => family.transcriptionsOf[s]!);
  const sessionNode = (s: string) => ({ ...row(s), transcriptions: list(family.transcriptionsOf[s]!, row) });
  const clientNode = (c: string) => ({ ...row(c), coachingSessions: list(family.sessionsOf[c]!, sessionNode) });
  return {
    coachProfiles: list([coach.profileId], row),
    clients: list(clients, row),
    coachingSessions: list(sessions, row),
    transcriptions: list(transcriptions, row),
    coachProfile: fetched(coach.profileId, { clients: list(clients, clientNode) }),
    client: fetched(coach.clientId, { coachingSessions: list(family.sessionsOf[coach.clientId]!, row) }),
    coachingSession: fetched(coach.sessionId, { transcriptions: list(family.transcriptionsOf[coach.sessionId]!, row) }),
    transcription: fetched(coach.transcriptionId, {}),
    user: { coachProfile: deleted.has(coach.profileId) ? null : { rowId: coach.profileId } },
  };
}

/** The ids a soft delete of `id` takes with it, itself included. */
function cascadeOf(family: Family, table: string, id: string): string[] {
  switch (table) {
    case "coach_profiles":
      return [id, ...family.tree.clients.flatMap((c) => cascadeOf(family, "clients", c))];
    case "clients":
      return [id, ...family.sessionsOf[id]!.flatMap((s) => cascadeOf(family, "coaching_sessions", s))];
    case "coaching_sessions":
      return [id, ...family.transcriptionsOf[id]!];
    default:
      return [id];
  }
}

const upper = (name: string) => name[0]!.toUpperCase() + name.slice(1);

const cases = [
  { noun: "coach profile", type: "coachProfile", table: "coach_profiles", target: (f: Family) => f.tree.coach.profileId },
  { noun: "client", type: "client", table: "clients", target: (f: Family) => f.tree.coach.clientId },
  { noun: "coaching session", type: "coachingSession", table: "coaching_sessions", target: (f: Family) => f.tree.coach.sessionId },
  { noun: "transcription", type: "transcription", table: "transcriptions", target: (f: Family) => f.tree.coach.transcriptionId },
];

let admin: User;
let auditor: User;
let tokens: { admin: string; auditor: string };
/** Per case: the family, the rows its deletion took, and what the coach saw before it. */
const scenes: Record<string, { family: Family; deleted: Set<string>; before: unknown }> = {};

beforeAll(async () => {
  const root = rootPool();
  admin = await createUser(root as never, "admin", "sd-vis-admin");
  auditor = await createUser(root as never, "auditor", "sd-vis-auditor");
  const [adminToken, auditorToken] = await Promise.all([login(admin.email), login(auditor.email)]);
  tokens = { admin: adminToken, auditor: auditorToken };
  for (const { noun, type, table, target } of cases) {
    const family = await createFamily(`sd-vis-${type}`);
    const before = await snapshot(family, family.token, false);
    const { body } = await graphql(
      `mutation ($id: UUID!) { delete${upper(type)}(input: { rowId: $id }) { clientMutationId } }`,
      { id: target(family) },
      family.token,
    );
    if (body.errors) throw new Error(`deleting the ${noun}: ${JSON.stringify(body.errors)}`);
    scenes[noun] = { family, deleted: new Set(cascadeOf(family, table, target(family))), before };
  }
});

afterAll(async () => {
  const root = rootPool();
  for (const family of families) await deleteCoach(root as never, family.tree.coach);
  await root.query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

describe.each(cases)("after a coach deletes their $noun over GraphQL", ({ noun, table }) => {
  const scene = () => scenes[noun]!;

  test("the deletion took exactly the row and its cascade, in SQL", async () => {
    const { family, deleted } = scene();
    const { rows } = await rootPool().query(
      `select id from app_public.coach_profiles where id = $1 and is_deleted
       union all select id from app_public.clients where coach_profile_id = $1 and is_deleted
       union all select id from app_public.coaching_sessions where coach_profile_id = $1 and is_deleted
       union all select id from app_public.transcriptions where coach_profile_id = $1 and is_deleted`,
      [family.tree.coach.profileId],
    );
    expect(rows.map((r) => r.id).sort()).toEqual([...deleted].sort());
    expect(deleted.size).toBe({ coach_profiles: 15, clients: 7, coaching_sessions: 3, transcriptions: 1 }[table]);
  });

  test("the coach saw the whole family before, and now sees no deleted row in lists, counts, fetches by id or nested relations", async () => {
    const { family, deleted, before } = scene();
    expect(before).toEqual(expectedSnapshot(family, new Set(), { staff: false, includeDeleted: false }));
    const after = await snapshot(family, family.token, false);
    expect(after).toEqual(expectedSnapshot(family, deleted, { staff: false, includeDeleted: false }));
    expect(after).not.toEqual(before);
  });

  test("the coach asking for includeDeleted: true still sees no deleted row", async () => {
    const { family, deleted } = scene();
    expect(await snapshot(family, family.token, true)).toEqual(expectedSnapshot(family, deleted, { staff: false, includeDeleted: false }));
  });

  describe.each(["admin", "auditor"] as const)("as an %s", (role) => {
    test("default lists and counts leave the deleted rows out, while a fetch by id returns them marked deleted", async () => {
      const { family, deleted } = scene();
      expect(await snapshot(family, tokens[role], false)).toEqual(expectedSnapshot(family, deleted, { staff: true, includeDeleted: false }));
    });

    test("leaving includeDeleted out is the same as false: deleted rows stay out of lists", async () => {
      const { family, deleted } = scene();
      expect(snapshotQueryByDefault).not.toContain("includeDeleted");
      expect(await snapshot(family, tokens[role], "left out")).toEqual(expectedSnapshot(family, deleted, { staff: true, includeDeleted: false }));
    });

    test("includeDeleted: true shows every row, deleted ones marked, with exact counts", async () => {
      const { family, deleted } = scene();
      const seen = await snapshot(family, tokens[role], true);
      expect(seen).toEqual(expectedSnapshot(family, deleted, { staff: true, includeDeleted: true }));
      expect(seen).toMatchObject({ clients: { totalCount: 2 }, coachingSessions: { totalCount: 4 }, transcriptions: { totalCount: 8 } });
    });
  });
});
