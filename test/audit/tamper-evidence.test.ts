import pg from "pg";
import { runCli } from "../support/cli.ts";
import { closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { queryOnce, withScratchDatabase } from "../support/scratch-database.ts";

afterAll(closeRootPool);

test("audit rows cannot be updated, deleted or truncated, not even by their owner or a superuser", () =>
  withRootDb(async (client) => {
    for (const who of ["set local role custodian_owner", "reset role"]) {
      await client.query(who);
      for (const sql of [
        "update audit.events set table_name = 'x' where id = (select min(id) from audit.events)",
        "delete from audit.events where id = (select min(id) from audit.events)",
        "truncate audit.events",
        "update audit.transactions set actor_kind = 'user'",
      ]) {
        const error = await errorOf(client, sql);
        expect(error).toMatchObject({ code: "42501" });
        expect(error!.message).toMatch(/append-only/);
      }
    }
    const partition = await client.query("select audit.partition_name('audit.events', (now() at time zone 'UTC')::date) as name");
    expect(await errorOf(client, `truncate audit.${partition.rows[0].name}`)).toMatchObject({ code: "42501" });
  }));

/** Writes as the owner would, to have events to seal. */
async function writeSomeRows(databaseUrl: string): Promise<void> {
  await queryOnce(
    databaseUrl,
    `select app_private.create_user(('tamper-' || g || '@' || md5(random()::text) || '.example')::citext, 'long-enough-1', 'coach')
     from generate_series(1, 5) g`,
  );
}

async function tamper(databaseUrl: string, sql: string, values: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // A superuser can switch triggers off: the chain is what catches this.
    await client.query("set session_replication_role = replica");
    await client.query(sql, values);
  } finally {
    await client.end();
  }
}

test("`custodian audit verify` finds an edited, a deleted and a forged event, and an altered attribution", () =>
  withScratchDatabase(async (databaseUrl) => {
    const env = testEnvironment({ DATABASE_URL: databaseUrl });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    await writeSomeRows(databaseUrl);
    // A rolled-back write leaves a gap in the ids, where a forger would insert.
    await queryOnce(databaseUrl, "begin; select app_private.create_user('gap@test.example', 'long-enough-1', 'coach'); rollback");
    await queryOnce(databaseUrl, "select app_private.create_user('after-gap@test.example', 'long-enough-1', 'coach')");

    const sealed = await runCli(["audit", "seal"], env);
    expect(sealed).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Sealed \d+ events \(up to event \d+\)\.\n$/) });
    const intact = await runCli(["audit", "verify"], env);
    expect(intact).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Audit trail intact: \d+ events in 1 seals verified; 0 not sealed yet\.\nChain head: [0-9a-f]{64} \(keep it elsewhere; `custodian audit verify --head <it>` checks that the chain still leads to it\)\n$/),
    });
    const head = await queryOnce(databaseUrl, "select encode(hash, 'hex') as hash from audit.seals");
    expect(intact.stdout).toContain(head.rows[0].hash);
    expect((await queryOnce(databaseUrl, "select count(*)::int as n from audit.seals")).rows[0].n).toBe(1);
    await expect(queryOnce(databaseUrl, "delete from audit.seals")).rejects.toMatchObject({ code: "42501" });

    const target = (
      await queryOnce(databaseUrl, "select id::text, new_values from audit.events where table_name = 'users' order by id limit 1 offset 2")
    ).rows[0];

    // 1. An edited value.
    await tamper(databaseUrl, "update audit.events set new_values = new_values || '{\"role\": \"admin\"}' where id = $1", [target.id]);
    let verdict = await runCli(["audit", "verify"], env);
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toBe(`Audit trail TAMPERED: event ${target.id} was altered after it was sealed in seal 1 (its content, attribution or position differs).\n`);
    await tamper(databaseUrl, "update audit.events set new_values = $2 where id = $1", [target.id, target.new_values]);
    expect((await runCli(["audit", "verify"], env)).code).toBe(0);

    // 2. A deleted row.
    await queryOnce(databaseUrl, "create table public.saved_event as select * from audit.events where id = $1", [target.id]);
    await tamper(databaseUrl, "delete from audit.events where id = $1", [target.id]);
    verdict = await runCli(["audit", "verify"], env);
    expect(verdict).toMatchObject({ code: 1, stdout: `Audit trail TAMPERED: event ${target.id} is missing: it was sealed in seal 1 and has been deleted.\n` });
    await tamper(databaseUrl, "insert into audit.events overriding system value select * from public.saved_event");
    expect((await runCli(["audit", "verify"], env)).code).toBe(0);

    // 3. A forged row, in the gap a rolled-back write left.
    const gap = (
      await queryOnce(
        databaseUrl,
        "select min(id + 1)::text as id from audit.events e where not exists (select from audit.events n where n.id = e.id + 1) and id < (select max(id) from audit.events)",
      )
    ).rows[0].id;
    await tamper(databaseUrl, "update public.saved_event set id = $1", [gap]);
    await tamper(databaseUrl, "insert into audit.events overriding system value select * from public.saved_event");
    verdict = await runCli(["audit", "verify"], env);
    expect(verdict).toMatchObject({
      code: 1,
      stdout: `Audit trail TAMPERED: event ${gap} was never sealed: it was inserted into the sealed range of seal 1 afterwards.\n`,
    });
    await tamper(databaseUrl, "delete from audit.events where id = $1", [gap]);

    // 4. A forged row past every id ever handed out.
    await tamper(databaseUrl, "update public.saved_event set id = 900000000");
    await tamper(databaseUrl, "insert into audit.events overriding system value select * from public.saved_event");
    verdict = await runCli(["audit", "verify"], env);
    expect(verdict).toMatchObject({ code: 1, stdout: "Audit trail TAMPERED: event 900000000 was forged: no write ever received that id.\n" });
    await tamper(databaseUrl, "delete from audit.events where id = 900000000");

    // 5. An altered attribution: who wrote is sealed with what was written.
    await tamper(databaseUrl, "update audit.events set actor_kind = 'user' where actor_kind = 'unknown'");
    verdict = await runCli(["audit", "verify"], env);
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toMatch(/was altered after it was sealed/);

    // The SQL function says the same as the command.
    const report = await queryOnce(databaseUrl, "select intact, problem from audit.verify_chain()");
    expect(report.rows[0].intact).toBe(false);
    expect(report.rows[0].problem).toMatch(/was altered after it was sealed/);
  }));

test("sealing waits for running transactions, so an event committed late is never skipped", () =>
  withScratchDatabase(async (databaseUrl) => {
    expect((await runCli(["migrate"], testEnvironment({ DATABASE_URL: databaseUrl }))).code).toBe(0);
    const slow = new pg.Client({ connectionString: databaseUrl });
    const sealer = new pg.Client({ connectionString: databaseUrl });
    await slow.connect();
    await sealer.connect();
    try {
      await slow.query("begin");
      await slow.query("select app_private.create_user('slow@test.example', 'long-enough-1', 'coach')");
      await queryOnce(databaseUrl, "select app_private.create_user('fast@test.example', 'long-enough-1', 'coach')");

      // The slow transaction holds lower ids than the committed one: nothing may be sealed past it yet.
      const waiting = await sealer.query("select audit.seal_horizon('200 milliseconds') as horizon");
      expect(waiting.rows[0].horizon).toBeNull();

      await slow.query("commit");
      const horizon = await sealer.query("select audit.seal_horizon() as horizon");
      await sealer.query("select audit.seal_batch($1, 10000)", [horizon.rows[0].horizon]);
      const report = await sealer.query("select intact, events_unsealed::int from audit.verify_chain()");
      expect(report.rows[0]).toEqual({ intact: true, events_unsealed: 0 });
      const emails = await sealer.query(
        "select count(*)::int as n from audit.events where table_name = 'users' and id <= (select max(last_event_id) from audit.seals)",
      );
      expect(emails.rows[0].n).toBe(2);
    } finally {
      await slow.end();
      await sealer.end();
    }
  }));

test("the audit_seal job seals in batches through the real worker, and the chain continues across seals", () =>
  withScratchDatabase(async (databaseUrl) => {
    const env = testEnvironment({ DATABASE_URL: databaseUrl });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    await writeSomeRows(databaseUrl);
    await queryOnce(databaseUrl, "select graphile_worker.add_job('audit_seal', '{}'::json)");
    expect((await runCli(["worker", "--once"], env)).code).toBe(0);
    await queryOnce(databaseUrl, "select app_private.create_user('later@test.example', 'long-enough-1', 'coach')");
    await queryOnce(databaseUrl, "select graphile_worker.add_job('audit_seal', '{}'::json)");
    expect((await runCli(["worker", "--once"], env)).code).toBe(0);

    const seals = await queryOnce(databaseUrl, "select count(*)::int as n, bool_and(previous_hash is not null) as linked from audit.seals");
    expect(seals.rows[0]).toEqual({ n: 2, linked: true });
    const report = await queryOnce(databaseUrl, "select intact, seals_verified::int, events_unsealed::int from audit.verify_chain()");
    expect(report.rows[0]).toEqual({ intact: true, seals_verified: 2, events_unsealed: 0 });
  }));

test("a batch is a range of ids: sealing steps over a gap wider than a batch and stops only when nothing is left", () =>
  withScratchDatabase(async (databaseUrl) => {
    expect((await runCli(["migrate"], testEnvironment({ DATABASE_URL: databaseUrl }))).code).toBe(0);
    await writeSomeRows(databaseUrl);
    // A rolled-back write of many rows leaves a gap of ids wider than the batches below.
    await queryOnce(
      databaseUrl,
      `begin;
       select app_private.create_user(('gap-' || g || '@test.example')::citext, 'long-enough-1', 'coach') from generate_series(1, 5) g;
       rollback`,
    );
    await writeSomeRows(databaseUrl);
    const sealer = new pg.Client({ connectionString: databaseUrl });
    await sealer.connect();
    try {
      const horizon = (await sealer.query("select audit.seal_horizon() as horizon")).rows[0].horizon;
      const counts: number[] = [];
      for (;;) {
        const { rows } = await sealer.query("select audit.seal_batch($1, 3) as sealed", [horizon]);
        counts.push(rows[0].sealed);
        if (rows[0].sealed === 0) break;
      }
      expect(counts.every((count) => count <= 3)).toBe(true);
      const report = await sealer.query("select intact, events_verified::int, events_unsealed::int from audit.verify_chain()");
      const events = await sealer.query("select count(*)::int as n from audit.events");
      expect(report.rows[0]).toEqual({ intact: true, events_verified: events.rows[0].n, events_unsealed: 0 });
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(events.rows[0].n);
    } finally {
      await sealer.end();
    }
  }));
