import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import pg from "pg";
import { localDirectoryStore } from "../../src/archive/store.ts";
import { ownerUrl } from "../../src/db/connection-strings.ts";
import { archiveExpiredAuditPartitions } from "../../src/retention/audit-partitions.ts";
import { scratchDirectory } from "../support/archive.ts";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";

// Months of the audit trail leave whole: archived with their seals, then
// detached and dropped, with a checkpoint of the chain. The file builds its
// own database (dropping months cannot be rolled back) with three months of
// 2019 whose events come before every other (ids below the migration's, as
// they would have been had the trail existed then), sealed a month a seal,
// and one month written later (ids above). The retention period is the
// shipped audit_events policy's, 7 years; every run is judged at a pinned
// instant (asOf), never the day the test runs.

let scratch: ScratchDatabase;
let owner: pg.Client;
let root: pg.Client;
let archiveDir: { dir: string; remove: () => void };
let env: Record<string, string>;

const store = () => localDirectoryStore(archiveDir.dir);
const run = (asOf: string, dryRun = false) => archiveExpiredAuditPartitions(owner, store(), { runId: null, asOf: new Date(asOf), dryRun });

/** Events of a month at pinned instants, as the owner writes them; `ids` pins their ids when given. */
async function writeMonth(month: string, count: number, firstId: number | null): Promise<void> {
  await owner.query(
    `insert into audit.events (id, occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, actor_kind)
     overriding system value
     select coalesce($3::bigint + g - 1, nextval('audit.events_id_seq')), $1::timestamptz + g * interval '1 minute', '1'::xid8,
            'public', 'old_notes', jsonb_build_object('id', g), 'INSERT', jsonb_build_object('id', g, 'month', $1::text), 'system'
     from generate_series(1, $2::int) g`,
    [`${month}-01 00:00:00+00`, count, firstId],
  );
}

/** As a superuser who switched the append-only triggers off. */
async function tamper(sql: string, values: unknown[] = []): Promise<void> {
  await root.query("set session_replication_role = replica");
  try {
    await root.query(sql, values);
  } finally {
    await root.query("set session_replication_role = origin");
  }
}

const partitionExists = async (name: string) => (await owner.query("select to_regclass($1) is not null as exists", [`audit.${name}`])).rows[0].exists;

beforeAll(async () => {
  scratch = await openScratchDatabase();
  archiveDir = scratchDirectory("partition-archive");
  env = testEnvironment({ DATABASE_URL: scratch.url, ARCHIVE_DIR: archiveDir.dir });
  expect((await runCli(["migrate"], env)).code).toBe(0);
  owner = new pg.Client({ connectionString: ownerUrl(scratch.url) });
  root = new pg.Client({ connectionString: scratch.url });
  await owner.connect();
  await root.connect();
  // The partitions the hourly job would have made then, and the months' events, each month sealed apart.
  await owner.query("select audit.create_month_partition('audit.events', m::date) from generate_series('2019-01-01'::date, '2019-04-01', '1 month') m");
  for (const [index, month] of ["2019-01", "2019-02", "2019-03"].entries()) {
    await writeMonth(month, 200, -3000 + 200 * index);
    await owner.query("select audit.seal_batch(-3000 + 200 * $1 + 199, 200)", [index]);
  }
  expect((await runCli(["audit", "seal"], env)).code).toBe(0);
  // April 2019 written now, with new ids: not sealed yet.
  await writeMonth("2019-04", 50, null);
}, 120_000);

afterAll(async () => {
  await owner?.end();
  await root?.end();
  await scratch?.drop();
  archiveDir?.remove();
});

test("a dry run says which months would go and why the others stay, and changes nothing", async () => {
  // A stray of a month long past, in the default partition (no partition of its own).
  await writeMonth("2018-06", 1, null);
  const result = await run("2026-05-15T00:00:00Z", true);
  expect(result).toMatchObject({ partitionsArchived: 3, rowsArchived: 600, partitionsDropped: 3, rowsDropped: 600 });
  const spared = Object.fromEntries(result.spared.map((entry) => [entry.partition, entry.reason]));
  expect(spared.events_2019_04).toBe("not sealed yet: 50 of its events wait for a seal");
  expect(spared.events_default).toBe(
    "the default partition holds 1 events of 2018-06, a month past its period: partition maintenance moves them into a partition of their own, which a later run archives",
  );
  const thisMonth = (await owner.query("select audit.partition_name('audit.events', (now() at time zone 'UTC')::date) as name")).rows[0].name;
  expect(spared[thisMonth]).toMatch(/^within the retention period: kept until \d{4}-\d{2}-01$/);
  for (const month of ["01", "02", "03", "04"]) expect(await partitionExists(`events_2019_${month}`)).toBe(true);
  expect((await owner.query("select count(*)::int as n from app_public.retention_archives")).rows[0].n).toBe(0);
  expect(fs.readdirSync(archiveDir.dir)).toEqual([]);
});

test("a month whose events no longer verify against their seals stays", async () => {
  const { rows: [event] } = await owner.query("select id::text, new_values from audit.events where occurred_at >= '2019-01-01Z' and occurred_at < '2019-02-01Z' order by id offset 5 limit 1");
  await tamper("update audit.events set new_values = '{\"id\": 0}' where id = $1", [event.id]);
  try {
    const result = await run("2026-02-15T00:00:00Z", true);
    expect(result.partitionsArchived).toBe(0);
    expect(result.spared.find((entry) => entry.partition === "events_2019_01")?.reason).toMatch(
      new RegExp(`^verify failed: event ${event.id} was altered after it was sealed in seal \\d+$`),
    );
  } finally {
    await tamper("update audit.events set new_values = $2 where id = $1", [event.id, event.new_values]);
  }
});

test("expired months are archived with their seals and dropped; `audit verify` starts from the checkpoint and each archive verifies on its own", async () => {
  const result = await run("2026-03-15T00:00:00Z");
  expect(result.partitionsArchived).toBe(2);
  expect(result.rowsArchived).toBe(400);
  expect(result.partitionsDropped).toBe(2);
  expect(result.rowsDropped).toBe(400);
  expect(result.spared.map((entry) => entry.partition)).not.toContain("events_2019_01");
  expect(await partitionExists("events_2019_01")).toBe(false);
  expect(await partitionExists("events_2019_02")).toBe(false);
  expect(await partitionExists("events_2019_03")).toBe(true);

  const { rows: checkpoints } = await owner.query(
    `select c.partition_name, c.event_count::int, c.first_event_id::text, c.last_event_id::text, c.continues_after_event_id::text,
            c.archive_id::text, a.kind, a.rows_removed_at is not null as removed, a.row_count::int
     from audit.chain_checkpoints c join app_public.retention_archives a on a.id = c.archive_id order by c.id`,
  );
  expect(checkpoints).toEqual([
    expect.objectContaining({ partition_name: "events_2019_01", event_count: 200, first_event_id: "-3000", last_event_id: "-2801", continues_after_event_id: "-2801", kind: "audit_partition", removed: true, row_count: 201 }),
    expect.objectContaining({ partition_name: "events_2019_02", event_count: 200, first_event_id: "-2800", last_event_id: "-2601", continues_after_event_id: "-2601", kind: "audit_partition", removed: true, row_count: 201 }),
  ]);

  const verdict = await runCli(["audit", "verify"], env);
  expect(verdict).toMatchObject({ code: 0, stderr: "" });
  expect(verdict.stdout).toMatch(/^Audit trail intact: \d+ events in \d+ seals verified; \d+ not sealed yet\.\n/);
  const sealId = (await owner.query("select id::text from audit.seals where last_event_id = -2601")).rows[0].id;
  expect(verdict.stdout).toContain(
    `Verified from checkpoint at event -2601 (seal ${sealId}), month 2019-02 archived in archive ${checkpoints[1].archive_id}; ` +
      `2 months archived and dropped in all (2019-01, 2019-02), each archive in the directory ${archiveDir.dir}.\n`,
  );

  const archived = await runCli(["audit", "verify", "--archive", checkpoints[0].archive_id], env);
  expect(archived).toMatchObject({
    code: 0,
    stdout:
      `Archive ${checkpoints[0].archive_id} verifies: 200 events of 2019-01 (audit.events_2019_01) match their digests in 1 archived seals, and each seal follows from its digests and the one before it.\n` +
      "The live chain continues after seal 1 (event -2801, " +
      `hash ${(await owner.query("select encode(hash, 'hex') as h from audit.seals where id = 1")).rows[0].h}).\n`,
  });
});

test("after a drop, tampering with an event that remains is caught, and DELETE on the trail is still refused", async () => {
  const { rows: [event] } = await owner.query("select id::text, new_values from audit.events where occurred_at >= '2019-03-01Z' and occurred_at < '2019-04-01Z' order by id limit 1");
  await tamper("update audit.events set new_values = '{\"id\": 0}' where id = $1", [event.id]);
  const verdict = await runCli(["audit", "verify"], env);
  expect(verdict.code).toBe(1);
  expect(verdict.stdout).toMatch(new RegExp(`^Audit trail TAMPERED: event ${event.id} was altered after it was sealed in seal \\d+ \\(its content, attribution or position differs\\)\\.\\n$`));
  await tamper("update audit.events set new_values = $2 where id = $1", [event.id, event.new_values]);
  expect((await runCli(["audit", "verify"], env)).code).toBe(0);

  for (const client of [owner, root]) {
    await expect(client.query("delete from audit.events where id = $1", [event.id])).rejects.toMatchObject({ code: "42501", message: expect.stringMatching(/append-only/) });
    await expect(client.query("truncate audit.events_2019_03")).rejects.toMatchObject({ code: "42501" });
  }
});

test("a checkpoint is append-only and refused unless it describes the chain; a forged one does not make a tampered chain pass", async () => {
  const checkpointColumns =
    "partition_name, month, event_count, first_event_id, last_event_id, event_ids, first_seal_id, last_seal_id, continues_from_seal_id, continues_after_event_id, continues_from_hash, archive_id, archive_store";
  const { rows: [real] } = await owner.query("select id, archive_id from audit.chain_checkpoints order by id limit 1");
  const { rows: [victim] } = await owner.query(
    "select id::text, (select id::text from audit.seals s where s.last_event_id >= e.id order by s.id limit 1) as seal_id from audit.events e where occurred_at >= '2019-03-01Z' and occurred_at < '2019-04-01Z' order by id offset 10 limit 1",
  );
  const forged = (archive: string) =>
    `insert into audit.chain_checkpoints (${checkpointColumns})
     values ('events_2019_07', '2019-07-01', 1, ${victim.id}, ${victim.id}, '{[${victim.id},${Number(victim.id) + 1})}', ${victim.seal_id}, ${victim.seal_id},
             null, null, audit.genesis_hash(), '${archive}', 'directory /nowhere')`;

  // API roles read checkpoints at most; none writes one.
  for (const role of ["custodian_admin", "custodian_auditor", "custodian_coach"]) {
    await root.query("begin");
    await root.query(`set local role ${role}`);
    await expect(root.query(forged(real.archive_id))).rejects.toMatchObject({ code: "42501" });
    await root.query("rollback");
  }
  // Append-only for the owner too.
  await expect(owner.query("update audit.chain_checkpoints set continues_after_event_id = 0")).rejects.toMatchObject({ code: "42501", message: expect.stringMatching(/append-only/) });
  await expect(owner.query("delete from audit.chain_checkpoints")).rejects.toMatchObject({ code: "42501" });
  await expect(owner.query("truncate audit.chain_checkpoints")).rejects.toMatchObject({ code: "42501" });
  // A checkpoint for an event still in the trail is refused, even to the owner.
  const { rows: [record] } = await owner.query(
    "insert into app_public.retention_archives (id, kind, store) values (gen_random_uuid(), 'audit_partition', 'directory /nowhere') returning id::text",
  );
  await expect(owner.query(forged(record.id))).rejects.toMatchObject({
    code: "23514",
    message: expect.stringMatching(
      new RegExp(`^A checkpoint must describe the chain as it is: checkpoint \\d+ was forged: event ${victim.id}, which it says left with events_2019_07, is still in the trail\\.$`),
    ),
  });

  // A superuser deletes an event and, triggers off, forges a checkpoint excusing it: verify still fails.
  await root.query("create table public.saved_event as select * from audit.events where id = $1", [victim.id]);
  await tamper(`delete from audit.events where id = ${victim.id}`);
  await tamper(forged(record.id));
  let verdict = await runCli(["audit", "verify"], env);
  expect(verdict.code).toBe(1);
  expect(verdict.stdout).toMatch(/^Audit trail TAMPERED: checkpoint \d+ was forged: no archive of its events is recorded \(archive [0-9a-f-]{36}\)\.\n$/);
  // ... and with the archive's record forged too, the archive store gives it away.
  const manifest = { kind: "audit_partition", extra: { checkpoint: { partition: "events_2019_07", eventIds: `{[${victim.id},${Number(victim.id) + 1})}` } } };
  await tamper("update app_public.retention_archives set manifest = $2, written_at = now(), verified_at = now(), rows_removed_at = now() where id = $1", [record.id, manifest]);
  expect((await owner.query("select intact from audit.verify_chain()")).rows[0].intact).toBe(true);
  verdict = await runCli(["audit", "verify"], env);
  expect(verdict.code).toBe(1);
  expect(verdict.stdout).toBe(
    `Audit trail TAMPERED: checkpoint ${(await owner.query("select max(id)::text as id from audit.chain_checkpoints")).rows[0].id} (month 2019-07) names archive ${record.id}, ` +
      `which the directory ${archiveDir.dir} does not hold (manifest.json is missing): the checkpoint was forged, or the archive was lost.\n`,
  );

  // Undo, as the superuser can.
  await tamper(`delete from audit.chain_checkpoints where partition_name = 'events_2019_07'`);
  await tamper("delete from app_public.retention_archives where id = $1", [record.id]);
  await tamper("insert into audit.events overriding system value select * from public.saved_event");
  await root.query("drop table public.saved_event");
  expect((await runCli(["audit", "verify"], env)).code).toBe(0);
});

test("a tampered archive file is refused by `audit verify --archive`, even with its manifest rewritten to match", async () => {
  const { rows: [checkpoint] } = await owner.query("select archive_id::text from audit.chain_checkpoints where partition_name = 'events_2019_02'");
  const file = path.join(archiveDir.dir, checkpoint.archive_id, "audit.events.jsonl.gz");
  const manifestFile = path.join(archiveDir.dir, checkpoint.archive_id, "manifest.json");
  const original = fs.readFileSync(file);
  const originalManifest = fs.readFileSync(manifestFile);
  try {
    const lines = zlib.gunzipSync(original).toString("utf8").split("\n");
    const edited = JSON.parse(lines[3]!);
    edited.new_values = { id: 0 };
    lines[3] = JSON.stringify(edited);
    const tampered = zlib.gzipSync(lines.join("\n"));
    fs.writeFileSync(file, tampered);
    let verdict = await runCli(["audit", "verify", "--archive", checkpoint.archive_id], env);
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toMatch(new RegExp(`^Archive ${checkpoint.archive_id} does NOT verify:\\n  - audit\\.events\\.jsonl\\.gz \\(audit\\.events\\): SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}\\n`));

    // The manifest rewritten to the tampered file's checksum: the seals still catch the edit.
    const manifest = JSON.parse(originalManifest.toString("utf8"));
    const entry = manifest.files.find((candidate: { table: string }) => candidate.table === "audit.events");
    entry.sha256 = createHash("sha256").update(tampered).digest("hex");
    entry.bytes = tampered.length;
    fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
    verdict = await runCli(["audit", "verify", "--archive", checkpoint.archive_id], env);
    expect(verdict).toMatchObject({
      code: 1,
      stdout: `Archive ${checkpoint.archive_id} does NOT verify:\n  - event ${edited.id} was altered after it was sealed in seal ${(await owner.query("select id::text from audit.seals where last_event_id = -2601")).rows[0].id}\n`,
    });
  } finally {
    fs.writeFileSync(file, original);
    fs.writeFileSync(manifestFile, originalManifest);
  }
  expect((await runCli(["audit", "verify", "--archive", checkpoint.archive_id], env)).code).toBe(0);
});

test("a run stopped between archive and drop leaves the month in place, and the next run drops it with the same archive", async () => {
  // A long reader holds the trail: the drop gives up after its lock timeout, as a crash there would leave things.
  const reader = new pg.Client({ connectionString: scratch.url });
  await reader.connect();
  let first;
  try {
    await reader.query("begin");
    await reader.query("select count(*) from audit.events");
    first = await run("2026-04-15T00:00:00Z");
  } finally {
    await reader.query("rollback");
    await reader.end();
  }
  expect(first).toMatchObject({ partitionsArchived: 1, rowsArchived: 200, partitionsDropped: 0, rowsDropped: 0 });
  const stopped = first.spared.find((entry) => entry.partition === "events_2019_03");
  expect(stopped?.reason).toMatch(/^archived in [0-9a-f-]{36}, not dropped yet: a long read held the audit trail; the next run drops it$/);
  const archiveId = /archived in ([0-9a-f-]{36})/.exec(stopped!.reason)![1];
  expect(await partitionExists("events_2019_03")).toBe(true);
  const { rows: [record] } = await owner.query("select verified_at is not null as verified, rows_removed_at from app_public.retention_archives where id = $1", [archiveId]);
  expect(record).toEqual({ verified: true, rows_removed_at: null });
  expect((await runCli(["audit", "verify"], env)).code).toBe(0);
  // Earlier still: the archive was on disk but its record not yet marked written. The next run adopts it all the same.
  await owner.query("update app_public.retention_archives set manifest = null, written_at = null, verified_at = null where id = $1", [archiveId]);

  const second = await run("2026-04-15T00:00:00Z");
  expect(second).toMatchObject({ partitionsArchived: 0, rowsArchived: 0, partitionsDropped: 1, rowsDropped: 200 });
  expect(await partitionExists("events_2019_03")).toBe(false);
  const { rows } = await owner.query(
    "select c.archive_id::text from audit.chain_checkpoints c where c.partition_name = 'events_2019_03'",
  );
  expect(rows).toEqual([{ archive_id: archiveId }]);
  const { rows: [adopted] } = await owner.query(
    "select verified_at is not null as verified, rows_removed_at is not null as removed, manifest ->> 'id' as manifest_id from app_public.retention_archives where id = $1",
    [archiveId],
  );
  expect(adopted).toEqual({ verified: true, removed: true, manifest_id: archiveId });
  expect((await owner.query("select count(*)::int as n from app_public.retention_archives where manifest -> 'extra' -> 'checkpoint' ->> 'partition' = 'events_2019_03'")).rows[0].n).toBe(1);
  // A third run finds nothing more to do.
  expect(await run("2026-04-15T00:00:00Z")).toMatchObject({ partitionsArchived: 0, partitionsDropped: 0 });
});

test("a month whose ids lie among the remaining events is dropped once sealed, and verify passes over exactly its ids", async () => {
  expect((await runCli(["audit", "seal"], env)).code).toBe(0);
  const result = await run("2026-05-15T00:00:00Z");
  expect(result).toMatchObject({ partitionsArchived: 1, rowsArchived: 50, partitionsDropped: 1 });
  const verdict = await runCli(["audit", "verify"], env);
  expect(verdict.code).toBe(0);
  expect(verdict.stdout).toContain("month 2019-03 archived in archive");
  expect(verdict.stdout).toContain("4 months archived and dropped in all (2019-01, 2019-02, 2019-03, 2019-04)");
  // An event sealed alongside the dropped month's, and still in the trail, is still checked.
  const { rows: [neighbour] } = await owner.query(
    "select e.id::text, e.new_values from audit.events e, audit.chain_checkpoints c where c.partition_name = 'events_2019_04' and e.id > c.last_event_id order by e.id limit 1",
  );
  await tamper("update audit.events set new_values = '{\"id\": 0}' where id = $1", [neighbour.id]);
  expect((await runCli(["audit", "verify"], env)).stdout).toMatch(new RegExp(`^Audit trail TAMPERED: event ${neighbour.id} was altered`));
  await tamper("update audit.events set new_values = $2 where id = $1", [neighbour.id, neighbour.new_values]);
  expect((await runCli(["audit", "verify"], env)).code).toBe(0);
});

test("`custodian retention run --policy audit_events` archives and drops a month through the runner, recording its archive under the run", async () => {
  await owner.query("select audit.create_month_partition('audit.events', '2019-05-01')");
  await writeMonth("2019-05", 30, null);
  expect((await runCli(["audit", "seal"], env)).code).toBe(0);
  const ran = await runCli(["retention", "run", "--policy", "audit_events", "--as-of", "2026-06-15T00:00:00Z"], env);
  expect(ran).toMatchObject({ code: 0 });
  expect(ran.stdout).toMatch(/^Retention run [0-9a-f-]{36} as of 2026-06-15T00:00:00\.000Z: finished\n/);
  expect(await partitionExists("events_2019_05")).toBe(false);
  const { rows } = await owner.query(
    `select a.policy_name, a.run_id is not null and a.run_id = r.id as under_run, a.row_count::int, c.event_count::int
     from audit.chain_checkpoints c
     join app_public.retention_archives a on a.id = c.archive_id
     join app_public.retention_runs r on r.as_of = '2026-06-15T00:00:00Z'
     where c.partition_name = 'events_2019_05'`,
  );
  expect(rows).toEqual([{ policy_name: "audit_events", under_run: true, row_count: 31, event_count: 30 }]);
  expect((await runCli(["audit", "verify"], env)).code).toBe(0);
});
