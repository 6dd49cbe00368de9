import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createTree, deletedRows, softDeleteTables } from "./tree.ts";

afterAll(closeRootPool);

/** The row of each table the tree's fixture coach owns. */
const fixtureRow = {
  coach_profiles: (t: Awaited<ReturnType<typeof createTree>>) => t.coach.profileId,
  clients: (t: Awaited<ReturnType<typeof createTree>>) => t.coach.clientId,
  coaching_sessions: (t: Awaited<ReturnType<typeof createTree>>) => t.coach.sessionId,
  transcriptions: (t: Awaited<ReturnType<typeof createTree>>) => t.coach.transcriptionId,
};

/** How many rows of the tree a delete of the fixture's row in each table takes with it. */
const cascadeSize = { coach_profiles: 1 + 2 + 4 + 8, clients: 1 + 2 + 4, coaching_sessions: 1 + 2, transcriptions: 1 };

describe.each(softDeleteTables)("a plain DELETE on %s", (table) => {
  test("by the superuser marks the row and its cascade deleted in one batch, and removes nothing", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const id = fixtureRow[table](tree);
      const result = await client.query(`delete from app_public.${table} where id = $1`, [id]);
      expect(result.rowCount).toBe(0);
      const deleted = await deletedRows(client, tree.coach.profileId);
      expect(deleted).toHaveLength(cascadeSize[table]);
      const root = deleted.find((row) => row.id === id)!;
      expect(new Set(deleted.map((row) => row.batch))).toEqual(new Set([root.batch]));
      const { rows } = await client.query(
        `select is_deleted, deleted_at = now() as now, deleted_by from app_public.${table} where id = $1`, [id]);
      expect(rows[0]).toEqual({ is_deleted: true, now: true, deleted_by: null });
    }));

  test("by the owner role is soft as well", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await client.query("set local role custodian_owner");
      await client.query(`delete from app_public.${table} where id = $1`, [fixtureRow[table](tree)]);
      await becomeRoot(client);
      expect(await deletedRows(client, tree.coach.profileId)).toHaveLength(cascadeSize[table]);
    }));

  test("by the owning coach is soft, names the coach as deleter, and hides the rows from them", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const id = fixtureRow[table](tree);
      await becomeUser(client, tree.coach.user);
      await client.query(`delete from app_public.${table} where id = $1`, [id]);
      const visible = await client.query(`select count(*)::int as n from app_public.${table} where id = $1`, [id]);
      expect(visible.rows[0].n).toBe(0);
      await becomeRoot(client);
      const { rows } = await client.query(`select is_deleted, deleted_by from app_public.${table} where id = $1`, [id]);
      expect(rows[0]).toEqual({ is_deleted: true, deleted_by: tree.coach.user.id });
      expect(await deletedRows(client, tree.coach.profileId)).toHaveLength(cascadeSize[table]);
    }));

  test("leaves the coach's counts, joins and fetches in SQL without the deleted rows", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const seen = async () => {
        await becomeUser(client, tree.coach.user);
        const { rows } = await client.query(
          `select (select count(*) from app_public.coach_profiles)::int as profiles,
                  (select count(*) from app_public.clients)::int as clients,
                  (select count(*) from app_public.clients c join app_public.coaching_sessions s on s.client_id = c.id)::int as client_sessions,
                  (select count(*) from app_public.coaching_sessions s join app_public.transcriptions t on t.session_id = s.id)::int as session_transcriptions,
                  (select count(*) from app_public.transcriptions)::int as transcriptions,
                  exists (select from app_public.${table} where id = $1) as fetched`,
          [fixtureRow[table](tree)]);
        await becomeRoot(client);
        return rows[0];
      };
      expect(await seen()).toEqual({ profiles: 1, clients: 2, client_sessions: 4, session_transcriptions: 8, transcriptions: 8, fetched: true });
      await client.query(`delete from app_public.${table} where id = $1`, [fixtureRow[table](tree)]);
      const after = await seen();
      const gone = { coach_profiles: [1, 2, 4, 8], clients: [0, 1, 2, 4], coaching_sessions: [0, 0, 1, 2], transcriptions: [0, 0, 0, 1] }[table];
      expect(after).toEqual({
        profiles: 1 - gone[0]!, clients: 2 - gone[1]!, client_sessions: 4 - gone[2]!,
        session_transcriptions: 8 - gone[3]!, transcriptions: 8 - gone[3]!, fetched: false,
      });
    }));

  test("on a row already deleted changes nothing", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const id = fixtureRow[table](tree);
      await client.query(`delete from app_public.${table} where id = $1`, [id]);
      const before = await client.query(`select deleted_at, deletion_batch_id, updated_at from app_public.${table} where id = $1`, [id]);
      await client.query(`delete from app_public.${table} where id = $1`, [id]);
      const after = await client.query(`select deleted_at, deletion_batch_id, updated_at from app_public.${table} where id = $1`, [id]);
      expect(after.rows).toEqual(before.rows);
    }));

  test("is undone by restoring the row: exactly its batch comes back", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const id = fixtureRow[table](tree);
      await client.query(`delete from app_public.${table} where id = $1`, [id]);
      await client.query(`update app_public.${table} set is_deleted = false where id = $1`, [id]);
      expect(await deletedRows(client, tree.coach.profileId)).toEqual([]);
      const { rows } = await client.query(
        `select deleted_at, deleted_by, deletion_batch_id from app_public.${table} where id = $1`, [id]);
      expect(rows[0]).toEqual({ deleted_at: null, deleted_by: null, deletion_batch_id: null });
    }));

});

describe("cascade and restore are exact", () => {
  test("restoring a coach profile leaves a session deleted before it deleted, with its own batch", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const earlier = tree.sessions[3]!;
      await client.query("delete from app_public.coaching_sessions where id = $1", [earlier]);
      const before = await deletedRows(client, tree.coach.profileId);
      expect(before.map((row) => row.table).sort()).toEqual(["coaching_sessions", "transcriptions", "transcriptions"]);
      const earlierBatch = before[0]!.batch;

      await client.query("delete from app_public.coach_profiles where id = $1", [tree.coach.profileId]);
      const all = await deletedRows(client, tree.coach.profileId);
      expect(all).toHaveLength(15);
      expect(new Set(all.map((row) => row.batch)).size).toBe(2);

      await client.query("select governance.restore('app_public.coach_profiles', $1)", [tree.coach.profileId]);
      expect(await deletedRows(client, tree.coach.profileId)).toEqual(before);
      expect(before.every((row) => row.batch === earlierBatch)).toBe(true);
    }));

  test("restoring a client under a deleted profile is refused with the parent named, and changes nothing", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await client.query("delete from app_public.coach_profiles where id = $1", [tree.coach.profileId]);
      const error = await errorOf(client, "select governance.restore('app_public.clients', $1)", [tree.coach.clientId]);
      expect(error).toMatchObject({ code: "23503", message: `The coach profile ${tree.coach.profileId} is deleted; restore it first.` });
      const plain = await errorOf(client, "update app_public.clients set is_deleted = false where id = $1", [tree.coach.clientId]);
      expect(plain?.code).toBe("23503");
      expect(await deletedRows(client, tree.coach.profileId)).toHaveLength(15);
    }));

  test("a transcription under a deleted session names the session", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await client.query("delete from app_public.coaching_sessions where id = $1", [tree.coach.sessionId]);
      const error = await errorOf(client, "select governance.restore('app_public.transcriptions', $1)", [tree.coach.transcriptionId]);
      expect(error).toMatchObject({ code: "23503", message: `The coaching session ${tree.coach.sessionId} is deleted; restore it first.` });
    }));

  test("restoring a live row, or deleting a deleted one through the governed functions, is refused and says why", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const live = await errorOf(client, "select governance.restore('app_public.clients', $1)", [tree.coach.clientId]);
      expect(live).toMatchObject({ code: "55000", message: `The client ${tree.coach.clientId} is not deleted; nothing changed.` });
      await client.query("select governance.soft_delete('app_public.clients', $1)", [tree.coach.clientId]);
      const twice = await errorOf(client, "select governance.soft_delete('app_public.clients', $1)", [tree.coach.clientId]);
      expect(twice?.code).toBe("55000");
      expect(twice?.message).toMatch(new RegExp(`^The client ${tree.coach.clientId} is already deleted \\(at .*, batch [0-9a-f-]{36}\\); nothing changed\\.$`));
    }));

  test("a multi-row DELETE gives each row its own cascade, each restorable alone", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      await client.query("delete from app_public.clients where coach_profile_id = $1", [tree.coach.profileId]);
      const all = await deletedRows(client, tree.coach.profileId);
      expect(all).toHaveLength(14);
      expect(new Set(all.map((row) => row.batch)).size).toBe(2);
      await client.query("select governance.restore('app_public.clients', $1)", [tree.clients[1]]);
      const left = await deletedRows(client, tree.coach.profileId);
      expect(left).toHaveLength(7);
      expect(left.find((row) => row.table === "clients")?.id).toBe(tree.coach.clientId);
    }));

  test("restoring a profile brings back its clients and transcriptions with the values they had", () =>
    withRootDb(async (client) => {
      const tree = await createTree(client);
      const snapshot = () => client.query(
        `select to_jsonb(c) - 'updated_at' as row from app_public.clients c where coach_profile_id = $1
         union all select to_jsonb(t) - 'updated_at' from app_public.transcriptions t where coach_profile_id = $1 order by 1`,
        [tree.coach.profileId]);
      const before = (await snapshot()).rows;
      await client.query("delete from app_public.coach_profiles where id = $1", [tree.coach.profileId]);
      await client.query("select governance.restore('app_public.coach_profiles', $1)", [tree.coach.profileId]);
      expect((await snapshot()).rows).toEqual(before);
    }));
});

test("TRUNCATE, which fires no DELETE trigger, is refused on every soft-delete table", () =>
  withRootDb(async (client) => {
    const { rows } = await client.query(
      `select c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid
       where t.tgname = '_040_soft_delete_no_truncate' and c.relnamespace = 'app_public'::regnamespace order by 1`);
    expect(rows.map((row) => row.relname)).toEqual([...softDeleteTables].sort());
    // The leaf table only: a TRUNCATE takes its locks before the trigger
    // refuses, and a cascade would lock tables other test files are writing.
    await client.query("set local lock_timeout = '10s'");
    const error = await errorOf(client, "truncate app_public.transcriptions");
    expect(error).toMatchObject({ code: "0A000", message: "TRUNCATE of app_public.transcriptions would go around soft delete; delete rows, or use governance.hard_delete." });
  }));

test("an update that neither deletes nor restores runs no cascade statement on the children", () =>
  withRootDb(async (client) => {
    const tree = await createTree(client);
    // Counts the UPDATE statements the children see, for this transaction only.
    await client.query("create temporary table child_updates (n integer)");
    await client.query("grant insert on child_updates to public"); // the cascade runs as the owner
    await client.query(`create function pg_temp.count_child_update() returns trigger as $$
      begin insert into child_updates values (1); return null; end $$ language plpgsql`);
    await client.query(`create trigger count_child_update after update on app_public.coaching_sessions
      for each statement execute function pg_temp.count_child_update()`);
    const childUpdates = async () => (await client.query("select count(*)::int as n from child_updates")).rows[0].n;

    await client.query("update app_public.clients set notes = 'an ordinary edit' where id = $1", [tree.coach.clientId]);
    expect(await childUpdates()).toBe(0);
    await client.query("delete from app_public.clients where id = $1", [tree.coach.clientId]);
    expect(await childUpdates()).toBeGreaterThan(0);
    expect(await deletedRows(client, tree.coach.profileId)).toHaveLength(cascadeSize.clients);
  }));
