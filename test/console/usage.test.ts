import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { downloadCsv, rateAndRollUp, settled, sqlAs, tableMatrix, tableRows } from "../support/console.ts";
import { closeRootPool, rootPool, type Actor } from "../support/db.ts";
import { createAttempt, createCoach, createProviderRate, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl } from "../support/http.ts";

// The overview's tables (usage by provider and model, top coaches), a coach's
// page, and the usage events behind a figure, in a real headless Chromium.
// The attempts are this file's own, at pinned instants in May 2018, a month no
// other test uses: the platform's figures for it are these attempts'.

const MAY = "from=2018-05-01&to=2018-06-01";
let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let other: Coach;
let rates: Array<{ provider: string; model: string }>;

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin");
  auditor = await createUser(pool, "auditor");
  coach = await createCoach(pool, "usage-coach");
  other = await createCoach(pool, "usage-other");
  rates = [await createProviderRate(pool, "0.5"), await createProviderRate(pool, "0.25")];
  const [first, second] = rates as [{ provider: string; model: string }, { provider: string; model: string }];
  // The plan includes 300 minutes a month and charges 10 minor units a minute beyond.
  await createAttempt(pool, coach, { status: "completed", seconds: 19_200, finishedAt: "2018-05-03T10:00:00Z", ...first });
  await createAttempt(pool, coach, { status: "failed", seconds: 0, finishedAt: "2018-05-10T09:00:00Z", ...first });
  await createAttempt(pool, coach, { status: "completed", seconds: 600, finishedAt: "2018-05-22T15:00:00Z", ...second });
  await createAttempt(pool, other, { status: "completed", seconds: 18_600, finishedAt: "2018-05-29T08:00:00Z", ...second });
  await createAttempt(pool, other, { status: "completed", seconds: 120, finishedAt: "2018-04-12T08:00:00Z", ...second });
  await rateAndRollUp();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  for (const one of [coach, other]) if (one) await deleteCoach(pool, one);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  await rateAndRollUp();
  await closeRootPool();
});

/** The cards' raw figures (data-value) by name. */
async function cards(page: Page): Promise<Record<string, string>> {
  await page.locator("[data-figure]").first().waitFor();
  await settled(page);
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll<HTMLElement>("[data-figure]")].map((card) => [card.dataset.figure!, card.dataset.value!])));
}

/** revenue_summary and failure_stats as the actor calls them, named as the cards are. */
async function sqlCards(actor: Actor, from: string, to: string, coachProfileId: string | null): Promise<Record<string, string>> {
  const [row] = await sqlAs(
    actor,
    `select r.revenue_minor::text as revenue, r.provider_cost_minor::text as "provider-cost", r.gross_margin_minor::text as "gross-margin",
            f.attempts::text as attempts, f.failure_rate::text as "failure-rate", t.retranscription_rate::text as "retranscription-rate",
            f.failed_attempts_cost_minor::text as "free-retries-cost"
       from app_public.revenue_summary($1, $2, $3) r, app_public.failure_stats($1, $2, $3) f, app_public.retranscription_stats($1, $2, $3) t`,
    [from, to, coachProfileId],
  );
  return Object.fromEntries(Object.entries(row!).map(([key, value]) => [key, value ?? ""]));
}

const text = (value: unknown) => (value === null || value === undefined ? "" : String(value));

test("an admin sees usage by provider and model and the top coaches as the SQL functions return them, and each table downloads exactly its rows as CSV", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/?${MAY}`));
  expect(await cards(page)).toEqual(await sqlCards(admin, "2018-05-01", "2018-06-01", null));

  const providers = await sqlAs(admin, "select * from app_public.usage_by_provider('2018-05-01', '2018-06-01')");
  expect(await tableRows(page, "usage-by-provider")).toEqual(
    providers.map((row) => ({
      provider: text(row.provider), model: text(row.model), attempts: text(row.attempts), "failure-rate": text(row.failure_rate),
      "audio-minutes": text(row.audio_minutes), revenue: text(row.revenue_minor), "provider-cost": text(row.provider_cost_minor),
      "unknown-cost": text(row.unknown_cost_attempts),
    })),
  );
  expect(providers.map((row) => row.provider).sort()).toEqual(rates.map((rate) => rate.provider).sort());

  const top = await sqlAs(admin, "select * from app_public.top_coaches('2018-05-01', '2018-06-01', 10)");
  expect((await tableRows(page, "top-coaches")).map((row) => [row["coach-profile-id"], row.revenue, row["provider-cost"], row["gross-margin"]])).toEqual(
    top.map((row) => [row.coach_profile_id, text(row.revenue_minor), text(row.provider_cost_minor), text(row.gross_margin_minor)]),
  );
  expect(top.map((row) => row.coach_profile_id).sort()).toEqual([coach.profileId, other.profileId].sort());

  for (const table of ["usage-by-provider", "top-coaches"]) {
    const csv = await downloadCsv(page, table);
    expect(csv.filename).toBe(`${table}.csv`);
    expect(csv.rows.slice(1)).toEqual(await tableMatrix(page, table));
    // The same headings, money saying it is in minor units.
    expect(csv.rows[0]!.map((heading) => heading.replace(" (minor units)", ""))).toEqual(await page.locator(`table[data-table="${table}"] thead th`).allTextContents());
  }
  await screenshot(page, "overview-admin-tables");

  // A tablet's width: the tables scroll inside their panels, the navigation goes on top.
  await page.setViewportSize({ width: 800, height: 1000 });
  // Nothing wider than the screen once the chart has followed its container's width.
  await page.waitForFunction(() => document.documentElement.scrollWidth <= 800);
  await screenshot(page, "overview-admin-tablet");
  await page.context().close();
});

test("a top coach leads to their page with the range kept: their figures, invoice preview, usage events and audit events", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/?${MAY}`));
  await page.locator('table[data-table="top-coaches"]').getByRole("link", { name: "usage-coach" }).click();
  await page.waitForURL(/\/admin\/coach\?/);
  const url = new URL(page.url());
  expect([url.searchParams.get("coach"), url.searchParams.get("from"), url.searchParams.get("to")]).toEqual([coach.profileId, "2018-05-01", "2018-06-01"]);
  await page.getByRole("heading", { name: "usage-coach", level: 1 }).waitFor();
  expect(await cards(page)).toEqual(await sqlCards(admin, "2018-05-01", "2018-06-01", coach.profileId));
  expect(await cards(page)).not.toEqual(await sqlCards(admin, "2018-05-01", "2018-06-01", null));

  const [invoice] = await sqlAs(admin, "select total_minor::text from app_public.invoice_preview($1, '2018-05-01')", [coach.profileId]);
  expect(await page.locator("[data-invoice]").getAttribute("data-total")).toBe(invoice!.total_minor);
  expect(await page.getByRole("link", { name: "Their audit events" }).getAttribute("href")).toBe(`/admin/audit?actor=${coach.user.id}`);
  const providers = await sqlAs(admin, "select provider from app_public.usage_by_provider('2018-05-01', '2018-06-01', $1)", [coach.profileId]);
  expect((await tableRows(page, `coach-${coach.profileId}-by-provider`)).map((row) => row.provider)).toEqual(providers.map((row) => row.provider));
  await screenshot(page, "coach-page-admin");

  await page.getByRole("link", { name: "Their usage events in this range" }).click();
  await page.waitForURL(/\/admin\/usage-events\?/);
  const events = await sqlAs(admin, "select id::text from app_public.usage_in_range('2018-05-01', '2018-06-01', $1)", [coach.profileId]);
  expect((await tableRows(page, "usage-events")).map((row) => row.id)).toEqual(events.map((row) => row.id));
  await page.context().close();
});

test("a week of the chart's table or a click on a month of the chart leads to the events of its days within the range, whose amounts sum to its revenue", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/?${MAY}&by=week`));
  await page.getByText("The chart's figures, by week").click();
  const weeks = await tableRows(page, "usage-by-week");
  const expected = await sqlAs(admin, "select period_start::text, revenue_minor::text from app_public.usage_over_time('2018-05-01', '2018-06-01', 'week')");
  expect(weeks.map((row) => [row.period, row.revenue])).toEqual(expected.map((row) => [row.period_start, row.revenue_minor]));
  // The first week began on Monday 30 April: its events are those from 1 May (the range's start) to 7 May.
  expect(weeks[0]!.period).toBe("2018-04-30");
  await page.locator('table[data-table="usage-by-week"]').getByRole("link", { name: "2018-04-30" }).click();
  await page.waitForURL(/\/admin\/usage-events\?/);
  let url = new URL(page.url());
  expect([url.searchParams.get("from"), url.searchParams.get("to"), url.searchParams.get("by")]).toEqual(["2018-05-01", "2018-05-07", "week"]);
  let events = await tableRows(page, "usage-events");
  expect(events.reduce((sum, row) => sum + Number(row.amount), 0)).toBe(Number(weeks[0]!.revenue));

  await page.goto(apiUrl(`/admin/?${MAY}&by=month`));
  await page.getByText("The chart's figures, by month").click();
  const [month] = await tableRows(page, "usage-by-month");
  // A click on the chart itself: the one bucket, May, is under the cursor wherever it is.
  await page.locator(".chart .u-over").click();
  await page.waitForURL(/\/admin\/usage-events\?/);
  url = new URL(page.url());
  expect([url.searchParams.get("from"), url.searchParams.get("to")]).toEqual(["2018-05-01", "2018-06-01"]);
  events = await tableRows(page, "usage-events");
  expect(events.reduce((sum, row) => sum + Number(row.amount), 0)).toBe(Number(month!.revenue));
  const csv = await downloadCsv(page, "usage-events");
  expect(csv.rows.slice(1)).toEqual(await tableMatrix(page, "usage-events"));
  await page.context().close();
});

test("the revenue card leads to its events, paged by cursor; each event explains its charge and links to its attempt's audit history", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/?${MAY}`));
  const figures = await cards(page);
  const revenue = figures.revenue;
  await page.locator('[data-figure="revenue"]').getByRole("link").click();
  await page.waitForURL(/\/admin\/usage-events\?/);
  // The page says what its events add up to: the card's figures.
  const totals = page.locator("[data-amount]");
  await totals.waitFor();
  expect([await totals.getAttribute("data-amount"), Number(await totals.getAttribute("data-provider-cost"))]).toEqual([revenue, Number(figures["provider-cost"])]);
  const all = await sqlAs(admin, "select id::text, amount_minor::text, transcription_id from app_public.usage_in_range('2018-05-01', '2018-06-01')");
  expect(all.reduce((sum, row) => sum + Number(row.amount_minor), 0)).toBe(Number(revenue));
  expect(Number(await page.locator("[data-total]").getAttribute("data-total"))).toBe(all.length);

  // Two a page: the pages, in order, are the events.
  await page.goto(apiUrl(`/admin/usage-events?${MAY}&size=2`));
  const seen: string[] = [];
  for (;;) {
    await settled(page);
    seen.push(...(await tableRows(page, "usage-events")).map((row) => row.id!));
    const next = page.getByRole("button", { name: "Next page" });
    if (!(await next.count())) break;
    const before = page.url();
    await next.click();
    await page.waitForURL((url) => url.toString() !== before);
  }
  expect(seen).toEqual(all.map((row) => row.id));

  // A filter from the URL narrows the events; removing it widens them again.
  await page.goto(apiUrl(`/admin/usage-events?${MAY}&provider=${rates[0]!.provider}&model=${rates[0]!.model}`));
  const narrowed = await sqlAs(admin, "select id::text from app_public.usage_in_range('2018-05-01', '2018-06-01', null, null, $1, $2)", [rates[0]!.provider, rates[0]!.model]);
  expect((await tableRows(page, "usage-events")).map((row) => row.id)).toEqual(narrowed.map((row) => row.id));
  expect(narrowed.length).toBeLessThan(all.length);
  await page.getByRole("button", { name: `Remove the filter Provider ${rates[0]!.provider}` }).click();
  await page.getByRole("button", { name: `Remove the filter Model ${rates[0]!.model}` }).click();
  await page.waitForFunction((count) => document.querySelector("[data-total]")?.getAttribute("data-total") === String(count), all.length);

  const charged = all.find((row) => Number(row.amount_minor) > 0)!;
  await page.getByRole("button", { name: `Explain event ${charged.id}` }).click();
  await page.locator(`[data-explained="${charged.id}"]`).waitFor();
  const [explained] = await sqlAs(admin, "select app_public.explain_charge($1) ->> 'explanation' as text", [charged.id]);
  expect(await page.locator("[data-explanation]").textContent()).toBe(explained!.text);
  expect(new URL(page.url()).searchParams.get("event")).toBe(charged.id);
  expect(await page.getByRole("link", { name: `Audit history of the attempt of event ${charged.id}` }).getAttribute("href")).toBe(
    `/admin/audit?table=transcriptions&record=${charged.transcription_id}`,
  );
  await screenshot(page, "usage-events-admin");
  await page.context().close();
});

test("a coach sees their own usage without costs, and another coach's page or events are refused in words", async () => {
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  await page.goto(apiUrl(`/admin/?${MAY}`));
  expect(await cards(page)).toEqual(
    Object.fromEntries(Object.entries(await sqlCards(coach.user, "2018-05-01", "2018-06-01", null)).filter(([name]) => ["revenue", "attempts", "failure-rate", "retranscription-rate"].includes(name))),
  );
  const providers = await sqlAs(coach.user, "select provider from app_public.usage_by_provider('2018-05-01', '2018-06-01')");
  const shown = await tableRows(page, "usage-by-provider");
  expect(shown.map((row) => row.provider)).toEqual(providers.map((row) => row.provider));
  expect(Object.keys(shown[0]!)).not.toContain("provider-cost");
  expect(await page.getByRole("region", { name: "Top coaches" }).count()).toBe(0);
  expect(await page.getByText(/Provider cost|Gross margin/).count()).toBe(0);
  await screenshot(page, "overview-coach-tables");

  await page.goto(apiUrl(`/admin/coach?coach=${other.profileId}&${MAY}`));
  await page.getByRole("alert").first().waitFor();
  expect(await page.getByRole("alert").first().textContent()).toContain(`There is no coach profile ${other.profileId} that you can see.`);
  await screenshot(page, "coach-page-refused");

  await page.goto(apiUrl(`/admin/usage-events?coach=${other.profileId}&${MAY}`));
  await page.getByRole("alert").waitFor();
  expect(await page.getByRole("alert").textContent()).toBe(`Could not load events: There is no coach profile ${other.profileId} that you can see.`);

  await page.goto(apiUrl(`/admin/usage-events?${MAY}`));
  const own = await sqlAs(coach.user, "select id::text from app_public.usage_in_range('2018-05-01', '2018-06-01')");
  const rows = await tableRows(page, "usage-events");
  expect(rows.map((row) => row.id)).toEqual(own.map((row) => row.id));
  expect(rows.every((row) => row.coach === coach.profileId)).toBe(true);
  expect(await page.locator("[data-amount]").getAttribute("data-provider-cost")).toBe("");
  expect(await page.getByText("Provider cost").count()).toBe(0);
  await screenshot(page, "usage-events-coach");
  await page.context().close();
});

test("an auditor sees the tables, the coach page and the events, with no action buttons", async () => {
  const page = await newTab(browser);
  await signIn(page, auditor.email);
  await page.goto(apiUrl(`/admin/?${MAY}`));
  expect(await cards(page)).toEqual(await sqlCards(auditor, "2018-05-01", "2018-06-01", null));
  await tableRows(page, "top-coaches");
  expect(await page.locator("[data-action]").count()).toBe(0);
  await page.goto(apiUrl(`/admin/coach?coach=${other.profileId}&${MAY}`));
  expect(await cards(page)).toEqual(await sqlCards(auditor, "2018-05-01", "2018-06-01", other.profileId));
  expect(await page.locator("[data-action]").count()).toBe(0);
  await page.goto(apiUrl(`/admin/usage-events?${MAY}`));
  await tableRows(page, "usage-events");
  expect(await page.locator("[data-action]").count()).toBe(0);
  await page.context().close();
});
