import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach, createUser, type Coach } from "../support/fixtures.ts";

afterAll(closeRootPool);

/** Each coach-owned table, the key of coach B's row in it, and a column a coach may update. */
const tables = [
  { table: "app_public.users", key: (c: Coach) => c.user.id, column: "display_name" },
  { table: "app_public.coach_profiles", key: (c: Coach) => c.profileId, column: "bio" },
  { table: "app_public.clients", key: (c: Coach) => c.clientId, column: "notes" },
  { table: "app_public.coaching_sessions", key: (c: Coach) => c.sessionId, column: "title" },
  { table: "app_public.transcriptions", key: (c: Coach) => c.transcriptionId, column: "transcript_text" },
];

/** Inserts coach A attempts into B's data, one per table. */
const insertsIntoB: Record<string, (b: Coach) => [string, unknown[]]> = {
  "app_public.users": () => ["insert into app_public.users (email, display_name) values ('x@y.example', 'X')", []],
  "app_public.coach_profiles": (b) => [
    "insert into app_public.coach_profiles (user_id, display_name, plan_id) select $1, 'X', plan_id from app_public.coach_profiles limit 1",
    [b.user.id],
  ],
  "app_public.clients": (b) => [
    "insert into app_public.clients (coach_profile_id, full_name) values ($1, 'Intruder')",
    [b.profileId],
  ],
  "app_public.coaching_sessions": (b) => [
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'Intruder', now(), 'k', 1)`,
    [b.clientId],
  ],
  "app_public.transcriptions": (b) => [
    "insert into app_public.transcriptions (session_id, provider, model) values ($1, 'deepgram', 'nova-2')",
    [b.sessionId],
  ],
};

describe.each(tables)("row-level security on $table in SQL", ({ table, key, column }) => {
  test("coach A cannot read, update or delete coach B's row, and can their own", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const b = await createCoach(client, "coach-b");
      await becomeUser(client, a.user);

      const theirs = await client.query(`select * from ${table} where id = $1`, [key(b)]);
      expect(theirs.rowCount).toBe(0);
      const mine = await client.query(`select * from ${table} where id = $1`, [key(a)]);
      expect(mine.rowCount).toBe(1);

      const updateTheirs = await client.query(`update ${table} set ${column} = 'changed by A' where id = $1`, [key(b)]);
      expect(updateTheirs.rowCount).toBe(0);
      const updateMine = await client.query(`update ${table} set ${column} = 'changed by A' where id = $1`, [key(a)]);
      expect(updateMine.rowCount).toBe(1);

      if (table !== "app_public.users") {
        const deleteTheirs = await client.query(`delete from ${table} where id = $1`, [key(b)]);
        expect(deleteTheirs.rowCount).toBe(0);
      }

      await becomeRoot(client);
      const after = await client.query(`select ${column}::text as value from ${table} where id = $1`, [key(b)]);
      expect(after.rowCount).toBe(1);
      expect(after.rows[0].value).not.toBe("changed by A");
    }));

  test("coach A cannot insert a row into coach B's data", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const b = await createCoach(client, "coach-b");
      await becomeUser(client, a.user);
      const [sql, values] = insertsIntoB[table]!(b);
      const error = await errorOf(client, sql, values);
      expect(error).not.toBeNull();
      // Refused by a missing privilege (42501) or because B's parent row is invisible to A (23503).
      expect(["42501", "23503"]).toContain(error!.code);
    }));

  test("an auditor reads every row and can write none", () =>
    withRootDb(async (client) => {
      const a = await createCoach(client, "coach-a");
      const b = await createCoach(client, "coach-b");
      const auditor = await createUser(client, "auditor");
      await becomeUser(client, auditor);
      const { rows } = await client.query(`select count(*)::int as n from ${table} where id = any($1)`, [[key(a), key(b)]]);
      expect(rows[0].n).toBe(2);
      expect((await errorOf(client, `update ${table} set ${column} = 'audited' where id = $1`, [key(a)]))?.code).toBe("42501");
      expect((await errorOf(client, `delete from ${table} where id = $1`, [key(a)]))?.code).toBe("42501");
      const [sql, values] = insertsIntoB[table]!(b);
      expect((await errorOf(client, sql, values))?.code).toBe("42501");
    }));

  test("an admin reads and updates any coach's row", () =>
    withRootDb(async (client) => {
      const b = await createCoach(client, "coach-b");
      const admin = await createUser(client, "admin");
      await becomeUser(client, admin);
      expect((await client.query(`select * from ${table} where id = $1`, [key(b)])).rowCount).toBe(1);
      const update = await client.query(`update ${table} set ${column} = 'fixed by admin' where id = $1`, [key(b)]);
      expect(update.rowCount).toBe(1);
    }));
});

describe("reference data and anonymous callers in SQL", () => {
  test.each(["app_public.billing_plans", "app_public.provider_rates"])(
    "%s is readable by coaches and auditors and writable only by admins",
    (table) =>
      withRootDb(async (client) => {
        const coach = await createCoach(client);
        const auditor = await createUser(client, "auditor");
        const admin = await createUser(client, "admin");
        await client.query(
          "insert into app_public.provider_rates (provider, model, cost_per_minute_minor) values ('acme', 'm1', 0.5)",
        );
        for (const reader of [coach.user, auditor]) {
          await becomeUser(client, reader);
          expect((await client.query(`select count(*)::int as n from ${table}`)).rows[0].n).toBeGreaterThan(0);
          expect((await errorOf(client, `delete from ${table}`))?.code).toBe("42501");
        }
        await becomeUser(client, admin);
        expect((await client.query(`update ${table} set currency = 'USD'`)).rowCount).toBeGreaterThan(0);
      }),
  );

  test("an anonymous caller can read no table and can only authenticate", () =>
    withRootDb(async (client) => {
      const coach = await createCoach(client);
      await becomeUser(client, null);
      for (const { table } of tables) {
        expect((await errorOf(client, `select * from ${table}`))?.code).toBe("42501");
      }
      const { rows } = await client.query("select (app_public.authenticate($1, $2)).user_id", [
        coach.user.email,
        "correct horse battery staple",
      ]);
      expect(rows[0].user_id).toBe(coach.user.id);
    }));

  test("internal tables are unreachable for every API role", () =>
    withRootDb(async (client) => {
      const admin = await createUser(client, "admin");
      await becomeUser(client, admin);
      expect((await errorOf(client, "select * from app_private.user_secrets"))?.code).toBe("42501");
    }));
});
