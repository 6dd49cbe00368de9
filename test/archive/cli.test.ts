import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { writeVerifiedArchive } from "../../src/archive/archive.ts";
import { currentSchemaVersion } from "../../src/archive/schema-version.ts";
import { localDirectoryStore } from "../../src/archive/store.ts";
import { linesOf, writeSampleArchive } from "../support/archive.ts";
import { runCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { whileNoneErases } from "../support/gdpr.ts";

// `custodian archive list` and `archive verify` as an operator runs them, a
// tampered archive refused by restore with nothing written, audit events kept
// out of the trail, and values that must round-trip exactly (big numerics,
// identities, generated columns).

afterAll(closeRootPool);

const archiveDir = () => {
  const dir = path.join(process.env.TEST_TMP_DIR!, `archive-cli-${randomUUID().slice(0, 8)}`);
  fs.mkdirSync(dir);
  return dir;
};

test("archive list shows each archive from its manifest, and the folders it cannot read", async () => {
  const dir = archiveDir();
  const empty = await runCli(["archive", "list"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(empty).toEqual({ code: 0, stdout: `No archives in the directory ${dir}.\n`, stderr: "" });

  const store = localDirectoryStore(dir);
  const first = await writeSampleArchive(store);
  const second = await writeSampleArchive(store, { kind: "audit_partition", policy: null });
  const broken = randomUUID();
  fs.mkdirSync(path.join(dir, broken));
  fs.writeFileSync(path.join(dir, broken, "app_public.notes.jsonl.gz"), zlib.gzipSync("{}\n"));
  const result = await runCli(["archive", "list"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const lines = result.stdout.split("\n");
  expect(lines[0]).toBe(`Archives in the directory ${dir}:`);
  expect(lines[1]).toMatch(/^Archive +Kind +Policy +Created +Rows +Files$/);
  expect(lines).toContainEqual(`${broken}  ?                ?                     ?                         ?     unreadable: manifest.json is missing`);
  expect(lines.find((line) => line.startsWith(first.id))!.split(/ {2,}/)).toEqual([first.id, "rows", "soft_deleted_clients", first.manifest.createdAt, "10", "2"]);
  expect(lines.find((line) => line.startsWith(second.id))!.split(/ {2,}/)).toEqual([second.id, "audit_partition", "—", second.manifest.createdAt, "10", "2"]);
});

test("archive verify passes a sound archive and exits 1 naming each problem of a tampered one", async () => {
  const dir = archiveDir();
  const store = localDirectoryStore(dir);
  const sound = await writeSampleArchive(store);
  const tampered = await writeSampleArchive(store);
  const ok = await runCli(["archive", "verify", sound.id], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(ok).toEqual({ code: 0, stdout: `Archive ${sound.id}: verified (2 files, 10 rows).\n`, stderr: "" });

  const file = path.join(dir, tampered.id, "app_public.notes.jsonl.gz");
  const lines = zlib.gunzipSync(fs.readFileSync(file)).toString("utf8").split("\n");
  fs.writeFileSync(file, zlib.gzipSync(lines.slice(1).join("\n")));
  const bad = await runCli(["archive", "verify", tampered.id], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(bad.code).toBe(1);
  expect(bad.stdout).toMatch(new RegExp(
    `^Archive ${tampered.id}: DOES NOT VERIFY\\n` +
      `  - app_public.notes.jsonl.gz \\(app_public.notes\\): SHA-256 is [0-9a-f]{64}, the manifest says ${tampered.manifest.files[0]!.sha256}\\n` +
      `  - app_public.notes.jsonl.gz \\(app_public.notes\\): \\d+ bytes, the manifest says ${tampered.manifest.files[0]!.bytes}\\n` +
      "  - app_public.notes.jsonl.gz \\(app_public.notes\\): 9 rows, the manifest says 10\\n$"));

  const all = await runCli(["archive", "verify", "--all"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(all.code).toBe(1);
  expect(all.stdout).toContain(`Archive ${sound.id}: verified (2 files, 10 rows).\n`);
  expect(all.stdout).toContain(`Archive ${tampered.id}: DOES NOT VERIFY\n`);
  expect(all.stdout).toMatch(/1 of 2 archives do not verify\.\n$/);

  const absent = randomUUID();
  const missing = await runCli(["archive", "verify", absent], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(missing).toEqual({ code: 1, stdout: `Archive ${absent}: DOES NOT VERIFY\n  - there is no archive ${absent} in the directory ${dir}\n`, stderr: "" });
  const notAnId = await runCli(["archive", "verify", "last-week"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(notAnId).toEqual({ code: 1, stdout: "", stderr: 'custodian: An archive id is a UUID, as `custodian archive list` shows it (got "last-week").\n' });
  const unmounted = await runCli(["archive", "list"], testEnvironment({ ARCHIVE_DIR: path.join(dir, "not-mounted") }));
  expect(unmounted.stderr).toBe(`custodian: The archive directory ${path.join(dir, "not-mounted")} does not exist; create it or set ARCHIVE_DIR to one that does.\n`);
});

test("restore refuses a tampered archive before writing anything, and audit events go only to an inspection schema", async () => {
  const dir = archiveDir();
  const store = localDirectoryStore(dir);
  const clientId = randomUUID();
  const row = { id: clientId, full_name: "Never restored", email: "never@test.example" };
  const id = randomUUID();
  await writeVerifiedArchive(store, {
    id, kind: "rows", policy: null, runId: null, schemaVersion: "000010.sql", timeRange: { from: null, to: null },
    tables: [{ table: "app_public.clients", lines: linesOf([JSON.stringify(row)]) }],
  });
  const manifestFile = path.join(dir, id, "manifest.json");
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  manifest.files[0].rows = 2;
  fs.writeFileSync(manifestFile, JSON.stringify(manifest));
  const refused = await runCli(["archive", "restore", id], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(refused).toEqual({
    code: 1,
    stdout: `Archive ${id}: DOES NOT VERIFY, nothing restored\n  - app_public.clients.jsonl.gz (app_public.clients): 1 rows, the manifest says 2\n`,
    stderr: "",
  });
  const restorations = await rootPool().query("select count(*)::int as n from governance.archive_restorations where archive_id = $1", [id]);
  expect(restorations.rows[0].n).toBe(0);

  const trail = randomUUID();
  await writeVerifiedArchive(store, {
    id: trail, kind: "audit_partition", policy: "audit_events", runId: null, schemaVersion: "000010.sql", timeRange: { from: null, to: null },
    tables: [{ table: "audit.events", lines: linesOf(['{"id": 1}']) }],
  });
  const intoTrail = await runCli(["archive", "restore", trail], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(intoTrail).toEqual({
    code: 1,
    stdout: "",
    stderr: "custodian: audit.events is the append-only audit trail: archived audit events are never written back into it. Restore them into an inspection schema with --into-schema NAME.\n",
  });
  const reserved = await runCli(["archive", "restore", trail, "--into-schema", "audit"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(reserved.stderr).toBe(`custodian: --into-schema takes a new schema's name, lowercase letters, digits and _ (not one of Custodian's or PostgreSQL's own); got "audit".\n`);
  const noTable = await runCli(["archive", "restore", trail, "--table", "app_public.clients"], testEnvironment({ ARCHIVE_DIR: dir }));
  expect(noTable.stderr).toBe(`custodian: Archive ${trail} holds no rows of app_public.clients; it holds audit.events.\n`);
});

test("archived audit events restore into an inspection schema, every column as archived", () => whileNoneErases(async () => {
  const archived = (await rootPool().query<{ line: string }>("select to_jsonb(e)::text as line from audit.events e order by e.id limit 20")).rows.map((row) => row.line);
  expect(archived.length).toBeGreaterThan(0);
  const dir = archiveDir();
  const id = randomUUID();
  // Written at the database's own schema version, so that restore has no difference of versions to note.
  const client = await rootPool().connect();
  const schemaVersion = await currentSchemaVersion(client).finally(() => client.release());
  await writeVerifiedArchive(localDirectoryStore(dir), {
    id, kind: "audit_partition", policy: "audit_events", runId: null, schemaVersion, timeRange: { from: null, to: null },
    tables: [{ table: "audit.events", lines: linesOf(archived) }], extra: { checkpoint: { eventId: 0 } },
  });
  const schema = `inspect_${randomUUID().slice(0, 8)}`;
  try {
    const result = await runCli(["archive", "restore", id, "--into-schema", schema], testEnvironment({ ARCHIVE_DIR: dir }));
    expect(result.stdout).toBe(
      `Archive ${id} restored into schema ${schema} for inspection:\n` +
        `  audit.events → ${schema}.events: ${archived.length} restored, 0 already there (skipped), 0 not restored, of ${archived.length}\n`,
    );
    expect(result.code).toBe(0);
    const restored = (await rootPool().query<{ line: string }>(`select to_jsonb(e)::text as line from ${schema}.events e order by e.id`)).rows.map((row) => row.line);
    expect(restored).toEqual(archived);
  } finally {
    await rootPool().query("select governance.drop_inspection_schema($1)", [schema]);
  }
}), 180_000); // waits while files that erase run

test("restored values round-trip exactly: big numerics, floats, arrays, bytes, identities kept and generated columns recomputed", async () => {
  // In public, which the catalog and personal-data tests leave out, so that this committed table disturbs no other file.
  const table = `public.archive_probe_${randomUUID().slice(0, 8)}`;
  await rootPool().query(`create table ${table} (
    id bigint generated always as identity primary key,
    amount numeric not null,
    doubled numeric generated always as (amount * 2) stored,
    ratio double precision,
    measured_at timestamptz,
    tags integer[],
    payload bytea)`);
  await rootPool().query(`alter table ${table} owner to custodian_owner`);
  try {
    await rootPool().query(
      `insert into ${table} (amount, ratio, measured_at, tags, payload) values
        (12345678901234567890.123456789012, 0.1, '2026-01-02T03:04:05.123456Z', '{1,2,3}', '\\x00ff10'),
        (-0.000000000000000001, 1e300, null, '{}', null)`);
    const archived = (await rootPool().query<{ line: string }>(`select to_jsonb(t)::text as line from ${table} t order by id`)).rows.map((row) => row.line);
    const dir = archiveDir();
    const id = randomUUID();
    await writeVerifiedArchive(localDirectoryStore(dir), {
      id, kind: "rows", policy: null, runId: null, schemaVersion: "000001.sql", timeRange: { from: null, to: null },
      tables: [{ table, lines: linesOf(archived) }],
    });
    await rootPool().query(`delete from ${table}`);

    const result = await runCli(["archive", "restore", id], testEnvironment({ ARCHIVE_DIR: dir }));
    expect(result.stdout).toBe(
      `Archive ${id} restored into its original tables:\n  ${table}: 2 restored, 0 already there (skipped), 0 not restored, of 2\n` +
        `Note: The archive was written at schema version 000001.sql; the database is at ${(await rootPool().query("select max(filename) as v from graphile_migrate.migrations")).rows[0].v}.\n`,
    );
    expect(result.code).toBe(0);
    const restored = (await rootPool().query<{ line: string }>(`select to_jsonb(t)::text as line from ${table} t order by id`)).rows.map((row) => row.line);
    expect(restored).toEqual(archived);
    // The identity moved past the restored ids: the next ordinary insert takes a new one.
    const next = await rootPool().query(`insert into ${table} (amount) values (1) returning id`);
    expect(Number(next.rows[0].id)).toBe(3);
  } finally {
    await rootPool().query(`drop table ${table}`);
  }
});
