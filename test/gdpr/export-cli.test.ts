import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ExportManifest } from "../../src/gdpr/data-subject-export.ts";
import { operatorVerification } from "../../src/gdpr/operator-export.ts";
import { runCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createCoach, deleteCoach, type Coach } from "../support/fixtures.ts";
import { readZip } from "../support/zip.ts";
import { holdOffInspectionCopiesWhileThisFileRuns } from "../support/gdpr.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// `custodian gdpr export --client ID --out FILE`, as the operator runs it: an
// access request filed, verified by the operator, answered with the export
// written to FILE, and its manifest summed up; bad input files nothing.

let coach: Coach;
const dir = () => fs.mkdtempSync(path.join(process.env.TEST_TMP_DIR!, "gdpr-export-"));

beforeAll(async () => {
  coach = await createCoach(rootPool(), "export-cli");
});

afterAll(async () => {
  await rootPool().query(
    "delete from app_public.data_subject_exports where request_id in (select id from app_public.data_subject_requests where client_id = $1)", [coach.clientId]);
  await rootPool().query("delete from app_public.data_subject_requests where client_id = $1", [coach.clientId]);
  await deleteCoach(rootPool(), coach);
  await closeRootPool();
});

const requestsOf = async (clientId: string) =>
  (await rootPool().query(
    `select r.id, r.kind, r.state, r.filed_by, r.verification, e.id as export_id, e.sha256, e.byte_size::int
     from app_public.data_subject_requests r left join app_public.data_subject_exports e on e.request_id = r.id
     where r.client_id = $1 order by r.received_at`, [clientId])).rows;

test("the operator's export files a verified access request, writes the zip, completes the request and prints the manifest", async () => {
  const out = path.join(dir(), "client.zip");
  const result = await runCli(["gdpr", "export", "--client", coach.clientId, "--out", out], testEnvironment());
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);

  const [request] = await requestsOf(coach.clientId);
  expect(request).toMatchObject({ kind: "access", state: "completed", filed_by: null, verification: operatorVerification });
  const archive = fs.readFileSync(out);
  expect((fs.statSync(out).mode & 0o777).toString(8)).toBe("600");
  expect({ bytes: archive.length, sha256: crypto.createHash("sha256").update(archive).digest("hex") }).toEqual({
    bytes: request.byte_size, sha256: request.sha256 });
  const files = readZip(archive);
  const manifest = JSON.parse(files.get("manifest.json")!.toString()) as ExportManifest;
  expect(manifest).toMatchObject({ requestId: request.id, subject: { kind: "client", id: coach.clientId } });
  for (const file of manifest.files) expect(crypto.createHash("sha256").update(files.get(file.name)!).digest("hex")).toBe(file.sha256);

  expect(result.stdout).toContain(
    `Export of client ${coach.clientId} (access request ${request.id}, completed) written to ${out}: ${request.byte_size} bytes, SHA-256 ${request.sha256}.`);
  expect(result.stdout).toContain("  app_public.clients: 1 row\n");
  expect(result.stdout).toContain("  app_public.transcriptions: 1 row\n");
  expect(result.stdout).toMatch(/^ {2}csv\/app_public\.coaching_sessions\.csv: 1 row, \d+ bytes, SHA-256 [0-9a-f]{64}$/m);
  expect(result.stdout).toContain("Not searched (personal data with no path to a person in the map): app_public.data_subject_erasures, governance.hard_deletions.");
  expect(result.stdout).toMatch(/expires \d{4}-\d\d-\d\dT.* \(GDPR_EXPORT_TTL_DAYS=7\)\.\n$/);
  // Built by the command itself: no job is left for the worker.
  const jobs = await rootPool().query("select count(*)::int as n from graphile_worker.jobs where key = $1", [`gdpr_export:${request.export_id}`]);
  expect(jobs.rows[0].n).toBe(0);
});

test("an unknown client, a file that exists, a bad id or a missing flag is refused in words and files nothing", async () => {
  const folder = dir();
  const before = await requestsOf(coach.clientId);
  const unknown = crypto.randomUUID();
  const missing = await runCli(["gdpr", "export", "--client", unknown, "--out", path.join(folder, "a.zip")], testEnvironment());
  expect({ code: missing.code, stderr: missing.stderr.trim() }).toEqual({ code: 1, stderr: `custodian: There is no client ${unknown}.` });
  expect(fs.existsSync(path.join(folder, "a.zip"))).toBe(false);

  const taken = path.join(folder, "taken.zip");
  fs.writeFileSync(taken, "keep me");
  const exists = await runCli(["gdpr", "export", "--client", coach.clientId, "--out", taken], testEnvironment());
  expect({ code: exists.code, stderr: exists.stderr.trim() }).toEqual({ code: 1, stderr: `custodian: ${taken} exists already; name a new file.` });
  expect(fs.readFileSync(taken, "utf8")).toBe("keep me");

  const badId = await runCli(["gdpr", "export", "--client", "42", "--out", path.join(folder, "b.zip")], testEnvironment());
  expect({ code: badId.code, stderr: badId.stderr.trim() }).toEqual({ code: 1, stderr: `custodian: --client takes a client's id (a UUID), not "42".` });
  const noOut = await runCli(["gdpr", "export", "--client", coach.clientId], testEnvironment());
  expect({ code: noOut.code, stderr: noOut.stderr.trim() }).toEqual({ code: 1, stderr: "custodian: Usage: custodian gdpr export --client ID --out FILE" });

  expect(await requestsOf(coach.clientId)).toEqual(before);
});
