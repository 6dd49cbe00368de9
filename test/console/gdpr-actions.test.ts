import crypto from "node:crypto";
import fs from "node:fs";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { sqlAs, tableRows } from "../support/console.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { deleteErasedCoach, holdOffInspectionCopiesWhileThisFileRuns, plantClient, verifiedErasureRequest, type PlantedClient } from "../support/gdpr.ts";
import { apiUrl } from "../support/http.ts";
import { runWorkerOnce } from "../support/worker-once.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// The GDPR pages' actions in a real Chromium, against the real server and
// worker: a coach asks for an access export and downloads the zip (its bytes
// hash to the SHA-256 the API gives); an admin erases a planted client under a
// legal hold (the refusal in the API's words, then an override) and sees the
// record with residue 0; restriction and rectification through a request;
// consents recorded and withdrawn (a transcription refused afterwards);
// auditors without action buttons; a coach limited to their own clients.

let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let otherCoach: Coach;
let planted: PlantedClient;
let tabs: Record<"admin" | "auditor" | "coach", Page>;
const ids = { access: "", erasure: "", restriction: "", rectification: "", hold: "" };

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin", "gdpr-actions-admin");
  auditor = await createUser(pool, "auditor", "gdpr-actions-auditor");
  coach = await createCoach(pool, "gdpr-actions-coach");
  otherCoach = await createCoach(pool, "gdpr-actions-other");
  planted = await plantClient(pool, "gdpr-actions-erasure");
  const verified = async (kind: string, clientId: string) => {
    const id = (await pool.query("insert into app_public.data_subject_requests (kind, client_id) values ($1, $2) returning id", [kind, clientId])).rows[0].id as string;
    await pool.query("update app_public.data_subject_requests set state = 'verified', verification = 'Called back on the number on file' where id = $1", [id]);
    return id;
  };
  ids.access = await verified("access", coach.clientId);
  ids.restriction = await verified("restriction", coach.clientId);
  ids.rectification = await verified("rectification", otherCoach.clientId);
  ids.erasure = await verifiedErasureRequest(pool, planted.clientId);
  ids.hold = (await pool.query("insert into app_public.legal_holds (client_id, reason) values ($1, 'Chargeback dispute 2026-41') returning id", [planted.clientId])).rows[0].id;
  browser = await launchBrowser();
  tabs = { admin: await newTab(browser), auditor: await newTab(browser), coach: await newTab(browser) };
  await signIn(tabs.admin, admin.email);
  await signIn(tabs.auditor, auditor.email);
  await signIn(tabs.coach, coach.user.email);
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  const clients = [coach?.clientId, otherCoach?.clientId].filter(Boolean);
  // Holds, erasure records, restrictions and consents are never deleted through any door; the test's own are removed by the owner with the triggers set aside.
  await pool.query(`begin; alter table app_public.legal_holds disable trigger _200_append_only;
    alter table app_public.data_subject_erasures disable trigger _200_append_only;
    alter table app_public.processing_restrictions disable trigger user;
    delete from app_public.data_subject_erasure_runs where request_id = '${ids.erasure}'::uuid;
    delete from app_public.data_subject_erasures where overridden_hold_id = '${ids.hold}'::uuid;
    delete from app_public.legal_holds where id = '${ids.hold}'::uuid;
    delete from app_public.processing_restrictions where client_id = any('{${clients.join(",")}}'::uuid[]);
    alter table app_public.processing_restrictions enable trigger user;
    alter table app_public.data_subject_erasures enable trigger _200_append_only;
    alter table app_public.legal_holds enable trigger _200_append_only; commit;`);
  await pool.query("delete from app_public.data_subject_exports where request_id = $1", [ids.access]);
  await pool.query("delete from app_public.data_subject_requests where client_id = any($1)", [clients]);
  if (planted) await deleteErasedCoach(pool, planted.coach);
  for (const one of [coach, otherCoach]) if (one) await deleteCoach(pool, one);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  await closeRootPool();
});

const requestPage = (id: string) => apiUrl(`/admin/gdpr/request?id=${id}`);

/** Opens a request's page and waits for its facts. */
async function openRequest(page: Page, id: string): Promise<void> {
  await page.goto(requestPage(id));
  await page.locator(`dl[data-request="${id}"]`).waitFor();
}

/** Fills an action's fields (by label), submits it, and confirms in its dialog. */
async function act(page: Page, action: string, confirmLabel: string, fill: Record<string, string> = {}): Promise<void> {
  const form = page.locator(`.action:has([data-action="${action}"])`);
  for (const [label, value] of Object.entries(fill)) {
    const field = form.getByLabel(label).first(); // a label wrapping a select is named with its option too, so not exact: the first match is the field named so
    if ((await field.evaluate((node) => node.tagName)) === "SELECT") await field.selectOption(value);
    else await field.fill(value);
  }
  await form.locator(`[data-action="${action}"]`).click();
  await page.getByRole("dialog").filter({ has: page.getByRole("button", { name: confirmLabel }) }).getByRole("button", { name: confirmLabel }).click();
}

test("the client's coach asks for the access export, the worker builds it, and the zip downloaded in the browser hashes to the SHA-256 the API gives", async () => {
  const page = tabs.coach;
  await openRequest(page, ids.access);
  await page.locator('section[data-export-state="none"]').waitFor();
  await act(page, "ask-export", "Ask for it");
  await page.locator('[data-outcome="step"]').filter({ hasText: "the worker builds it" }).waitFor();
  await page.locator('section[data-export-state="building"]').waitFor();
  expect(await page.locator('[data-export-fact="state"] dd').textContent()).toBe("Being built by the worker");

  const worker = await runWorkerOnce();
  expect(worker.code).toBe(0);
  // The page reads the state again while it is building: no reload needed.
  await page.locator('[data-outcome="step"]').filter({ hasText: "The export is built and ready to download." }).waitFor();
  await page.locator('section[data-export-state="ready"]').waitFor();
  const [made] = await sqlAs<{ sha256: string; byte_size: string; built_at: Date; manifest: { tables: Array<{ table: string; rows: number }> } }>(
    coach.user, "select sha256, byte_size::text, built_at, manifest from app_public.data_subject_exports where request_id = $1", [ids.access]);
  expect(await page.locator('[data-export-fact="sha256"] dd').textContent()).toBe(made!.sha256);
  expect(await page.locator('[data-export-fact="size"] dd').textContent()).toBe(`${Number(made!.byte_size).toLocaleString("en-US")} bytes`);
  expect((await tableRows(page, "export-manifest")).map((row) => ({ table: row.table, rows: Number(row.rows) }))).toEqual(made!.manifest.tables.filter((one) => one.rows > 0));
  await screenshot(page, "gdpr-request-export-coach");

  const [download] = await Promise.all([page.waitForEvent("download"), page.locator('[data-action="download-export"]').click()]);
  expect(download.suggestedFilename()).toBe(`gdpr-export-${ids.access}.zip`);
  const bytes = fs.readFileSync((await download.path())!);
  expect(bytes.length).toBe(Number(made!.byte_size));
  expect(crypto.createHash("sha256").update(bytes).digest("hex")).toBe(made!.sha256);
  expect(bytes.subarray(0, 4).toString("latin1")).toBe("PK\x03\x04");
});

test("an admin's erasure under a legal hold is refused in the API's words with the hold's reason; with an override reason the worker runs it, and the page shows the record with residue 0 as SQL holds it", async () => {
  const page = tabs.admin;
  await openRequest(page, ids.erasure);
  expect(await page.locator('[data-erasure="none"]').textContent()).toBe("Not erased yet.");
  expect(await page.locator("[data-hold-refusal]").count()).toBe(0);
  // Erasing completes the request itself; "Start work" would keep the erasure from running.
  expect(await page.locator('[data-action="start"]').count()).toBe(0);
  await page.locator('[data-action="erase"]').click();
  const confirm = page.getByRole("dialog", { name: "Erase?" });
  expect(await confirm.textContent()).toMatch(/This cannot be undone\..*audit trail stays verifiable.*usage events, invoices and rollups are kept/s);
  await confirm.getByRole("button", { name: "Erase, irreversibly" }).click();
  const refusal = await page.locator('[data-outcome="erase"]').textContent();
  expect(refusal).toMatch(new RegExp(`^Refused: Cannot erase ${planted.clientId}: legal hold ${ids.hold} placed at .* covers them: Chargeback dispute 2026-41`));
  expect(await page.locator("[data-hold-refusal]").textContent()).toContain("Chargeback dispute 2026-41");
  expect((await rootPool().query("select count(*)::int as n from app_public.data_subject_erasures where request_id = $1", [ids.erasure])).rows[0].n).toBe(0);
  await screenshot(page, "gdpr-request-erasure-hold-admin");

  await act(page, "erase", "Erase, irreversibly", { "Override reason (an admin erasing under the hold; recorded)": "Dispute settled in writing" });
  await page.locator('[data-outcome="step"]').filter({ hasText: "the worker runs the erasure" }).waitFor();
  // The worker runs it (its residue scan reads every event); the page waits for its outcome, without the action meanwhile.
  expect(await page.locator('[data-erasure="waiting"]').textContent())
    .toMatch(/^Asked for .* by gdpr-actions-admin, overriding a legal hold because “Dispute settled in writing”; the worker is running the erasure/);
  expect(await page.locator('[data-action="erase"]').count()).toBe(0);
  await screenshot(page, "gdpr-request-erasure-waiting-admin");
  expect((await runWorkerOnce()).code).toBe(0);
  await page.locator('[data-outcome="step"]').filter({ hasText: "The worker erased them; the record below is the proof." }).waitFor();
  await page.locator('[data-erasure-fact="residue"]').waitFor();
  const [record] = await sqlAs<{ id: string; rows_by_table: Record<string, number>; rows_erased: number; values_searched: number; residue_count: number; erased_by: string; override_reason: string }>(
    admin, "select id::text, rows_by_table, rows_erased, values_searched, residue_count, erased_by::text, override_reason from app_public.data_subject_erasures where request_id = $1", [ids.erasure]);
  expect(record).toMatchObject({ residue_count: 0, erased_by: admin.id, override_reason: "Dispute settled in writing" });
  expect(await page.locator(`dl[data-erasure="${record!.id}"] [data-erasure-fact="residue"]`).getAttribute("data-residue")).toBe("0");
  expect(await page.locator('[data-erasure-fact="residue"] dd').textContent()).toMatch(/^0 places: .*proof of erasure\.$/);
  expect(await page.locator('[data-erasure-fact="rows"] dd').textContent()).toBe(String(record!.rows_erased));
  expect(await page.locator('[data-erasure-fact="values"] dd').textContent()).toMatch(new RegExp(`^${record!.values_searched}\\b`));
  expect(await page.locator('[data-erasure-fact="override"] dd').textContent()).toBe("the hold “Chargeback dispute 2026-41”, because “Dispute settled in writing”");
  expect(Object.fromEntries((await tableRows(page, "erasure-rows")).map((row) => [row.table, Number(row.rows)]))).toEqual(record!.rows_by_table);
  expect(await page.locator('[data-fact="state"] dd').textContent()).toMatch(/^Completed since/);
  expect(await page.locator('[data-action="erase"]').count()).toBe(0);
  await screenshot(page, "gdpr-request-erasure-admin");
});

test("an admin places and lifts a restriction, and rectifies a client's email, each confirmed; SQL holds what the page says", async () => {
  const page = tabs.admin;
  await openRequest(page, ids.restriction);
  await act(page, "restrict", "Place the restriction", { Reason: "The client contests their notes" });
  await page.locator('[data-outcome="step"]').filter({ hasText: "Restriction placed at" }).waitFor();
  const restriction = page.locator('li[data-active="true"]');
  await restriction.waitFor();
  const [placed] = await sqlAs<{ id: string; reason: string }>(admin, "select id::text, reason from app_public.processing_restrictions where request_id = $1 and lifted_at is null", [ids.restriction]);
  expect(await restriction.getAttribute("data-restriction")).toBe(placed!.id);
  expect(placed!.reason).toBe("The client contests their notes");
  await screenshot(page, "gdpr-request-restriction-admin");
  await act(page, `lift-${placed!.id}`, "Lift the restriction", { "Why it no longer applies": "Notes corrected" });
  await page.locator(`li[data-restriction="${placed!.id}"][data-active="false"]`).waitFor();
  expect((await sqlAs<{ lift_reason: string }>(admin, "select lift_reason from app_public.processing_restrictions where id = $1", [placed!.id]))[0]!.lift_reason).toBe("Notes corrected");

  await openRequest(page, ids.rectification);
  await act(page, "rectify", "Apply and complete", { Email: "not-an-email" });
  expect(await page.locator('[data-outcome="rectify"]').textContent()).toMatch(/^Refused: .*email/i);
  await act(page, "rectify", "Apply and complete", { Email: "corrected@client.example" });
  await page.locator('[data-outcome="step"]').filter({ hasText: "Corrected email; the request is completed." }).waitFor();
  expect((await rootPool().query("select email::text from app_public.clients where id = $1", [otherCoach.clientId])).rows[0].email).toBe("corrected@client.example");
  expect((await rootPool().query("select state::text from app_public.data_subject_requests where id = $1", [ids.rectification])).rows[0].state).toBe("completed");
});

test("a coach records a grant with the SHA-256 of the pasted wording, then a withdrawal; a transcription of the client's session is refused afterwards", async () => {
  const page = tabs.coach;
  await page.goto(apiUrl(`/admin/gdpr/consents?client=${coach.clientId}`));
  await page.locator('section[aria-label="History of decisions"][aria-busy="false"]').waitFor();
  // The coach's own clients only, as SQL gives them to the coach.
  const own = await sqlAs<{ client_id: string; purpose: string; decision: string }>(coach.user, "select client_id::text, purpose::text, decision::text from app_public.current_consents() order by client_id, purpose");
  await page.goto(apiUrl("/admin/gdpr/consents"));
  await page.locator('section[aria-label="Current consents"][aria-busy="false"]').waitFor();
  const shown = (await tableRows(page, "consents-current")).map((row) => ({ client_id: row.client!, purpose: row.purpose!, decision: row.decision! }));
  const byKey = (a: { client_id: string; purpose: string }, b: { client_id: string; purpose: string }) => a.client_id.localeCompare(b.client_id) || a.purpose.localeCompare(b.purpose);
  expect(shown.sort(byKey)).toEqual(own);
  expect(shown.map((row) => row.client_id)).not.toContain(otherCoach.clientId);

  await page.goto(apiUrl(`/admin/gdpr/consents?client=${coach.clientId}`));
  const wording = "I agree that my coaching sessions are transcribed. Version 3, November 2026.";
  await page.getByLabel("Text shown to the client (only its SHA-256 is sent)").fill(wording);
  const expected = crypto.createHash("sha256").update(wording).digest("hex");
  await page.locator(`[data-wording-sha256="${expected}"]`).waitFor();
  await act(page, "record-consent", "Record it", { Client: coach.clientId, Purpose: "transcription", Decision: "granted", "Wording version": "v3-2026-11" });
  await page.locator('[data-outcome="record-consent"]').filter({ hasText: "granted, transcription" }).waitFor();
  const latest = async () => (await sqlAs<{ decision: string; wording_version: string | null; wording_sha256: string | null; recorded_by: string }>(
    coach.user, "select decision::text, wording_version, wording_sha256, recorded_by::text from app_public.current_consents($1) where purpose = 'transcription'", [coach.clientId]))[0];
  expect(await latest()).toEqual({ decision: "granted", wording_version: "v3-2026-11", wording_sha256: expected, recorded_by: coach.user.id });

  await act(page, "record-consent", "Record it", { Decision: "withdrawn" });
  await page.locator('[data-outcome="record-consent"]').filter({ hasText: "withdrawn, transcription" }).waitFor();
  expect(await latest()).toMatchObject({ decision: "withdrawn", wording_version: null, recorded_by: coach.user.id });
  await page.locator('section[aria-label="History of decisions"][aria-busy="false"]').waitFor();
  const history = await sqlAs<{ id: string }>(coach.user, "select id::text from app_public.consents where client_id = $1 order by recorded_at desc, id", [coach.clientId]);
  expect((await tableRows(page, "consents-history")).length).toBe(history.length);
  await screenshot(page, "gdpr-consents-coach");
  // At a tablet's width the history (with its 64-digit hashes) scrolls in its own box, not the page.
  await page.setViewportSize({ width: 800, height: 1000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "gdpr-consents-coach-tablet");
  await page.setViewportSize({ width: 1280, height: 860 });
  await expect(rootPool().query(
    `insert into app_public.transcriptions (session_id, provider, model, status, error_message, started_at, finished_at)
     values ($1, 'deepgram', 'nova-2', 'failed', 'timeout', '2026-11-02T11:00:00Z', '2026-11-02T11:01:00Z')`, [coach.sessionId],
  )).rejects.toThrow(/no active consent for transcription \(withdrawn at /);
});

test("an auditor reads the export, the erasure record, the consents and the restrictions with no action button", async () => {
  const page = tabs.auditor;
  await openRequest(page, ids.access);
  await page.locator('section[data-export-state="ready"]').waitFor();
  await openRequest(page, ids.erasure);
  await page.locator('[data-erasure-fact="residue"][data-residue="0"]').waitFor();
  expect(await page.locator("main button[data-action]").count()).toBe(0);
  await openRequest(page, ids.restriction);
  await page.locator('li[data-active="false"]').waitFor();
  expect(await page.locator("main button[data-action]").count()).toBe(0);
  await page.goto(apiUrl("/admin/gdpr/consents"));
  await page.locator('section[aria-label="Processing restrictions"][aria-busy="false"]').waitFor();
  expect(await page.getByRole("region", { name: "Record a decision" }).count()).toBe(0);
  expect(await page.locator("main button[data-action]").count()).toBe(0);
  expect((await tableRows(page, "processing-restrictions")).map((row) => row.client)).toContain(coach.clientId);
  await screenshot(page, "gdpr-consents-auditor");
});

test("a coach reads their client's request without the audit trail (said in words) and cannot open another coach's, nor erase", async () => {
  const page = tabs.coach;
  await openRequest(page, ids.restriction);
  await page.getByText("The state history comes from the audit trail, which coaches do not read").waitFor();
  expect(await page.locator("main button[data-action]").count()).toBe(0);
  await page.setViewportSize({ width: 800, height: 1000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "gdpr-request-coach-tablet");
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(requestPage(ids.rectification));
  await page.getByText("There is no such request, or you may not read it.").waitFor();
});

test("an expired export says when it expired and offers no download", async () => {
  // The owner (the worker's role) moves the expiry into the past; the state is computed from it.
  await rootPool().query("update app_public.data_subject_exports set built_at = '2026-11-20T09:00:00Z', expires_at = '2026-11-30T09:00:00Z' where request_id = $1", [ids.access]);
  const page = tabs.coach;
  await openRequest(page, ids.access);
  await page.locator('section[data-export-state="expired"]').waitFor();
  expect(await page.locator('[data-export-fact="state"] dd').textContent()).toBe("Expired on Nov 30, 2026, 9:00:00 AM UTC");
  expect(await page.locator('[data-action="download-export"]').count()).toBe(0);
  await screenshot(page, "gdpr-request-export-expired-coach");
});
