import { closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";

afterAll(closeRootPool);

test("the current and next months have partitions, so ordinary writes never land in the default partition", () =>
  withRootDb(async (client) => {
    const { rows } = await client.query(
      `select audit.partition_name('audit.events', now()::date) as this_month,
              audit.partition_name('audit.events', (now() + interval '1 month')::date) as next_month,
              to_regclass('audit.' || audit.partition_name('audit.events', now()::date)) is not null as has_this,
              to_regclass('audit.' || audit.partition_name('audit.events', (now() + interval '1 month')::date)) is not null as has_next,
              (select count(*)::int from audit.events_default) as strays`,
    );
    expect(rows[0]).toMatchObject({ has_this: true, has_next: true, strays: 0 });
  }));

test("a write for a month without a partition lands in the default partition, and maintenance moves it out intact", () =>
  withRootDb(async (client) => {
    await client.query(
      `insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values)
       values ('2031-05-03 10:00:00+00', pg_current_xact_id(), 'public', 'far_future', '{"id": 1}', 'INSERT', '{"id": 1}')`,
    );
    const before = await client.query(
      "select id, tableoid::regclass::text as partition, audit.event_digest(e, null) as digest from audit.events e where table_name = 'far_future'",
    );
    expect(before.rows[0].partition).toBe("audit.events_default");

    const moved = await client.query("select audit.maintain_partitions(2) as moved");
    expect(moved.rows[0].moved).toBe(1);
    const after = await client.query(
      "select id, tableoid::regclass::text as partition, audit.event_digest(e, null) as digest from audit.events e where table_name = 'far_future'",
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
