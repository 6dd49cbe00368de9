import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { migrate } from "../../src/db/migrate.ts";
import { projectRoot } from "../../src/paths.ts";
import { runCli } from "../support/cli.ts";
import { closeRootPool, withRootDb } from "../support/db.ts";
import { TEST_AUTHENTICATOR_PASSWORD, testEnvironment } from "../support/environment.ts";
import { queryOnce, withScratchDatabase } from "../support/scratch-database.ts";

// Seals made before migration 000006 chained events one by one over a jsonb
// digest (version 1); later seals hash a batch at once (version 2). A
// database sealed before the upgrade keeps verifying after it, and the chain
// runs on from its last version 1 seal.

/** A migrations folder holding the committed migrations up to `last`, as a database that stopped there. */
function migrationsUpTo(last: string): string {
  const folder = fs.mkdtempSync(path.join(process.env.TEST_TMP_DIR!, "migrations-up-to-"));
  fs.mkdirSync(path.join(folder, "committed"));
  const committed = path.join(projectRoot, "migrations", "committed");
  for (const file of fs.readdirSync(committed).filter((name) => /^\d{6}/.test(name) && name.slice(0, 6) <= last)) {
    fs.copyFileSync(path.join(committed, file), path.join(folder, "committed", file));
  }
  return folder;
}

async function writeRows(databaseUrl: string, prefix: string, count: number): Promise<void> {
  await queryOnce(
    databaseUrl,
    `select app_private.create_user(($1 || '-' || g || '@' || md5(random()::text) || '.example')::citext, 'long-enough-1', 'coach')
     from generate_series(1, $2) g`,
    [prefix, count],
  );
}

/** As a superuser who switched the append-only triggers off. */
async function tamper(databaseUrl: string, sql: string, values: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("set session_replication_role = replica");
    await client.query(sql, values);
  } finally {
    await client.end();
  }
}

afterAll(closeRootPool);

const headOf = (stdout: string) => /^Chain head: ([0-9a-f]{64}) /m.exec(stdout)![1]!;

test("events sealed before migration 000006 still verify after it, the chain runs on from them, and tampering on either side is named", () =>
  withScratchDatabase(async (databaseUrl) => {
    const env = testEnvironment({ DATABASE_URL: databaseUrl });
    await migrate(databaseUrl, TEST_AUTHENTICATOR_PASSWORD, { migrationsFolder: migrationsUpTo("000005") });
    await writeRows(databaseUrl, "before", 3);
    // Sealed by the functions of migration 000005.
    await queryOnce(databaseUrl, "select audit.seal_batch(audit.seal_horizon(), 10000)");
    const before = await runCli(["audit", "verify"], env);
    expect(before.code).toBe(0);
    const savedHead = headOf(before.stdout);

    expect((await runCli(["migrate"], env)).code).toBe(0);
    await writeRows(databaseUrl, "after", 2);
    expect((await runCli(["audit", "seal"], env)).code).toBe(0);
    const seals = await queryOnce(
      databaseUrl,
      `select version, chain is not null as has_chain, digests is not null as has_digests,
              previous_hash = lag(hash) over (order by id) as continues
       from audit.seals order by id`,
    );
    expect(seals.rows).toEqual([
      { version: 1, has_chain: true, has_digests: false, continues: null },
      { version: 2, has_chain: false, has_digests: true, continues: true },
    ]);
    const { rows: [counts] } = await queryOnce(databaseUrl, "select count(*)::int as events from audit.events");
    const after = await runCli(["audit", "verify", "--head", savedHead], env);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(new RegExp(`^Audit trail intact: ${counts.events} events in 2 seals verified; 0 not sealed yet\\.\\n`));

    // An event of each seal altered, one at a time: verify names it and its seal.
    for (const sealId of [1, 2]) {
      const { rows: [target] } = await queryOnce(
        databaseUrl,
        `select e.id::text, e.new_values from audit.events e, audit.seals s
         where s.id = $1 and e.id between s.first_event_id and s.last_event_id and e.table_name = 'users'
         order by e.id limit 1`,
        [sealId],
      );
      await tamper(databaseUrl, "update audit.events set new_values = new_values || '{\"role\": \"admin\"}' where id = $1", [target.id]);
      const verdict = await runCli(["audit", "verify"], env);
      expect(verdict).toMatchObject({
        code: 1,
        stdout: `Audit trail TAMPERED: event ${target.id} was altered after it was sealed in seal ${sealId} (its content, attribution or position differs).\n`,
      });
      await tamper(databaseUrl, "update audit.events set new_values = $2 where id = $1", [target.id, target.new_values]);
    }
    expect((await runCli(["audit", "verify"], env)).code).toBe(0);
  }));

test("the version 2 digest covers every column of an event and does not depend on session settings", () =>
  withRootDb(async (client) => {
    const uuid = "5f0c6b7e-0000-4000-8000-000000000001";
    const event = {
      id: 7, occurred_at: "2026-03-04T05:06:07.123456Z", transaction_id: "1234", table_schema: "app_public", table_name: "clients",
      record_key: { id: 1 }, operation: "UPDATE", old_values: { notes: "a" }, new_values: { notes: "b" }, changed_columns: ["notes"],
      owner_id: uuid, subject_id: uuid, old_subject_id: uuid, details: { reason: "erasure" }, actor_kind: "user", user_id: uuid,
      user_role: "coach", request_id: "req-1", client_ip: "10.0.0.1", user_agent: "curl", task: "audit_seal", job_id: "9",
      database_role: "custodian_authenticator", session_user_name: "custodian", application_name: "custodian-api", client_addr: "127.0.0.1",
    };
    const digestOf = `with base as (select jsonb_populate_record(null::audit.events, $1) as e)
      select c.attname::text as column, audit.event_digest_v2(jsonb_populate_record(b.e, jsonb_build_object(c.attname, null))) = audit.event_digest_v2(b.e) as same,
             encode(audit.event_digest_v2(b.e), 'hex') as digest
      from base b, pg_catalog.pg_attribute c
      where c.attrelid = 'audit.events'::regclass and c.attnum > 0 and not c.attisdropped
      order by c.attnum`;
    const { rows } = await client.query(digestOf, [event]);
    // Every column is in the digest (a column added to audit.events must be too).
    expect(rows.map((row) => row.column).sort()).toEqual(Object.keys(event).sort());
    expect(rows.filter((row) => row.same)).toEqual([]);
    await client.query("set local timezone = 'Asia/Tokyo'; set local datestyle = 'SQL, DMY'; set local extra_float_digits = 0");
    const elsewhere = await client.query(digestOf, [event]);
    expect(elsewhere.rows[0].digest).toBe(rows[0].digest);
  }));
