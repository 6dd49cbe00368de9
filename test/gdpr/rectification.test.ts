import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// Rectification (Art. 16): corrections applied through a verified request;
// the old values then live only in the audit trail, sealed under the
// subject's key.

afterAll(closeRootPool);

async function rectificationRequest(client: pg.ClientBase, subject: { clientId?: string; userId?: string }, verify = true): Promise<string> {
  const { rows } = await client.query(
    "insert into app_public.data_subject_requests (kind, client_id, user_id, received_at) values ('rectification', $1, $2, '2026-02-03T09:00:00Z') returning id",
    [subject.clientId ?? null, subject.userId ?? null]);
  if (verify) {
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'Passport checked in person' where id = $1", [rows[0].id]);
  }
  return rows[0].id;
}

const OLD_NAME = "Zebediah Oldname-Wrong";
const OLD_EMAIL = "zebediah.wrong@old.example";

test("an admin applies a client's corrections through their verified request; the request completes; the old values are only in the trail, sealed", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    await client.query("update app_public.clients set full_name = $2, email = $3 where id = $1", [coach.clientId, OLD_NAME, OLD_EMAIL]);
    const requestId = await rectificationRequest(client, { clientId: coach.clientId });
    await becomeUser(client, admin);
    const { rows: [done] } = await client.query(
      "select state, closed_at is not null as closed from app_public.rectify_personal_data($1, $2)",
      [requestId, { full_name: "Zebediah Newname", email: "zeb@new.example" }]);
    expect(done).toEqual({ state: "completed", closed: true });
    await becomeRoot(client);
    expect((await client.query("select full_name, email::text from app_public.clients where id = $1", [coach.clientId])).rows[0])
      .toEqual({ full_name: "Zebediah Newname", email: "zeb@new.example" });

    // Read raw, the trail holds the old values only as sealed pii: nowhere in clear, in any event or column.
    const { rows: [event] } = await client.query(
      `select id, old_values, new_values from audit.events
       where table_name = 'clients' and subject_id = $1 and operation = 'UPDATE' order by id desc limit 1`, [coach.clientId]);
    expect(event.old_values.full_name).toEqual({ $pii: expect.stringMatching(/^[A-Za-z0-9+/=]{20,}$/) });
    expect(event.old_values.email).toEqual({ $pii: expect.stringMatching(/^[A-Za-z0-9+/=]{20,}$/) });
    const inClear = await client.query(
      `select count(*)::int as n from audit.events e
       where strpos(concat(e.old_values::text, e.new_values::text, e.details::text, e.record_key::text), $1) > 0
          or strpos(concat(e.old_values::text, e.new_values::text, e.details::text, e.record_key::text), $2) > 0`,
      [OLD_NAME, OLD_EMAIL]);
    expect(inClear.rows[0].n).toBe(0);
    // Under the subject's key: the admin reads them back; once the key is destroyed, nobody does.
    await becomeUser(client, admin);
    const revealed = await client.query(
      "select audit.reveal(old_values, subject_id) as old from audit.events where id = $1", [event.id]);
    expect(revealed.rows[0].old).toMatchObject({ full_name: OLD_NAME, email: OLD_EMAIL });
    await becomeRoot(client);
    await client.query("select audit.destroy_subject_key($1)", [coach.clientId]);
    await becomeUser(client, admin);
    const erased = await client.query("select audit.reveal(old_values, subject_id) as old from audit.events where id = $1", [event.id]);
    expect(erased.rows[0].old).toMatchObject({ full_name: { $erased: true }, email: { $erased: true } });
  }));

test("a user's rectification corrects their account's email and display name", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const requestId = await rectificationRequest(client, { userId: coach.user.id });
    await becomeUser(client, admin);
    await client.query("select app_public.rectify_personal_data($1, $2)", [requestId, { display_name: "Corrected Coach Name" }]);
    await becomeRoot(client);
    expect((await client.query("select display_name from app_public.users where id = $1", [coach.user.id])).rows[0].display_name)
      .toBe("Corrected Coach Name");
  }));

test("bad rectifications are refused in words and change nothing: unknown request, not verified, another kind, a non-personal or unknown column, a value the column refuses, a coach", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const received = await rectificationRequest(client, { clientId: coach.clientId }, false);
    const verified = await rectificationRequest(client, { clientId: coach.clientId });
    const { rows: [access] } = await client.query(
      "insert into app_public.data_subject_requests (kind, client_id) values ('access', $1) returning id", [coach.clientId]);
    const snapshot = async () => (await client.query(
      `select (select row_to_json(c) from app_public.clients c where c.id = $1) as client,
              (select json_agg(r.state order by r.id) from app_public.data_subject_requests r where r.client_id = $1) as states`,
      [coach.clientId])).rows[0];
    const before = await snapshot();
    const rectify = (requestId: string, corrections: unknown) =>
      errorOf(client, "select app_public.rectify_personal_data($1, $2)", [requestId, corrections]);
    await becomeUser(client, admin);
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect(await rectify(unknown, { full_name: "X" })).toMatchObject({ code: "P0002", message: `There is no data-subject request ${unknown}.` });
    expect(await rectify(received, { full_name: "X" })).toMatchObject({
      code: "55000", message: `Request ${received} is received; corrections are applied to a verified request that is not closed (verify it first).` });
    expect(await rectify(access.id, { full_name: "X" })).toMatchObject({
      code: "22023", message: `Request ${access.id} is an access request; corrections are applied through a rectification request.` });
    expect(await rectify(verified, { full_name: "Fine", coach_profile_id: coach.profileId })).toMatchObject({
      code: "42703", message: "coach_profile_id is not a personal column of app_public.clients: a rectification corrects only full_name, email, phone, notes." });
    expect((await rectify(verified, { fullName: "X" }))?.message)
      .toBe("fullName is not a personal column of app_public.clients: a rectification corrects only full_name, email, phone, notes.");
    expect((await rectify(verified, {}))?.code).toBe("22023");
    expect((await rectify(verified, JSON.stringify(["full_name"])))?.code).toBe("22023"); // an array, not an object
    expect((await rectify(verified, { email: "not an email" }))?.message).toMatch(/clients_email_check/);
    await becomeUser(client, coach.user);
    expect((await rectify(verified, { full_name: "By the coach" }))?.code).toBe("42501");
    await becomeRoot(client);
    expect(await snapshot()).toEqual(before);
  }));

describe("rectification over GraphQL", () => {
  let coach: Coach;
  let admin: User;
  let requestId: string;
  beforeAll(async () => {
    coach = await createCoach(rootPool(), "gdpr-rectify-coach");
    admin = await createUser(rootPool(), "admin", "gdpr-rectify-admin");
    const { rows } = await rootPool().query(
      "insert into app_public.data_subject_requests (kind, client_id) values ('rectification', $1) returning id", [coach.clientId]);
    requestId = rows[0].id;
    await rootPool().query("update app_public.data_subject_requests set state = 'verified', verification = 'Email from known address' where id = $1", [requestId]);
  });
  afterAll(async () => {
    await rootPool().query("delete from app_public.data_subject_requests where client_id = $1", [coach.clientId]);
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  });

  test("a correction of a non-personal column is refused in words; the admin's correction applies and completes the request", async () => {
    const token = await login(admin.email);
    const rectify = (corrections: unknown) => graphql(
      `mutation ($id: UUID!, $corrections: JSON!) { rectifyPersonalData(input: { requestId: $id, corrections: $corrections }) { result { state } } }`,
      { id: requestId, corrections }, token);
    const refused = await rectify({ created_at: "2020-01-01T00:00:00Z" });
    expect(refused.body.errors?.[0]).toMatchObject({
      message: "created_at is not a personal column of app_public.clients: a rectification corrects only full_name, email, phone, notes.",
      extensions: { code: "42703" },
    });
    const applied = await rectify({ phone: "+44 20 7946 0000" });
    expect(applied.body.errors).toBeUndefined();
    expect(applied.body.data!.rectifyPersonalData.result).toEqual({ state: "completed" });
    const { rows } = await rootPool().query("select phone from app_public.clients where id = $1", [coach.clientId]);
    expect(rows[0].phone).toBe("+44 20 7946 0000");
  });
});
