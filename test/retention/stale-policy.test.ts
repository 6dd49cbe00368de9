import pg from "pg";
import { ownerUrl } from "../../src/db/connection-strings.ts";
import { scratchDirectory } from "../support/archive.ts";
import { launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { runCli, startCli, type RunningCli } from "../support/cli.ts";
import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { login } from "../support/http.ts";
import { testEnvironment } from "../support/environment.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";

// A policy is checked when written (policies.test.ts), but its table can be
// dropped or renamed afterwards. Then the policy says so in its own words,
// alone: the preview and the compliance figure list it without figures and
// with the problem, every other policy still counted; the readiness report
// is not met; a run records it as failed and applies the others. On the
// shared database in transactions rolled back (other files read the
// compliance of every policy); the run, the CLI, REST and the console on a
// database and a server of this file's own.

afterAll(closeRootPool);

const problem = /^Retention policy stale_notes: there is no table "app_public\.stale_notes" \(dropped or renamed since the policy was written\?\); point the policy at its table or delete the policy\.$/;

/** A table with a policy, then the table dropped: as a migration or a psql session can leave it. */
async function plantStalePolicy(client: pg.ClientBase): Promise<void> {
  await client.query("create table app_public.stale_notes (id uuid primary key default gen_random_uuid(), written_at timestamptz not null default now())");
  await client.query(
    `insert into app_public.retention_policies (name, category, target_table, clock_column, period, action, legal_basis, description)
     values ('stale_notes', 'Notes', 'app_public.stale_notes', 'written_at', '30 days', 'delete', 'legitimate_interests', 'Notes of a feature since removed.')`);
  await client.query("drop table app_public.stale_notes");
}

test("the preview and the compliance figure list a policy whose table is gone with its problem and count every other one", () =>
  withRootDb(async (client) => {
    await plantStalePolicy(client);
    const auditor = await createUser(client, "auditor");
    await becomeUser(client, auditor);
    const { rows: preview } = await client.query("select * from app_public.retention_preview(null, '1990-10-01T00:00:00Z')");
    const stale = preview.find((row) => row.policy_name === "stale_notes");
    expect(stale).toMatchObject({ target_table: "app_public.stale_notes", rows_due: null, rows_spared_by_hold: null, sample_keys: null, oldest_due: null });
    expect(stale.problem).toMatch(problem);
    // Last in run order; every other policy counted, with no problem.
    expect(preview.at(-1).policy_name).toBe("stale_notes");
    for (const row of preview.filter((one) => one.policy_name !== "stale_notes")) {
      expect(row).toMatchObject({ problem: null, rows_due: expect.any(String) });
    }
    // Named alone, the same row.
    expect((await client.query("select * from app_public.retention_preview('stale_notes', '1990-10-01T00:00:00Z')")).rows).toEqual([stale]);

    const { rows: compliance } = await client.query("select * from app_public.retention_compliance('1990-10-01T00:00:00Z')");
    const measured = compliance.find((row) => row.policy_name === "stale_notes");
    expect(measured).toMatchObject({ rows_under_policy: null, rows_within_period: null, rows_past_period: null, rows_held: null, compliance_percent: null });
    expect(measured.problem).toMatch(problem);
    for (const row of compliance.filter((one) => one.policy_name !== "stale_notes")) {
      expect(row).toMatchObject({ problem: null, rows_under_policy: expect.any(String), compliance_percent: expect.any(String) });
    }

    // GDPR readiness: not met while a policy cannot be applied, whatever the share of rows.
    const { rows: [readiness] } = await client.query(
      "select value::text, ok from app_public.gdpr_readiness_parts('1990-10-01T00:00:00Z') where part = 'retention_compliance'");
    expect(readiness.ok).toBe(false);
  }));

test("what a run reads of the policy fails with the problem, not with SQL naming no table", () =>
  withRootDb(async (client) => {
    await plantStalePolicy(client);
    await becomeRoot(client);
    const ofPolicy = (call: string) => `select c.* from app_public.retention_policies p, ${call} c where p.name = 'stale_notes'`;
    expect(await errorOf(client, ofPolicy("app_private.retention_counts(p, now())")))
      .toMatchObject({ code: "42P01", message: expect.stringMatching(problem) });
    expect(await errorOf(client, ofPolicy("app_private.retention_due_keys(p, now(), 10)")))
      .toMatchObject({ code: "42P01", message: expect.stringMatching(problem) });
    // Writing the policy again is refused, the table named as the writer's to correct.
    expect(await errorOf(client, "update app_public.retention_policies set period = '60 days' where name = 'stale_notes'"))
      .toMatchObject({ code: "42P01", message: 'Retention policy stale_notes: there is no table "app_public.stale_notes"; name it with its schema, e.g. app_public.clients.' });
  }));

describe("a run, the CLI, REST and the console", () => {
  let scratch: ScratchDatabase;
  let owner: pg.Client;
  let archiveDir: { dir: string; remove: () => void };
  let env: Record<string, string>;
  let server: RunningCli | undefined;
  let origin: string;
  let admin: User;

  beforeAll(async () => {
    scratch = await openScratchDatabase();
    archiveDir = scratchDirectory("stale-policy");
    env = testEnvironment({ DATABASE_URL: scratch.url, ARCHIVE_DIR: archiveDir.dir });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    owner = new pg.Client({ connectionString: ownerUrl(scratch.url) });
    await owner.connect();
    await plantStalePolicy(owner);
    admin = await createUser(owner, "admin", "stale-policy");
    const started = await startCli(["start"], { ...env, PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR! }, /GraphQL\s+(http:\S+)\/graphql/);
    server = started;
    origin = started.match[1]!;
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await owner?.end();
    await scratch?.drop();
    archiveDir?.remove();
  });

  test("custodian retention preview lists it with its problem", async () => {
    const preview = await runCli(["retention", "preview", "--as-of", "2026-01-01T00:00:00Z"], env);
    expect(preview.code).toBe(0);
    expect(preview.stdout).toMatch(/stale_notes\s+delete\s+—\s+—/);
    expect(preview.stdout).toMatch(/Cannot be applied: Retention policy stale_notes: there is no table "app_public\.stale_notes"/);
    expect(preview.stdout).toMatch(/soft_deleted_clients\s+archive_then_delete\s+0\s+0/);
  }, 60_000);

  test("a run records it as failed with the problem and applies every other policy", async () => {
    const run = await runCli(["retention", "run", "--dry-run", "--as-of", "2026-01-01T00:00:00Z"], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/1 policy failed: stale_notes/);
    const { rows: policies } = await owner.query(
      `select p.policy_name, p.status, p.error from app_public.retention_run_policies p
       join app_public.retention_runs r on r.id = p.run_id order by p.policy_name`);
    expect(policies.find((row) => row.policy_name === "stale_notes")).toMatchObject({ status: "failed", error: expect.stringMatching(problem) });
    const others = policies.filter((row) => row.policy_name !== "stale_notes");
    expect(others.length).toBeGreaterThan(3);
    for (const row of others) expect(row).toMatchObject({ status: expect.stringMatching(/^(finished|skipped)$/), error: null });
    const { rows: [finished] } = await owner.query("select status, error from app_public.retention_runs");
    expect(finished).toEqual({ status: "finished", error: null });
  }, 120_000);

  test("GET /api/v1/retention/preview and the console's retention page say why the policy has no figures", async () => {
    const token = await login(admin.email, PASSWORD, origin);
    const response = await fetch(`${origin}/api/v1/retention/preview?policy=stale_notes`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const [row] = (await response.json()) as Record<string, unknown>[];
    expect(row).toMatchObject({ policyName: "stale_notes", rowsDue: null, problem: expect.stringMatching(problem) });

    const browser = await launchBrowser();
    try {
      const page = await newTab(browser);
      await signIn(page, admin.email, PASSWORD, origin);
      await page.goto(`${origin}/admin/retention?asOf=2026-01-01T00:00:00Z`);
      const alert = page.locator("[data-unappliable]");
      await alert.waitFor();
      expect(await alert.getAttribute("data-unappliable")).toBe("1");
      expect(await alert.innerText()).toMatch(/A policy cannot be applied: no figures, and a run records it as failed\.\s+Retention policy stale_notes: there is no table "app_public\.stale_notes"/);
      // Its compliance row has no figures; the shipped policies keep theirs.
      const compliance = page.getByRole("table", { name: "Retention compliance" });
      expect(await compliance.getByRole("row").filter({ hasText: "Notes" }).innerText()).toMatch(/^Notes(\s+—){5}$/);
      expect(await compliance.getByRole("row").filter({ hasText: "Soft-deleted client records" }).innerText()).toMatch(/100/);
      await screenshot(page, "retention-stale-policy-admin");
    } finally {
      await browser.close();
    }
  }, 120_000);
});
