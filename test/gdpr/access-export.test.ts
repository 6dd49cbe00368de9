import crypto from "node:crypto";
import type pg from "pg";
import { buildDataSubjectExport, type ExportManifest } from "../../src/gdpr/data-subject-export.ts";
import { exportBytes } from "../../src/gdpr/export-chunks.ts";
import { becomeRoot, becomeUser, closeRootPool, commitAs, errorOf, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type User } from "../support/fixtures.ts";
import { readZip } from "../support/zip.ts";
import { holdOffInspectionCopiesWhileThisFileRuns } from "../support/gdpr.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// The access and portability export (issue 16, point 3), in SQL and in the
// builder the worker runs: which rows are about a person (from the map of
// personal data), who may ask for an export, one export per request, the
// zip's contents and manifest, and expiry. Each test is rolled back; the
// worker, the REST download and the CLI are in export-download.test.ts and
// export-cli.test.ts.

afterAll(closeRootPool);

/** A coach's client with history: a second session, soft-deleted; the email changed (the old one only in the audit trail). */
async function clientWithHistory(client: pg.ClientBase, label: string) {
  const coach = await createCoach(client, label);
  const deleted = await client.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'Session about the divorce', '2026-11-02T10:00:00Z', 'recordings/deleted.m4a', 600) returning id`, [coach.clientId]);
  await client.query("delete from app_public.coaching_sessions where id = $1", [deleted.rows[0].id]);
  const oldEmail = (await client.query("select email from app_public.clients where id = $1", [coach.clientId])).rows[0].email as string;
  const newEmail = `new-${label}@test.example`;
  await client.query("update app_public.clients set email = $2 where id = $1", [coach.clientId, newEmail]);
  return { coach, deletedSessionId: deleted.rows[0].id as string, oldEmail, newEmail };
}

/** Files an access request for the client as the admin and verifies it; returns its id (still acting as the admin). */
async function verifiedRequest(client: pg.ClientBase, admin: User, clientId: string, kind = "access"): Promise<string> {
  await becomeUser(client, admin);
  const { rows } = await client.query("insert into app_public.data_subject_requests (kind, client_id) values ($1, $2) returning id", [kind, clientId]);
  await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'Called back on the number on file' where id = $1", [rows[0].id]);
  return rows[0].id;
}

async function rowsAbout(client: pg.ClientBase, clientId: string) {
  const { rows } = await client.query("select table_name, row_data from governance.subject_rows('client', $1)", [clientId]);
  const byTable = new Map<string, Record<string, any>[]>();
  for (const row of rows) byTable.set(row.table_name, [...(byTable.get(row.table_name) ?? []), row.row_data]);
  return byTable;
}

test("the rows about a client come from the map: every table with client data, soft-deleted rows included, and the trail's events with their pii decrypted", () =>
  withRootDb(async (client) => {
    const { coach, deletedSessionId, oldEmail, newEmail } = await clientWithHistory(client, "export-rows");
    const other = await createCoach(client, "export-other");
    const admin = await createUser(client, "admin");
    const requestId = await verifiedRequest(client, admin, coach.clientId);
    await becomeRoot(client);

    const rows = await rowsAbout(client, coach.clientId);
    expect([...rows.keys()]).toEqual([
      "app_public.clients", "app_public.coaching_sessions", "app_public.consents", "app_public.data_subject_requests", "app_public.transcriptions",
      "audit.events"]);
    expect(rows.get("app_public.clients")).toEqual([expect.objectContaining({ id: coach.clientId, email: newEmail, is_deleted: false })]);
    expect(rows.get("app_public.coaching_sessions")!.map((row) => [row.id, row.is_deleted]).sort()).toEqual(
      [[coach.sessionId, false], [deletedSessionId, true]].sort());
    expect(rows.get("app_public.transcriptions")).toEqual([expect.objectContaining({ id: coach.transcriptionId, transcript_text: "Hello." })]);
    expect(rows.get("app_public.data_subject_requests")).toEqual([expect.objectContaining({ id: requestId, verification: "Called back on the number on file" })]);

    const events = rows.get("audit.events")!;
    const emailChange = events.find((event) => event.table_name === "clients" && event.operation === "UPDATE");
    expect(emailChange).toMatchObject({ subject_id: coach.clientId, old_values: { email: oldEmail }, new_values: { email: newEmail } });
    expect(events.find((event) => event.table_name === "coaching_sessions" && event.operation === "SOFT_DELETE")).toMatchObject({
      record_key: { id: deletedSessionId } });
    // Decrypted everywhere: no sealed value is left in the export.
    expect(JSON.stringify(events)).not.toContain('"$pii"');
    // Nobody else's rows.
    expect(JSON.stringify([...rows.values()])).not.toContain(other.clientId);
  }));

test("a table classified later is found without a change to the export, and one with no path to the person is named, not searched", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "export-later");
    await client.query(`create table app_public.test_consent_records (
      id uuid primary key default gen_random_uuid(), client_id uuid not null, wording text not null)`);
    await client.query(`select governance.classify_column('app_public.test_consent_records', 'wording', 'content', 'client',
      'Proof of consent.', 'consent', subject_column => 'client_id')`);
    await client.query("insert into app_public.test_consent_records (client_id, wording) values ($1, 'I agree to be recorded (v3)')", [coach.clientId]);

    const rows = await rowsAbout(client, coach.clientId);
    expect(rows.get("app_public.test_consent_records")).toEqual([
      { id: expect.any(String), client_id: coach.clientId, wording: "I agree to be recorded (v3)" }]);
    const sources = (await client.query("select table_name, where_sql from governance.subject_row_sources('client')")).rows;
    expect(sources).toContainEqual({ table_name: "app_public.test_consent_records", where_sql: "t.client_id operator(pg_catalog.=) $1" });
    expect(sources).toContainEqual({ table_name: "governance.hard_deletions", where_sql: null });
  }));

test("an event whose record moved to another client shows each person only their own pii", () =>
  withRootDb(async (client) => {
    const first = await createCoach(client, "export-moved");
    const second = (await client.query(
      "insert into app_public.clients (coach_profile_id, full_name, email) values ($1, 'Second client', 'second@test.example') returning id",
      [first.profileId])).rows[0].id as string;
    await client.query("update app_public.coaching_sessions set client_id = $2, title = 'Renamed for the second client' where id = $1", [first.sessionId, second]);

    const moved = (rows: Map<string, Record<string, any>[]>) =>
      rows.get("audit.events")!.find((event) => event.table_name === "coaching_sessions" && event.operation === "UPDATE");
    const firstView = moved(await rowsAbout(client, first.clientId));
    expect(firstView).toMatchObject({ old_subject_id: first.clientId, subject_id: second,
      old_values: { title: "Kick-off" }, new_values: { title: { $redacted: "another person's data" } } });
    const secondView = moved(await rowsAbout(client, second));
    expect(secondView).toMatchObject({ old_values: { title: { $redacted: "another person's data" } }, new_values: { title: "Renamed for the second client" } });
  }));

test("a user account's rows: their account and profile, and the events they wrote with their clients' pii redacted", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "export-user");
    await becomeUser(client, coach.user);
    await client.query("update app_public.clients set notes = 'Talked about the new job' where id = $1", [coach.clientId]);
    await becomeRoot(client);

    const { rows } = await client.query("select table_name, row_data from governance.subject_rows('user', $1)", [coach.user.id]);
    const tables = new Set(rows.map((row) => row.table_name));
    expect(tables).toEqual(new Set(["app_private.user_secrets", "app_public.coach_profiles", "app_public.users", "audit.events"]));
    // The password hash is a secret the trail excludes: not exported either.
    expect(rows.find((row) => row.table_name === "app_private.user_secrets").row_data).not.toHaveProperty("password_hash");
    const written = rows.find((row) => row.table_name === "audit.events" && row.row_data.table_name === "clients" && row.row_data.operation === "UPDATE");
    expect(written.row_data).toMatchObject({ user_id: coach.user.id, subject_id: coach.clientId,
      new_values: { notes: { $redacted: "another person's data" } } });
    expect(JSON.stringify(rows)).not.toContain("Talked about the new job");
  }));

test("the zip holds export.json, one CSV per table and a manifest whose hashes and counts match the files", () =>
  withRootDb(async (client) => {
    const { coach, deletedSessionId, oldEmail } = await clientWithHistory(client, "export-zip");
    const admin = await createUser(client, "admin");
    const requestId = await verifiedRequest(client, admin, coach.clientId, "portability");
    const exportId = (await client.query("select id from app_public.request_data_subject_export($1)", [requestId])).rows[0].id as string;
    await becomeRoot(client);

    const built = (await buildDataSubjectExport(client, exportId, 7))!;
    const chunks: Buffer[] = [];
    for await (const bytes of exportBytes(client, exportId)) chunks.push(bytes);
    const archive = Buffer.concat(chunks);
    expect(archive.length).toBe(built.byteSize);
    expect(crypto.createHash("sha256").update(archive).digest("hex")).toBe(built.sha256);

    const files = readZip(archive);
    const manifest = JSON.parse(files.get("manifest.json")!.toString()) as ExportManifest;
    expect(manifest).toEqual(built.manifest);
    expect([...files.keys()].sort()).toEqual(["manifest.json", ...manifest.files.map((file) => file.name)].sort());
    for (const file of manifest.files) {
      expect({ name: file.name, bytes: files.get(file.name)!.length, sha256: crypto.createHash("sha256").update(files.get(file.name)!).digest("hex") })
        .toEqual({ name: file.name, bytes: file.bytes, sha256: file.sha256 });
    }
    expect(manifest).toMatchObject({ requestId, subject: { kind: "client", id: coach.clientId }, tablesWithoutPathToSubject: ["app_public.data_subject_erasures", "governance.hard_deletions"] });

    const document = JSON.parse(files.get("export.json")!.toString());
    expect(Object.keys(document.tables)).toEqual(manifest.tables.map((table) => table.table));
    for (const table of manifest.tables) expect(document.tables[table.table]).toHaveLength(table.rows);
    expect(document.tables["app_public.coaching_sessions"].find((row: any) => row.id === deletedSessionId)).toMatchObject({ is_deleted: true });
    expect(document.tables["audit.events"].some((event: any) => event.old_values?.email === oldEmail)).toBe(true);
    expect(document.tables["app_public.data_subject_exports"]).toEqual([expect.objectContaining({ id: exportId, request_id: requestId })]);

    // One CSV per table with rows: a header, then a line per row (the deleted session's title is there).
    const sessionsCsv = files.get("csv/app_public.coaching_sessions.csv")!.toString();
    expect(sessionsCsv.split("\r\n")[0]).toMatch(/^id,coach_profile_id,client_id,title,/);
    expect(sessionsCsv.trimEnd().split("\r\n")).toHaveLength(1 + manifest.tables.find((table) => table.table === "app_public.coaching_sessions")!.rows);
    expect(sessionsCsv).toContain("Session about the divorce");
    expect(manifest.files.find((file) => file.name === "csv/audit.events.csv")!.rows).toBe(document.tables["audit.events"].length);

    // Built once: a second run of the job finds it built.
    expect(await buildDataSubjectExport(client, exportId, 7)).toBeNull();
    const record = (await client.query(
      "select built_at, expires_at - built_at as lifetime, byte_size::int, sha256, app_public.data_subject_exports_state(e) as state from app_public.data_subject_exports e where id = $1",
      [exportId])).rows[0];
    expect(record).toMatchObject({ lifetime: { days: 7 }, byte_size: built.byteSize, sha256: built.sha256, state: "ready" });
  }));

test("asking twice gives the same export; a second export of a request is refused by the database for every writer", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "export-twice");
    const admin = await createUser(client, "admin");
    const requestId = await verifiedRequest(client, admin, coach.clientId);
    const first = (await client.query("select id, requested_by from app_public.request_data_subject_export($1)", [requestId])).rows[0];
    await becomeUser(client, coach.user);
    const again = (await client.query("select id from app_public.request_data_subject_export($1)", [requestId])).rows[0];
    expect(again.id).toBe(first.id);
    expect(first.requested_by).toBe(admin.id);
    const direct = await errorOf(client, "insert into app_public.data_subject_exports (request_id) values ($1)", [requestId]);
    expect(direct).toMatchObject({ code: "23505", message: expect.stringMatching(/data_subject_exports_one_per_request/) });
    await becomeRoot(client);
    const owner = await errorOf(client, "insert into app_public.data_subject_exports (request_id) values ($1)", [requestId]);
    expect(owner?.code).toBe("23505");
    const count = await client.query("select count(*)::int as n from app_public.data_subject_exports where request_id = $1", [requestId]);
    expect(count.rows[0].n).toBe(1);
    // Still the same once the request is completed (no new export can be asked for then).
    await becomeUser(client, admin);
    await client.query("update app_public.data_subject_requests set state = 'in_progress' where id = $1", [requestId]);
    await client.query("update app_public.data_subject_requests set state = 'completed' where id = $1", [requestId]);
    expect((await client.query("select id from app_public.request_data_subject_export($1)", [requestId])).rows[0].id).toBe(first.id);
    await becomeRoot(client);
    const jobs = await client.query("select count(*)::int as n from graphile_worker.jobs where key = $1", [`gdpr_export:${first.id}`]);
    expect(jobs.rows[0].n).toBe(1);
  }));

test("two callers asking at once for the first time get one export: the second waits for the first and gets its export", async () => {
  const coach = await createCoach(rootPool(), "export-race");
  const admin = await createUser(rootPool(), "admin", "export-race-admin");
  const requestId = await commitAs(admin, async (client) => {
    const { rows } = await client.query("insert into app_public.data_subject_requests (kind, client_id) values ('access', $1) returning id", [coach.clientId]);
    await client.query("update app_public.data_subject_requests set state = 'verified', verification = 'Seen in person' where id = $1", [rows[0].id]);
    return rows[0].id as string;
  });
  const first = await rootPool().connect();
  const second = await rootPool().connect();
  try {
    await first.query("begin");
    await becomeUser(first, admin);
    await second.query("begin");
    await becomeUser(second, coach.user);
    const ask = "select id from app_public.request_data_subject_export($1)";
    const firstExport = (await first.query(ask, [requestId])).rows[0].id;
    const secondPid = (await second.query("select pg_backend_pid() as pid")).rows[0].pid;
    const secondAsk = second.query(ask, [requestId]);
    await waitUntilBlocked(rootPool(), secondPid);
    await first.query("commit");
    expect((await secondAsk).rows[0].id).toBe(firstExport);
    await second.query("commit");
    const count = await rootPool().query("select count(*)::int as n from app_public.data_subject_exports where request_id = $1", [requestId]);
    expect(count.rows[0].n).toBe(1);
  } finally {
    first.release();
    second.release();
    await rootPool().query("select graphile_worker.remove_job('gdpr_export:' || id) from app_public.data_subject_exports where request_id = $1", [requestId]);
    await rootPool().query("delete from app_public.data_subject_exports where request_id = $1", [requestId]);
    await rootPool().query("delete from app_public.data_subject_requests where id = $1", [requestId]);
    await deleteCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  }
});

test("only an admin or the client's coach asks for an export, only of a verified, open access or portability request", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "export-who");
    const stranger = await createCoach(client, "export-stranger");
    const admin = await createUser(client, "admin");
    const auditor = await createUser(client, "auditor");
    const requestId = await verifiedRequest(client, admin, coach.clientId);
    const erasureId = await verifiedRequest(client, admin, coach.clientId, "erasure");
    const unverified = (await client.query("insert into app_public.data_subject_requests (kind, client_id) values ('access', $1) returning id", [coach.clientId])).rows[0].id;
    const ask = (id: string) => errorOf(client, "select app_public.request_data_subject_export($1)", [id]);

    expect((await ask(erasureId))?.message).toBe(`Request ${erasureId} is an erasure request; only access and portability requests have an export.`);
    expect((await ask(unverified))?.message).toMatch(/is received; its export is built once the person's identity is verified/);
    await becomeUser(client, stranger.user);
    expect(await ask(requestId)).toMatchObject({ code: "P0002", message: `There is no data-subject request ${requestId} of yours.` });
    expect(await errorOf(client, "insert into app_public.data_subject_exports (request_id) values ($1)", [requestId]))
      .toMatchObject({ code: "P0002", message: `There is no data-subject request ${requestId} of yours.` });
    await becomeUser(client, auditor);
    expect((await ask(requestId))?.code).toBe("42501");
    // Nobody but the owner reads the rows about a person directly.
    expect((await errorOf(client, "select * from governance.subject_rows('client', $1)", [coach.clientId]))?.code).toBe("42501");
    await becomeUser(client, coach.user);
    expect(await ask(requestId)).toBeNull();
    // Only the owner (the worker) builds, expires and deletes: no API role can.
    for (const user of [coach.user, admin]) {
      await becomeUser(client, user);
      for (const write of [
        "update app_public.data_subject_exports set expires_at = now() + interval '1 year'",
        "delete from app_public.data_subject_exports",
        "insert into app_private.data_subject_export_chunks (export_id, chunk_number, bytes) select id, 0, '\\x00' from app_public.data_subject_exports",
        "delete from app_private.data_subject_export_chunks",
      ]) expect((await errorOf(client, write))?.code).toBe("42501");
    }
    await becomeUser(client, coach.user);
    const count = await client.query("select count(*)::int as n from app_public.data_subject_exports");
    expect(count.rows[0].n).toBeGreaterThanOrEqual(1);
    await becomeRoot(client);
    const mine = await client.query("select request_id from app_public.data_subject_exports where request_id = any($1)", [[requestId, erasureId, unverified]]);
    expect(mine.rows).toEqual([{ request_id: requestId }]);
  }));

test("the bytes are read by an admin or the client's coach until the export expires; then the sweep deletes them and the record stays", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "export-expiry");
    const stranger = await createCoach(client, "export-expiry-other");
    const admin = await createUser(client, "admin");
    const auditor = await createUser(client, "auditor");
    const requestId = await verifiedRequest(client, admin, coach.clientId);
    const exportId = (await client.query("select id from app_public.request_data_subject_export($1)", [requestId])).rows[0].id as string;
    await becomeRoot(client);
    const built = (await buildDataSubjectExport(client, exportId, 7))!;
    const chunksAs = async (user: User | null) => {
      if (user) await becomeUser(client, user);
      const { rows } = await client.query("select count(*)::int as n from app_private.data_subject_export_chunks where export_id = $1", [exportId]);
      await becomeRoot(client);
      return rows[0].n as number;
    };
    expect(await chunksAs(coach.user)).toBeGreaterThan(0);
    expect(await chunksAs(admin)).toBeGreaterThan(0);
    expect(await chunksAs(stranger.user)).toBe(0);
    await becomeUser(client, auditor);
    expect((await errorOf(client, "select * from app_private.data_subject_export_chunks"))?.code).toBe("42501");
    await becomeRoot(client);

    // The transaction's now() is the build instant: sweeps pinned six days and seven days later
    // (only this export is looked at: other tests' committed exports may expire meanwhile).
    const sweep = (days: number) => client.query(
      "select export_id, byte_size::int from app_private.delete_expired_data_subject_exports(now() + make_interval(days => $1)) where export_id = $2",
      [days, exportId]);
    expect((await sweep(6)).rows).toEqual([]);
    expect((await sweep(7)).rows).toEqual([{ export_id: exportId, byte_size: built.byteSize }]);
    expect((await sweep(8)).rows).toEqual([]);
    expect(await chunksAs(null)).toBe(0);
    const record = (await client.query(
      `select built_at is not null as built, byte_size::int, sha256, manifest is not null as has_manifest, bytes_deleted_at is not null as deleted,
              app_public.data_subject_exports_state(e) as state from app_public.data_subject_exports e where id = $1`, [exportId])).rows[0];
    expect(record).toEqual({ built: true, byte_size: built.byteSize, sha256: built.sha256, has_manifest: true, deleted: true, state: "expired" });
  }));

test("erasing a person (eraseDataSubject) deletes the bytes of their exports at once, keeping the records; other people's exports stay", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "export-erased");
    const other = await createCoach(client, "export-kept");
    const admin = await createUser(client, "admin");
    const ids: string[] = [];
    for (const clientId of [coach.clientId, other.clientId]) {
      const requestId = await verifiedRequest(client, admin, clientId);
      ids.push((await client.query("select id from app_public.request_data_subject_export($1)", [requestId])).rows[0].id);
      await becomeRoot(client);
      await buildDataSubjectExport(client, ids.at(-1)!, 7);
    }
    const erasure = await verifiedRequest(client, admin, coach.clientId, "erasure");
    await becomeUser(client, admin);
    await client.query("select app_public.erase_data_subject($1)", [erasure]);
    await becomeRoot(client);
    const left = await client.query(
      `select e.id, e.bytes_deleted_at is not null as deleted, e.sha256 is not null as hashed,
              (select count(*)::int from app_private.data_subject_export_chunks c where c.export_id = e.id) as chunks
       from app_public.data_subject_exports e where e.id = any($1)`, [ids]);
    expect(left.rows.find((row) => row.id === ids[0])).toEqual({ id: ids[0], deleted: true, hashed: true, chunks: 0 });
    expect(left.rows.find((row) => row.id === ids[1])).toMatchObject({ deleted: false, chunks: expect.any(Number) });
    expect(left.rows.find((row) => row.id === ids[1])!.chunks).toBeGreaterThan(0);
  }));
