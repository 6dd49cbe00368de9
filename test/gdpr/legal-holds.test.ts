import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Legal holds: placed and released by admins, read by auditors, invisible to
// coaches, never deleted; app_private.hold_for_subject is what erasure and
// retention ask.

afterAll(closeRootPool);

test("an admin places a hold on a coach profile; it covers the coach's clients and the coach's user until released", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    await becomeUser(client, admin);
    const { rows } = await client.query(
      `insert into app_public.legal_holds (coach_profile_id, reason) values ($1, 'Litigation 2026-17: keep all records')
       returning id, placed_by, placed_at = now() as placed_now, released_at`,
      [coach.profileId],
    );
    expect(rows[0]).toEqual({ id: expect.any(String), placed_by: admin.id, placed_now: true, released_at: null });
    await becomeRoot(client);
    const holdReason = async (subject: string) =>
      (await client.query("select (app_private.hold_for_subject($1)).reason", [subject])).rows[0].reason;
    expect(await holdReason(coach.clientId)).toBe("Litigation 2026-17: keep all records");
    expect(await holdReason(coach.user.id)).toBe("Litigation 2026-17: keep all records");
    expect(await holdReason(coach.profileId)).toBe("Litigation 2026-17: keep all records");
    expect(await holdReason(admin.id)).toBeNull();

    const refused = await errorOf(client, "select app_private.refuse_under_hold($1, 'erase')", [coach.clientId]);
    expect(refused?.code).toBe("55000");
    expect(refused?.message).toMatch(/^Cannot erase .*: legal hold .* covers them: Litigation 2026-17: keep all records$/);

    await becomeUser(client, admin);
    const released = await client.query(
      "select released_by, release_reason, released_at is not null as released from app_public.release_legal_hold($1, 'Case settled')",
      [rows[0].id],
    );
    expect(released.rows[0]).toEqual({ released_by: admin.id, release_reason: "Case settled", released: true });
    await becomeRoot(client);
    expect(await holdReason(coach.clientId)).toBeNull();
    expect(await errorOf(client, "select app_private.refuse_under_hold($1, 'erase')", [coach.clientId])).toBeNull();
  }));

test("a hold is never deleted or rewritten, by anyone: only released once, with a reason", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const { rows } = await client.query(
      "insert into app_public.legal_holds (client_id, reason) values ($1, 'Tax audit 2026') returning id", [coach.clientId]);
    const id = rows[0].id;
    const snapshot = async () => (await client.query("select * from app_public.legal_holds where id = $1", [id])).rows;
    const before = await snapshot();
    expect((await errorOf(client, "delete from app_public.legal_holds where id = $1", [id]))?.message)
      .toBe("Legal holds are never deleted; release the hold instead.");
    // A plain TRUNCATE is refused first by the erasure records' foreign key; with cascade, by the hold's own trigger.
    expect((await errorOf(client, "truncate app_public.legal_holds"))?.message).toBe("cannot truncate a table referenced in a foreign key constraint");
    expect((await errorOf(client, "truncate app_public.legal_holds cascade"))?.message).toBe("Legal holds are never deleted; release the hold instead.");
    expect((await errorOf(client, "update app_public.legal_holds set reason = 'other' where id = $1", [id]))?.message)
      .toBe("A legal hold cannot be changed, only released with a reason (releaseLegalHold).");
    expect((await errorOf(client, "update app_public.legal_holds set release_reason = null where id = $1", [id]))?.message)
      .toBe("Releasing a legal hold needs a reason.");
    expect(await snapshot()).toEqual(before);
    await client.query("select app_public.release_legal_hold($1, 'Audit closed')", [id]);
    expect((await errorOf(client, "select app_public.release_legal_hold($1, 'Again')", [id]))?.message)
      .toMatch(/^Legal hold .* was released at .*; a released hold cannot change\. Place a new hold instead\.$/);
    // The hold's record keeps its client: a client with a hold on record cannot be hard-deleted.
    expect((await errorOf(client, "select governance.hard_delete('app_public.clients', $1, 'cleanup test')", [coach.clientId]))?.code)
      .toBe("23503");
  }));

test("each hold and its release are in the audit trail", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const { rows } = await client.query(
      "insert into app_public.legal_holds (user_id, reason) values ($1, 'Regulator inquiry') returning id", [coach.user.id]);
    await client.query("select app_public.release_legal_hold($1, 'Inquiry closed')", [rows[0].id]);
    const events = await client.query(
      `select operation, new_values ->> 'reason' as reason, new_values ->> 'release_reason' as release_reason
       from audit.events where table_name = 'legal_holds' and record_key = jsonb_build_object('id', $1::uuid) order by id`,
      [rows[0].id],
    );
    expect(events.rows).toEqual([
      { operation: "INSERT", reason: "Regulator inquiry", release_reason: null },
      { operation: "UPDATE", reason: null, release_reason: "Inquiry closed" },
    ]);
  }));

test("bad holds are refused with clear words: no target, two targets, an unknown client, a short reason", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    expect((await errorOf(client, "insert into app_public.legal_holds (reason) values ('No one')"))?.code).toBe("23514");
    expect((await errorOf(client, "insert into app_public.legal_holds (client_id, user_id, reason) values ($1, $2, 'Both')",
      [coach.clientId, coach.user.id]))?.message).toMatch(/legal_holds_one_target/);
    expect((await errorOf(client, "insert into app_public.legal_holds (client_id, reason) values (gen_random_uuid(), 'Unknown')"))?.code)
      .toBe("23503");
    expect((await errorOf(client, "insert into app_public.legal_holds (client_id, reason) values ($1, ' x ')", [coach.clientId]))?.message)
      .toMatch(/legal_holds_reason_check/);
    const words = await client.query(
      `select constraint_name from app_private.constraint_words() where table_name = 'app_public.legal_holds' order by 1`);
    expect(words.rows.map((row) => row.constraint_name)).toEqual(expect.arrayContaining(["legal_holds_one_target", "legal_holds_reason_check"]));
  }));

test("auditors read holds but cannot place or release them; coaches do not see them", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const auditor = await createUser(client, "auditor");
    await client.query("insert into app_public.legal_holds (coach_profile_id, reason) values ($1, 'Dispute with the coach')", [coach.profileId]);
    await becomeUser(client, auditor);
    expect((await client.query("select count(*)::int as n from app_public.legal_holds where coach_profile_id = $1", [coach.profileId])).rows[0].n).toBe(1);
    expect((await errorOf(client, "insert into app_public.legal_holds (client_id, reason) values ($1, 'Mine')", [coach.clientId]))?.code).toBe("42501");
    expect((await errorOf(client, "select app_public.release_legal_hold(id, 'No') from app_public.legal_holds"))?.code).toBe("42501");
    await becomeUser(client, coach.user);
    expect((await errorOf(client, "select count(*) from app_public.legal_holds"))?.code).toBe("42501");
  }));

describe("legal holds over GraphQL", () => {
  let coach: Coach;
  let admin: User;
  let auditor: User;
  beforeAll(async () => {
    coach = await createCoach(rootPool(), "gdpr-hold-coach");
    admin = await createUser(rootPool(), "admin", "gdpr-hold-admin");
    auditor = await createUser(rootPool(), "auditor", "gdpr-hold-auditor");
  });
  afterAll(async () => {
    // Holds are never deleted through any door; the test's own are removed by
    // the owner with the trigger set aside.
    await rootPool().query(`begin; alter table app_public.legal_holds disable trigger _200_append_only;
      delete from app_public.legal_holds where coach_profile_id = '${coach.profileId}';
      alter table app_public.legal_holds enable trigger _200_append_only; commit;`);
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  });

  test("an admin places and releases a hold; the auditor reads both states; the auditor's release is refused", async () => {
    const adminToken = await login(admin.email);
    const placed = await graphql(
      `mutation ($id: UUID!) { createLegalHold(input: { legalHold: { coachProfileId: $id, reason: "Litigation: keep everything" } }) {
        legalHold { rowId reason placedBy releasedAt } } }`,
      { id: coach.profileId }, adminToken);
    expect(placed.body.errors).toBeUndefined();
    const hold = placed.body.data!.createLegalHold.legalHold;
    expect(hold).toEqual({ rowId: expect.any(String), reason: "Litigation: keep everything", placedBy: admin.id, releasedAt: null });

    const auditorToken = await login(auditor.email);
    const refused = await graphql(
      `mutation ($id: UUID!) { releaseLegalHold(input: { holdId: $id, reason: "Not mine to release" }) { result { rowId } } }`,
      { id: hold.rowId }, auditorToken);
    expect(refused.body.errors?.[0]?.message).toBeTruthy();

    const released = await graphql(
      `mutation ($id: UUID!) { releaseLegalHold(input: { holdId: $id, reason: "Case settled" }) { result { releaseReason releasedBy } } }`,
      { id: hold.rowId }, adminToken);
    expect(released.body.errors).toBeUndefined();
    expect(released.body.data!.releaseLegalHold.result).toEqual({ releaseReason: "Case settled", releasedBy: admin.id });

    const read = await graphql(
      `query ($id: UUID!) { legalHolds(condition: { coachProfileId: $id }) { nodes { reason releaseReason } } }`,
      { id: coach.profileId }, auditorToken);
    expect(read.body.data!.legalHolds.nodes).toEqual([{ reason: "Litigation: keep everything", releaseReason: "Case settled" }]);

    const coachRead = await graphql(`{ legalHolds { nodes { rowId } } }`, {}, await login(coach.user.email));
    expect(coachRead.body.data?.legalHolds ?? null).toBeNull();
    expect(coachRead.body.errors?.length).toBeGreaterThan(0);
  });
});
