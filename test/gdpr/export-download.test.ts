import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ExportManifest } from "../../src/gdpr/data-subject-export.ts";
import { projectRoot } from "../../src/paths.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";
import { readZip } from "../support/zip.ts";
import { runWorkerOnce } from "../support/worker-once.ts";
import { holdOffInspectionCopiesWhileThisFileRuns } from "../support/gdpr.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// The export through its real doors: asked for over GraphQL by the client's
// coach, built by the worker's gdpr_export task (`custodian worker --once`),
// downloaded from the running server's REST route as a stream, refused to
// others, and expired by the gdpr_export_expire task.

let coach: Coach;
let stranger: Coach;
let admin: User;
let auditor: User;
let deletedSessionId: string;
/** A transcript larger than one stored chunk (1 MiB), so the download crosses chunks. */
const longTranscript = crypto.randomBytes(1_200_000).toString("base64");

beforeAll(async () => {
  coach = await createCoach(rootPool(), "export-download");
  stranger = await createCoach(rootPool(), "export-download-stranger");
  admin = await createUser(rootPool(), "admin", "export-download-admin");
  auditor = await createUser(rootPool(), "auditor", "export-download-auditor");
  await rootPool().query(
    "update app_public.transcriptions set transcript_text = $2 where id = $1", [coach.transcriptionId, longTranscript]);
  const session = await rootPool().query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'A session deleted later', '2026-11-03T09:00:00Z', 'recordings/later.m4a', 900) returning id`, [coach.clientId]);
  deletedSessionId = session.rows[0].id;
  await rootPool().query("delete from app_public.coaching_sessions where id = $1", [deletedSessionId]);
});

afterAll(async () => {
  await rootPool().query(
    "delete from app_public.data_subject_exports where request_id in (select id from app_public.data_subject_requests where client_id = $1)", [coach.clientId]);
  await rootPool().query("delete from app_public.data_subject_requests where client_id = $1", [coach.clientId]);
  await deleteCoach(rootPool(), coach);
  await deleteCoach(rootPool(), stranger);
  await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

const askForExport = `mutation ($id: UUID!) { requestDataSubjectExport(input: { requestId: $id }) {
  result { rowId state requestedBy downloadPath byteSize sha256 expiresAt bytesDeletedAt } } }`;

async function download(requestId: string, token?: string, method = "GET") {
  return fetch(apiUrl(`/api/v1/gdpr/requests/${requestId}/export`), {
    method, headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

async function runWorker() {
  const result = await runWorkerOnce();
  expect(result.stderr).not.toMatch(/error/i);
  expect(result.code).toBe(0);
}

test("the coach asks, the worker builds, the coach downloads the zip as a stream; others are refused; after expiry the bytes are gone", async () => {
  const coachToken = await login(coach.user.email);
  const adminToken = await login(admin.email);
  const filed = await graphql(
    `mutation ($clientId: UUID!) { createDataSubjectRequest(input: { dataSubjectRequest: { kind: access, clientId: $clientId } }) {
      dataSubjectRequest { rowId } } }`, { clientId: coach.clientId }, coachToken);
  const requestId = filed.body.data!.createDataSubjectRequest.dataSubjectRequest.rowId as string;

  const tooEarly = await graphql(askForExport, { id: requestId }, coachToken);
  expect(tooEarly.body.errors?.[0]?.message).toBe(
    `Request ${requestId} is received; its export is built once the person's identity is verified and while the request is open (verified or in_progress).`);
  await graphql(`mutation ($id: UUID!) { updateDataSubjectRequest(input: { rowId: $id, patch: { state: verified, verification: "Coach confirmed in person" } }) {
    dataSubjectRequest { state } } }`, { id: requestId }, adminToken);

  const asked = await graphql(askForExport, { id: requestId }, coachToken);
  expect(asked.body.errors).toBeUndefined();
  const pending = asked.body.data!.requestDataSubjectExport.result;
  expect(pending).toEqual({ rowId: expect.any(String), state: "building", requestedBy: coach.user.id,
    downloadPath: `/api/v1/gdpr/requests/${requestId}/export`, byteSize: null, sha256: null, expiresAt: null, bytesDeletedAt: null });
  // Asked again, by the coach or an admin: the same export.
  expect((await graphql(askForExport, { id: requestId }, coachToken)).body.data!.requestDataSubjectExport.result.rowId).toBe(pending.rowId);
  expect((await graphql(askForExport, { id: requestId }, adminToken)).body.data!.requestDataSubjectExport.result.rowId).toBe(pending.rowId);
  const strangerAsks = await graphql(askForExport, { id: requestId }, await login(stranger.user.email));
  expect(strangerAsks.body.errors?.[0]?.message).toBe(`There is no data-subject request ${requestId} of yours.`);

  const building = await download(requestId, coachToken);
  expect({ status: building.status, retryAfter: building.headers.get("retry-after"), body: await building.json() }).toEqual({
    status: 409, retryAfter: "30", body: { error: `The export of request ${requestId} is still being built; try again in a moment.` } });

  await runWorker();
  const ready = (await graphql(askForExport, { id: requestId }, coachToken)).body.data!.requestDataSubjectExport.result;
  expect(ready).toMatchObject({ rowId: pending.rowId, state: "ready", byteSize: expect.stringMatching(/^\d+$/), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const chunks = await rootPool().query("select count(*)::int as n from app_private.data_subject_export_chunks where export_id = $1", [pending.rowId]);
  expect(chunks.rows[0].n).toBeGreaterThan(1);

  const response = await download(requestId, coachToken);
  expect({
    status: response.status,
    type: response.headers.get("content-type"),
    disposition: response.headers.get("content-disposition"),
    length: response.headers.get("content-length"),
    digest: response.headers.get("repr-digest"),
    cache: response.headers.get("cache-control"),
  }).toEqual({
    status: 200,
    type: "application/zip",
    disposition: `attachment; filename="gdpr-export-${requestId}.zip"`,
    length: ready.byteSize,
    digest: `sha-256=:${Buffer.from(ready.sha256, "hex").toString("base64")}:`,
    cache: "no-store",
  });
  // Read as it arrives, piece by piece.
  const pieces: Buffer[] = [];
  for await (const piece of response.body!) pieces.push(Buffer.from(piece));
  const archive = Buffer.concat(pieces);
  expect(pieces.length).toBeGreaterThan(1);
  expect(archive.length).toBe(Number(ready.byteSize));
  expect(crypto.createHash("sha256").update(archive).digest("hex")).toBe(ready.sha256);

  const files = readZip(archive);
  const manifest = JSON.parse(files.get("manifest.json")!.toString()) as ExportManifest;
  for (const file of manifest.files) expect(crypto.createHash("sha256").update(files.get(file.name)!).digest("hex")).toBe(file.sha256);
  const document = JSON.parse(files.get("export.json")!.toString());
  expect(document.tables["app_public.transcriptions"]).toEqual([expect.objectContaining({ id: coach.transcriptionId, transcript_text: longTranscript })]);
  expect(document.tables["app_public.coaching_sessions"].map((row: any) => row.id).sort()).toEqual([coach.sessionId, deletedSessionId].sort());
  // The trail's copy of the transcript, decrypted.
  expect(document.tables["audit.events"].some((event: any) => event.new_values?.transcript_text === longTranscript)).toBe(true);

  const head = await download(requestId, adminToken, "HEAD");
  expect({ status: head.status, length: head.headers.get("content-length"), body: (await head.arrayBuffer()).byteLength }).toEqual({
    status: 200, length: ready.byteSize, body: 0 });

  // Another coach sees no such request, as with an unknown one; an auditor is not a downloader; no token, no answer.
  const unknown = crypto.randomUUID();
  const strangerGets = await download(requestId, await login(stranger.user.email));
  expect({ status: strangerGets.status, body: await strangerGets.json() }).toEqual({
    status: 404, body: { error: `There is no data-subject request ${requestId} of yours.` } });
  const unknownGets = await download(unknown, coachToken);
  expect({ status: unknownGets.status, body: await unknownGets.json() }).toEqual({
    status: 404, body: { error: `There is no data-subject request ${unknown} of yours.` } });
  const auditorGets = await download(requestId, await login(auditor.email));
  expect(auditorGets.status).toBe(403);
  expect((await auditorGets.json()).error).toMatch(/downloaded by an admin or by the coach of the client/);
  expect((await download(requestId)).status).toBe(401);
  const badId = await download("not-a-uuid", coachToken);
  expect({ status: badId.status, body: await badId.json() }).toEqual({ status: 400, body: { error: 'The request id must be a UUID, not "not-a-uuid".' } });
  const post = await download(requestId, coachToken, "POST");
  expect(post.status).toBe(405);

  // Records: an auditor reads them (not the bytes), another coach sees none.
  const records = `query ($id: UUID!) { dataSubjectExports(condition: { requestId: $id }) { nodes { rowId state } } }`;
  expect((await graphql(records, { id: requestId }, await login(auditor.email))).body.data!.dataSubjectExports.nodes).toEqual([
    { rowId: pending.rowId, state: "ready" }]);
  expect((await graphql(records, { id: requestId }, await login(stranger.user.email))).body.data!.dataSubjectExports.nodes).toEqual([]);

  // Expiry, pinned: built eight days ago, expired yesterday; the hourly task deletes the bytes.
  await rootPool().query(
    "update app_public.data_subject_exports set built_at = now() - interval '8 days', expires_at = now() - interval '1 day' where id = $1", [pending.rowId]);
  const gone = await download(requestId, coachToken);
  expect(gone.status).toBe(410);
  await rootPool().query("select graphile_worker.add_job('gdpr_export_expire', '{}'::json)");
  await runWorker();
  const left = await rootPool().query("select count(*)::int as n from app_private.data_subject_export_chunks where export_id = $1", [pending.rowId]);
  expect(left.rows[0].n).toBe(0);
  const record = (await graphql(askForExport, { id: requestId }, adminToken)).body.data!.requestDataSubjectExport.result;
  expect(record).toMatchObject({ state: "expired", byteSize: ready.byteSize, sha256: ready.sha256, bytesDeletedAt: expect.any(String) });
  const expired = await download(requestId, coachToken);
  const body = await expired.json();
  expect({ status: expired.status, error: body.error }).toEqual({
    status: 410, error: expect.stringMatching(new RegExp(`^The export of request ${requestId} expired at .* and its bytes are deleted; a new access request gets a new export\\.$`)) });
});

test("the crontab sweeps expired exports every hour, one run at a time", async () => {
  const { parseCrontab } = await import("graphile-worker");
  const crontab = parseCrontab(fs.readFileSync(path.join(projectRoot, "worker", "crontab"), "utf8"));
  const sweep = crontab.filter((item) => item.task === "gdpr_export_expire");
  expect(sweep).toHaveLength(1);
  const fires = Array.from({ length: 24 * 60 }, (_, minute) => minute)
    .filter((minute) => sweep[0]!.match({ min: minute % 60, hour: Math.floor(minute / 60), date: 15, month: 6, dow: 3 }));
  expect(fires).toHaveLength(24);
  expect(sweep[0]!.options).toMatchObject({ maxAttempts: 1, jobKey: "gdpr_export_expire" });
});
