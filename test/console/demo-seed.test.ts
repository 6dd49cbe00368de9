import pg from "pg";
import { migrate } from "../../src/db/migrate.ts";
import { seedDemo } from "../../src/seed/seed-demo.ts";
import { TEST_AUTHENTICATOR_PASSWORD } from "../support/environment.ts";
import { withScratchDatabase } from "../support/scratch-database.ts";

// The demo gives the audit viewer and deleted items something to show: an
// admin's corrections and deletion, and a coach's deletions, one inside the
// coach's restore window and one past it. The demo's now is pinned.
const AS_OF = new Date("2026-11-20T12:00:00Z");

/** Acts as a demo user, as the API would, for the rest of the transaction. */
async function becomeDemoUser(client: pg.Client, email: string): Promise<void> {
  await client.query(
    `select set_config('role', 'custodian_' || role::text, true), set_config('jwt.claims.user_id', id::text, true), set_config('jwt.claims.role', role::text, true)
       from app_public.users where email = $1`,
    [email],
  );
}

async function deletedItems(client: pg.Client, email: string) {
  await client.query("begin");
  try {
    await becomeDemoUser(client, email);
    const { rows } = await client.query(
      `select table_name, coach_name, deleted_by_name, deleted_at, starts_cascade, cascade_rows, may_restore from app_public.deleted_items() where starts_cascade order by table_name`,
    );
    return rows;
  } finally {
    await client.query("rollback");
  }
}

test("the demo holds an admin's audited corrections and deletion, and a coach's deletions inside and past the restore window; seeding again adds none", () =>
  withScratchDatabase(async (databaseUrl) => {
    await migrate(databaseUrl, TEST_AUTHENTICATOR_PASSWORD);
    await seedDemo(databaseUrl, 1, false, AS_OF);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const cascades = await deletedItems(client, "admin@example.com");
      expect(cascades.map((one) => [one.table_name, one.deleted_by_name, one.cascade_rows, one.may_restore])).toEqual([
        ["clients", "Ada Admin", expect.any(Number), true],
        ["clients", expect.any(String), expect.any(Number), true],
        ["coaching_sessions", expect.any(String), expect.any(Number), true],
      ]);
      expect(cascades.every((one) => one.cascade_rows > 1)).toBe(true);

      // Coach 1 sees their own two: the session deleted now may be restored, the client deleted 45 days before the demo's now may not.
      const own = await deletedItems(client, "coach1@example.com");
      expect(own.map((one) => [one.table_name, one.may_restore])).toEqual([
        ["clients", false],
        ["coaching_sessions", true],
      ]);
      expect(own[0].deleted_at.toISOString()).toBe("2026-10-06T12:00:00.000Z");

      // The admin's writes are in the trail, attributed to the admin.
      const { rows: byAdmin } = await client.query(
        `select e.table_name, e.operation::text, e.actor_kind::text from app_public.audit_events(actor_id => (select id from app_public.users where email = 'admin@example.com')) e
          where e.operation in ('UPDATE', 'SOFT_DELETE') order by e.id`,
      );
      expect(byAdmin.slice(0, 3)).toEqual([
        { table_name: "clients", operation: "UPDATE", actor_kind: "user" },
        { table_name: "coach_profiles", operation: "UPDATE", actor_kind: "user" },
        { table_name: "clients", operation: "SOFT_DELETE", actor_kind: "user" },
      ]);

      const count = async () => (await client.query("select count(*)::int as n from audit.events")).rows[0].n;
      const before = await count();
      await seedDemo(databaseUrl, 1, false, AS_OF);
      expect(await count()).toBe(before);
    } finally {
      await client.end();
    }
  }));
