import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach, createUser, testPlanId } from "../support/fixtures.ts";
import { createTree } from "./tree.ts";

afterAll(closeRootPool);

const countTree = async (client: import("pg").ClientBase, profileId: string) =>
  (await client.query(
    `select (select count(*) from app_public.clients where coach_profile_id = $1)::int as clients,
            (select count(*) from app_public.coaching_sessions where coach_profile_id = $1)::int as sessions,
            (select count(*) from app_public.transcriptions where coach_profile_id = $1)::int as transcriptions`,
    [profileId],
  )).rows[0];

describe("the governed hard delete", () => {
  test("removes a row and its cascade for good, records the reason, and marks each audit event HARD_DELETE with it", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const { rows: [deletion] } = await client.query(
        "select governance.hard_delete('app_public.clients', $1, 'GDPR erasure request 42') as id", [tree.coach.clientId]);
      expect(await countTree(client, tree.coach.profileId)).toEqual({ clients: 1, sessions: 2, transcriptions: 4 });
      const { rows: [recorded] } = await client.query("select table_schema, table_name, row_id, reason from governance.hard_deletions where id = $1", [deletion.id]);
      expect(recorded).toEqual({ table_schema: "app_public", table_name: "clients", row_id: tree.coach.clientId, reason: "GDPR erasure request 42" });
      const { rows: events } = await client.query(
        `select table_name, count(*)::int as n,
                bool_and(details = jsonb_build_object('reason', 'GDPR erasure request 42', 'hard_deletion_id', $1::bigint)) as details
         from audit.events
         where operation = 'HARD_DELETE' and transaction_id = pg_current_xact_id() group by table_name order by table_name`,
        [deletion.id]);
      const details = true;
      expect(events).toEqual([
        { table_name: "clients", n: 1, details },
        { table_name: "coaching_sessions", n: 2, details },
        { table_name: "transcriptions", n: 4, details },
      ]);
    }));

  test("also removes rows that were soft-deleted first", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await client.query("delete from app_public.coach_profiles where id = $1", [tree.coach.profileId]);
      await client.query("select governance.hard_delete('app_public.coach_profiles', $1, 'retention: 7 years')", [tree.coach.profileId]);
      expect(await countTree(client, tree.coach.profileId)).toEqual({ clients: 0, sessions: 0, transcriptions: 0 });
      expect((await client.query("select count(*)::int as n from app_public.coach_profiles where id = $1", [tree.coach.profileId])).rows[0].n).toBe(0);
    }));

  test("needs a reason and an existing row; a failed call leaves no record", () =>
    withRootDb(async (client) => {
      const coach = await createCoach(client);
      const noReason = await errorOf(client, "select governance.hard_delete('app_public.clients', $1, '  ')", [coach.clientId]);
      expect(noReason).toMatchObject({ code: "22023", message: "A hard delete needs a reason (at least 3 characters)." });
      const missing = "00000000-0000-4000-8000-000000000000";
      const unknown = await errorOf(client, "select governance.hard_delete('app_public.clients', $1, 'cleanup')", [missing]);
      expect(unknown).toMatchObject({ code: "P0002", message: `No client with id ${missing}.` });
      expect((await client.query("select count(*)::int as n from governance.hard_deletions where row_id = $1", [missing])).rows[0].n).toBe(0);
      const notSoft = await errorOf(client, "select governance.hard_delete('app_public.users', $1, 'cleanup')", [coach.user.id]);
      expect(notSoft?.code).toBe("55000");
    }));

  test("of several rows at once: one DELETE, a record per row with the reason, every audit event HARD_DELETE with it; all or nothing", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const reason = "Retention policy soft_deleted_clients: past its period";
      const { rows: [result] } = await client.query("select governance.hard_delete_rows('app_public.clients', $1, $2) as n", [tree.clients, reason]);
      expect(result.n).toBe("2");
      expect(await countTree(client, tree.coach.profileId)).toEqual({ clients: 0, sessions: 0, transcriptions: 0 });
      const { rows: recorded } = await client.query(
        `select table_name, row_id, reason from governance.hard_deletions where transaction_id = pg_current_xact_id() order by id`);
      expect(recorded).toEqual(tree.clients.map((row_id) => ({ table_name: "clients", row_id, reason })));
      const { rows: events } = await client.query(
        `select table_name, count(*)::int as n, count(distinct details)::int as distinct_details,
                bool_and(details ->> 'reason' = $1
                  and (details ->> 'hard_deletion_id')::bigint = (select min(id) from governance.hard_deletions where transaction_id = pg_current_xact_id())) as details
         from audit.events where operation = 'HARD_DELETE' and transaction_id = pg_current_xact_id() group by table_name order by table_name`,
        [reason]);
      expect(events).toEqual([
        { table_name: "clients", n: 2, distinct_details: 1, details: true },
        { table_name: "coaching_sessions", n: 4, distinct_details: 1, details: true },
        { table_name: "transcriptions", n: 8, distinct_details: 1, details: true },
      ]);
    }));

  test("of several rows refuses a missing row, a repeated one, no reason, or a table without soft delete, and writes nothing", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const missing = "00000000-0000-4000-8000-000000000000";
      const absent = await errorOf(client, "select governance.hard_delete_rows('app_public.clients', $1, 'cleanup')", [[tree.clients[0], missing]]);
      expect(absent).toMatchObject({ code: "P0002", message: "Only 1 of the 2 client rows to hard-delete exist; nothing was deleted." });
      const repeated = await errorOf(client, "select governance.hard_delete_rows('app_public.clients', $1, 'cleanup')", [[tree.clients[0], tree.clients[0]]]);
      expect(repeated).toMatchObject({ code: "22023", message: "A hard delete of several rows needs distinct row ids, none null." });
      const noReason = await errorOf(client, "select governance.hard_delete_rows('app_public.clients', $1, ' ')", [tree.clients]);
      expect(noReason).toMatchObject({ code: "22023", message: "A hard delete needs a reason (at least 3 characters)." });
      const notSoft = await errorOf(client, "select governance.hard_delete_rows('app_public.users', $1, 'cleanup')", [[tree.coach.user.id]]);
      expect(notSoft?.code).toBe("55000");
      expect(await countTree(client, tree.coach.profileId)).toEqual({ clients: 2, sessions: 4, transcriptions: 8 });
      expect((await client.query("select count(*)::int as n from governance.hard_deletions where transaction_id = pg_current_xact_id()")).rows[0].n).toBe(0);
      const coach = await createCoach(client);
      await becomeUser(client, coach.user);
      expect((await errorOf(client, "select governance.hard_delete_rows('app_public.clients', $1, 'because')", [[coach.clientId]]))?.code).toBe("42501");
    }));

  test("cannot be called by coaches or admins, and a forged setting does not make a plain DELETE hard", () =>
    withRootDb(async (client) => {
      const coach = await createCoach(client);
      const admin = await createUser(client, "admin");
      // A real hard deletion id, from a transaction that is over.
      const { rows: [old] } = await client.query(
        "insert into governance.hard_deletions (table_schema, table_name, row_id, reason, transaction_id) values ('app_public', 'clients', 'x', 'old', '1') returning id");
      for (const user of [coach.user, admin]) {
        await becomeUser(client, user);
        const refused = await errorOf(client, "select governance.hard_delete('app_public.clients', $1, 'because')", [coach.clientId]);
        expect(refused?.code).toBe("42501");
        await client.query("select set_config('governance.hard_deletion_id', $1, true)", [String(old.id)]);
        await client.query("delete from app_public.clients where id = $1", [coach.clientId]);
        await becomeRoot(client);
        const { rows } = await client.query("select is_deleted from app_public.clients where id = $1", [coach.clientId]);
        expect(rows).toEqual([{ is_deleted: true }]);
        await client.query("update app_public.clients set is_deleted = false where id = $1", [coach.clientId]);
      }
      await client.query("select set_config('governance.hard_deletion_id', $1, true)", [String(old.id)]);
      await client.query("delete from app_public.clients where id = $1", [coach.clientId]);
      expect((await client.query("select is_deleted from app_public.clients where id = $1", [coach.clientId])).rows).toEqual([{ is_deleted: true }]);
    }));
});

describe("integrity around deleted rows", () => {
  test("no new row may reference a deleted parent, in any of the three child tables", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await client.query("delete from app_public.coaching_sessions where id = $1", [tree.coach.sessionId]);
      const transcription = await errorOf(client,
        "insert into app_public.transcriptions (session_id, provider, model) values ($1, 'deepgram', 'nova-2')", [tree.coach.sessionId]);
      expect(transcription).toMatchObject({ code: "23503", message: `The coaching session ${tree.coach.sessionId} is deleted; restore it first.` });

      await client.query("delete from app_public.clients where id = $1", [tree.coach.clientId]);
      const session = await errorOf(client,
        `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
         values ($1, 'New', now(), 'k', 60)`, [tree.coach.clientId]);
      expect(session).toMatchObject({ code: "23503", message: `The client ${tree.coach.clientId} is deleted; restore it first.` });
      const moved = await errorOf(client, "update app_public.coaching_sessions set client_id = $1 where id = $2", [tree.coach.clientId, tree.sessions[2]]);
      expect(moved?.code).toBe("23503");

      await client.query("delete from app_public.coach_profiles where id = $1", [tree.coach.profileId]);
      const newClient = await errorOf(client,
        "insert into app_public.clients (coach_profile_id, full_name) values ($1, 'New')", [tree.coach.profileId]);
      expect(newClient).toMatchObject({ code: "23503", message: `The coach profile ${tree.coach.profileId} is deleted; restore it first.` });
    }));

  test("a coach adds a client again with the email of one they deleted; two live ones still collide", () =>
    withRootDb(async (client) => {
      const coach = await createCoach(client);
      await becomeUser(client, coach.user);
      await client.query("insert into app_public.clients (full_name, email) values ('Ann', 'ann@test.example')");
      await client.query("delete from app_public.clients where email = 'ann@test.example'");
      await client.query("insert into app_public.clients (full_name, email) values ('Ann again', 'ann@test.example')");
      const duplicate = await errorOf(client, "insert into app_public.clients (full_name, email) values ('Ann twice', 'ann@test.example')");
      expect(duplicate?.code).toBe("23505");
      await becomeRoot(client);
      const restore = await errorOf(client,
        "select governance.restore('app_public.clients', (select id::text from app_public.clients where full_name = 'Ann'))");
      expect(restore?.code).toBe("23505");
    }));

  test("a coach whose profile was deleted may start a new one", () =>
    withRootDb(async (client) => {
      const coach = await createCoach(client);
      await client.query("delete from app_public.coach_profiles where id = $1", [coach.profileId]);
      // The shared test plan: any other plan may be deleted meanwhile by another test file.
      const planId = await testPlanId(client);
      await becomeUser(client, coach.user);
      expect((await client.query("select app_private.current_coach_profile_id() as id")).rows[0].id).toBeNull();
      const { rows } = await client.query(
        "insert into app_public.coach_profiles (display_name, plan_id) values ('Fresh start', $1) returning id", [planId]);
      expect((await client.query("select app_private.current_coach_profile_id() as id")).rows[0].id).toBe(rows[0].id);
    }));

  test("the lint lists no unique constraint over deleted rows, and would list one", () =>
    withRootDb(async (client) => {
      expect((await client.query("select * from governance.unique_constraints_over_deleted_rows()")).rows).toEqual([]);
      await client.query("create unique index clients_phone_key on app_public.clients (phone)");
      await client.query("create unique index clients_notes_live_key on app_public.clients (notes) where not is_deleted");
      const { rows } = await client.query("select table_name::text, index_name::text from governance.unique_constraints_over_deleted_rows()");
      expect(rows).toEqual([{ table_name: "app_public.clients", index_name: "app_public.clients_phone_key" }]);
    }));
});

describe("enabling soft delete", () => {
  test("names the problem with a table it cannot govern", () =>
    withRootDb(async (client) => {
      await client.query("set local role custodian_owner");
      await client.query("create table app_private.no_key (note text)");
      await client.query("create table app_private.pair (a int, b int, owner uuid, primary key (a, b))");
      expect(await errorOf(client, "select governance.enable_soft_delete('app_private.no_key', 'note')"))
        .toMatchObject({ code: "55000", message: "Table app_private.no_key needs a one-column primary key for soft delete." });
      expect((await errorOf(client, "select governance.enable_soft_delete('app_private.pair', 'owner')"))?.code).toBe("55000");
      const missing = await errorOf(client, "select governance.enable_soft_delete('app_public.clients', 'nobody')");
      expect(missing).toMatchObject({ code: "42703", message: "Table app_public.clients has no column nobody." });
      expect((await errorOf(client, "select governance.enable_soft_delete('app_private.nowhere', 'x')"))?.code).toBe("42P01");
    }));

  test("is idempotent, and cascades along a new pair of tables", () =>
    withRootDb(async (client) => {
      // Tables of the test's own, so that no other test waits on their locks.
      await client.query("set local role custodian_owner");
      await client.query("create table app_private.folders (id uuid primary key default gen_random_uuid(), owner_id uuid)");
      await client.query(`create table app_private.notes (
        id uuid primary key default gen_random_uuid(),
        owner_id uuid,
        folder_id uuid not null references app_private.folders on delete cascade,
        body text)`);
      await client.query("select governance.enable_soft_delete('app_private.folders', 'owner_id', 'folder')");
      await client.query("select governance.enable_soft_delete('app_private.notes', 'owner_id')");
      await client.query("select governance.enable_soft_delete('app_private.notes', 'owner_id')");
      const { rows: [folder] } = await client.query("insert into app_private.folders default values returning id");
      await client.query("insert into app_private.notes (folder_id, body) select $1, 'note ' || n from generate_series(1, 3) n", [folder.id]);
      await client.query("delete from app_private.folders where id = $1", [folder.id]);
      const deleted = await client.query(
        "select n.is_deleted, n.deletion_batch_id = f.deletion_batch_id as same_batch from app_private.notes n join app_private.folders f on f.id = n.folder_id");
      expect(deleted.rows).toEqual(Array(3).fill({ is_deleted: true, same_batch: true }));
      const orphan = await errorOf(client, "insert into app_private.notes (folder_id) values ($1)", [folder.id]);
      expect(orphan).toMatchObject({ code: "23503", message: `The folder ${folder.id} is deleted; restore it first.` });
      await client.query("select governance.restore('app_private.folders', $1)", [folder.id]);
      expect((await client.query("select count(*)::int as n from app_private.notes where is_deleted")).rows[0].n).toBe(0);
    }));
});

describe("the audit trail", () => {
  test("records each row of a cascade as SOFT_DELETE with the batch and the deleter, and its restore as RESTORE", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await becomeUser(client, tree.coach.user);
      await client.query("select app_public.delete_client($1)", [tree.coach.clientId]);
      await client.query("select app_public.restore_client($1)", [tree.coach.clientId]);
      await becomeRoot(client);
      const { rows } = await client.query(
        `select e.operation::text, e.table_name, count(*)::int as n, count(distinct e.details ->> 'batch_id')::int as batches,
                bool_and(coalesce(e.new_values ->> 'deleted_by', e.old_values ->> 'deleted_by') = $1) as by_coach
         from audit.events e
         where e.transaction_id = pg_current_xact_id() and e.operation in ('SOFT_DELETE', 'RESTORE')
         group by 1, 2 order by 1 desc, 2`,
        [tree.coach.user.id],
      );
      expect(rows).toEqual([
        { operation: "SOFT_DELETE", table_name: "clients", n: 1, batches: 1, by_coach: true },
        { operation: "SOFT_DELETE", table_name: "coaching_sessions", n: 2, batches: 1, by_coach: true },
        { operation: "SOFT_DELETE", table_name: "transcriptions", n: 4, batches: 1, by_coach: true },
        { operation: "RESTORE", table_name: "clients", n: 1, batches: 1, by_coach: true },
        { operation: "RESTORE", table_name: "coaching_sessions", n: 2, batches: 1, by_coach: true },
        { operation: "RESTORE", table_name: "transcriptions", n: 4, batches: 1, by_coach: true },
      ]);
    }));

  test("an event's details are sealed with it, and events without details hash as they always did", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await client.query("select governance.hard_delete('app_public.clients', $1, 'erasure')", [tree.coach.clientId]);
      const { rows } = await client.query(
        `select audit.event_digest(e) = audit.event_digest(jsonb_populate_record(e, '{"details": {"reason": "forged"}}')) as same_when_forged,
                audit.event_digest(jsonb_populate_record(e, '{"details": null}')) = public.digest(jsonb_build_array(
                  e.id, extract(epoch from e.occurred_at), e.transaction_id::text, e.table_schema, e.table_name,
                  e.record_key, e.operation, e.old_values, e.new_values, e.changed_columns, e.owner_id, e.subject_id, e.old_subject_id,
                  t.actor_kind, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent, t.task, t.job_id,
                  t.database_role, t.session_user_name, t.application_name, t.client_addr::text)::text, 'sha256') as old_form
         from audit.events e join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
         where e.transaction_id = pg_current_xact_id() and e.operation = 'HARD_DELETE' and e.table_name = 'clients'`);
      expect(rows).toEqual([{ same_when_forged: false, old_form: true }]);
    }));
});
