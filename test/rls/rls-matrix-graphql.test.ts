import { closeRootPool, rootPool } from "../support/db.ts";
import { CONSENT_WORDING, createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

let a: Coach;
let b: Coach;
let auditor: User;
let tokenA: string;
let tokenAuditor: string;

beforeAll(async () => {
  const client = rootPool();
  a = await createCoach(client as never, "gql-coach-a");
  b = await createCoach(client as never, "gql-coach-b");
  auditor = await createUser(client as never, "auditor");
  [tokenA, tokenAuditor] = await Promise.all([login(a.user.email), login(auditor.email)]);
});

afterAll(async () => {
  const client = rootPool();
  await deleteCoach(client as never, a);
  await deleteCoach(client as never, b);
  await client.query("delete from app_public.users where id = $1", [auditor.id]);
  await closeRootPool();
});

/** Each coach-owned type: its fetch field, mutations, a patch a coach may make, and B's row. */
const types = [
  { type: "user", table: "users", patch: { displayName: "changed by A" }, column: "display_name", key: (c: Coach) => c.user.id, deletable: false },
  { type: "coachProfile", table: "coach_profiles", patch: { bio: "changed by A" }, column: "bio", key: (c: Coach) => c.profileId, deletable: true },
  { type: "client", table: "clients", patch: { notes: "changed by A" }, column: "notes", key: (c: Coach) => c.clientId, deletable: true },
  { type: "coachingSession", table: "coaching_sessions", patch: { title: "changed by A" }, column: "title", key: (c: Coach) => c.sessionId, deletable: true },
  { type: "transcription", table: "transcriptions", patch: { transcriptText: "changed by A" }, column: "transcript_text", key: (c: Coach) => c.transcriptionId, deletable: true },
];

const upper = (name: string) => name[0]!.toUpperCase() + name.slice(1);

describe.each(types)("row-level security on $type over GraphQL", ({ type, table, patch, column, key, deletable }) => {
  test("coach A cannot fetch coach B's row but fetches their own", async () => {
    const query = `query ($id: UUID!) { ${type}(rowId: $id) { rowId } }`;
    expect((await graphql(query, { id: key(b) }, tokenA)).body.data?.[type]).toBeNull();
    expect((await graphql(query, { id: key(a) }, tokenA)).body.data?.[type]).toEqual({ rowId: key(a) });
  });

  test("coach A cannot update coach B's row", async () => {
    const mutation = `mutation ($id: UUID!, $patch: ${upper(type)}Patch!) {
      update${upper(type)}(input: { rowId: $id, patch: $patch }) { ${type} { rowId } } }`;
    const { body } = await graphql(mutation, { id: key(b), patch }, tokenA);
    // Nothing A may see matches: no row comes back, and none changed.
    expect(body.data?.[`update${upper(type)}`]?.[type] ?? null).toBeNull();
    const { rows } = await rootPool().query(`select ${column}::text as value from app_public.${table} where id = $1`, [key(b)]);
    expect(rows[0].value).not.toBe("changed by A");
  });

  if (deletable) {
    test("coach A cannot delete coach B's row", async () => {
      const { body } = await graphql(
        `mutation ($id: UUID!) { delete${upper(type)}(input: { rowId: $id }) { clientMutationId } }`,
        { id: key(b) },
        tokenA,
      );
      expect(body.errors?.length).toBeGreaterThan(0);
      const { rowCount } = await rootPool().query(`select from app_public.${table} where id = $1`, [key(b)]);
      expect(rowCount).toBe(1);
    });
  }

  test("an auditor reads coach B's row but cannot update it", async () => {
    const query = `query ($id: UUID!) { ${type}(rowId: $id) { rowId } }`;
    expect((await graphql(query, { id: key(b) }, tokenAuditor)).body.data?.[type]).toEqual({ rowId: key(b) });
    const { body } = await graphql(
      `mutation ($id: UUID!, $patch: ${upper(type)}Patch!) { update${upper(type)}(input: { rowId: $id, patch: $patch }) { clientMutationId } }`,
      { id: key(b), patch },
      tokenAuditor,
    );
    expect(body.errors?.[0]?.extensions?.code).toBe("42501");
  });
});

describe("coach isolation in lists, nested relations and creation over GraphQL", () => {
  test("lists, counts and nested relations show coach A only their own rows", async () => {
    const { body } = await graphql(
      `{ clients { totalCount nodes { rowId coachingSessions { totalCount nodes { transcriptions { totalCount } } } } }
         coachingSessions { totalCount } transcriptions { totalCount } coachProfiles { totalCount } users { totalCount } }`,
      {},
      tokenA,
    );
    expect(body.data).toEqual({
      clients: { totalCount: 1, nodes: [{ rowId: a.clientId, coachingSessions: { totalCount: 1, nodes: [{ transcriptions: { totalCount: 1 } }] } }] },
      coachingSessions: { totalCount: 1 },
      transcriptions: { totalCount: 1 },
      coachProfiles: { totalCount: 1 },
      users: { totalCount: 1 },
    });
  });

  test("coach A cannot create a client, session or transcription under coach B", async () => {
    const attempts = [
      [`mutation ($id: UUID!) { createClient(input: { client: { coachProfileId: $id, fullName: "Intruder" } }) { clientMutationId } }`, b.profileId],
      [`mutation ($id: UUID!) { createCoachingSession(input: { coachingSession: { clientId: $id, title: "Intruder", recordedAt: "2026-01-01T00:00:00Z", audioObjectKey: "k", audioDurationSeconds: 1 } }) { clientMutationId } }`, b.clientId],
      [`mutation ($id: UUID!) { createTranscription(input: { transcription: { sessionId: $id, provider: "deepgram", model: "nova-2" } }) { clientMutationId } }`, b.sessionId],
    ] as const;
    for (const [mutation, id] of attempts) {
      const { body } = await graphql(mutation, { id }, tokenA);
      expect(["42501", "23503"]).toContain(body.errors?.[0]?.extensions?.code);
    }
    const { rows } = await rootPool().query(
      `select (select count(*) from app_public.clients where coach_profile_id = $1)::int as clients,
              (select count(*) from app_public.coaching_sessions where coach_profile_id = $1)::int as sessions,
              (select count(*) from app_public.transcriptions where coach_profile_id = $1)::int as transcriptions`,
      [b.profileId],
    );
    expect(rows[0]).toEqual({ clients: 1, sessions: 1, transcriptions: 1 });
  });

  test("a coach creates a client, session and transcription under their own profile without naming it", async () => {
    const created = await graphql<any>(
      `mutation { createClient(input: { client: { fullName: "New Client", email: "new.client@test.example" } }) { client { rowId coachProfileId } } }`,
      {},
      tokenA,
    );
    const newClient = created.body.data.createClient.client;
    expect(newClient.coachProfileId).toBe(a.profileId);
    const session = await graphql<any>(
      `mutation ($id: UUID!) { createCoachingSession(input: { coachingSession: { clientId: $id, title: "Intro", recordedAt: "2026-01-01T10:00:00Z", audioObjectKey: "recordings/x.m4a", audioDurationSeconds: 600 } }) { coachingSession { rowId coachProfileId } } }`,
      { id: newClient.rowId },
      tokenA,
    );
    expect(session.body.data.createCoachingSession.coachingSession.coachProfileId).toBe(a.profileId);
    // Transcribing needs the client's consent, which their coach records.
    const consent = await graphql<any>(
      `mutation ($id: UUID!, $version: String!, $sha: String!) { createConsent(input: { consent: { clientId: $id, purpose: transcription, decision: granted, wordingVersion: $version, wordingSha256: $sha } }) { consent { recordedBy } } }`,
      { id: newClient.rowId, version: CONSENT_WORDING.version, sha: CONSENT_WORDING.sha256 },
      tokenA,
    );
    expect(consent.body.data.createConsent.consent).toEqual({ recordedBy: a.user.id });
    const attempt = await graphql<any>(
      `mutation ($id: UUID!) { createTranscription(input: { transcription: { sessionId: $id, provider: "openai", model: "whisper-1" } }) { transcription { coachProfileId status requestedBy isRetranscription } } }`,
      { id: session.body.data.createCoachingSession.coachingSession.rowId },
      tokenA,
    );
    expect(attempt.body.data.createTranscription.transcription).toEqual({
      coachProfileId: a.profileId,
      status: "queued",
      requestedBy: a.user.id,
      isRetranscription: false,
    });
  });
});
