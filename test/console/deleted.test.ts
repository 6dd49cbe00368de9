import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, settled, signIn } from "../support/browser.ts";
import { becomeUser, closeRootPool, commitAs, rootPool, withRootDb, type Actor } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";

// Deleted items in a real browser: each role's rows against deleted_items as
// that role, a coach's restore window, and restoring a whole cascade after
// the page says what comes back, seen in the page and in SQL.

let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let otherCoach: Coach;
/** A client of the coach's, deleted at a pinned instant long past the coach's 30 days. */
let oldClientId: string;
const OLD_DELETION = "2026-01-05T10:00:00.000Z";

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin", "deleted-admin");
  auditor = await createUser(pool, "auditor", "deleted-auditor");
  coach = await createCoach(pool, "deleted-coach");
  otherCoach = await createCoach(pool, "deleted-other");
  // The coach deletes their session (and with it its transcription); an admin deletes the other coach's client (and its session and transcription).
  await commitAs(coach.user, (client) => client.query("select app_public.delete_coaching_session($1)", [coach.sessionId]));
  await commitAs(admin, (client) => client.query("select app_public.delete_client($1)", [otherCoach.clientId]));
  const old = await pool.query("insert into app_public.clients (coach_profile_id, full_name) values ($1, 'Long Gone') returning id", [coach.profileId]);
  oldClientId = old.rows[0].id;
  await commitAs(coach.user, (client) => client.query("select app_public.delete_client($1)", [oldClientId]));
  // Its deletion moved back in time, as if it happened then (no trigger may run: the deletion's own columns are kept by one).
  const client = await pool.connect();
  try {
    await client.query("begin; set local session_replication_role = replica");
    await client.query("update app_public.clients set deleted_at = $2 where id = $1", [oldClientId, OLD_DELETION]);
    await client.query("commit");
  } finally {
    client.release();
  }
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  for (const one of [coach, otherCoach]) if (one) await deleteCoach(pool, one);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  await closeRootPool();
});

interface SqlItem {
  row_id: string;
  table_name: string;
  starts_cascade: boolean;
  may_restore: boolean;
  deletion_batch_id: string;
}

async function sqlItems(actor: Actor, table: string | null = null, batch: string | null = null): Promise<SqlItem[]> {
  return withRootDb(async (client) => {
    await becomeUser(client, actor);
    const { rows } = await client.query(
      "select row_id::text, table_name, starts_cascade, may_restore, deletion_batch_id::text from app_public.deleted_items($1, $2::uuid)",
      [table, batch],
    );
    return rows;
  });
}

/** The rows the page lists (their ids, in order), of the given coaches' rows only when given (other test files delete too). */
async function shownRows(page: Page, only?: Set<string>): Promise<string[]> {
  await settled(page);
  const ids = await page.$$eval("[data-row]", (rows) => rows.map((row) => (row as HTMLElement).dataset.row!));
  return only ? ids.filter((id) => only.has(id)) : ids;
}

const ours = () => new Set([coach.sessionId, coach.transcriptionId, oldClientId, otherCoach.clientId, otherCoach.sessionId, otherCoach.transcriptionId]);

test("a coach sees only their own deleted items, as deleted_items returns them, with the restore window explained", async () => {
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  await page.getByRole("link", { name: "Deleted items" }).click();
  await page.locator("[data-row]").first().waitFor();
  const expected = await sqlItems(coach.user);
  expect(await shownRows(page)).toEqual(expected.map((one) => one.row_id));
  expect(new Set(expected.map((one) => one.row_id))).toEqual(new Set([coach.sessionId, coach.transcriptionId, oldClientId]));
  // The session started its cascade and may be restored; the transcription comes back with it.
  const session = page.locator(`[data-row="${coach.sessionId}"]`);
  expect(await session.getByRole("button", { name: "Restore…" }).count()).toBe(1);
  expect(await page.locator(`[data-row="${coach.transcriptionId}"]`).getByRole("button", { name: "Restore…" }).count()).toBe(0);
  // The client deleted long ago: the window closed 30 days after its deletion, and the page says so.
  const old = page.locator(`[data-row="${oldClientId}"]`);
  expect(await old.getByRole("button", { name: "Restore…" }).count()).toBe(0);
  expect(await old.locator('[data-window="closed"]').textContent()).toBe("Your 30 days to restore ended Feb 4, 2026, 10:00:00 AM UTC; ask an admin to restore it.");
  await screenshot(page, "deleted-coach");
  // At a tablet's width the page still fits: nothing wider than the window but the tables, which scroll.
  await page.setViewportSize({ width: 800, height: 1000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "deleted-coach-tablet");

  // The API refuses it too.
  const token = await login(coach.user.email);
  const { body } = await graphql("mutation ($id: UUID!) { restoreClient(input: { rowId: $id }) { client { id } } }", { id: oldClientId }, token);
  expect(body.errors?.[0]?.message).toMatch(/more than 30 days ago; only an admin can restore it now/);
  await page.context().close();
});

test("a coach restores a cascade after the page says what comes back, and it is back in the page and in SQL", async () => {
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  await page.goto(apiUrl("/admin/deleted"));
  await page.locator(`[data-row="${coach.sessionId}"]`).getByRole("button", { name: "Restore…" }).click();
  const dialog = page.getByRole("dialog", { name: "Confirm restore" });
  await dialog.locator("[data-cascade-rows]").waitFor();
  const batch = await page.locator(`[data-row="${coach.sessionId}"]`).getAttribute("data-batch");
  const cascade = await sqlItems(coach.user, null, batch);
  expect(await dialog.locator("[data-cascade-row]").evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.cascadeRow))).toEqual(cascade.map((one) => one.row_id));
  expect(await dialog.locator("[data-cascade-rows]").textContent()).toBe("This brings back 2 rows, deleted together: 1 coaching session, 1 transcription.");
  await screenshot(page, "deleted-coach-confirm");

  await dialog.getByRole("button", { name: "Restore 2 rows" }).click();
  await page.locator("[data-restored]").waitFor();
  expect(await page.locator("[data-restored]").textContent()).toBe("Restored the coaching session Kick-off (" + (await sessionDay()) + ") and its cascade: 2 rows are back.");
  const { rows } = await rootPool().query(
    `select (select is_deleted from app_public.coaching_sessions where id = $1) as session, (select is_deleted from app_public.transcriptions where id = $2) as transcription`,
    [coach.sessionId, coach.transcriptionId],
  );
  expect(rows[0]).toEqual({ session: false, transcription: false });
  expect(await shownRows(page)).toEqual((await sqlItems(coach.user)).map((one) => one.row_id));
  expect(await shownRows(page)).toEqual([oldClientId]);
  await page.context().close();
});

async function sessionDay(): Promise<string> {
  const { rows } = await rootPool().query("select to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD') as day from app_public.coaching_sessions where id = $1", [coach.sessionId]);
  return rows[0].day;
}

test("another coach sees none of the first coach's deleted items", async () => {
  const page = await newTab(browser);
  await signIn(page, otherCoach.user.email);
  await page.goto(apiUrl("/admin/deleted"));
  await page.locator("[data-row]").first().waitFor();
  const expected = await sqlItems(otherCoach.user);
  expect(await shownRows(page)).toEqual(expected.map((one) => one.row_id));
  expect(new Set(expected.map((one) => one.row_id))).toEqual(new Set([otherCoach.clientId, otherCoach.sessionId, otherCoach.transcriptionId]));
  expect(await page.locator(`[data-row="${oldClientId}"]`).count()).toBe(0);
  await page.context().close();
});

test("an admin filters by table in the URL, may restore any cascade whatever its age, and restores another coach's client with everything under it", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl("/admin/deleted"));
  await page.locator("[data-row]").first().waitFor();
  await page.getByLabel("Table").selectOption("clients");
  await page.waitForURL(/table=clients/);
  await page.locator("h2", { hasText: "Deleted clients" }).waitFor();
  const clients = await sqlItems(admin, "clients");
  expect(await shownRows(page, ours())).toEqual(clients.map((one) => one.row_id).filter((id) => ours().has(id)));
  expect(new Set(await shownRows(page, ours()))).toEqual(new Set([oldClientId, otherCoach.clientId]));
  expect(await page.locator(`[data-row="${oldClientId}"]`).getByRole("button", { name: "Restore…" }).count()).toBe(1);
  await screenshot(page, "deleted-admin-clients");

  await page.locator(`[data-row="${otherCoach.clientId}"]`).getByRole("button", { name: "Restore…" }).click();
  const dialog = page.getByRole("dialog", { name: "Confirm restore" });
  await dialog.locator("[data-cascade-rows]").waitFor();
  expect(await dialog.locator("[data-cascade-rows]").textContent()).toBe("This brings back 3 rows, deleted together: 1 client, 1 coaching session, 1 transcription.");
  await dialog.getByRole("button", { name: "Restore 3 rows" }).click();
  await page.locator("[data-restored]").waitFor();
  const { rows } = await rootPool().query(
    `select (select is_deleted from app_public.clients where id = $1) as client, (select is_deleted from app_public.coaching_sessions where id = $2) as session,
            (select is_deleted from app_public.transcriptions where id = $3) as transcription`,
    [otherCoach.clientId, otherCoach.sessionId, otherCoach.transcriptionId],
  );
  expect(rows[0]).toEqual({ client: false, session: false, transcription: false });
  expect(await page.locator(`[data-row="${otherCoach.clientId}"]`).count()).toBe(0);
  await page.context().close();
});

test("an auditor sees every coach's deleted items and no action buttons", async () => {
  const page = await newTab(browser);
  await signIn(page, auditor.email);
  await page.goto(apiUrl("/admin/deleted"));
  await page.locator(`[data-row="${oldClientId}"]`).waitFor();
  const expected = await sqlItems(auditor);
  expect(await shownRows(page, ours())).toEqual(expected.map((one) => one.row_id).filter((id) => ours().has(id)));
  expect(expected.every((one) => !one.may_restore)).toBe(true);
  expect(await page.locator("[data-action]").count()).toBe(0);
  expect(await page.getByRole("button", { name: "Restore…" }).count()).toBe(0);
  await screenshot(page, "deleted-auditor");
  await page.context().close();
});
