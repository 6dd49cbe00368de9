import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach } from "../support/fixtures.ts";

afterAll(closeRootPool);

interface Event {
  operation: string;
  record_key: Record<string, unknown>;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  changed_columns: string[] | null;
}

/** The events of one table since a given id, oldest first. */
async function eventsOf(client: pg.ClientBase, table: string, afterId: string): Promise<Event[]> {
  const { rows } = await client.query(
    `select operation, record_key, old_values, new_values, changed_columns from audit.events
     where table_schema || '.' || table_name = $1 and id > $2 order by id`,
    [table, afterId],
  );
  return rows;
}

async function lastEventId(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query("select coalesce(max(id), 0)::text as id from audit.events");
  return rows[0].id;
}

/** A small tracked table with a composite key, made inside the test's transaction. */
async function createLedger(client: pg.ClientBase): Promise<void> {
  await client.query(`
    create table public.ledger (
      account text not null,
      entry int not null,
      amount numeric not null,
      memo text,
      primary key (account, entry)
    );
    alter table public.ledger owner to custodian_owner;
    select audit.enable_tracking('public.ledger');
  `);
}

test("INSERT, UPDATE and DELETE each record one event per row, with the record's key", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    const since = await lastEventId(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first'), ('a', 2, 20, null), ('b', 1, 5, 'x')");
    await client.query("update public.ledger set amount = amount + 1 where account = 'a'");
    await client.query("delete from public.ledger where account = 'b'");

    const events = await eventsOf(client, "public.ledger", since);
    expect(events.map((e) => e.operation)).toEqual(["INSERT", "INSERT", "INSERT", "UPDATE", "UPDATE", "DELETE"]);
    expect(events[0]).toMatchObject({
      record_key: { account: "a", entry: 1 },
      old_values: null,
      new_values: { account: "a", entry: 1, amount: 10, memo: "first" },
      changed_columns: null,
    });
    expect(events[5]).toMatchObject({
      record_key: { account: "b", entry: 1 },
      old_values: { account: "b", entry: 1, amount: 5, memo: "x" },
      new_values: null,
    });
  }));

test("an UPDATE stores only the changed columns, old and new", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    const since = await lastEventId(client);
    await client.query("update public.ledger set memo = null, amount = 10 where account = 'a'");

    expect(await eventsOf(client, "public.ledger", since)).toEqual([
      {
        operation: "UPDATE",
        record_key: { account: "a", entry: 1 },
        old_values: { memo: "first" },
        new_values: { memo: null },
        changed_columns: ["memo"],
      },
    ]);
  }));

test("an UPDATE that changes nothing writes nothing, not even on a table that keeps updated_at", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    const coach = await createCoach(client);
    const since = await lastEventId(client);
    await client.query("update public.ledger set amount = 10, memo = 'first'");
    await client.query("update app_public.clients set full_name = full_name where id = $1", [coach.clientId]);

    expect(await eventsOf(client, "public.ledger", since)).toEqual([]);
    expect(await eventsOf(client, "app_public.clients", since)).toEqual([]);
    const { rows } = await client.query("select count(*)::int as n from audit.transactions t where t.xact_id = pg_current_xact_id()");
    expect(rows[0].n).toBe(1); // the transaction's earlier writes only
  }));

test("a change of case in a citext column is a change", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const since = await lastEventId(client);
    await client.query("update app_public.users set email = upper(email) where id = $1", [coach.user.id]);
    const events = await eventsOf(client, "app_public.users", since);
    expect(events).toHaveLength(1);
    expect(events[0]!.changed_columns).toEqual(["email", "updated_at"]);
  }));

test("TRUNCATE records every row it removed", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first'), ('a', 2, 20, null)");
    const since = await lastEventId(client);
    await client.query("truncate public.ledger");

    const events = await eventsOf(client, "public.ledger", since);
    expect(events.map((e) => [e.operation, e.record_key, e.old_values])).toEqual([
      ["TRUNCATE", { account: "a", entry: 1 }, { account: "a", entry: 1, amount: 10, memo: "first" }],
      ["TRUNCATE", { account: "a", entry: 2 }, { account: "a", entry: 2, amount: 20, memo: null }],
    ]);
  }));

test("capture names its table in full: a TRUNCATE from a session whose search_path lacks the table's schema is recorded", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    const since = await lastEventId(client);
    await client.query("set local search_path = pg_catalog");
    await client.query("truncate public.ledger");
    await client.query("reset search_path");
    const events = await eventsOf(client, "public.ledger", since);
    expect(events.map((e) => [e.operation, e.record_key])).toEqual([["TRUNCATE", { account: "a", entry: 1 }]]);
  }));

test("an event is in the writer's transaction: a rolled-back write leaves no event", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    const since = await lastEventId(client);
    await client.query("savepoint before_write");
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    await client.query("rollback to savepoint before_write");
    await client.query("insert into public.ledger values ('b', 1, 10, 'kept')");
    const events = await eventsOf(client, "public.ledger", since);
    expect(events.map((e) => e.record_key)).toEqual([{ account: "b", entry: 1 }]);
  }));

test("changing a tracked table's primary key is refused with a clear error", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    const error = await errorOf(client, "update public.ledger set entry = 2");
    expect(error).toMatchObject({ code: "0A000" });
    expect(error!.message).toMatch(/primary key of public.ledger cannot change/);
    // Naming the key without changing it is fine.
    expect(await errorOf(client, "update public.ledger set entry = 1, amount = 11")).toBeNull();
  }));

test("enable_tracking refuses a table without a primary key, one it cannot own, and one that does not exist", () =>
  withRootDb(async (client) => {
    await client.query("create table public.no_key (value int); alter table public.no_key owner to custodian_owner");
    const noKey = await errorOf(client, "select audit.enable_tracking('public.no_key')");
    expect(noKey).toMatchObject({ code: "55000" });
    expect(noKey!.message).toMatch(/no_key has no primary key/);

    await client.query("create table public.superuser_owned (id int primary key)");
    const notOwned = await errorOf(client, "select audit.enable_tracking('public.superuser_owned')");
    expect(notOwned).toMatchObject({ code: "42501", message: "Table superuser_owned must be owned by custodian_owner, which installs and runs its capture." });

    const missing = await errorOf(client, "select audit.enable_tracking('public.not_there')");
    expect(missing).toMatchObject({ code: "42P01" });
    expect(missing!.message).toMatch(/"public.not_there" does not exist/);
  }));

test("enable_tracking is idempotent: enabling twice captures each write once", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("select audit.enable_tracking('public.ledger')");
    const since = await lastEventId(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    expect(await eventsOf(client, "public.ledger", since)).toHaveLength(1);
  }));

test("disable_tracking stops capture and keeps the history and the column policies", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("select audit.set_column_policy('public.ledger', 'memo', 'exclude')");
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    const since = await lastEventId(client);
    await client.query("select audit.disable_tracking('public.ledger'); select audit.disable_tracking('public.ledger')");
    await client.query("insert into public.ledger values ('a', 2, 10, 'unseen')");
    expect(await eventsOf(client, "public.ledger", since)).toEqual([]);

    await client.query("select audit.enable_tracking('public.ledger')");
    await client.query("insert into public.ledger values ('a', 3, 10, 'secret memo')");
    const events = await eventsOf(client, "public.ledger", since);
    expect(events).toHaveLength(1);
    expect(events[0]!.new_values).toEqual({ account: "a", entry: 3, amount: 10 });
    const { rows } = await client.query("select count(*)::int as n from audit.events where table_name = 'ledger'");
    expect(rows[0].n).toBe(2);
  }));

test("set_column_policy names the problem: an unknown column, a key column, an untracked table", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    const unknown = await errorOf(client, "select audit.set_column_policy('public.ledger', 'nope', 'pii')");
    expect(unknown).toMatchObject({ code: "42703", message: "Table ledger has no column nope." });
    const key = await errorOf(client, "select audit.set_column_policy('public.ledger', 'entry', 'exclude')");
    expect(key).toMatchObject({ code: "22023" });
    await client.query("create table public.untracked (id int primary key, note text); alter table public.untracked owner to custodian_owner");
    const untracked = await errorOf(client, "select audit.set_column_policy('public.untracked', 'note', 'pii')");
    expect(untracked).toMatchObject({ code: "55000" });
  }));

test("adding and dropping a column keeps capture working and old history readable", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    const since = await lastEventId(client);
    await client.query("insert into public.ledger values ('a', 1, 10, 'first')");
    await client.query("alter table public.ledger add column category text");
    await client.query("update public.ledger set category = 'food' where account = 'a'");
    await client.query("alter table public.ledger drop column memo");
    await client.query("update public.ledger set amount = 12 where account = 'a'");
    await client.query("insert into public.ledger values ('c', 1, 1, 'fees')");

    const events = await eventsOf(client, "public.ledger", since);
    expect(events.map((e) => [e.operation, e.new_values])).toEqual([
      ["INSERT", { account: "a", entry: 1, amount: 10, memo: "first" }],
      ["UPDATE", { category: "food" }],
      ["UPDATE", { amount: 12 }],
      ["INSERT", { account: "c", entry: 1, amount: 1, category: "fees" }],
    ]);
    const { rows } = await client.query(
      "select app_public.audit_record_as_of('public.ledger', '{\"account\": \"a\", \"entry\": 1}', now()) as state",
    );
    expect(rows[0].state).toEqual({ account: "a", entry: 1, amount: 12, memo: "first", category: "food" });
  }));

test("the application roles can neither write audit tables nor call the tracking functions", () =>
  withRootDb(async (client) => {
    for (const role of ["custodian_coach", "custodian_admin", "custodian_auditor"]) {
      await client.query(`set local role ${role}`);
      for (const sql of [
        "insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values) values (now(), pg_current_xact_id(), 'x', 'y', '{}', 'INSERT', '{}')",
        "update audit.events set table_name = 'x'",
        "delete from audit.events",
        "truncate audit.events",
        "delete from audit.transactions",
        "select audit.disable_tracking('app_public.clients')",
        "select audit.set_column_policy('app_public.clients', 'notes', 'plain')",
      ]) {
        expect(await errorOf(client, sql)).toMatchObject({ code: "42501" });
      }
      await becomeRoot(client);
    }
  }));

test("every table in app_public, app_private and governance is tracked, but the audit keys, heartbeats and the usage ledger, its captured records and its rollups", () =>
  withRootDb(async (client) => {
    const { rows } = await client.query(
      `select n.nspname || '.' || c.relname as name,
              exists (select from audit.tracked_tables t where t.table_oid = c.oid and t.disabled_at is null) as tracked
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname in ('app_public', 'app_private', 'governance') and c.relkind in ('r', 'p') and not c.relispartition
       order by 1`,
    );
    const untracked = rows.filter((row) => !row.tracked).map((row) => row.name);
    // Keys must never enter the trail; a heartbeat a minute is noise, not governed data; usage
    // events are an append-only ledger of their own (captured records become them), and rollups, ledgers and dirty days derive from them;
    // an export's bytes are a copy of a person's data that must go when the export expires (the export's record is tracked);
    // the sign-in limits are configuration, written from the environment at each start; the worker pools are its bookkeeping;
    // a reconcile check's differences derive from the rows it compared (who asked for the check is tracked).
    expect(untracked).toEqual([
      "app_private.audit_subject_keys", "app_private.data_subject_export_chunks", "app_private.sign_in_limits", "app_private.usage_coach_daily", "app_private.usage_daily_totals", "app_private.usage_dirty_days",
      "app_private.usage_ledgers", "app_private.usage_records", "app_private.usage_rollup_watermark", "app_private.worker_heartbeats",
      "app_private.worker_pools", "app_public.usage_daily", "app_public.usage_events", "app_public.usage_reconcile_differences",
    ]);
  }));

test("renaming a tracked table keeps capture under the new name; renaming a column the trail names is refused clearly", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("alter table public.ledger rename to journal");
    const since = await lastEventId(client);
    await client.query("insert into public.journal values ('a', 1, 10, 'first')");
    expect(await eventsOf(client, "public.journal", since)).toHaveLength(1);
    await client.query("select audit.disable_tracking('public.journal')");
    await client.query("insert into public.journal values ('a', 2, 10, 'unseen')");
    expect(await eventsOf(client, "public.journal", since)).toHaveLength(1);

    const coach = await createCoach(client);
    const error = await errorOf(client, "alter table app_public.clients rename column coach_profile_id to coach_id");
    expect(error).toMatchObject({ code: "42703" });
    expect(error!.message).toMatch(/names a column of app_public.clients .* that no longer exists/);
    expect(await errorOf(client, "update app_public.clients set notes = 'fine' where id = $1", [coach.clientId])).toBeNull();
  }));

test("a table whose every column is in its key can be tracked", () =>
  withRootDb(async (client) => {
    await client.query("create table public.links (a int, b int, primary key (a, b)); alter table public.links owner to custodian_owner");
    await client.query("select audit.enable_tracking('public.links')");
    const since = await lastEventId(client);
    await client.query("insert into public.links values (1, 2); update public.links set a = a; delete from public.links");
    expect((await eventsOf(client, "public.links", since)).map((e) => e.operation)).toEqual(["INSERT", "DELETE"]);
  }));

test("a partitioned table is refused: writes aimed at a partition would bypass its triggers", () =>
  withRootDb(async (client) => {
    await client.query("create table public.parted (id int primary key) partition by range (id); alter table public.parted owner to custodian_owner");
    expect(await errorOf(client, "select audit.enable_tracking('public.parted')")).toMatchObject({ code: "42809" });
  }));

test("a coach cannot forge events, even with a trigger of their own on a temporary table", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await becomeUser(client, coach.user);
    await client.query(`
      create temp table decoy (a int);
      create function pg_temp.forge() returns trigger language plpgsql as $$
      begin
        insert into audit.events (occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values)
        values (now(), pg_current_xact_id(), 'app_public', 'clients', '{"id": 1}', 'INSERT', '{"forged": true}');
        return null;
      end $$;
      create trigger forge after insert on decoy for each statement execute function pg_temp.forge();
    `);
    expect(await errorOf(client, "insert into decoy values (1)")).toMatchObject({ code: "42501" });
    expect(await errorOf(client, "lock table audit.events in row exclusive mode")).toMatchObject({ code: "42501" });
    await becomeRoot(client);
  }));

test("a large UPDATE after one-row updates in the same session is captured in one pass, not row by row against row", () =>
  withRootDb(async (client) => {
    await createLedger(client);
    await client.query("insert into public.ledger select 'bulk', n, n, null from generate_series(1, 50000) n");
    // The capture's plan is made by the first statement of a session and kept.
    await client.query("update public.ledger set amount = amount + 1 where account = 'bulk' and entry = 1");
    await client.query("update public.ledger set amount = amount + 1 where account = 'bulk' and entry = 2");
    // A nested loop over two 50k-row transition tables would take many minutes.
    await client.query("set local statement_timeout = '60s'");
    const since = await lastEventId(client);
    await client.query("update public.ledger set amount = amount + 1 where account = 'bulk'");
    const { rows } = await client.query("select count(*)::int as n from audit.events where table_name = 'ledger' and id > $1", [since]);
    expect(rows[0].n).toBe(50000);
  }));
