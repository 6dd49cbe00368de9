import type { Browser, Page } from "playwright-core";
import { downloadText, launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { becomeUser, closeRootPool, rootPool, withRootDb, type Actor } from "../support/db.ts";
import { rateAndRollUp } from "../support/console.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, login } from "../support/http.ts";

// The exports page in a real browser: each download comes from the REST
// route for the page's range and holds what the SQL function returns for the
// same range and role; a coach gets their own usage and audit only.

let browser: Browser;
let admin: User;
let coach: Coach;
let otherCoach: Coach;
/** The day the coach's usage happened (from the data, not today), and the day after. */
let day: { from: string; to: string };

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin", "exports-admin");
  coach = await createCoach(pool, "exports-coach");
  otherCoach = await createCoach(pool, "exports-other");
  await rateAndRollUp();
  const { rows } = await pool.query(
    `select occurred_at::date::text as from, (occurred_at::date + 1)::text as to from app_public.usage_events where transcription_id = $1`,
    [coach.transcriptionId],
  );
  day = rows[0];
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  for (const one of [coach, otherCoach]) if (one) await deleteCoach(pool, one);
  await pool.query("delete from app_public.users where id = $1", [admin.id]);
  await rateAndRollUp();
  await closeRootPool();
});

async function asRole<T>(actor: Actor, sql: string, params: unknown[]): Promise<T[]> {
  return withRootDb(async (client) => {
    await becomeUser(client, actor);
    return (await client.query(sql, params)).rows as T[];
  });
}

const csvIds = (text: string) => text.trim().split(/\r?\n/).slice(1).map((line) => line.split(",")[0]!);
const jsonLines = (text: string) => text.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

async function openExports(page: Page, range: { from: string; to: string }): Promise<void> {
  await page.goto(apiUrl(`/admin/exports?from=${range.from}&to=${range.to}`));
  await page.getByRole("heading", { name: "Usage events" }).waitFor();
}

test("an admin downloads the range's usage events, a pinned month's revenue and the range's audit events, each equal to the SQL function's rows", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await openExports(page, day);
  expect(await page.locator(".range").getAttribute("data-from")).toBe(day.from);

  // Other test files may add usage the same day: what the file holds lies between two readings of the SQL function.
  const usageSql = "select id::text from app_public.usage_in_range($1, $2)";
  const before = (await asRole<{ id: string }>(admin, usageSql, [day.from, day.to])).map((row) => row.id);
  const usage = await downloadText(page, page.getByRole("button", { name: "Download usage events as CSV" }));
  const after = (await asRole<{ id: string }>(admin, usageSql, [day.from, day.to])).map((row) => row.id);
  expect(usage.filename).toBe("usage-events.csv");
  const ids = csvIds(usage.text);
  expect(before.every((id) => ids.includes(id))).toBe(true);
  expect(ids.every((id) => after.includes(id))).toBe(true);
  const { rows: ours } = await rootPool().query("select id::text from app_public.usage_events where transcription_id = any($1)", [[coach.transcriptionId, otherCoach.transcriptionId]]);
  expect(ours.every((row) => ids.includes(row.id))).toBe(true);
  await page.locator("[data-export-rows]").first().waitFor();
  await screenshot(page, "exports-admin");

  // A month long ago, pinned: revenue_summary's one row, exactly.
  await openExports(page, { from: "2020-01-01", to: "2020-02-01" });
  const revenue = await downloadText(page, page.getByRole("button", { name: "Download revenue, cost and margin as JSON Lines" }));
  expect(revenue.filename).toBe("revenue.jsonl");
  const expected = await asRole<Record<string, unknown>>(admin, "select * from app_public.revenue_summary('2020-01-01', '2020-02-01')", []);
  expect(jsonLines(revenue.text)).toEqual(
    expected.map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()), value === null ? null : String(value)]))),
  );

  // The audit trail of the coach's day holds the coach's client's creation, and nothing outside the range.
  await openExports(page, day);
  const audit = await downloadText(page, page.getByRole("button", { name: "Download audit events as JSON Lines" }));
  const events = jsonLines(audit.text);
  expect(events.some((event) => event.tableName === "clients" && (event.recordKey as { id: string }).id === coach.clientId && event.operation === "INSERT")).toBe(true);
  expect(events.every((event) => String(event.occurredAt) >= `${day.from}T00:00:00` && String(event.occurredAt) < `${day.to}T00:00:00`)).toBe(true);
  await page.context().close();
});

test("a coach exports only their own usage and audit events, and has no analytics exports", async () => {
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  await page.getByRole("link", { name: "Exports" }).click();
  await page.getByRole("heading", { name: "Usage events" }).waitFor();
  await openExports(page, day);
  expect(await page.getByRole("region", { name: "Analytics" }).count()).toBe(0);

  const usage = await downloadText(page, page.getByRole("button", { name: "Download usage events as JSON Lines" }));
  const expected = await asRole<{ id: string }>(coach.user, "select id::text from app_public.usage_in_range($1, $2)", [day.from, day.to]);
  const rows = jsonLines(usage.text);
  expect(rows.map((row) => row.id)).toEqual(expected.map((row) => row.id));
  expect(rows.map((row) => row.transcriptionId)).toEqual([coach.transcriptionId]);
  expect(rows[0]!.providerCostMinor).toBeNull();

  const audit = await downloadText(page, page.getByRole("button", { name: "Download audit events as CSV" }));
  const visible = new Set((await asRole<{ id: string }>(coach.user, "select id::text from app_public.audit_events(occurred_from => $1, occurred_before => $2)", [day.from, day.to])).map((row) => row.id));
  const auditIds = csvIds(audit.text);
  expect(auditIds.length).toBeGreaterThan(0);
  expect(auditIds.every((id) => visible.has(id))).toBe(true);
  await page.locator("[data-export-rows]").first().waitFor();
  await screenshot(page, "exports-coach");
  // At a tablet's width the page still fits: nothing wider than the window but the tables, which scroll.
  await page.setViewportSize({ width: 800, height: 1000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "exports-coach-tablet");

  // The analytics routes refuse a coach in words.
  const response = await fetch(apiUrl(`/api/v1/admin/analytics/revenue?from=${day.from}&to=${day.to}&format=jsonl`), { headers: { authorization: `Bearer ${await login(coach.user.email)}` } });
  expect(response.status).toBe(403);
  await page.context().close();
});
