import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { downloadCsv, rateAndRollUp, settled, sqlAs, tableMatrix, tableRows } from "../support/console.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createAttempt, createCoach, createProviderRate, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl } from "../support/http.ts";

// The billing page in a real headless Chromium: revenue and margin by month,
// invoices, a charge explained, and the admin's month close, credit and void,
// each confirmed in a dialog that states its effect. The attempts are this
// file's own, in a month of 2012 to 2017 that no other test uses and that has
// no usage yet: closing it here commits, and a database kept from an earlier
// run already has its month closed, so each run takes the next free one.

let MONTH: string; // the first day of the month this run bills and closes
let MONTH_NAME: string; // as the page names it: August 2017
let PAGE: string;
let around: [string, string]; // the month before it and the month after the one after it
let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let other: Coach;
let charged: string;

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin");
  auditor = await createUser(pool, "auditor");
  coach = await createCoach(pool, "billing-coach");
  other = await createCoach(pool, "billing-other");
  MONTH = (await pool.query(`select min(m)::date::text as month from generate_series('2012-01-01'::date, '2017-12-01', '1 month') m
    where not exists (select from app_public.billing_months b where b.month = m)
      and not exists (select from app_public.usage_events e where e.billing_month = m or e.usage_month = m)`)).rows[0].month;
  if (!MONTH) throw new Error("every month of 2012 to 2017 is used: start from a fresh test database");
  MONTH_NAME = new Intl.DateTimeFormat("en-US", { month: "long", year: "numeric", timeZone: "UTC" }).format(new Date(`${MONTH}T00:00:00Z`));
  const shift = (by: number) => {
    const day = new Date(`${MONTH}T00:00:00Z`);
    day.setUTCMonth(day.getUTCMonth() + by);
    return day.toISOString().slice(0, 10);
  };
  around = [shift(-1), shift(2)];
  PAGE = `/admin/billing?from=${around[0]}&to=${around[1]}&month=${MONTH}`;
  const rate = await createProviderRate(pool, "0.5");
  // 320 minutes: 300 included, 20 charged at 10 minor units a minute.
  const attempt = await createAttempt(pool, coach, { status: "completed", seconds: 19_200, finishedAt: `${MONTH.slice(0, 8)}06T10:00:00Z`, ...rate });
  await createAttempt(pool, coach, { status: "failed", seconds: 0, finishedAt: `${MONTH.slice(0, 8)}07T10:00:00Z`, ...rate });
  await createAttempt(pool, other, { status: "completed", seconds: 60, finishedAt: `${MONTH.slice(0, 8)}20T10:00:00Z`, ...rate });
  await rateAndRollUp();
  charged = (await pool.query("select id::text from app_public.usage_events where transcription_id = $1", [attempt])).rows[0].id;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  for (const one of [coach, other]) if (one) await deleteCoach(pool, one);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  await closeRootPool();
});

const text = (value: unknown) => (value === null || value === undefined ? "" : value instanceof Date ? value.toISOString() : String(value));

async function invoiceRows(page: Page) {
  await settled(page);
  return (await tableRows(page, "invoices")).map((row) => [row["coach-profile-id"], row["plan-fee"], row.usage, row.credits, row.total]);
}

const sqlInvoices = async (actor: User, coachProfileId: string | null = null) =>
  (await sqlAs(actor, "select * from app_public.invoice_preview($1, $2)", [coachProfileId, MONTH])).map((row) =>
    [row.coach_profile_id, text(row.plan_fee_minor), text(row.usage_minor), text(row.credits_minor), text(row.total_minor)]);

/** Fills an action's form, opens its dialog, checks what it says it will do, confirms, and returns the outcome in words. */
async function act(page: Page, action: string, effect: RegExp): Promise<string> {
  await page.locator(`[data-action="${action}"]`).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  expect(await dialog.textContent()).toMatch(effect);
  await dialog.getByRole("button").last().click();
  const outcome = page.locator(`[data-outcome="${action}"]`);
  await outcome.waitFor();
  return (await outcome.textContent())!;
}

test("an admin sees revenue and margin by month and the month's invoices as the SQL functions return them; a coach picked narrows them; lines lead to their events", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(PAGE));
  const months = await sqlAs(admin, "select * from app_public.monthly_revenue($1, $2)", around);
  expect((await tableRows(page, "monthly-revenue")).map((row) => [row.month, row["plan-fees"], row.usage, row.total, row["provider-cost"], row["gross-margin"], row["paying-coaches"]])).toEqual(
    months.map((row) => [text(row.month).slice(0, 10), text(row.plan_fee_minor), text(row.usage_revenue_minor), text(row.total_minor), text(row.provider_cost_minor), text(row.gross_margin_minor), text(row.paying_coaches)]),
  );
  expect(months.map((row) => Number(row.usage_revenue_minor))).toEqual([0, 200, 0]);
  const csv = await downloadCsv(page, "monthly-revenue");
  expect(csv.rows.slice(1)).toEqual(await tableMatrix(page, "monthly-revenue"));

  expect(await invoiceRows(page)).toEqual(await sqlInvoices(admin));
  expect((await sqlInvoices(admin)).map((row) => row[0]).sort()).toEqual([coach.profileId, other.profileId].sort());
  await screenshot(page, "billing-admin");

  await page.getByRole("region", { name: "Invoice filters" }).getByRole("combobox").selectOption(coach.profileId);
  await page.waitForURL(new RegExp(`coach=${coach.profileId}`));
  await page.waitForFunction(() => document.querySelectorAll('table[data-table="invoices"] tbody tr').length === 1);
  const [invoice] = await sqlInvoices(admin, coach.profileId);
  expect(await invoiceRows(page)).toEqual([invoice]);

  await page.locator('table[data-table="invoices"] td[data-column="usage"] a').click();
  await page.waitForURL(/\/admin\/usage-events\?/);
  const url = new URL(page.url());
  expect([url.searchParams.get("month"), url.searchParams.get("coach")]).toEqual([MONTH, coach.profileId]);
  const events = await tableRows(page, "usage-events");
  // What the events add up to is the invoice's usage and credits.
  expect(Number(await page.locator("[data-amount]").getAttribute("data-amount"))).toBe(Number(invoice![2]) + Number(invoice![3]));
  expect(events.filter((row) => row.kind === "attempt").reduce((sum, row) => sum + Number(row.amount), 0)).toBe(Number(invoice![2]));
  const expected = await sqlAs(admin, "select id::text from app_public.usage_in_range(null, null, $1, $2)", [coach.profileId, MONTH]);
  expect(events.map((row) => row.id)).toEqual(expected.map((row) => row.id));
  await page.context().close();
});

test("an admin explains a charge, credits, voids and closes a month, each confirmed with its effect stated, and sees refusals in words", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(PAGE));
  await settled(page);

  const explainForm = page.getByRole("region", { name: "Explain a charge" });
  await explainForm.getByLabel("Usage event number").fill(charged);
  await explainForm.getByRole("button", { name: "Explain" }).click();
  await page.locator(`[data-explained="${charged}"]`).waitFor();
  const [explained] = await sqlAs(admin, "select app_public.explain_charge($1) ->> 'explanation' as text", [charged]);
  expect(await page.locator("[data-explanation]").textContent()).toBe(explained!.text);

  const actions = page.getByRole("region", { name: "Admin actions" });
  // A credit: stated, confirmed, done.
  await actions.getByLabel("Coach").selectOption(coach.profileId);
  await actions.getByLabel(/^Amount/).fill("5.00");
  await actions.getByLabel("Reason").first().fill("Goodwill for a slow week");
  const credited = await act(page, "credit", /billing-coach will be credited €5\.00: a new, negative usage event in the current\s+open month/);
  const [credit] = await sqlAs(admin, "select id::text, amount_minor::text, note from app_public.usage_events where kind = 'credit' and coach_profile_id = $1", [coach.profileId]);
  expect(credit).toEqual({ id: expect.any(String), amount_minor: "-500", note: "Goodwill for a slow week" });
  expect(credited).toMatch(new RegExp(`^Credit issued: usage event ${credit!.id} of -€5\\.00, billed in \\w+ \\d{4}\\.$`));
  await screenshot(page, "billing-admin-credited");

  // A credit larger than any may be: refused, in the API's words.
  await actions.getByLabel(/^Amount/).fill("999999");
  const refused = await act(page, "credit", /will be credited €999,999\.00/);
  expect(refused).toBe("Refused: A credit of 99999900 minor units is above the limit of 10000000 minor units for any one credit, even with an override.");
  expect((await sqlAs(admin, "select count(*)::int as n from app_public.usage_events where kind = 'credit' and coach_profile_id = $1", [coach.profileId]))[0]!.n).toBe(1);

  // A void: the charged attempt's 200 minor units cancelled; a second void is refused.
  await actions.getByLabel("Usage event number").fill(charged);
  await actions.getByLabel("Reason").last().fill("Transcript was unusable");
  const voided = await act(page, "void", new RegExp(`Usage event ${charged} will be voided`));
  const [voidEvent] = await sqlAs(admin, "select id::text, amount_minor::text from app_public.usage_events where corrects_event_id = $1", [charged]);
  expect(voidEvent!.amount_minor).toBe("-200");
  expect(voided).toMatch(new RegExp(`^Voided usage event ${charged}: event ${voidEvent!.id} of -€2\\.00`));
  expect(await act(page, "void", /will be voided/)).toBe(`Refused: Usage event ${charged} is already voided; nothing changed.`);

  // Closing the month: cancelling does nothing; confirming freezes its invoices; a second close is refused.
  await page.locator('[data-action="close-month"]').click();
  expect(await page.getByRole("dialog").textContent()).toMatch(new RegExp(`The 2 invoices of ${MONTH_NAME} will be frozen as they stand now, and never change again\\..*This cannot be undone\\.`));
  await screenshot(page, "billing-admin-close-dialog");
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  expect(await sqlAs(admin, "select month from app_public.billing_months where month = $1", [MONTH])).toEqual([]);
  const closed = await act(page, "close-month", /will be frozen/);
  const frozen = await sqlAs(admin, "select coach_profile_id, closed_at from app_public.invoices where month = $1", [MONTH]);
  expect(closed).toBe(`Closed ${MONTH_NAME}: ${frozen.length} invoices frozen.`);
  expect(frozen.length).toBe(2);
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('table[data-table="invoices"] td[data-column="closed-at"]')].every((cell) => cell.dataset.value));
  expect(await invoiceRows(page)).toEqual(await sqlInvoices(admin));
  expect(await act(page, "close-month", /closed already/)).toBe(`Refused: Month ${MONTH.slice(0, 7)} is already closed; its invoices are frozen.`);
  await screenshot(page, "billing-admin-closed");
  await page.context().close();
});

test("an auditor sees the billing figures and no action buttons", async () => {
  const page = await newTab(browser);
  await signIn(page, auditor.email);
  await page.goto(apiUrl(PAGE));
  await tableRows(page, "monthly-revenue");
  expect(await invoiceRows(page)).toEqual(await sqlInvoices(auditor));
  expect(await page.locator("[data-action]").count()).toBe(0);
  expect(await page.getByRole("region", { name: "Admin actions" }).count()).toBe(0);
  await screenshot(page, "billing-auditor");
  await page.setViewportSize({ width: 800, height: 1000 });
  await page.waitForFunction(() => document.documentElement.scrollWidth <= 800);
  await screenshot(page, "billing-auditor-tablet");
  await page.context().close();
});

test("a coach sees only their own invoice, no costs, no coach picker and no actions; another coach's event is not explained to them", async () => {
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  await page.goto(apiUrl(`${PAGE}&coach=${other.profileId}`));
  const own = await sqlInvoices(coach.user);
  expect(own.map((row) => row[0])).toEqual([coach.profileId]);
  expect(await invoiceRows(page)).toEqual(own);
  expect(await page.getByRole("region", { name: "Revenue and margin by month" }).count()).toBe(0);
  expect(await page.getByRole("region", { name: "Invoice filters" }).getByRole("combobox").count()).toBe(0);
  expect(await page.locator("[data-action]").count()).toBe(0);
  expect(await page.getByText(/Provider cost|Gross margin/).count()).toBe(0);
  await screenshot(page, "billing-coach");

  const [theirs] = await sqlAs(admin, "select id::text from app_public.usage_events where coach_profile_id = $1 and kind = 'attempt'", [other.profileId]);
  await page.goto(apiUrl(`${PAGE}&event=${theirs!.id}`));
  await page.getByText(`There is no usage event ${theirs!.id} that you can see.`).waitFor();
  await page.goto(apiUrl(`${PAGE}&event=${charged}`));
  await page.locator(`[data-explained="${charged}"]`).waitFor();
  expect(await page.getByText(/cost us/).count()).toBe(0);
  await page.context().close();
});
