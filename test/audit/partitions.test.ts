import { closeRootPool, errorOf, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { createUser } from "../support/fixtures.ts";

afterAll(closeRootPool);

// Partitions are made for months of UTC, from the instant the audit trail's
// migration ran (000001-baseline; this month and the next), then by the hourly job from the
// instant it runs: the test reads both instants, never the day it runs on
// nor the session's time zone.
test("the migration's month and the next have partitions, and maintenance keeps this month and the next, so ordinary writes never land in the default partition", () =>
  withRootDb(async (client) => {
    const months = (instant: string) =>
      `select to_char(m, 'YYYY-MM') as month, to_regclass('audit.' || audit.partition_name('audit.events', m)) is not null as has
       from (select date_trunc('month', ${instant} at time zone 'UTC')::date as first) f,
            lateral (values (f.first), ((f.first + interval '1 month')::date)) months (m)`;
    const migrated = await client.query(`${months("(select date from graphile_migrate.migrations where filename = '000001.sql')")}`);
    expect(migrated.rows.map((row) => typeof row.month)).toEqual(["string", "string"]);
    expect(migrated.rows.map((row) => [row.month, row.has])).toEqual(migrated.rows.map((row) => [row.month, true]));
    const strays = await client.query("select count(*)::int as n from audit.events_default");
    expect(strays.rows[0].n).toBe(0);

    // What the hourly job does (it asks for two months ahead; one is what this test needs).
    expect((await client.query("select audit.maintain_partitions(1) as moved")).rows[0].moved).toBe(0);
    const kept = await client.query(months("now()"));
    expect(kept.rows.map((row) => [row.month, row.has])).toEqual(kept.rows.map((row) => [row.month, true]));
  }));

test("a write for a month without a partition lands in the default partition, and maintenance moves it out intact", () =>
  withRootDb(async (client) => {
    await client.query(
      `insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values)
       values ('2031-05-03 10:00:00+00', pg_current_xact_id(), 'public', 'far_future', '{"id": 1}', 'INSERT', '{"id": 1}')`,
    );
    const before = await client.query(
      "select id, tableoid::regclass::text as partition, audit.event_digest(e) as digest from audit.events e where table_name = 'far_future'",
    );
    expect(before.rows[0].partition).toBe("audit.events_default");

    // Maintenance gives up after 2 s behind a long reader of the trail (another file's residue scan or export), as the
    // hourly job would; like the job, try again.
    let moved: { rows: Array<{ moved: number }> } | null = null;
    for (let attempt = 1; moved === null; attempt++) {
      await client.query("savepoint maintain");
      try {
        moved = await client.query("select audit.maintain_partitions(2) as moved");
      } catch (error) {
        await client.query("rollback to savepoint maintain");
        if ((error as { code?: string }).code !== "55P03" || attempt === 10) throw error;
      }
    }
    expect(moved.rows[0]!.moved).toBe(1);
    const after = await client.query(
      "select id, tableoid::regclass::text as partition, audit.event_digest(e) as digest from audit.events e where table_name = 'far_future'",
    );
    expect(after.rows).toEqual([{ ...before.rows[0], partition: "audit.events_2031_05" }]);
    const strays = await client.query("select count(*)::int as n from audit.events_default");
    expect(strays.rows[0].n).toBe(0);
    // The rebuilt partitions keep the append-only rules.
    expect(await errorOf(client, "delete from audit.events where table_name = 'far_future'")).toMatchObject({ code: "42501" });
    expect(await errorOf(client, "truncate audit.events_2031_05")).toMatchObject({ code: "42501" });
    expect(await errorOf(client, "truncate audit.events_default")).toMatchObject({ code: "42501" });
  }));

test("maintain_partitions refuses a nonsensical horizon", () =>
  withRootDb(async (client) => {
    expect(await errorOf(client, "select audit.maintain_partitions(-1)")).toMatchObject({
      code: "22023",
      message: "months_ahead must be between 0 and 24, not -1.",
    });
  }));

test("partition maintenance gives up rather than queue writers behind a long reader", async () => {
  const reader = await rootPool().connect();
  const maintainer = await rootPool().connect();
  try {
    await reader.query("begin");
    await reader.query("select count(*) from audit.events");
    await maintainer.query("begin");
    // lock_not_available: it gave up waiting, so writers were never queued behind it.
    await expect(maintainer.query("select audit.maintain_partitions(6)")).rejects.toMatchObject({ code: "55P03" });
  } finally {
    await maintainer.query("rollback");
    await reader.query("rollback");
    maintainer.release();
    reader.release();
  }
});

test("a writer waiting for audit.events holds no other lock on the trail, so it cannot deadlock with maintenance", async () => {
  const writer = await rootPool().connect();
  const maintenance = await rootPool().connect();
  try {
    // A first capture in the session parses its statement; later ones run the cached plan. Both must keep the order.
    await writer.query("begin");
    await createUser(writer, "coach", "lock-order");
    await writer.query("rollback");

    await maintenance.query("begin");
    await maintenance.query("set local lock_timeout = '10s'");
    await maintenance.query("lock table audit.events in access exclusive mode");
    const writerPid = (await writer.query("select pg_backend_pid() as pid")).rows[0].pid;
    await writer.query("begin");
    const blockedWrite = createUser(writer, "coach", "lock-order");
    await waitUntilBlocked(maintenance, writerPid);
    const { rows } = await maintenance.query(
      `select l.relation::regclass::text as relation from pg_locks l
       where l.pid = $1 and l.granted and l.relation = 'audit.events'::regclass`,
      [writerPid],
    );
    expect(rows).toEqual([]);
    await maintenance.query("rollback");
    await blockedWrite;
  } finally {
    await maintenance.query("rollback");
    await writer.query("rollback");
    maintenance.release();
    writer.release();
  }
});
