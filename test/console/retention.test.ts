import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { runCli } from "../support/cli.ts";
import { downloadCsv, sqlAs, tableRows } from "../support/console.ts";
import { becomeUser, closeRootPool, rootPool, withRootDb, type Actor } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl } from "../support/http.ts";
import { committed, holdClient, holdRetentionRuns, plantDeletedClient, removeHolds } from "../support/retention.ts";

// The retention pages in a real Chromium: the policies, the compliance figure
// and the dry run against the SQL functions as that role at a pinned instant
// (the URL's asOf), and at another; an admin changes a policy's period (and
// the database's refusal of a zero period is shown in words) and queues a
// run for the worker after a confirmation stating its effect; a run of the
// real CLI appears in the run log with its figures and its archive with its
// files; auditors see it all without buttons; coaches are refused.

/** The instant the pages are pinned at; this file's clients were created (and deleted) three months before. */
const AS_OF = "2020-06-01T00:00:00.000Z";
/** Earlier: the clients of January 2020 are not yet past their 90 days. */
const EARLIER = "2020-03-01T00:00:00.000Z";
const GONE_AT = "2020-01-15T10:00:00.000Z";
const HELD_AT = "2020-01-20T10:00:00.000Z";
/**
 * This file's own policy (disabled, so that no other file's run of every
 * policy applies it): clients by created_at, which only this file moves
 * back in time. A run of a shipped policy as of 2020 would reach the clients
 * the retention tests plant in 2000 while they run.
 */
const POLICY = "console_test_old_clients";
const at = (page: string, asOf: string | null = AS_OF) => apiUrl(`/admin${page}${asOf ? `?asOf=${asOf}` : ""}`);

let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let tabs: Record<"admin" | "auditor" | "coach", Page>;
/** A client deleted at GONE_AT, due at AS_OF; and one deleted at HELD_AT, under a legal hold. */
let goneClientId: string;
let heldClientId: string;
let holdId: string;
let archiveDir: string;

/** A soft-deleted client of the coach's (with a session, a transcription and consents), deleted and created at `at`. */
async function oldDeletedClient(label: string, at: string): Promise<string> {
  return committed(rootPool(), async (client) => {
    const id = await plantDeletedClient(client, coach, at, label);
    // Its creation moved back as well, with no trigger running (the policy's clock).
    await client.query("set local session_replication_role = replica");
    await client.query("update app_public.clients set created_at = $2 where id = $1", [id, at]);
    return id;
  });
}

let releaseRuns: (() => Promise<void>) | undefined;

beforeAll(async () => {
  releaseRuns = await holdRetentionRuns();
  const pool = rootPool();
  admin = await createUser(pool, "admin", "retention-console-admin");
  auditor = await createUser(pool, "auditor", "retention-console-auditor");
  coach = await createCoach(pool, "retention-console-coach");
  await pool.query(
    `insert into app_public.retention_policies (name, category, target_table, clock_column, period, action, legal_basis, description, enabled)
     values ($1, 'Old clients (console test)', 'app_public.clients', 'created_at', '90 days', 'archive_then_delete', 'legitimate_interests',
             'The retention console test''s own policy: clients created more than 90 days before, archived then removed.', false)`, [POLICY]);
  goneClientId = await oldDeletedClient("retention-console-gone", GONE_AT);
  heldClientId = await oldDeletedClient("retention-console-held", HELD_AT);
  holdId = await holdClient(pool, heldClientId, "Retention console test: keep this client");
  archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-console-archive-"));
  browser = await launchBrowser();
  tabs = { admin: await newTab(browser), auditor: await newTab(browser), coach: await newTab(browser) };
  await signIn(tabs.admin, admin.email);
  await signIn(tabs.auditor, auditor.email);
  await signIn(tabs.coach, coach.user.email);
}, 300_000); // waits while another file's retention runs go on

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  if (holdId) await removeHolds(pool, [holdId]);
  if (coach) await deleteCoach(pool, coach);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  // This file's runs and their archive records, then its policy (kept, disabled, while another file's run still names it).
  await pool.query("delete from app_public.retention_archives where policy_name = $1", [POLICY]);
  await pool.query("delete from app_public.retention_runs where policy_name = $1", [POLICY]);
  await pool.query("delete from app_public.retention_policies where name = $1", [POLICY]).catch(() => undefined);
  if (archiveDir) fs.rmSync(archiveDir, { recursive: true, force: true });
  await closeRootPool();
  await releaseRuns?.();
});

/** An instant as the page's cells carry it and as SQL gives it, compared as the same moment. */
const moment = (value: string | Date | null | undefined) => (value ? new Date(value).toISOString() : "");

/** Waits until these panels have loaded. */
async function loaded(page: Page, titles: string[]): Promise<void> {
  for (const title of titles) await page.locator(`section[aria-label="${title}"][aria-busy="false"]`).waitFor();
}
const overviewLoaded = (page: Page) => loaded(page, ["Policies", "Compliance", "Dry run"]);

interface Figures {
  policies: unknown[];
  compliance: unknown[];
  preview: unknown[];
}

/** The page's three tables, as the cells' raw values. */
async function shownFigures(page: Page): Promise<Figures> {
  await overviewLoaded(page);
  const policies = (await tableRows(page, "retention-policies")).map((row) => [row.name, row.period, row.action, row.basis, row.enabled]);
  const compliance = (await tableRows(page, "retention-compliance")).map((row) => [row.policy, row.under, row.within, row.past, row.held, row.compliance]);
  const preview = (await tableRows(page, "retention-preview")).map((row) => [row.policy, moment(row.cutoff), row.due, moment(row.oldest), moment(row.newest), row.sample, row.spared]);
  return { policies, compliance, preview };
}

/** The same figures from the SQL functions, as this role, at asOf. */
async function sqlFigures(actor: Actor, asOf: string): Promise<Figures> {
  // Periods as ISO 8601 durations (P90D, P3Y): what the page's cells and CSV carry.
  const policies = await withRootDb(async (client) => {
    await becomeUser(client, actor);
    await client.query("set local intervalstyle = iso_8601");
    return (await client.query<Record<string, string>>(
      "select name, coalesce(period::text, '') as period, action::text, legal_basis::text, enabled::text from app_public.retention_policies order by name")).rows;
  });
  const compliance = await sqlAs<Record<string, string>>(actor,
    "select policy_name, rows_under_policy::text, rows_within_period::text, rows_past_period::text, rows_held::text, compliance_percent::text from app_public.retention_compliance($1)", [asOf]);
  const preview = await sqlAs<{ policy_name: string; cutoff: Date | null; rows_due: string; oldest_due: Date | null; newest_due: Date | null; sample_keys: string[] | null; rows_spared_by_hold: string }>(actor,
    "select policy_name, cutoff, rows_due::text, oldest_due, newest_due, sample_keys, rows_spared_by_hold::text from app_public.retention_preview(null, $1)", [asOf]);
  return {
    policies: policies.map((row) => [row.name, row.period, row.action, row.legal_basis, row.enabled]),
    compliance: compliance.map((row) => [row.policy_name, row.rows_under_policy, row.rows_within_period, row.rows_past_period, row.rows_held, row.compliance_percent]),
    preview: preview.map((row) => [
      row.policy_name, moment(row.cutoff), row.rows_due, moment(row.oldest_due), moment(row.newest_due), (row.sample_keys ?? []).join(" "), row.rows_spared_by_hold,
    ]),
  };
}

/**
 * The page against SQL at asOf. Other files write rows meanwhile (every write
 * adds audit events), so SQL is read just before the page loads and just
 * after it is shown: every row that stayed the same across the two reads must
 * be on the page exactly so. This file's own policy's row is always stable in
 * the policies and the dry run (only its clients are past its period); in
 * compliance its count of rows under it is every client, so there its rows
 * past the period and held are compared.
 */
async function expectFiguresAsSql(page: Page, actor: Actor, asOf: string, load: () => Promise<unknown>): Promise<Figures> {
  const before = await sqlFigures(actor, asOf);
  await load();
  const shown = await shownFigures(page);
  const after = await sqlFigures(actor, asOf);
  for (const part of ["policies", "compliance", "preview"] as const) {
    const byName = (rows: unknown[]) => new Map(rows.map((row) => [(row as string[])[0]!, JSON.stringify(row)]));
    const [was, is, onPage] = [byName(before[part]), byName(after[part]), byName(shown[part])];
    const stable = [...is.keys()].filter((name) => was.get(name) === is.get(name));
    if (part === "compliance") {
      const [, , , past, held] = JSON.parse(is.get(POLICY)!) as string[];
      expect((JSON.parse(onPage.get(POLICY)!) as string[]).slice(3, 5)).toEqual([past, held]);
    } else expect(stable).toContain(POLICY);
    for (const name of stable) {
      // Its rows under it are every client: another file's client deleted and
      // another added while the page loaded leave both reads alike, not the page.
      if (part === "compliance" && name === POLICY) continue;
      expect([part, name, onPage.get(name)]).toEqual([part, name, is.get(name)]);
    }
    // The same policies, in the API's order.
    if (JSON.stringify([...was.keys()]) === JSON.stringify([...is.keys()])) expect([...onPage.keys()]).toEqual([...is.keys()]);
  }
  return shown;
}

const previewOf = (figures: Figures, policy: string) => figures.preview.find((row) => (row as string[])[0] === policy) as string[];

test("an admin sees every policy, its compliance and its dry run as the SQL functions give them at the pinned instant, and at another", async () => {
  const page = tabs.admin;
  const figures = await expectFiguresAsSql(page, admin, AS_OF, () => page.goto(at("/retention")));
  const nav = page.getByRole("navigation", { name: "Console" });
  for (const name of ["Retention", "Retention runs", "Archives"]) expect(await nav.getByRole("link", { name, exact: true }).count()).toBe(1);
  // The shipped policies, the period in words.
  const cell = (table: string, key: string, column: string) => page.locator(`table[data-table="${table}"] tr:has(td[data-value="${key}"]) td[data-column="${column}"]`).first();
  expect(await cell("retention-policies", "transcript_text", "period").textContent()).toBe("3 years");
  expect(await cell("retention-policies", "soft_deleted_clients", "period").textContent()).toBe("90 days");
  expect(await cell("retention-policies", POLICY, "enabled").textContent()).toBe("no (previewed, not run)");
  expect(await cell("retention-policies", "usage_events", "period").textContent()).toBe("forever");
  expect(await cell("retention-policies", "usage_events", "action").textContent()).toBe("Keep forever");
  // Our deleted client is due at AS_OF, the held one spared, with the way to the holds.
  const due = previewOf(figures, POLICY);
  expect(due.slice(2)).toEqual(["1", GONE_AT, GONE_AT, goneClientId, "1"]);
  const spared = cell("retention-preview", POLICY, "spared").getByRole("link");
  expect(await spared.getAttribute("href")).toMatch(/^\/admin\/gdpr\/holds/);
  expect(await cell("retention-preview", POLICY, "due").textContent()).toBe(new Intl.NumberFormat("en-US").format(Number(due[2])));
  expect(await page.locator("[data-preview-as-of]").textContent()).toContain("as of Jun 1, 2020, 12:00:00 AM UTC");
  // The CSV carries what the cells show together (category, description, clock) each in its own column.
  const csv = await downloadCsv(page, "retention-policies");
  expect(csv.filename).toBe("retention-policies.csv");
  expect(csv.rows[0]).toEqual(["Policy", "Category", "Description", "Table", "Clock", "Period (ISO 8601)", "Action", "Legal basis", "Enabled"]);
  const [shipped] = await sqlAs<Record<string, string>>(admin, "select category, description from app_public.retention_policies where name = 'soft_deleted_clients'");
  expect(csv.rows.find((row) => row[0] === "soft_deleted_clients")).toEqual(["soft_deleted_clients", shipped!.category, shipped!.description, "app_public.clients", "deleted_at", "P90D", "archive_then_delete", "legitimate_interests", "true"]);
  await screenshot(page, "retention-admin");

  // Another instant, kept in the URL: neither client is past its 90 days yet.
  const earlier = await expectFiguresAsSql(page, admin, EARLIER, async () => {
    await page.getByLabel("Preview as of (UTC)").fill(EARLIER);
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/asOf=2020-03-01T/);
    await page.locator(`[data-preview-as-of="${EARLIER}"]`).waitFor();
  });
  expect(previewOf(earlier, POLICY).slice(2)).toEqual(["0", "", "", "", "0"]);
});

test("an admin changes a policy's period after a confirmation stating it; a zero period is refused in the database's words", async () => {
  const page = tabs.admin;
  await page.goto(at("/retention"));
  await overviewLoaded(page);
  const region = page.getByRole("region", { name: "Change a policy" });
  // The form alone: the dialog beside it names the policy too.
  const form = region.locator("form");
  await form.getByLabel("Policy").selectOption(POLICY);
  expect(await form.getByLabel("Period").inputValue()).toBe("90");
  expect(await form.getByLabel("Unit").inputValue()).toBe("days");
  expect(await form.getByLabel("Enabled (runs apply it)").isChecked()).toBe(false);
  await form.getByLabel("Period").fill("6");
  await form.getByLabel("Unit").selectOption("months");
  await form.locator('[data-action="change-policy"]').click();
  const confirm = page.getByRole("dialog", { name: "Change the policy?" });
  expect(await confirm.textContent()).toContain("its period goes from 90 days to 6 months");
  await confirm.getByRole("button", { name: "Save the change" }).click();
  expect(await region.locator('[data-outcome="change-policy"]').textContent()).toMatch(new RegExp(`^Saved at .+ UTC: ${POLICY} keeps rows 6 months, disabled\\.$`));
  const [saved] = await sqlAs<{ period: string }>(admin, "select period::text from app_public.retention_policies where name = $1", [POLICY]);
  expect(saved!.period).toBe("6 mons");
  await page.locator(`table[data-table="retention-policies"] tr:has(td[data-value="${POLICY}"]) td[data-column="period"]:text("6 months")`).waitFor();

  await form.getByLabel("Period").fill("0");
  await form.locator('[data-action="change-policy"]').click();
  await confirm.getByRole("button", { name: "Save the change" }).click();
  expect(await region.locator('[data-outcome="change-policy"]').textContent()).toBe("Refused: A retention policy's period must be more than zero (for example 90 days).");
  expect((await sqlAs<{ period: string }>(admin, "select period::text from app_public.retention_policies where name = $1", [POLICY]))[0]!.period).toBe("6 mons");
  await screenshot(page, "retention-change-refused");

  // Back as it was, through the same form.
  await form.getByLabel("Period").fill("90");
  await form.getByLabel("Unit").selectOption("days");
  await form.locator('[data-action="change-policy"]').click();
  await confirm.getByRole("button", { name: "Save the change" }).click();
  await region.locator('[data-outcome="change-policy"]:text("keeps rows 90 days")').waitFor();
  expect((await sqlAs<{ period: string }>(admin, "select period::text from app_public.retention_policies where name = $1", [POLICY]))[0]!.period).toBe("90 days");
});

test("an admin queues a run after a confirmation stating its effect from the dry run's figures; the worker's job names the admin", async () => {
  const page = tabs.admin;
  const region = page.getByRole("region", { name: "Start a run" });
  // The form needs the policies read. test/retention/run.test.ts drops a table of
  // its own policy while this file runs: a read that began before the policy
  // was deleted fails, and the page says so; a reload reads them again.
  for (let attempt = 1; ; attempt++) {
    await page.goto(at("/retention"));
    await overviewLoaded(page);
    if ((await region.count()) > 0 || attempt === 3) break;
  }
  expect(await region.getByRole("link", { name: "Runs" }).getAttribute("href")).toMatch(/^\/admin\/retention\/runs/);
  const form = region.locator("form");
  await form.getByLabel("Policy").selectOption(POLICY);
  await form.getByLabel("As of (UTC)").fill(AS_OF);
  const dryRun = form.getByLabel("Dry run (changes nothing)");
  expect(await dryRun.isChecked()).toBe(true);
  const confirm = page.getByRole("dialog", { name: "Start a run?" });
  // A real run states what it acts on; cancelled.
  await dryRun.uncheck();
  await form.locator('[data-action="start-run"]').click();
  expect(await confirm.locator('[data-effect="run"]').textContent()).toContain(
    `acts on 1 row: 1 row of app_public.clients (Old clients (console test): archived first, then deleted), and spares 1 held by a legal hold.`);
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await dryRun.check();
  await form.locator('[data-action="start-run"]').click();
  expect(await confirm.locator('[data-effect="dry-run"]').textContent()).toContain("a dry run changes nothing");
  await confirm.getByRole("button", { name: "Queue the dry run" }).click();
  const outcome = await region.locator('[data-outcome="start-run"]').textContent();
  expect(outcome).toMatch(new RegExp(`^Queued as worker job (\\d+): a dry run of policy ${POLICY} as of Jun 1, 2020, 12:00:00 AM UTC\\. It appears under Runs once the worker has done it\\.$`));
  const jobId = /job (\d+)/.exec(outcome!)![1]!;
  // Not left for another file's worker: the job is checked, then taken off the queue.
  const { rows: [job] } = await rootPool().query("select payload from graphile_worker._private_jobs where id = $1", [jobId]);
  await rootPool().query("select graphile_worker.complete_jobs(array[$1::bigint])", [jobId]);
  expect(job.payload).toEqual({ policy: POLICY, dryRun: true, asOf: "2020-06-01T00:00:00+00:00", startedBy: admin.id });
});

test("runs of the real CLI appear in the run log, a failed one with its error in words, a finished one with its figures per policy and its archive with its files", async () => {
  // First with an archive folder that is not there: the run fails before it deletes anything, and says why.
  const missing = path.join(archiveDir, "not-mounted");
  const failed = await retentionRun(missing);
  expect(failed.code).toBe(1);
  const [failedRun] = await sqlAs<{ id: string; status: string; error: string }>(admin,
    "select id, status, error from app_public.retention_runs where policy_name = $1 and as_of = $2 and status = 'failed' order by started_at desc limit 1", [POLICY, AS_OF]);
  expect(failedRun!.error).toContain(missing);
  expect((await rootPool().query("select count(*)::int as n from app_public.clients where id = $1", [goneClientId])).rows[0].n).toBe(1);

  const result = await retentionRun(archiveDir);
  expect({ code: result.code, stderr: result.code === 0 ? "" : result.stderr }).toEqual({ code: 0, stderr: "" });
  const runId = /Retention run ([0-9a-f-]{36})/.exec(result.stdout)![1]!;
  const [figures] = await sqlAs<Record<string, string>>(admin,
    "select status, rows_archived::text, rows_deleted::text, cascade_rows_deleted::text, rows_spared_by_hold::text, archives_written::text, errors::text from app_public.retention_run_policies where run_id = $1", [runId]);
  // The client, and its session, transcription and two consents with it; the held one spared.
  expect(figures).toEqual({ status: "finished", rows_archived: "1", rows_deleted: "1", cascade_rows_deleted: "4", rows_spared_by_hold: "1", archives_written: "1", errors: "0" });

  const page = tabs.admin;
  await page.goto(at("/retention/runs", null));
  await loaded(page, ["Runs", "Per policy"]);
  const runs = await tableRows(page, "retention-runs");
  const run = runs.find((row) => row.run === runId);
  expect(run).toMatchObject({ status: "finished", "dry-run": "false", "as-of": expect.any(String), scope: POLICY, "started-by": "custodian retention run", error: "" });
  expect(moment(run!["as-of"])).toBe(AS_OF);
  // Newest first; the failed one with its error as the run log holds it.
  const started = runs.map((row) => row.started!);
  expect([...started].sort().reverse()).toEqual(started);
  expect(runs.findIndex((row) => row.run === runId)).toBeLessThan(runs.findIndex((row) => row.run === failedRun!.id));
  expect(runs.find((row) => row.run === failedRun!.id)).toMatchObject({ status: "failed", error: failedRun!.error });
  expect(await page.locator(`table[data-table="retention-runs"] tr:has(td[data-value="${failedRun!.id}"]) td[data-column="error"]`).textContent()).toBe(failedRun!.error);
  await page.locator(`table[data-table="retention-runs"] td[data-value="${runId}"] a`).click();
  await page.locator(`[data-run="${runId}"]`).waitFor();
  const [perPolicy] = await tableRows(page, `retention-run-${runId.slice(0, 8)}`);
  expect(perPolicy).toMatchObject({ policy: POLICY, status: "finished", archived: "1", deleted: "1", cascade: "4", spared: figures!.rows_spared_by_hold, archives: "1", errors: "0" });
  await screenshot(page, "retention-runs-admin");

  const [archive] = await sqlAs<{ id: string; row_count: string; manifest: { files: Array<{ name: string; table: string; rows: number; bytes: number; sha256: string }> }; time_from: Date; store: string }>(admin,
    "select id, row_count::text, manifest, time_from, store from app_public.retention_archives where run_id = $1", [runId]);
  expect(archive!.store).toContain(archiveDir);
  await page.goto(at("/retention/archives", null));
  await loaded(page, ["Archive records", "Files"]);
  const record = (await tableRows(page, "retention-archives")).find((row) => row.archive === archive!.id);
  expect(record).toMatchObject({ kind: "rows", policy: POLICY, run: runId, rows: archive!.row_count, store: archive!.store, stage: "rows removed" });
  expect(moment(record!.from)).toBe(GONE_AT);
  const files = (await tableRows(page, "retention-archive-files")).filter((row) => row.archive === archive!.id);
  expect(files.map((row) => [row.name, row.rows, row.bytes, row.sha256])).toEqual(
    archive!.manifest.files.map((file) => [file.name, String(file.rows), String(file.bytes), file.sha256]),
  );
  expect(files.find((row) => row.name === "app_public.clients.jsonl.gz")?.rows).toBe("1");
  await screenshot(page, "retention-archives-admin");

  // Gone from the database; the held one stays.
  const left = await rootPool().query("select id from app_public.clients where id = any($1)", [[goneClientId, heldClientId]]);
  expect(left.rows.map((row) => row.id)).toEqual([heldClientId]);
});

/** `custodian retention run` of the one policy as of AS_OF; another file may hold the one run allowed at a time, so a refusal is waited out a few times. */
async function retentionRun(archive: string) {
  const run = () => runCli(["retention", "run", "--policy", POLICY, "--as-of", AS_OF], testEnvironment({ ARCHIVE_DIR: archive, DATA_DIR: process.env.TEST_TMP_DIR! }));
  let result = await run();
  for (let attempt = 1; /only one runs at a time/.test(result.stderr) && attempt < 10; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    result = await run();
  }
  return result;
}

test("an auditor sees the retention pages without a button that acts, at 800 px; a coach is refused them", async () => {
  const page = tabs.auditor;
  await page.setViewportSize({ width: 800, height: 900 });
  await expectFiguresAsSql(page, auditor, AS_OF, () => page.goto(at("/retention")));
  expect(await page.locator("[data-action]").count()).toBe(0);
  expect(await page.getByRole("region", { name: "Change a policy" }).count()).toBe(0);
  expect(await page.getByRole("region", { name: "Start a run" }).count()).toBe(0);
  // Usable at 800 px: the page does not scroll sideways (wide tables scroll inside their panel).
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "retention-auditor-800px");
  for (const [where, panels] of [["/retention/runs", ["Runs", "Per policy"]], ["/retention/archives", ["Archive records", "Files"]]] as const) {
    await page.goto(at(where, null));
    await loaded(page, [...panels]);
    expect(await page.locator("[data-action]").count()).toBe(0);
    expect(await page.locator("table[data-table]").count()).toBeGreaterThan(0);
  }
  await screenshot(page, "retention-archives-auditor-800px");

  const coachPage = tabs.coach;
  expect(await coachPage.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Retention", exact: true }).count()).toBe(0);
  for (const [where, title] of [["/retention", "Retention"], ["/retention/runs", "Retention runs"], ["/retention/archives", "Archives"]] as const) {
    await coachPage.goto(at(where, null));
    expect(await coachPage.getByRole("alert").textContent()).toBe(`The ${title} page is for admins and auditors; you are signed in as a coach.`);
  }
  await screenshot(coachPage, "retention-coach-refused");
});
