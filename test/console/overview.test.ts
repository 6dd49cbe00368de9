import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { becomeUser, closeRootPool, rootPool, withRootDb, type Actor } from "../support/db.ts";
import { rateAndRollUp } from "../support/console.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl } from "../support/http.ts";
import { runWorkerOnce } from "../support/worker-once.ts";

// The console in a real headless Chromium against the real server: sign-in,
// each role's navigation, and the overview's figures against the SQL
// functions that compute them, for the range the page shows.

let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let otherCoach: Coach;

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin");
  auditor = await createUser(pool, "auditor");
  coach = await createCoach(pool, "console-coach");
  otherCoach = await createCoach(pool, "console-other");
  await rateAndRollUp();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  for (const one of [coach, otherCoach]) if (one) await deleteCoach(pool, one);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  await rateAndRollUp();
  await closeRootPool();
});

interface Figures {
  revenue: string | null;
  "provider-cost": string | null;
  "gross-margin": string | null;
  attempts: string | null;
  "failure-rate": string | null;
  "retranscription-rate": string | null;
  "free-retries-cost": string | null;
}

/** What the SQL functions return for the range, as the role would call them (numbers as PostgreSQL writes them). */
async function sqlFigures(actor: Actor, from: string, to: string): Promise<Figures> {
  return withRootDb(async (client) => {
    await becomeUser(client, actor);
    const { rows } = await client.query(
      `select r.revenue_minor::text as revenue, r.provider_cost_minor::text as "provider-cost", r.gross_margin_minor::text as "gross-margin",
              f.attempts::text as attempts, f.failure_rate::text as "failure-rate", t.retranscription_rate::text as "retranscription-rate",
              f.failed_attempts_cost_minor::text as "free-retries-cost"
         from app_public.revenue_summary($1, $2) r, app_public.failure_stats($1, $2) f, app_public.retranscription_stats($1, $2) t`,
      [from, to],
    );
    return rows[0];
  });
}

/** The cards the page shows: each card's raw figure (data-value), keyed by its name; a missing card is absent. */
async function pageFigures(page: Page): Promise<{ from: string; to: string; cards: Record<string, string | null> }> {
  await page.locator("[data-figure]").first().waitFor();
  return page.evaluate(() => {
    const range = document.querySelector<HTMLElement>(".range")!;
    const cards: Record<string, string | null> = {};
    for (const card of document.querySelectorAll<HTMLElement>("[data-figure]")) cards[card.dataset.figure!] = card.dataset.value || null;
    return { from: range.dataset.from!, to: range.dataset.to!, cards };
  });
}

/**
 * The page's figures equal the SQL functions' for the same range. Other test
 * files commit usage meanwhile, so a platform-wide figure may move between the
 * page's request and ours: then the page is read again (a few times at most).
 */
async function expectFiguresMatchSql(page: Page, actor: Actor, cardNames: Array<keyof Figures>): Promise<Record<string, string | null>> {
  let shown = await pageFigures(page);
  let expected = await sqlFigures(actor, shown.from, shown.to);
  for (let tries = 0; tries < 3; tries++) {
    const wanted = Object.fromEntries(cardNames.map((name) => [name, expected[name]]));
    if (JSON.stringify(shown.cards) === JSON.stringify(wanted)) break;
    await page.reload();
    shown = await pageFigures(page);
    expected = await sqlFigures(actor, shown.from, shown.to);
  }
  expect(shown.cards).toEqual(Object.fromEntries(cardNames.map((name) => [name, expected[name]])));
  return shown.cards;
}

const staffCards: Array<keyof Figures> = ["revenue", "provider-cost", "gross-margin", "attempts", "failure-rate", "retranscription-rate", "free-retries-cost"];
const coachCards: Array<keyof Figures> = ["revenue", "attempts", "failure-rate", "retranscription-rate"];

test("an admin signs in and sees every card equal to what revenue_summary, failure_stats and retranscription_stats return for the range", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  expect(new URL(page.url()).pathname).toBe("/admin/");
  const cards = await expectFiguresMatchSql(page, admin, staffCards);
  // The committed coaches' completed attempts are in the last 30 days.
  expect(Number(cards.attempts)).toBeGreaterThanOrEqual(2);
  expect(await page.getByRole("link", { name: "Reconcile" }).isVisible()).toBe(true);
  await page.locator(".chart canvas").first().waitFor();
  await screenshot(page, "overview-admin");
  await page.context().close();
});

test("changing the range and the bucket changes the URL and the results, and the shared URL opens the same view", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.locator("[data-buckets]").waitFor();

  await page.getByRole("button", { name: "Month" }).click();
  await page.waitForURL(/by=month/);
  await page.locator("[data-buckets]").waitFor();
  expect(Number(await page.locator("[data-buckets]").getAttribute("data-buckets"))).toBeLessThanOrEqual(2);

  // A custom range with no usage: the figures are the SQL functions' for it, and the chart says it is empty.
  await page.getByLabel("Range").selectOption("custom");
  await page.getByLabel("From").fill("2020-01-01");
  await page.getByLabel("Through").fill("2020-01-31");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/from=2020-01-01&to=2020-02-01/);
  await page.getByText("No usage in this range.").waitFor();
  const cards = await expectFiguresMatchSql(page, admin, staffCards);
  expect(cards.attempts).toBe("0");
  await screenshot(page, "overview-admin-empty-range");

  // The same URL in a new tab (signed in there too) shows the same range.
  const shared = page.url();
  const other = await newTab(browser);
  await signIn(other, admin.email);
  await other.goto(shared);
  expect((await pageFigures(other)).from).toBe("2020-01-01");
  await other.getByText("No usage in this range.").waitFor();
  await other.context().close();
  await page.context().close();
});

test("a coach sees only their own figures, no provider cost or margin, and cannot open the admin pages", async () => {
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  const cards = await expectFiguresMatchSql(page, coach.user, coachCards);
  expect(cards.attempts).toBe("1"); // their one completed attempt, not the other coach's
  expect(await page.locator('[data-figure="provider-cost"]').count()).toBe(0);
  expect(await page.getByText(/Provider cost|Gross margin/).count()).toBe(0);
  expect(await page.getByRole("link", { name: "Reconcile" }).count()).toBe(0);
  await screenshot(page, "overview-coach");

  await page.goto(apiUrl("/admin/reconcile"));
  await page.getByRole("alert").waitFor();
  expect(await page.getByRole("alert").textContent()).toBe("The Reconcile page is for admins and auditors; you are signed in as a coach.");
  expect(await page.locator("table").count()).toBe(0);
  await screenshot(page, "reconcile-coach-refused");
  await page.context().close();
});

test("an auditor sees the platform's figures and the reconcile page, and no action buttons", async () => {
  const page = await newTab(browser);
  await signIn(page, auditor.email);
  await expectFiguresMatchSql(page, auditor, staffCards);
  await page.getByRole("link", { name: "Reconcile" }).click();
  await page.waitForURL(/\/admin\/reconcile/);
  await page.locator(".panel h2", { hasText: "Differences" }).waitFor();
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
  expect(await page.locator("[data-action]").count()).toBe(0);
  await screenshot(page, "reconcile-auditor");
  await page.context().close();
});

test("an admin checks a range on the reconcile page: the worker runs the check, and the page shows what it found and when it ran", async () => {
  // A month with no usage, that only this test checks.
  const forget = () => rootPool().query("delete from app_public.usage_reconcile_checks where from_day = '2002-01-01' and to_day = '2002-02-01'");
  await forget();
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl("/admin/reconcile?from=2002-01-01&to=2002-02-01"));
  await page.getByText("This range has not been checked yet.").waitFor();
  await page.getByRole("button", { name: "Check this range" }).click();
  await page.locator('[data-check-state="waiting"]').waitFor();
  expect(await page.getByRole("button", { name: "Check this range again" }).isDisabled()).toBe(true);
  await screenshot(page, "reconcile-admin-waiting");

  expect((await runWorkerOnce()).code).toBe(0);
  // The page reads the check again while it waits: no reload needed.
  await page.locator('[data-check-state="finished"]').waitFor();
  const { rows: [found] } = await rootPool().query("select count(*)::int as n from app_public.usage_reconcile('2002-01-01', '2002-02-01')");
  expect(Number(await page.locator("[data-differences]").getAttribute("data-differences"))).toBe(found.n);
  expect(await page.locator('[data-check-state="finished"]').textContent()).toMatch(
    /^Checked .+ in \d+\.\d{3} s \(asked for .+ by admin\): rollups, usage events and attempts agree over this range\.$/);
  expect(await page.getByRole("button", { name: "Check this range again" }).isEnabled()).toBe(true);
  await screenshot(page, "reconcile-admin-checked");

  // A month with a stray rollup row (no event behind it): the check lists it, as a table that downloads.
  const stray = "select gen_random_uuid() as coach, '2002-03-05'::date as day";
  const { rows: [planted] } = await rootPool().query(stray);
  await rootPool().query(
    `insert into app_public.usage_daily (day, coach_profile_id, provider, model, billing_month, attempts, completed, failed, free_retries,
       retranscriptions, audio_seconds, billable_seconds, charged_seconds, revenue_minor, retranscription_revenue_minor, provider_cost_minor,
       failed_cost_minor, unknown_cost_attempts)
     values ($1, $2, 'planted', 'm', '2002-03-01', 1, 1, 0, 0, 0, 60, 60, 60, 7, 0, 0, 0, 0)`, [planted.day, planted.coach]);
  try {
    await page.goto(apiUrl("/admin/reconcile?from=2002-03-01&to=2002-04-01"));
    await page.getByRole("button", { name: /^Check this range/ }).click();
    await page.locator('[data-check-state="waiting"]').waitFor();
    expect((await runWorkerOnce()).code).toBe(0);
    await page.locator('[data-check-state="finished"]').waitFor();
    const { rows: differences } = await rootPool().query("select check_name from app_public.usage_reconcile('2002-03-01', '2002-04-01')");
    expect(differences.length).toBeGreaterThan(0);
    expect(Number(await page.locator("[data-differences]").getAttribute("data-differences"))).toBe(differences.length);
    expect(await page.locator('table[data-table="reconcile-differences"] [data-column="check"]').allTextContents())
      .toEqual(differences.map((row) => row.check_name));
    expect(await page.locator('[data-csv="reconcile-differences"]').count()).toBe(1);
    await screenshot(page, "reconcile-admin-differences");
  } finally {
    await rootPool().query("delete from app_public.usage_daily where coach_profile_id = $1", [planted.coach]);
    await rootPool().query("delete from app_public.usage_reconcile_checks where from_day = '2002-03-01' and to_day = '2002-04-01'");
  }
  await page.context().close();
  await forget();
});

test("signing out drops the token and returns to sign-in saying so; a refused token sends the tab back to sign-in", async () => {
  const page = await newTab(browser);
  await page.goto(apiUrl("/admin/"));
  await page.getByLabel("Email").fill(admin.email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  expect(await page.getByRole("alert").textContent()).toMatch(/\w+ \w+/);
  await screenshot(page, "sign-in-refused");

  await signIn(page, admin.email);
  expect(await page.evaluate(() => sessionStorage.getItem("custodian.token"))).toMatch(/^ey/);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You signed out.").waitFor();
  expect(await page.evaluate(() => sessionStorage.getItem("custodian.token"))).toBeNull();

  // A token the server refuses (here, one that was never signed) is treated like an expired one.
  await page.evaluate(() => sessionStorage.setItem("custodian.token", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.bad"));
  await page.reload();
  await page.getByText("Your session has ended; sign in again.").waitFor();
  expect(await page.getByRole("navigation", { name: "Console" }).count()).toBe(0);
  await screenshot(page, "sign-in-session-ended");
  await page.context().close();
});
