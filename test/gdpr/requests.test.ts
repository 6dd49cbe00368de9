import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Data-subject requests: deadlines (Art. 12(3)), the state machine the
// database enforces for every writer, who may file and read them, and the
// open / due-soon / overdue lists. Instants are pinned.

afterAll(closeRootPool);

async function file(client: pg.ClientBase, clientId: string, receivedAt = "2026-01-31T09:00:00Z", kind = "erasure"): Promise<string> {
  const { rows } = await client.query(
    "insert into app_public.data_subject_requests (kind, client_id, received_at) values ($1, $2, $3) returning id",
    [kind, clientId, receivedAt],
  );
  return rows[0].id;
}

async function request(client: pg.ClientBase, id: string) {
  const { rows } = await client.query(
    `select state, due_at, extension_months, extension_reason, verification, verified_by, rejection_reason, closed_at is not null as closed
     from app_public.data_subject_requests where id = $1`, [id]);
  return rows[0];
}

async function asAdmin(client: pg.ClientBase): Promise<User> {
  const admin = await createUser(client, "admin");
  await becomeUser(client, admin);
  await client.query("set local timezone = 'UTC'");
  return admin;
}

test("a request is due one month after it was received; an extension of up to two more months, with a reason, moves the deadline", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await asAdmin(client);
    const id = await file(client, coach.clientId);
    expect((await request(client, id)).due_at.toISOString()).toBe("2026-02-28T09:00:00.000Z");
    await client.query("update app_public.data_subject_requests set extension_months = 1, extension_reason = 'Hundreds of sessions to review' where id = $1", [id]);
    expect((await request(client, id)).due_at.toISOString()).toBe("2026-03-31T09:00:00.000Z");
    await client.query("update app_public.data_subject_requests set extension_months = 2, extension_reason = 'Still reviewing' where id = $1", [id]);
    expect((await request(client, id)).due_at.toISOString()).toBe("2026-04-30T09:00:00.000Z");
  }));

test("an extension over two months, one without a reason, or a shortened one is refused and nothing changes", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await asAdmin(client);
    const id = await file(client, coach.clientId);
    await client.query("update app_public.data_subject_requests set extension_months = 1, extension_reason = 'Complex request' where id = $1", [id]);
    const before = await request(client, id);
    const over = await errorOf(client, "update app_public.data_subject_requests set extension_months = 3, extension_reason = 'More' where id = $1", [id]);
    expect(over).toMatchObject({ code: "23514", message: expect.stringMatching(/data_subject_requests_extension_months_check/) });
    const noReason = await errorOf(client, "update app_public.data_subject_requests set extension_months = 2, extension_reason = null where id = $1", [id]);
    expect(noReason).toMatchObject({ code: "23514", message: expect.stringMatching(/data_subject_requests_extension_has_reason/) });
    const shorter = await errorOf(client, "update app_public.data_subject_requests set extension_months = 0, extension_reason = null where id = $1", [id]);
    expect(shorter?.message).toBe("An extension cannot be shortened (from 1 to 0 months).");
    expect(await request(client, id)).toEqual(before);
    await becomeRoot(client);
    const words = (await client.query(
      "select words from app_private.constraint_words() where constraint_name = 'data_subject_requests_extension_months_check'")).rows[0].words;
    expect(words).toMatch(/at most two months/);
  }));

test("a request moves received -> verified -> in_progress -> completed; who verified and when it closed are recorded", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await asAdmin(client);
    const id = await file(client, coach.clientId);
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'Called back on the number on file' where id = $1", [id]);
    expect(await request(client, id)).toMatchObject({ state: "verified", verified_by: admin.id, closed: false });
    await client.query("update app_public.data_subject_requests set state = 'in_progress' where id = $1", [id]);
    await client.query("update app_public.data_subject_requests set state = 'completed' where id = $1", [id]);
    expect(await request(client, id)).toMatchObject({ state: "completed", verification: "Called back on the number on file", closed: true });
    const after = await errorOf(client, "update app_public.data_subject_requests set state = 'rejected', rejection_reason = 'Late' where id = $1", [id]);
    expect(after?.message).toBe(`Request ${id} is completed and cannot change.`);
  }));

test("a step the state machine does not allow is refused for every writer, the owner too, and nothing changes", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await asAdmin(client);
    const id = await file(client, coach.clientId);
    const before = await request(client, id);
    for (const target of ["in_progress", "completed"]) {
      const refused = await errorOf(client, "update app_public.data_subject_requests set state = $2, verification = 'Passport seen' where id = $1", [id, target]);
      expect(refused).toEqual(expect.objectContaining({ code: "55000",
        message: `A request cannot go from received to ${target}; the steps are received -> verified -> in_progress -> completed, or rejected (with a reason) while open.` }));
    }
    const unverified = await errorOf(client, "update app_public.data_subject_requests set state = 'verified' where id = $1", [id]);
    expect(unverified?.message).toMatch(/data_subject_requests_verified_state/);
    const unexplained = await errorOf(client, "update app_public.data_subject_requests set state = 'rejected' where id = $1", [id]);
    expect(unexplained?.message).toMatch(/data_subject_requests_rejection_has_reason/);
    await becomeRoot(client);
    const asOwner = await errorOf(client, "update app_public.data_subject_requests set state = 'completed', verification = 'x y z' where id = $1", [id]);
    expect(asOwner?.code).toBe("55000");
    const resubject = await errorOf(client, "update app_public.data_subject_requests set kind = 'access' where id = $1", [id]);
    expect(resubject?.message).toBe("A request's kind, subject, filer and receipt cannot change; reject it and file another.");
    const backdated = await errorOf(client, "insert into app_public.data_subject_requests (kind, client_id, state) values ('access', $1, 'completed')", [coach.clientId]);
    expect(backdated?.message).toBe("A request starts received, unverified and unextended; verify, extend or reject it afterwards.");
    expect(await request(client, id)).toEqual(before);
    await client.query("update app_public.data_subject_requests set state = 'rejected', rejection_reason = 'Identity could not be verified' where id = $1", [id]);
    expect(await request(client, id)).toMatchObject({ state: "rejected", rejection_reason: "Identity could not be verified", closed: true });
  }));

test("every transition is in the audit trail, the verification sealed under the subject's key", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await asAdmin(client);
    const id = await file(client, coach.clientId);
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'ID card Q-55871 checked' where id = $1", [id]);
    await client.query("update app_public.data_subject_requests set state = 'in_progress' where id = $1", [id]);
    await becomeRoot(client);
    const { rows } = await client.query(
      `select operation, subject_id, new_values ->> 'state' as state, new_values -> 'verification' as stored,
              audit.reveal(new_values, subject_id) ->> 'verification' as verification
       from audit.events where table_name = 'data_subject_requests' and record_key = jsonb_build_object('id', $1::uuid) order by id`,
      [id],
    );
    expect(rows.map((row) => [row.operation, row.state, row.subject_id])).toEqual([
      ["INSERT", "received", coach.clientId], ["UPDATE", "verified", coach.clientId], ["UPDATE", "in_progress", coach.clientId],
    ]);
    expect(rows[1].stored).toEqual({ $pii: expect.any(String) });
    expect(JSON.stringify(rows[1].stored)).not.toMatch(/Q-55871/);
    expect(rows[1].verification).toBe("ID card Q-55871 checked");
  }));

test("a coach files for their own client only, reads only their clients' requests and changes none; an auditor reads all and files none", () =>
  withRootDb(async (client) => {
    const a = await createCoach(client, "a");
    const b = await createCoach(client, "b");
    const auditor = await createUser(client, "auditor");
    await becomeUser(client, a.user);
    const mine = await file(client, a.clientId, "2026-02-01T10:00:00Z", "access");
    expect((await client.query("select filed_by from app_public.data_subject_requests where id = $1", [mine])).rows[0].filed_by).toBe(a.user.id);
    const theirs = await errorOf(client, "insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1)", [b.clientId]);
    expect(theirs).toEqual(expect.objectContaining({ code: "42501",
      message: `There is no client ${b.clientId} of yours; a coach files requests for their own clients only.` }));
    const forUser = await errorOf(client, "insert into app_public.data_subject_requests (kind, user_id) values ('erasure', $1)", [b.user.id]);
    expect(forUser?.code).toBe("42501");
    const change = await errorOf(client, "update app_public.data_subject_requests set state = 'verified', verification = 'Me' where id = $1", [mine]);
    expect(change?.code).toBe("42501");
    await becomeUser(client, b.user);
    expect((await client.query("select count(*)::int as n from app_public.data_subject_requests where id = $1", [mine])).rows[0].n).toBe(0);
    await becomeUser(client, auditor);
    expect((await client.query("select kind from app_public.data_subject_requests where id = $1", [mine])).rows).toEqual([{ kind: "access" }]);
    expect((await errorOf(client, "insert into app_public.data_subject_requests (kind, client_id) values ('access', $1)", [a.clientId]))?.code).toBe("42501");
    await becomeRoot(client);
    expect((await client.query("select count(*)::int as n from app_public.data_subject_requests where client_id = $1", [b.clientId])).rows[0].n).toBe(0);
  }));

test("a request for an unknown subject, for nobody or for two people is refused", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await asAdmin(client);
    const unknown = await errorOf(client, "insert into app_public.data_subject_requests (kind, client_id) values ('access', gen_random_uuid())");
    expect(unknown?.code).toBe("23503");
    const nobody = await errorOf(client, "insert into app_public.data_subject_requests (kind) values ('access')");
    expect(nobody?.message).toMatch(/data_subject_requests_one_subject/);
    const two = await errorOf(client, "insert into app_public.data_subject_requests (kind, client_id, user_id) values ('access', $1, $2)", [coach.clientId, coach.user.id]);
    expect(two?.message).toMatch(/data_subject_requests_one_subject/);
    const future = await errorOf(client, "insert into app_public.data_subject_requests (kind, client_id, received_at) values ('access', $1, now() + interval '1 day')", [coach.clientId]);
    expect(future?.message).toMatch(/^A request cannot be received in the future/);
  }));

test("open, due-soon (within 7 days) and overdue lists at a pinned instant", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await asAdmin(client);
    const overdue = await file(client, coach.clientId, "2026-01-05T09:00:00Z"); // due 2026-02-05
    const dueSoon = await file(client, coach.clientId, "2026-01-15T09:00:00Z"); // due 2026-02-15
    const later = await file(client, coach.clientId, "2026-02-01T09:00:00Z"); // due 2026-03-01
    const closed = await file(client, coach.clientId, "2026-01-01T09:00:00Z");
    await client.query("update app_public.data_subject_requests set state = 'rejected', rejection_reason = 'Duplicate of another request' where id = $1", [closed]);
    const ours = [overdue, dueSoon, later, closed];
    const list = async (sql: string) =>
      (await client.query(`select id from ${sql} where id = any($1)`, [ours])).rows.map((row) => row.id);
    const asOf = "2026-02-10T00:00:00Z";
    expect(await list("app_public.open_data_subject_requests()")).toEqual([overdue, dueSoon, later]);
    expect(await list(`app_public.due_soon_data_subject_requests('${asOf}')`)).toEqual([dueSoon]);
    expect(await list(`app_public.overdue_data_subject_requests('${asOf}')`)).toEqual([overdue]);
  }));

describe("requests over GraphQL", () => {
  let coach: Coach;
  let admin: User;
  let auditor: User;
  beforeAll(async () => {
    coach = await createCoach(rootPool(), "gdpr-req-coach");
    admin = await createUser(rootPool(), "admin", "gdpr-req-admin");
    auditor = await createUser(rootPool(), "auditor", "gdpr-req-auditor");
  });
  afterAll(async () => {
    await rootPool().query("delete from app_public.data_subject_requests where client_id = $1", [coach.clientId]);
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  });

  test("a coach files for their client, an admin verifies it, a bad step is refused in words, and the overdue list shows it", async () => {
    const coachToken = await login(coach.user.email);
    const filed = await graphql(
      `mutation ($clientId: UUID!) { createDataSubjectRequest(input: { dataSubjectRequest: {
          kind: erasure, clientId: $clientId, receivedAt: "2026-03-02T08:00:00Z" } }) {
        dataSubjectRequest { rowId state dueAt filedBy subjectId } } }`,
      { clientId: coach.clientId }, coachToken);
    expect(filed.body.errors).toBeUndefined();
    const created = filed.body.data!.createDataSubjectRequest.dataSubjectRequest;
    expect(created).toEqual({ rowId: expect.any(String), state: "received", dueAt: expect.stringMatching(/^2026-04-02T08:00:00/),
      filedBy: coach.user.id, subjectId: coach.clientId });

    const adminToken = await login(admin.email);
    const skip = await graphql(
      `mutation ($id: UUID!) { updateDataSubjectRequest(input: { rowId: $id, patch: { state: completed } }) { dataSubjectRequest { state } } }`,
      { id: created.rowId }, adminToken);
    expect(skip.body.errors?.[0]?.message).toBe(
      "A request cannot go from received to completed; the steps are received -> verified -> in_progress -> completed, or rejected (with a reason) while open.");
    const tooLong = await graphql(
      `mutation ($id: UUID!) { updateDataSubjectRequest(input: { rowId: $id, patch: { extensionMonths: 3, extensionReason: "Slow" } }) { dataSubjectRequest { state } } }`,
      { id: created.rowId }, adminToken);
    expect(tooLong.body.errors?.[0]?.message).toMatch(/extensionMonths must be 0, 1 or 2/);
    const verified = await graphql(
      `mutation ($id: UUID!) { updateDataSubjectRequest(input: { rowId: $id, patch: { state: verified, verification: "Coach confirmed in person" } }) {
        dataSubjectRequest { state verifiedBy } } }`,
      { id: created.rowId }, adminToken);
    expect(verified.body.data!.updateDataSubjectRequest.dataSubjectRequest).toEqual({ state: "verified", verifiedBy: admin.id });

    const coachChange = await graphql(
      `mutation ($id: UUID!) { updateDataSubjectRequest(input: { rowId: $id, patch: { state: in_progress } }) { dataSubjectRequest { state } } }`,
      { id: created.rowId }, coachToken);
    expect(coachChange.body.errors?.length).toBeGreaterThan(0);

    const overdue = await graphql(
      `query { overdueDataSubjectRequests(asOf: "2026-04-03T00:00:00Z") { nodes { rowId state } } }`, {}, await login(auditor.email));
    expect(overdue.body.data!.overdueDataSubjectRequests.nodes).toContainEqual({ rowId: created.rowId, state: "verified" });
    const dueSoon = await graphql(
      `query { dueSoonDataSubjectRequests(asOf: "2026-03-28T00:00:00Z") { nodes { rowId } } }`, {}, coachToken);
    expect(dueSoon.body.data!.dueSoonDataSubjectRequests.nodes).toEqual([{ rowId: created.rowId }]);
  });
});
