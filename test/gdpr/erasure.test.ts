import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach, createUser } from "../support/fixtures.ts";
import { holdOffInspectionCopiesWhileThisFileRuns, plantClient, residuePlaces, verifiedErasureRequest } from "../support/gdpr.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// Erasure by anonymization (GDPR Art. 17) through SQL, as each role: what it
// blanks, what it keeps, what it records, what it refuses.

afterAll(closeRootPool);

const auditSnapshot = async (client: pg.ClientBase) =>
  (await client.query("select id, md5(e::text) as hash from audit.events e order by id")).rows as Array<{ id: string; hash: string }>;

test("an erasure blanks every personal value of the client's rows, soft-deleted ones included, and records only counts", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    expect(await residuePlaces(client, planted.identifiers, planted.contents)).toEqual([
      "app_public.clients.email ×1", "app_public.clients.full_name ×1", "app_public.clients.notes ×1", "app_public.clients.phone ×1",
      "app_public.coaching_sessions.title ×2", "app_public.transcriptions.error_message ×1", "app_public.transcriptions.transcript_text ×1",
      // The inserts' new values and the rename's old values, decrypted with the client's key.
      "audit.events.new_values ×6", "audit.events.old_values ×1",
    ]);
    const admin = await createUser(client, "admin");
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    await becomeUser(client, admin);
    const { rows: [erasure] } = await client.query("select * from app_public.erase_data_subject($1)", [requestId]);
    expect(erasure).toMatchObject({
      request_id: requestId, subject_id: planted.clientId, erased_by: admin.id,
      rows_by_table: { "app_public.clients": 1, "app_public.coaching_sessions": 2, "app_public.transcriptions": 2 },
      rows_erased: 5, values_searched: 8, values_shared_skipped: 0, residue_count: 0, override_reason: null, overridden_hold_id: null,
    });
    await becomeRoot(client);
    expect(await residuePlaces(client, planted.identifiers, planted.contents)).toEqual([]);

    const person = await client.query("select full_name, email, phone, notes, is_deleted from app_public.clients where id = $1", [planted.clientId]);
    expect(person.rows).toEqual([{ full_name: "erased", email: null, phone: null, notes: null, is_deleted: false }]);
    const sessions = await client.query(
      `select s.title, s.is_deleted, t.status, t.transcript_text, t.error_message, t.billed_duration_seconds
       from app_public.coaching_sessions s join app_public.transcriptions t on t.session_id = s.id
       where s.client_id = $1 order by s.is_deleted`, [planted.clientId]);
    expect(sessions.rows).toEqual([
      { title: "erased", is_deleted: false, status: "completed", transcript_text: null, error_message: null, billed_duration_seconds: 1200 },
      { title: "erased", is_deleted: true, status: "failed", transcript_text: null, error_message: null, billed_duration_seconds: null },
    ]);
    const request = await client.query("select state, closed_at is not null as closed from app_public.data_subject_requests where id = $1", [requestId]);
    expect(request.rows).toEqual([{ state: "completed", closed: true }]);
    // The record holds counts, never a former value.
    const record = await client.query("select e::text as text from app_public.data_subject_erasures e where request_id = $1", [requestId]);
    for (const value of [...planted.identifiers, ...planted.contents]) expect(record.rows[0].text).not.toContain(value);
  }));

test("the audit trail keeps every row as it was, and the client's pii in it reads as erased", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    const before = await auditSnapshot(client);
    const history = async () => (await client.query(
      `select e.id, audit.reveal(e.old_values, coalesce(e.old_subject_id, e.subject_id), e.owner_id) ->> 'full_name' as old_name,
              audit.reveal(e.new_values, e.subject_id, e.owner_id) -> 'full_name' as new_name
       from audit.events e where e.table_name = 'clients' and e.record_key = jsonb_build_object('id', $1::uuid) order by e.id`,
      [planted.clientId])).rows;
    expect((await history()).slice(0, 2)).toEqual([
      { id: expect.any(String), old_name: null, new_name: planted.formerName },
      { id: expect.any(String), old_name: planted.formerName, new_name: planted.identifiers[0] },
    ]);
    await client.query("select app_public.erase_data_subject($1)", [requestId]);
    // Every event there before is there after, unchanged (other files' events may commit meanwhile, with any id).
    const after = new Map((await auditSnapshot(client)).map((event) => [event.id, event.hash]));
    expect(before.filter((event) => after.get(event.id) !== event.hash)).toEqual([]);
    const erased = await history();
    expect(erased).toHaveLength(3); // the insert, the rename and the erasure's own update
    for (const event of erased) expect(event.new_name).toEqual({ $erased: true });
    const key = await client.query("select key is null as gone, destroyed_at is not null as destroyed from app_private.audit_subject_keys where subject_id = $1", [planted.clientId]);
    expect(key.rows).toEqual([{ gone: true, destroyed: true }]);
  }));

test("coaches and auditors cannot erase; nor can anyone run the residue scan but an admin", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const auditor = await createUser(client, "auditor");
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    for (const actor of [planted.coach.user, auditor]) {
      await becomeUser(client, actor);
      expect((await errorOf(client, "select app_public.erase_data_subject($1)", [requestId]))?.code).toBe("42501");
      expect((await errorOf(client, "select * from governance.residue_scan($1, '{}')", [planted.identifiers]))?.code).toBe("42501");
    }
    await becomeRoot(client);
    expect((await client.query("select state from app_public.data_subject_requests where id = $1", [requestId])).rows[0].state).toBe("verified");
  }));

test("a request that is not verified, not an erasure, unknown or already completed is refused with clear words, and nothing changes", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const admin = await createUser(client, "admin");
    const received = (await client.query("insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1) returning id", [planted.clientId])).rows[0].id;
    const access = (await client.query("insert into app_public.data_subject_requests (kind, client_id) values ('access', $1) returning id", [planted.clientId])).rows[0].id;
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'Passport seen' where id = $1", [access]);
    await becomeUser(client, admin);
    const erase = (id: string, override: string | null = null) => errorOf(client, "select app_public.erase_data_subject($1, $2)", [id, override]);
    expect(await erase(received)).toMatchObject({ code: "55000",
      message: `Request ${received} is received; only a verified (or in-progress) erasure request is run (verify the requester's identity first; a completed or rejected request stays as it is).` });
    expect(await erase(access)).toMatchObject({ code: "22023", message: `Request ${access} asks for access, not erasure; only an erasure request erases.` });
    expect(await erase("00000000-0000-4000-8000-000000000000")).toMatchObject({ code: "P0002",
      message: "There is no data-subject request 00000000-0000-4000-8000-000000000000." });
    await becomeRoot(client);
    const verified = await verifiedErasureRequest(client, planted.clientId);
    await becomeUser(client, admin);
    expect(await erase(verified, "Not under any hold")).toMatchObject({ code: "22023",
      message: `No legal hold covers ${planted.clientId}; an override reason is for erasing under a hold.` });
    expect((await client.query("select full_name from app_public.clients where id = $1", [planted.clientId])).rows[0].full_name).toBe(planted.identifiers[0]);
    expect(await erase(verified)).toBeNull();
    expect((await erase(verified))?.message).toBe(`Request ${verified} is completed; only a verified (or in-progress) erasure request is run (verify the requester's identity first; a completed or rejected request stays as it is).`);
  }));

test("a request marked in progress by hand still erases; its coach reads the erasure's record, another coach does not", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const otherCoach = await createCoach(client, "erasure-other");
    const admin = await createUser(client, "admin");
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    await client.query("update app_public.data_subject_requests set state = 'in_progress' where id = $1", [requestId]);
    await becomeUser(client, admin);
    const { rows: [erased] } = await client.query("select * from app_public.erase_data_subject($1)", [requestId]);
    expect(erased).toMatchObject({ request_id: requestId, residue_count: 0 });
    await becomeUser(client, planted.coach.user);
    expect((await client.query("select request_id, residue_count from app_public.data_subject_erasures")).rows)
      .toEqual([{ request_id: requestId, residue_count: 0 }]);
    await becomeUser(client, otherCoach.user);
    expect((await client.query("select count(*)::int as n from app_public.data_subject_erasures")).rows[0].n).toBe(0);
  }));

test("a legal hold refuses the erasure with its reason; an admin's override erases and is recorded in the audit trail", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const admin = await createUser(client, "admin");
    const hold = (await client.query("insert into app_public.legal_holds (coach_profile_id, reason) values ($1, 'Litigation 2026-88: keep all records') returning id",
      [planted.coach.profileId])).rows[0].id;
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    await becomeUser(client, admin);
    const refused = await errorOf(client, "select app_public.erase_data_subject($1)", [requestId]);
    expect(refused?.code).toBe("55000");
    expect(refused?.message).toMatch(new RegExp(`^Cannot erase ${planted.clientId}: legal hold ${hold} placed at .* covers them: Litigation 2026-88: keep all records$`));
    expect((await client.query("select state from app_public.data_subject_requests where id = $1", [requestId])).rows[0].state).toBe("verified");
    expect((await errorOf(client, "select app_public.erase_data_subject($1, ' x ')", [requestId]))?.message).toMatch(/data_subject_erasures_override_reason_check/);

    const { rows: [erasure] } = await client.query(
      "select override_reason, overridden_hold_id, erased_by from app_public.erase_data_subject($1, 'Court order 12/2026 orders erasure despite the hold')", [requestId]);
    expect(erasure).toEqual({ override_reason: "Court order 12/2026 orders erasure despite the hold", overridden_hold_id: hold, erased_by: admin.id });
    await becomeRoot(client);
    const audited = await client.query(
      `select e.operation, e.new_values ->> 'override_reason' as reason, e.new_values ->> 'erased_by' as erased_by
       from audit.events e where e.table_name = 'data_subject_erasures' and e.new_values ->> 'request_id' = $1`, [requestId]);
    expect(audited.rows).toEqual([{ operation: "INSERT", reason: "Court order 12/2026 orders erasure despite the hold", erased_by: admin.id }]);
    // The hold itself stays active: the override is for this erasure only.
    expect((await client.query("select released_at from app_public.legal_holds where id = $1", [hold])).rows[0].released_at).toBeNull();
  }));

test("residue left in another person's record refuses the erasure, naming the place; nothing changes until it is rectified", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const other = await createCoach(client, "other-coach");
    await client.query("update app_public.clients set notes = $2 where id = $1", [other.clientId, `Referred by ${planted.identifiers[0]}.`]);
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    const refused = await errorOf(client, "select app_public.erase_data_subject($1)", [requestId]);
    expect(refused?.code).toBe("55000");
    expect(refused?.message).toBe(
      `Erasure of ${planted.clientId} refused: their former values can still be read in 2 place(s): ` +
      `app_public.clients.notes {"id": "${other.clientId}"}; audit.events.new_values {"id": ${(await client.query(
        "select max(id) as id from audit.events where table_name = 'clients' and record_key = jsonb_build_object('id', $1::uuid)", [other.clientId])).rows[0].id}}`);
    expect((await client.query("select full_name from app_public.clients where id = $1", [planted.clientId])).rows[0].full_name).toBe(planted.identifiers[0]);
    expect((await client.query("select key is not null as kept from app_private.audit_subject_keys where subject_id = $1", [planted.clientId])).rows[0].kept).toBe(true);
    // Rectified (the other client's history is sealed under their own key, which stays): the note goes, the audit copy stays readable to staff.
    await client.query("update app_public.clients set notes = 'Referred by a former client.' where id = $1", [other.clientId]);
    expect((await errorOf(client, "select app_public.erase_data_subject($1)", [requestId]))?.message).toMatch(/in 2 place\(s\): .*audit\.events\.(new|old)_values/);
  }));

test("a value other people's rows hold too (a template note, a common title) is blanked but not searched for", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    await client.query("update app_public.clients set notes = 'Prefers morning sessions.' where id = $1", [planted.clientId]);
    await client.query("update app_public.clients set notes = 'Prefers morning sessions.' where id = $1", [planted.coach.clientId]);
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    const { rows: [erasure] } = await client.query("select values_searched, values_shared_skipped, residue_count from app_public.erase_data_subject($1)", [requestId]);
    expect(erasure).toEqual({ values_searched: 7, values_shared_skipped: 1, residue_count: 0 });
    expect((await client.query("select notes from app_public.clients where id = $1", [planted.clientId])).rows[0].notes).toBeNull();
    expect((await client.query("select notes from app_public.clients where id = $1", [planted.coach.clientId])).rows[0].notes).toBe("Prefers morning sessions.");
  }));

test("a coach's user account is erased too: account, profile and sign-in attempts, with a random unique address", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "erased-coach");
    await client.query("update app_public.users set display_name = 'Planted Coachname' where id = $1", [coach.user.id]);
    await client.query("update app_public.coach_profiles set display_name = 'Planted Coachname', bio = 'Planted bio of a coach who left' where id = $1", [coach.profileId]);
    await client.query("insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome) values ($1, $2, $2, 'wrong_password')",
      [coach.user.email, coach.user.id]);
    const { rows: [filed] } = await client.query("insert into app_public.data_subject_requests (kind, user_id) values ('erasure', $1) returning id", [coach.user.id]);
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'Signed letter' where id = $1", [filed.id]);
    const { rows: [erasure] } = await client.query("select rows_by_table from app_public.erase_data_subject($1)", [filed.id]);
    expect(erasure.rows_by_table).toEqual({ "app_public.users": 1, "app_public.coach_profiles": 1, "app_private.sign_in_attempts": 1 });
    const attempts = await client.query("select email::text from app_private.sign_in_attempts where subject_id = $1", [coach.user.id]);
    expect(attempts.rows).toEqual([{ email: "erased" }]);
    const account = await client.query(
      "select u.email::text ~ '^erased-[0-9a-f-]{36}@erased\\.invalid$' as random_email, u.display_name, p.display_name as profile_name, p.bio from app_public.users u join app_public.coach_profiles p on p.user_id = u.id where u.id = $1",
      [coach.user.id]);
    expect(account.rows).toEqual([{ random_email: true, display_name: "erased", profile_name: "erased", bio: null }]);
    expect(await residuePlaces(client, [coach.user.email, "Planted Coachname"], ["Planted bio of a coach who left"])).toEqual([]);
  }));

test("an erasure's record is never changed or deleted, by any writer, the owner included", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    await client.query("select app_public.erase_data_subject($1)", [requestId]);
    const words = "An erasure's record is the proof that it happened; it is never changed or deleted.";
    expect((await errorOf(client, "update app_public.data_subject_erasures set rows_erased = 0 where request_id = $1", [requestId]))?.message).toBe(words);
    expect((await errorOf(client, "delete from app_public.data_subject_erasures where request_id = $1", [requestId]))?.message).toBe(words);
    // Erasure runs name their records: a plain TRUNCATE is refused for that first, one that cascades by the trigger.
    expect((await errorOf(client, "truncate app_public.data_subject_erasures"))?.message).toBe("cannot truncate a table referenced in a foreign key constraint");
    expect((await errorOf(client, "truncate app_public.data_subject_erasures cascade"))?.message).toBe(words);
    expect((await client.query("select rows_erased from app_public.data_subject_erasures where request_id = $1", [requestId])).rows[0].rows_erased).toBe(5);
  }));
