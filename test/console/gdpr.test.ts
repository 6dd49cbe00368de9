import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, signIn } from "../support/browser.ts";
import { sqlAs, tableRows } from "../support/console.ts";
import { closeRootPool, rootPool, type Actor } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl } from "../support/http.ts";

// The GDPR pages in a real Chromium: the readiness panel, the request queue,
// a request's detail and its steps, and legal holds, each figure against the
// SQL function as that role at a pinned instant (the URL's asOf); auditors
// without action buttons; a coach limited to their own clients.

const AS_OF = "2021-03-05T12:00:00.000Z";
const at = (path: string, extra = "") => apiUrl(`/admin${path}?asOf=${AS_OF}${extra}`);

let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let otherCoach: Coach;
let tabs: Record<"admin" | "auditor" | "coach", Page>;
/** Requests filed in 2021, so that at AS_OF one is overdue, one due within 7 days, one neither; and one about a user account. */
const ids = { overdue: "", soon: "", other: "", user: "" };
let releasedHoldId: string;

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin", "gdpr-console-admin");
  auditor = await createUser(pool, "auditor", "gdpr-console-auditor");
  coach = await createCoach(pool, "gdpr-console-coach");
  otherCoach = await createCoach(pool, "gdpr-console-other");
  const file = async (kind: string, clientId: string | null, userId: string | null, receivedAt: string) =>
    (await pool.query("insert into app_public.data_subject_requests (kind, client_id, user_id, received_at) values ($1, $2, $3, $4) returning id", [kind, clientId, userId, receivedAt])).rows[0].id as string;
  ids.overdue = await file("erasure", coach.clientId, null, "2021-01-10T09:00:00Z"); // due 2021-02-10 09:00
  ids.soon = await file("access", coach.clientId, null, "2021-02-08T09:00:00Z"); // due 2021-03-08 09:00
  ids.other = await file("portability", otherCoach.clientId, null, "2021-02-20T00:00:00Z"); // due 2021-03-20
  ids.user = await file("rectification", null, otherCoach.user.id, "2021-01-20T00:00:00Z"); // due 2021-02-20
  await pool.query("insert into app_public.legal_holds (client_id, reason) values ($1, 'Litigation 2021-17: keep everything')", [otherCoach.clientId]);
  releasedHoldId = (await pool.query("insert into app_public.legal_holds (coach_profile_id, reason) values ($1, 'Tax inspection 2020') returning id", [coach.profileId])).rows[0].id;
  await pool.query("select app_public.release_legal_hold($1, 'Inspection closed')", [releasedHoldId]);
  browser = await launchBrowser();
  tabs = { admin: await newTab(browser), auditor: await newTab(browser), coach: await newTab(browser) };
  await signIn(tabs.admin, admin.email);
  await signIn(tabs.auditor, auditor.email);
  await signIn(tabs.coach, coach.user.email);
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  const people = [coach?.clientId, otherCoach?.clientId].filter(Boolean);
  await pool.query("delete from app_public.data_subject_requests where client_id = any($1) or user_id = $2", [people, otherCoach?.user.id ?? null]);
  // Holds are never deleted through any door; the test's own are removed by the owner with the trigger set aside.
  await pool.query(`begin; alter table app_public.legal_holds disable trigger _200_append_only;
    delete from app_public.legal_holds where client_id = any('{${people.join(",")}}'::uuid[]) or coach_profile_id = any('{${[coach?.profileId, otherCoach?.profileId].filter(Boolean).join(",")}}'::uuid[]);
    alter table app_public.legal_holds enable trigger _200_append_only; commit;`);
  for (const one of [coach, otherCoach]) if (one) await deleteCoach(pool, one);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  await closeRootPool();
});

/** The ids a request list holds as this role at AS_OF, in its order; with a kind when given. */
async function sqlList(actor: Actor, list: "open" | "due_soon" | "overdue", kind: string | null = null): Promise<string[]> {
  const call = list === "open" ? "app_public.open_data_subject_requests()" : `app_public.${list}_data_subject_requests($2::timestamptz)`;
  const values = list === "open" ? [kind] : [kind, AS_OF];
  const rows = await sqlAs<{ id: string }>(actor, `select id::text from ${call} where ($1::text is null or kind::text = $1)`, values);
  return rows.map((row) => row.id);
}

async function shownIds(page: Page, table: string): Promise<string[]> {
  if ((await page.locator(`table[data-table="${table}"]`).count()) === 0) return [];
  return (await tableRows(page, table)).map((row) => row.request!);
}

/** Waits until these panels have loaded (a page renders a moment after its navigation). */
async function loaded(page: Page, titles: string[]): Promise<void> {
  for (const title of titles) await page.locator(`section[aria-label="${title}"][aria-busy="false"]`).waitFor();
}
const queueLoaded = (page: Page) => loaded(page, ["Overdue requests", "Due within 7 days", "Open requests"]);
const holdsLoaded = (page: Page) => loaded(page, ["Active holds", "Released holds"]);

async function expectQueueAsSql(page: Page, actor: Actor, kind: string | null = null): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await queueLoaded(page);
    const lists = ["overdue", "due_soon", "open"] as const;
    const shown = await Promise.all(lists.map((list) => shownIds(page, `requests-${list.replace("_", "-")}`)));
    const sql = await Promise.all(lists.map((list) => sqlList(actor, list, kind)));
    if (JSON.stringify(shown) === JSON.stringify(sql) || attempt === 3) {
      expect(shown).toEqual(sql);
      return;
    }
    // Another test file filed or moved a request between the page's read and this one: read both again.
    await page.reload();
  }
}

/**
 * The readiness panel as the SQL functions give it at the pinned instant.
 * Its counts are the platform's: another test file may commit a request, a
 * consent or an attempt between the page's read and ours, so the page is
 * read again then (a few times at most).
 */
async function expectReadinessAsSql(page: Page, actor: Actor): Promise<void> {
  await page.goto(at("/gdpr"));
  const read = async () => {
    await page.locator("[data-readiness]").waitFor();
    const [summary] = await sqlAs<{ readiness_percent: string }>(actor, "select readiness_percent::text from app_public.gdpr_readiness($1)", [AS_OF]);
    const parts = await sqlAs<{ part: string; value: string | null; scored: boolean; ok: boolean | null }>(
      actor, "select part, value::text, scored, ok from app_public.gdpr_readiness_parts($1)", [AS_OF]);
    const status = (row: (typeof parts)[number]) => (!row.scored ? "for information" : row.ok ? "ready" : "not ready");
    return {
      shown: {
        readiness: await page.locator("[data-readiness]").getAttribute("data-readiness"),
        parts: (await tableRows(page, "gdpr-readiness")).map((row) => ({ part: row.part, value: row.value, status: row.status })),
      },
      expected: { readiness: summary!.readiness_percent, parts: parts.map((row) => ({ part: row.part, value: row.value ?? "", status: status(row) })) },
    };
  };
  let { shown, expected } = await read();
  for (let tries = 0; tries < 3 && JSON.stringify(shown) !== JSON.stringify(expected); tries++) {
    await page.reload();
    ({ shown, expected } = await read());
  }
  expect(shown).toEqual(expected);
}

test("an admin sees the readiness panel, and the queue's lists and deadlines at the pinned instant, as the SQL functions give them", async () => {
  const page = tabs.admin;
  const nav = page.getByRole("navigation", { name: "Console" });
  for (const name of ["GDPR", "GDPR requests", "Legal holds"]) expect(await nav.getByRole("link", { name, exact: true }).count()).toBe(1);
  await expectReadinessAsSql(page, admin);
  // Our overdue requests make it not ready.
  expect((await tableRows(page, "gdpr-readiness")).find((row) => row.part === "requests_overdue")?.status).toBe("not ready");
  expect(await page.locator("[data-readiness]").textContent()).toMatch(/^\d+(\.\d)?% ready as of Mar 5, 2021, 12:00:00 PM UTC: \d of 6 scored parts meet their target\.$/);
  await screenshot(page, "gdpr-overview-admin");

  await page.getByRole("link", { name: "Data-subject requests" }).click();
  await expectQueueAsSql(page, admin);
  const deadlineOf = async (table: string, id: string) =>
    (await page.locator(`table[data-table="${table}"] tr:has(td[data-value="${id}"]) td[data-column="deadline"]`).first().textContent())?.trim();
  expect(await deadlineOf("requests-overdue", ids.overdue)).toBe("overdue by 23 days");
  expect(await deadlineOf("requests-due-soon", ids.soon)).toBe("2 days left");
  expect(await deadlineOf("requests-open", ids.other)).toBe("14 days left");
  expect(await page.locator(`table[data-table="requests-overdue"] tr:has(td[data-value="${ids.user}"]) td[data-column="subject"]`).textContent()).toMatch(/\(user account\)$/);
  const overdueCount = (await sqlList(admin, "overdue")).length;
  expect(await page.locator('[data-count="overdue"]').textContent()).toBe(`${overdueCount} request${overdueCount === 1 ? "" : "s"}`);
  await screenshot(page, "gdpr-requests-admin");

  // The kind filter lives in the URL and narrows every list as the SQL does.
  await page.getByLabel("Kind").first().selectOption("erasure");
  await page.waitForURL(/kind=erasure/);
  await expectQueueAsSql(page, admin, "erasure");
  expect(await shownIds(page, "requests-overdue")).toContain(ids.overdue);
  expect(await shownIds(page, "requests-due-soon")).not.toContain(ids.soon);
});

test("an admin files a request, then verifies, extends, starts and completes it, each after a confirmation; a refusal is said in words; the history shows every step", async () => {
  const page = tabs.admin;
  await page.goto(at("/gdpr/requests"));
  const form = page.getByRole("region", { name: "File a request" });
  await form.getByLabel("Kind").selectOption("access");
  await form.getByLabel("Subject").selectOption(`client:${coach.clientId}`);
  await form.getByLabel("Received on (optional, a letter)").fill("2021-02-01");
  await form.locator('[data-action="file-request"]').click();
  const confirm = page.getByRole("dialog", { name: "File a request?" });
  expect(await confirm.textContent()).toContain("Access (Art. 15) request about Client of gdpr-console-coach");
  await confirm.getByRole("button", { name: "File the request" }).click();
  const filed = (await form.locator('[data-outcome="file-request"]').textContent())!;
  const id = /Filed request ([0-9a-f-]{36}), due Mar 1, 2021, 12:00:00 AM UTC\./.exec(filed)?.[1];
  expect(id).toBeDefined();
  const state = async () => (await sqlAs<{ state: string; extension_months: number; verification: string | null }>(admin, "select state::text, extension_months, verification from app_public.data_subject_requests where id = $1", [id]))[0];
  expect(await state()).toEqual({ state: "received", extension_months: 0, verification: null });

  await page.goto(at("/gdpr/request", `&id=${id}`));
  await page.locator('[data-fact="deadline"]').waitFor();
  expect(await page.locator('[data-fact="deadline"] dd').textContent()).toBe("overdue by 4 days");
  // At a tablet's width the steps still fit: nothing wider than the window.
  await page.setViewportSize({ width: 800, height: 1000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "gdpr-request-admin-tablet");
  await page.setViewportSize({ width: 1280, height: 860 });
  const step = async (action: string, confirmLabel: string, fill: Record<string, string> = {}) => {
    const panel = page.getByRole("region", { name: "Next steps" });
    for (const [label, value] of Object.entries(fill)) {
      const field = panel.locator(`.action:has([data-action="${action}"])`).getByLabel(label);
      if ((await field.evaluate((node) => node.tagName)) === "SELECT") await field.selectOption(value);
      else await field.fill(value);
    }
    await panel.locator(`[data-action="${action}"]`).click();
    await page.getByRole("dialog").filter({ has: page.getByRole("button", { name: confirmLabel }) }).getByRole("button", { name: confirmLabel }).click();
  };
  // A reason the database finds too short is refused in its words, and nothing changes.
  await step("reject", "Reject the request", { Reason: "No" });
  expect(await page.locator('[data-outcome="reject"]').textContent()).toMatch(/^Refused: .*reason/i);
  expect((await state())!.state).toBe("received");

  await step("verify", "Record the verification", { "How identity was verified": "Called back on the number on file" });
  await page.locator('[data-outcome="step"]').filter({ hasText: "Identity verified. The request is now verified, due Mar 1, 2021" }).waitFor();
  expect(await state()).toEqual({ state: "verified", extension_months: 0, verification: "Called back on the number on file" });
  await step("extend", "Extend", { "Extra months in all": "2", Reason: "Hundreds of sessions to review" });
  await page.locator('[data-outcome="step"]').filter({ hasText: "Deadline extended. The request is now verified, due May 1, 2021" }).waitFor();
  expect(await page.locator('[data-fact="due"] dd').textContent()).toBe("May 1, 2021, 12:00:00 AM UTC");
  expect(await page.locator('[data-fact="deadline"] dd').textContent()).toBe("56 days left");
  await step("start", "Start");
  await page.locator('[data-outcome="step"]').filter({ hasText: "Work started. The request is now in progress" }).waitFor();
  await step("complete", "Complete the request");
  await page.locator('[data-outcome="step"]').filter({ hasText: "Completed. The request is now completed" }).waitFor();
  expect(await state()).toEqual({ state: "completed", extension_months: 2, verification: "Called back on the number on file" });
  // Closed: no more steps.
  expect(await page.getByRole("region", { name: "Next steps" }).count()).toBe(0);
  // The state history as the audit trail has it.
  const history = await sqlAs<{ state: string | null }>(admin, "select new_values->>'state' as state from app_public.audit_record_history('data_subject_requests', to_jsonb($1::text)) order by id", [id]);
  await page.locator(`ol.timeline[data-timeline="${history.length}"]`).waitFor();
  expect(await page.locator("ol.timeline li").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.state))).toEqual(history.map((row) => row.state ?? ""));
  expect(history.map((row) => row.state)).toEqual(["received", "verified", null, "in_progress", "completed"]);
  // Closed without an export: the export panel says none was asked for, and offers none.
  expect(await page.locator('section[data-export-state="none"] .state.empty').textContent()).toBe("No export has been asked for yet.");
  expect(await page.locator('[data-action="ask-export"]').count()).toBe(0);
  await screenshot(page, "gdpr-request-admin");
});

test("an admin places a hold and releases it, each after a confirmation; the tables are what legal_holds holds", async () => {
  const page = tabs.admin;
  await page.goto(apiUrl("/admin/gdpr/holds"));
  await holdsLoaded(page);
  const sqlHolds = async (released: boolean) =>
    (await sqlAs<{ id: string }>(admin, "select id::text from app_public.legal_holds where (released_at is not null) = $1 order by placed_at desc", [released])).map((row) => row.id);
  const shown = async (table: string) => (await page.locator(`table[data-table="${table}"]`).count()) ? (await tableRows(page, table)).map((row) => row.covers!) : [];
  const covers = async (released: boolean) =>
    (await sqlAs<{ covers: string }>(admin, "select coalesce(client_id, user_id, coach_profile_id)::text as covers from app_public.legal_holds where (released_at is not null) = $1 order by placed_at desc", [released])).map((row) => row.covers);
  expect(await shown("legal-holds-active")).toEqual(await covers(false));
  expect(await shown("legal-holds-released")).toEqual(await covers(true));
  expect((await sqlHolds(true))).toContain(releasedHoldId);

  const form = page.getByRole("region", { name: "Place a hold" });
  await form.locator("select").selectOption(`client:${coach.clientId}`);
  await form.getByLabel("Reason (the case, not details of the person)").fill("Complaint 2026-4: keep the sessions");
  await form.locator('[data-action="place-hold"]').click();
  await page.getByRole("dialog", { name: "Place a legal hold?" }).getByRole("button", { name: "Place the hold" }).click();
  await form.locator('[data-outcome="place-hold"]').filter({ hasText: "Hold placed at" }).waitFor();
  await holdsLoaded(page);
  expect(await shown("legal-holds-active")).toEqual(await covers(false));
  expect(await shown("legal-holds-active")).toContain(coach.clientId);
  await screenshot(page, "gdpr-holds-admin");

  const row = page.locator(`table[data-table="legal-holds-active"] tr:has(td[data-value="${coach.clientId}"])`);
  await row.getByLabel("Why it no longer applies").fill("Complaint withdrawn");
  await row.getByRole("button", { name: "Release…" }).click();
  await page.getByRole("dialog", { name: "Release?" }).getByRole("button", { name: "Release the hold" }).click();
  await page.waitForFunction((client) => !document.querySelector(`table[data-table="legal-holds-active"] td[data-value="${client}"]`), coach.clientId);
  await holdsLoaded(page);
  expect(await shown("legal-holds-released")).toEqual(await covers(true));
  expect(await shown("legal-holds-released")).toContain(coach.clientId);
  const [released] = await sqlAs<{ release_reason: string; released_by: string }>(admin, "select release_reason, released_by::text from app_public.legal_holds where client_id = $1", [coach.clientId]);
  expect(released).toEqual({ release_reason: "Complaint withdrawn", released_by: admin.id });
});

test("an auditor reads the readiness, the queue, a request and the holds as SQL gives them to an auditor, with no action button", async () => {
  const page = tabs.auditor;
  await expectReadinessAsSql(page, auditor);
  await page.goto(at("/gdpr/requests"));
  await expectQueueAsSql(page, auditor);
  expect(await page.getByRole("region", { name: "File a request" }).count()).toBe(0);
  await page.goto(at("/gdpr/request", `&id=${ids.overdue}`));
  await page.locator('[data-fact="deadline"]').waitFor();
  expect(await page.locator('[data-fact="deadline"] dd').textContent()).toBe("overdue by 23 days");
  expect(await page.getByRole("region", { name: "Next steps" }).count()).toBe(0);
  await page.goto(apiUrl("/admin/gdpr/holds"));
  await holdsLoaded(page);
  expect(await page.locator("main button[data-action]").count()).toBe(0);
  expect(await page.getByRole("region", { name: "Place a hold" }).count()).toBe(0);
  expect(await page.locator('table[data-table="legal-holds-active"] td[data-column="release"]').count()).toBe(0);
  await screenshot(page, "gdpr-holds-auditor");
});

test("a coach sees and files requests for their own clients only, and neither the readiness report nor the holds", async () => {
  const page = tabs.coach;
  const nav = page.getByRole("navigation", { name: "Console" });
  expect(await nav.getByRole("link", { name: "GDPR requests", exact: true }).count()).toBe(1);
  expect(await nav.getByRole("link", { name: "GDPR", exact: true }).count()).toBe(0);
  expect(await nav.getByRole("link", { name: "Legal holds", exact: true }).count()).toBe(0);
  await page.goto(at("/gdpr/requests"));
  await expectQueueAsSql(page, coach.user);
  const seen = [...(await shownIds(page, "requests-open"))];
  expect(seen).toEqual(expect.arrayContaining([ids.overdue, ids.soon]));
  expect(seen).not.toContain(ids.other);
  expect(seen).not.toContain(ids.user);
  // Only their own clients to file for, and no user accounts.
  const options = await page.getByRole("region", { name: "File a request" }).getByLabel("Subject").locator("option").evaluateAll((all) => all.map((one) => (one as HTMLOptionElement).value).filter(Boolean));
  const own = await sqlAs<{ id: string }>(coach.user, "select id::text from app_public.clients order by full_name");
  expect(options).toEqual(own.map((row) => `client:${row.id}`));
  await screenshot(page, "gdpr-requests-coach");
  await page.setViewportSize({ width: 800, height: 1000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "gdpr-requests-coach-tablet");
  await page.setViewportSize({ width: 1280, height: 860 });

  // Another coach's request by URL: nothing to read.
  await page.goto(at("/gdpr/request", `&id=${ids.other}`));
  await page.getByText("There is no such request, or you may not read it.").waitFor();
  for (const path of ["/gdpr", "/gdpr/holds"]) {
    await page.goto(apiUrl(`/admin${path}`));
    expect(await page.getByRole("alert").textContent()).toMatch(/page is for admins and auditors; you are signed in as a coach\.$/);
  }
});
