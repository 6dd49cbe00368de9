import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { CONSENT_WORDING, createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Consent (Art. 7): append-only decisions per client and purpose; the latest
// is the state; transcribing needs an active consent for transcription.

afterAll(closeRootPool);

/** A client of the coach with a session and no consent recorded. */
async function clientWithoutConsent(client: pg.ClientBase, coach: Coach): Promise<{ clientId: string; sessionId: string }> {
  const added = await client.query(
    "insert into app_public.clients (coach_profile_id, full_name) values ($1, 'Not asked yet') returning id", [coach.profileId]);
  const session = await client.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'First session', '2026-02-01T10:00:00Z', 'recordings/new.m4a', 600) returning id`,
    [added.rows[0].id],
  );
  return { clientId: added.rows[0].id, sessionId: session.rows[0].id };
}

const record = (client: pg.ClientBase, clientId: string, decision: "granted" | "withdrawn", purpose = "transcription") =>
  client.query(
    `insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256)
     values ($1, $2, $3, $4, $5) returning id, recorded_by, recorded_at`,
    decision === "granted" ? [clientId, purpose, decision, CONSENT_WORDING.version, CONSENT_WORDING.sha256] : [clientId, purpose, decision, null, null],
  );

const transcribe = (sessionId: string, retryOf: string | null = null): [string, unknown[]] => [
  "insert into app_public.transcriptions (session_id, provider, model, retry_of) values ($1, 'deepgram', 'nova-2', $2)",
  [sessionId, retryOf],
];

test("a coach records their client's consent; who and when come from the caller and the clock; the latest decision is the state", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const fresh = await clientWithoutConsent(client, coach);
    await becomeUser(client, coach.user);
    const granted = await record(client, fresh.clientId, "granted");
    expect(granted.rows[0]).toEqual({ id: expect.any(String), recorded_by: coach.user.id, recorded_at: expect.any(Date) });
    const state = async () => (await client.query(
      "select purpose, decision, wording_version, wording_sha256 from app_public.current_consents($1) order by purpose", [fresh.clientId])).rows;
    expect(await state()).toEqual([
      { purpose: "transcription", decision: "granted", wording_version: CONSENT_WORDING.version, wording_sha256: CONSENT_WORDING.sha256 },
    ]);
    const withdrawn = await record(client, fresh.clientId, "withdrawn");
    expect(withdrawn.rows[0].recorded_at.getTime()).toBeGreaterThan(granted.rows[0].recorded_at.getTime());
    expect(await state()).toEqual([{ purpose: "transcription", decision: "withdrawn", wording_version: null, wording_sha256: null }]);
    // The history keeps both decisions, oldest first.
    const history = await client.query(
      "select decision from app_public.consents where client_id = $1 order by recorded_at", [fresh.clientId]);
    expect(history.rows.map((row) => row.decision)).toEqual(["granted", "withdrawn"]);
  }));

test("consent records are append-only for every writer, the owner included; they leave only with their client's governed hard delete", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const snapshot = async () => (await client.query("select * from app_public.consents where client_id = $1 order by id", [coach.clientId])).rows;
    const before = await snapshot();
    expect(before.length).toBe(2); // recording and transcription, from the fixture
    expect((await errorOf(client, "update app_public.consents set decision = 'withdrawn' where client_id = $1", [coach.clientId]))?.message)
      .toBe("Consent records cannot be changed: a withdrawal or a new grant is a new record.");
    expect((await errorOf(client, "delete from app_public.consents where client_id = $1", [coach.clientId]))?.message)
      .toBe("Consent records are never deleted: they prove what the client agreed to. A withdrawal is a new record (decision withdrawn).");
    expect((await errorOf(client, "truncate app_public.consents"))?.code).toBe("55000");
    for (const actor of [admin, coach.user]) {
      await becomeUser(client, actor);
      expect((await errorOf(client, "update app_public.consents set decision = 'withdrawn' where client_id = $1", [coach.clientId]))?.code).toBe("42501");
      expect((await errorOf(client, "delete from app_public.consents where client_id = $1", [coach.clientId]))?.code).toBe("42501");
      await becomeRoot(client);
    }
    expect(await snapshot()).toEqual(before);
    await client.query("select governance.hard_delete('app_public.clients', $1, 'test: a client deleted for good')", [coach.clientId]);
    expect(await snapshot()).toEqual([]);
  }));

test("a first attempt for a client who never consented is refused, naming the missing consent, and nothing is written", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const fresh = await clientWithoutConsent(client, coach);
    await becomeUser(client, coach.user);
    const refused = await errorOf(client, ...transcribe(fresh.sessionId));
    expect(refused?.code).toBe("55000");
    expect(refused?.message).toBe(
      `Cannot transcribe session ${fresh.sessionId}: client ${fresh.clientId} has no active consent for transcription (none was ever recorded).`);
    // Consent to recording alone is not consent to transcription.
    await record(client, fresh.clientId, "granted", "recording");
    expect((await errorOf(client, ...transcribe(fresh.sessionId)))?.message).toMatch(/has no active consent for transcription/);
    await becomeRoot(client);
    expect((await client.query("select count(*)::int as n from app_public.transcriptions where session_id = $1", [fresh.sessionId])).rows[0].n).toBe(0);
    expect((await client.query("select count(*)::int as n from app_private.usage_records where session_id = $1", [fresh.sessionId])).rows[0].n).toBe(0);
    // A bulk insert with one session of a client without consent is refused whole.
    const bulk = await errorOf(client,
      "insert into app_public.transcriptions (session_id, provider, model) select unnest($1::uuid[]), 'deepgram', 'nova-2'",
      [[coach.sessionId, fresh.sessionId]]);
    expect(bulk?.message).toMatch(new RegExp(`^Cannot transcribe session ${fresh.sessionId}: `));
    expect((await client.query("select count(*)::int as n from app_public.transcriptions where session_id = $1", [coach.sessionId])).rows[0].n).toBe(1);
  }));

test("after a withdrawal, new attempts and retries are refused for every writer while earlier ones stay; a new grant allows them again", () =>
  withRootDb(async (client) => {
    await client.query("set transaction isolation level repeatable read"); // the readiness count reasons about this snapshot only
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const failed = await client.query(
      "insert into app_public.transcriptions (session_id, provider, model, status) values ($1, 'deepgram', 'nova-2', 'failed') returning id",
      [coach.sessionId]);
    const withoutConsent = async () => Number((await client.query("select app_private.transcriptions_without_consent_count() as n")).rows[0].n);
    const countBefore = await withoutConsent();
    await becomeUser(client, coach.user);
    const withdrawal = await record(client, coach.clientId, "withdrawn");
    await becomeRoot(client);
    expect(await withoutConsent()).toBe(countBefore + 2); // the fixture's completed attempt and the failed one
    const message = new RegExp(`^Cannot transcribe session ${coach.sessionId}: client ${coach.clientId} has no active consent for transcription \\(withdrawn at .+\\)\\.$`);
    for (const actor of [coach.user, admin, null]) {
      if (actor) await becomeUser(client, actor); else await becomeRoot(client);
      expect((await errorOf(client, ...transcribe(coach.sessionId)))?.message).toMatch(message);
      expect((await errorOf(client, ...transcribe(coach.sessionId, failed.rows[0].id)))?.message).toMatch(message);
    }
    await becomeRoot(client);
    expect((await client.query("select count(*)::int as n from app_public.transcriptions where session_id = $1", [coach.sessionId])).rows[0].n).toBe(2);
    expect(withdrawal.rows[0].recorded_by).toBe(coach.user.id);
    await becomeUser(client, coach.user);
    await record(client, coach.clientId, "granted");
    const retried = await client.query(...transcribe(coach.sessionId, failed.rows[0].id));
    expect(retried.rowCount).toBe(1);
    await becomeRoot(client);
    expect(await withoutConsent()).toBe(countBefore);
  }));

test("bad consent input is refused in words and changes nothing: another coach's client, an unknown client, a withdrawal without a grant, a grant without wording, a bad hash", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "consent-own");
    const other = await createCoach(client, "consent-other");
    const admin = await createUser(client, "admin");
    const auditor = await createUser(client, "auditor");
    const fresh = await clientWithoutConsent(client, coach);
    const count = async () => (await client.query("select count(*)::int as n from app_public.consents where client_id = any($1)",
      [[coach.clientId, other.clientId, fresh.clientId]])).rows[0].n;
    const before = await count();
    await becomeUser(client, coach.user);
    expect(await errorOf(client, "insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256) values ($1, 'transcription', 'granted', 'v1', $2)",
      [other.clientId, CONSENT_WORDING.sha256])).toMatchObject({
      code: "42501", message: `There is no client ${other.clientId} of yours; a coach records consents for their own clients only.` });
    expect((await errorOf(client, "insert into app_public.consents (client_id, purpose, decision) values ($1, 'transcription', 'withdrawn')", [fresh.clientId]))?.message)
      .toBe(`Client ${fresh.clientId} has no active consent for transcription to withdraw (none was ever granted).`);
    await becomeUser(client, admin);
    expect((await errorOf(client, "insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256) values (gen_random_uuid(), 'transcription', 'granted', 'v1', $1)",
      [CONSENT_WORDING.sha256]))?.code).toBe("23503");
    expect((await errorOf(client, "insert into app_public.consents (client_id, purpose, decision) values ($1, 'transcription', 'granted')", [fresh.clientId]))?.message)
      .toMatch(/consents_grant_has_wording/);
    expect((await errorOf(client, "insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256) values ($1, 'transcription', 'granted', 'v1', 'ABC')",
      [fresh.clientId]))?.message).toMatch(/consents_wording_sha256_check/);
    await becomeUser(client, auditor);
    expect((await errorOf(client, "insert into app_public.consents (client_id, purpose, decision, wording_version, wording_sha256) values ($1, 'transcription', 'granted', 'v1', $2)",
      [fresh.clientId, CONSENT_WORDING.sha256]))?.code).toBe("42501");
    await becomeRoot(client);
    expect(await count()).toBe(before);
    const words = await client.query("select constraint_name from app_private.constraint_words() where table_name = 'app_public.consents'");
    expect(words.rows.map((row) => row.constraint_name)).toEqual(expect.arrayContaining([
      "consents_grant_has_wording", "consents_wording_sha256_check", "consents_wording_pair", "consents_client_id_fkey"]));
  }));

test("a coach sees only their own clients' consents; auditors and admins see all", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "consent-a");
    const other = await createCoach(client, "consent-b");
    const auditor = await createUser(client, "auditor");
    const visible = async () => (await client.query(
      "select distinct client_id from app_public.consents where client_id = any($1) order by 1", [[coach.clientId, other.clientId]])).rows.map((row) => row.client_id);
    await becomeUser(client, coach.user);
    expect(await visible()).toEqual([coach.clientId]);
    expect((await client.query("select count(*)::int as n from app_public.current_consents($1)", [other.clientId])).rows[0].n).toBe(0);
    await becomeUser(client, auditor);
    expect(await visible()).toEqual([coach.clientId, other.clientId].sort());
  }));

test("each decision is in the audit trail under the client", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await record(client, coach.clientId, "withdrawn");
    const events = await client.query(
      `select operation, subject_id, new_values ->> 'decision' as decision from audit.events
       where table_name = 'consents' and subject_id = $1 order by id`, [coach.clientId]);
    expect(events.rows).toEqual([
      { operation: "INSERT", subject_id: coach.clientId, decision: "granted" },
      { operation: "INSERT", subject_id: coach.clientId, decision: "granted" },
      { operation: "INSERT", subject_id: coach.clientId, decision: "withdrawn" },
    ]);
  }));

test("a withdrawal waits for an attempt under way, and an attempt started during a withdrawal waits for it and is refused", async () => {
  const coach = await createCoach(rootPool(), "consent-race");
  const attempt = await rootPool().connect();
  const withdrawal = await rootPool().connect();
  try {
    // An attempt under way holds the client: the withdrawal waits until it commits.
    await attempt.query("begin");
    await attempt.query(...transcribe(coach.sessionId));
    await withdrawal.query("begin");
    const { rows: [{ pid: withdrawalPid }] } = await withdrawal.query("select pg_backend_pid() as pid");
    const withdrawing = record(withdrawal, coach.clientId, "withdrawn");
    await waitUntilBlocked(rootPool(), withdrawalPid);
    await attempt.query("commit");
    await withdrawing;
    // Now the withdrawal is recorded but not committed: a new attempt waits for it, then sees it.
    await attempt.query("begin");
    const { rows: [{ pid }] } = await attempt.query("select pg_backend_pid() as pid");
    const refused = attempt.query(...transcribe(coach.sessionId)).then(() => null, (error: Error) => error.message);
    await waitUntilBlocked(rootPool(), pid);
    await withdrawal.query("commit");
    expect(await refused).toMatch(/has no active consent for transcription \(withdrawn at .+\)\.$/);
    await attempt.query("rollback");
    const { rows } = await rootPool().query("select count(*)::int as n from app_public.transcriptions where session_id = $1", [coach.sessionId]);
    expect(rows[0].n).toBe(2); // the fixture's and the one that committed before the withdrawal
  } finally {
    await attempt.query("rollback").catch(() => undefined);
    await withdrawal.query("rollback").catch(() => undefined);
    attempt.release();
    withdrawal.release();
    await deleteCoach(rootPool(), coach);
  }
});

test("a coach cannot hold another coach's client locked: the processing lock keeps to the caller's own clients", async () => {
  const mine = await createCoach(rootPool(), "consent-lock-a");
  const theirs = await createCoach(rootPool(), "consent-lock-b");
  const holder = await rootPool().connect();
  try {
    await holder.query("begin");
    await becomeUser(holder, mine.user);
    await holder.query("select app_private.lock_client_processing($1)", [theirs.clientId]);
    // The other coach's client is not locked: a lock that would wait fails at once instead.
    await expect(rootPool().query("select id from app_public.clients where id = $1 for update nowait", [theirs.clientId])).resolves.toMatchObject({ rowCount: 1 });
    // Their own client is: the consent trigger's lock still holds for its coach.
    await holder.query("select app_private.lock_client_processing($1)", [mine.clientId]);
    await expect(rootPool().query("select id from app_public.clients where id = $1 for update nowait", [mine.clientId])).rejects.toMatchObject({ code: "55P03" });
  } finally {
    await holder.query("rollback");
    holder.release();
    for (const coach of [mine, theirs]) await deleteCoach(rootPool(), coach);
  }
});

describe("consent over GraphQL", () => {
  let coach: Coach;
  let other: Coach;
  let auditor: User;
  let fresh: { clientId: string; sessionId: string };
  beforeAll(async () => {
    coach = await createCoach(rootPool(), "gdpr-consent-coach");
    other = await createCoach(rootPool(), "gdpr-consent-other");
    auditor = await createUser(rootPool(), "auditor", "gdpr-consent-auditor");
    const added = await rootPool().query(
      "insert into app_public.clients (coach_profile_id, full_name) values ($1, 'Asked over the API') returning id", [coach.profileId]);
    const session = await rootPool().query(
      `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
       values ($1, 'Intro', '2026-02-01T10:00:00Z', 'recordings/api.m4a', 600) returning id`, [added.rows[0].id]);
    fresh = { clientId: added.rows[0].id, sessionId: session.rows[0].id };
  });
  afterAll(async () => {
    await deleteCoach(rootPool(), coach);
    await deleteCoach(rootPool(), other);
    await rootPool().query("delete from app_public.users where id = $1", [auditor.id]);
  });

  const createConsent = (clientId: string, decision: string, token: string) => graphql(
    `mutation ($clientId: UUID!, $decision: ConsentDecision!, $version: String, $sha: String) {
      createConsent(input: { consent: { clientId: $clientId, purpose: transcription, decision: $decision, wordingVersion: $version, wordingSha256: $sha } }) {
        consent { purpose decision recordedBy wordingVersion } } }`,
    { clientId, decision, ...(decision === "granted" ? { version: CONSENT_WORDING.version, sha: CONSENT_WORDING.sha256 } : {}) },
    token);
  const createTranscription = (sessionId: string, token: string) => graphql(
    `mutation ($id: UUID!) { createTranscription(input: { transcription: { sessionId: $id, provider: "deepgram", model: "nova-2" } }) {
      transcription { status } } }`,
    { id: sessionId }, token);

  test("the coach's attempt is refused until they record consent; after a withdrawal it is refused again; the auditor reads state and history", async () => {
    const token = await login(coach.user.email);
    const refused = await createTranscription(fresh.sessionId, token);
    expect(refused.body.errors?.[0]).toMatchObject({
      message: `Cannot transcribe session ${fresh.sessionId}: client ${fresh.clientId} has no active consent for transcription (none was ever recorded).`,
      extensions: { code: "55000" },
    });
    const granted = await createConsent(fresh.clientId, "granted", token);
    expect(granted.body.errors).toBeUndefined();
    expect(granted.body.data!.createConsent.consent).toEqual({
      purpose: "transcription", decision: "granted", recordedBy: coach.user.id, wordingVersion: CONSENT_WORDING.version });
    const queued = await createTranscription(fresh.sessionId, token);
    expect(queued.body.data?.createTranscription.transcription).toEqual({ status: "queued" });

    const withdrawn = await createConsent(fresh.clientId, "withdrawn", token);
    expect(withdrawn.body.data!.createConsent.consent).toMatchObject({ decision: "withdrawn", wordingVersion: null });
    const again = await createTranscription(fresh.sessionId, token);
    expect(again.body.errors?.[0]?.message).toMatch(/has no active consent for transcription \(withdrawn at .+\)\.$/);

    const auditorToken = await login(auditor.email);
    const read = await graphql(
      `query ($clientId: UUID!) {
        currentConsents(clientId: $clientId) { nodes { purpose decision } }
        client(rowId: $clientId) { consents(orderBy: RECORDED_AT_ASC) { nodes { decision recordedBy } } } }`,
      { clientId: fresh.clientId }, auditorToken);
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data!.currentConsents.nodes).toEqual([{ purpose: "transcription", decision: "withdrawn" }]);
    expect(read.body.data!.client.consents.nodes).toEqual([
      { decision: "granted", recordedBy: coach.user.id },
      { decision: "withdrawn", recordedBy: coach.user.id },
    ]);
  });

  test("a coach recording for another coach's client and an auditor recording at all are refused in words", async () => {
    const foreign = await createConsent(other.clientId, "granted", await login(coach.user.email));
    expect(foreign.body.errors?.[0]).toMatchObject({
      message: `There is no client ${other.clientId} of yours; a coach records consents for their own clients only.`,
      extensions: { code: "42501" },
    });
    const byAuditor = await createConsent(other.clientId, "granted", await login(auditor.email));
    expect(byAuditor.body.errors?.[0]?.message).toBeTruthy();
    const { rows } = await rootPool().query("select count(*)::int as n from app_public.consents where client_id = $1", [other.clientId]);
    expect(rows[0].n).toBe(2); // the fixture's two grants only
  });
});
