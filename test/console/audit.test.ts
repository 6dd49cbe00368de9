import type { Browser, Page } from "playwright-core";
import { downloadText, launchBrowser, newTab, screenshot, settled, signIn } from "../support/browser.ts";
import { becomeUser, closeRootPool, commitAs, rootPool, withRootDb, type Actor } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";
import { AuditEvents } from "../../web/src/pages/audit/operations.ts";
import { operationBody } from "../../web/src/shared/persisted.ts";

const auditEventsDocumentId = (operationBody(AuditEvents as never, {}) as { documentId: string }).documentId;

// The audit viewer in a real browser: filters from and into the URL, each
// event's diff and a record's state as of a time against the SQL functions
// as the same role, erased personal data, the chain's status and its
// verification, the undo SQL and an admin's undo, and the export.

let browser: Browser;
let admin: User;
let auditor: User;
let coach: Coach;
let otherCoach: Coach;
/** A client of the coach's whose personal data was erased. */
let erasedClientId: string;
/** When the coach's own update, then the admin's, happened (pinned from the trail itself, not from today). */
let coachUpdateAt: string;
let adminUpdateId: string;

beforeAll(async () => {
  const pool = rootPool();
  admin = await createUser(pool, "admin", "audit-admin");
  auditor = await createUser(pool, "auditor", "audit-auditor");
  coach = await createCoach(pool, "audit-coach");
  otherCoach = await createCoach(pool, "audit-other");
  await commitAs(coach.user, (client) => client.query("update app_public.clients set notes = 'First notes', phone = '+44 20 7946 0001' where id = $1", [coach.clientId]));
  await commitAs(admin, (client) => client.query("update app_public.clients set notes = 'Admin notes' where id = $1", [coach.clientId]));
  const { rows } = await pool.query(
    `select id::text, to_json(occurred_at) #>> '{}' as occurred_at, actor_user_id from app_public.audit_events('clients', to_jsonb($1::text), operation => 'UPDATE') order by id`,
    [coach.clientId],
  );
  coachUpdateAt = rows[0].occurred_at; // with its microseconds
  adminUpdateId = rows[1].id;
  const erased = await pool.query(
    "insert into app_public.clients (coach_profile_id, full_name, email) values ($1, 'Erased Person', 'erased@test.example') returning id",
    [coach.profileId],
  );
  erasedClientId = erased.rows[0].id;
  await pool.query("select audit.destroy_subject_key($1)", [erasedClientId]);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  const pool = rootPool();
  for (const one of [coach, otherCoach]) if (one) await deleteCoach(pool, one);
  for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  await closeRootPool();
});

interface SqlEvent {
  id: string;
  operation: string;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
}

/** app_public.audit_events as the role calls it. */
async function sqlEvents(actor: Actor, args: { table?: string; record?: string; actor?: string; operation?: string; from?: string; before?: string }): Promise<SqlEvent[]> {
  return withRootDb(async (client) => {
    await becomeUser(client, actor);
    const { rows } = await client.query(
      `select id::text, operation::text, old_values, new_values
         from app_public.audit_events($1, $2::jsonb, $3::uuid, null, $4::audit.operation, $5::timestamptz, $6::timestamptz)`,
      [args.table ?? null, args.record ? JSON.stringify(args.record) : null, args.actor ?? null, args.operation ?? null, args.from ?? null, args.before ?? null],
    );
    return rows;
  });
}

/** The events the page lists: id and operation, in order. */
async function shownEvents(page: Page): Promise<Array<{ id: string; operation: string }>> {
  await settled(page);
  return page.$$eval("[data-event]", (rows) => rows.map((row) => ({ id: (row as HTMLElement).dataset.event!, operation: (row as HTMLElement).dataset.operation! })));
}

/** The diff of an opened event: each column's before and after as the page writes them. */
async function shownDiff(page: Page, id: string): Promise<Record<string, { before: string; after: string }>> {
  const event = page.locator(`[data-event="${id}"]`);
  await event.getByRole("button", { name: /Show change/ }).click();
  await event.locator(".diff").waitFor();
  return event.locator(".diff tbody tr").evaluateAll((rows) =>
    Object.fromEntries(
      rows.map((row) => [
        (row as HTMLElement).dataset.column!,
        { before: row.querySelector('[data-side="before"]')!.textContent!, after: row.querySelector('[data-side="after"]')!.textContent! },
      ]),
    ),
  );
}

const text = (value: unknown) => (value === undefined ? "—" : value === null ? "null" : typeof value === "string" ? value : JSON.stringify(value));

test("an admin opens a record from the URL and sees its events and each diff exactly as audit_events returns them", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}`));
  await page.locator("[data-event]").first().waitFor();
  const expected = await sqlEvents(admin, { table: "clients", record: coach.clientId });
  expect(await shownEvents(page)).toEqual(expected.map((one) => ({ id: one.id, operation: one.operation })));
  expect(expected.map((one) => one.operation)).toEqual(["INSERT", "UPDATE", "UPDATE"]);
  const diffs: Record<string, Record<string, { before: string; after: string }>> = {};
  for (const event of expected.slice(1)) {
    const diff = (diffs[event.id] = await shownDiff(page, event.id));
    const columns = [...new Set([...Object.keys(event.old_values ?? {}), ...Object.keys(event.new_values ?? {})])];
    expect(diff).toEqual(Object.fromEntries(columns.map((column) => [column, { before: text(event.old_values?.[column]), after: text(event.new_values?.[column]) }])));
  }
  // The admin's own update: notes went from the coach's to the admin's.
  expect(diffs[adminUpdateId]!.notes).toEqual({ before: "First notes", after: "Admin notes" });
  await screenshot(page, "audit-admin-record");
  await page.context().close();
});

test("changing the filters changes the URL and the results, which equal audit_events for the same filters", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}`));
  await page.locator("[data-event]").first().waitFor();

  await page.getByLabel("Operation").selectOption("UPDATE");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.waitForURL(/operation=UPDATE/);
  const updates = await sqlEvents(admin, { table: "clients", record: coach.clientId, operation: "UPDATE" });
  expect(await shownEvents(page)).toEqual(updates.map((one) => ({ id: one.id, operation: "UPDATE" })));

  // From the coach's update on (the time pinned from the trail), by the admin only: the admin's update.
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}&actor=${admin.id}&from=${encodeURIComponent(coachUpdateAt)}`));
  await page.locator("[data-event]").first().waitFor();
  const byAdmin = await sqlEvents(admin, { table: "clients", record: coach.clientId, actor: admin.id, from: coachUpdateAt });
  expect((await shownEvents(page)).map((one) => one.id)).toEqual(byAdmin.map((one) => one.id));
  expect(byAdmin.map((one) => one.id)).toEqual([adminUpdateId]);

  // A day long before anything was written: to is exclusive, and nothing matches.
  await page.goto(apiUrl(`/admin/audit?table=clients&from=2020-01-01&to=2020-01-02`));
  await page.getByText("No events match these filters.").waitFor();
  expect(await sqlEvents(admin, { table: "clients", from: "2020-01-01T00:00:00Z", before: "2020-01-02T00:00:00Z" })).toEqual([]);

  // An unreadable filter is said in words, not sent.
  await page.goto(apiUrl(`/admin/audit?actor=not-a-uuid`));
  await page.getByRole("alert").waitFor();
  expect(await page.getByRole("alert").textContent()).toBe('"actor" must be a user\'s id (a uuid), not "not-a-uuid".');
  await screenshot(page, "audit-admin-filter-error");
  await page.context().close();
});

test("a record's timeline and its state as of a time equal audit_record_history and audit_record_as_of", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}&at=${encodeURIComponent(coachUpdateAt)}`));
  await page.locator('[data-state="record"]').waitFor();
  const { history, state } = await withRootDb(async (client) => {
    await becomeUser(client, admin);
    const history = await client.query("select count(*)::int as n from app_public.audit_record_history('clients', to_jsonb($1::text))", [coach.clientId]);
    const state = await client.query("select app_public.audit_record_as_of('clients', to_jsonb($1::text), $2) as state", [coach.clientId, coachUpdateAt]);
    return { history: history.rows[0].n, state: state.rows[0].state as Record<string, unknown> };
  });
  expect(Number(await page.locator("[data-timeline]").getAttribute("data-timeline"))).toBe(history);
  const shown = await page.locator('[data-state="record"] tr').evaluateAll((rows) =>
    Object.fromEntries(rows.map((row) => [(row as HTMLElement).dataset.column!, row.querySelector("td")!.textContent!])),
  );
  expect(shown).toEqual(Object.fromEntries(Object.entries(state).map(([column, value]) => [column, text(value)])));
  expect(shown.notes).toBe("First notes"); // as the coach left it, before the admin's update
  await screenshot(page, "audit-record-as-of");
  await page.context().close();
});

test("erased personal data shows as erased, as audit_events returns it", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${erasedClientId}`));
  const [inserted] = await sqlEvents(admin, { table: "clients", record: erasedClientId });
  expect(inserted!.new_values!.full_name).toEqual({ $erased: true });
  const diff = await shownDiff(page, inserted!.id);
  expect(diff.full_name!.after).toBe("erased (the person's key was destroyed)");
  expect(diff.email!.after).toBe("erased (the person's key was destroyed)");
  expect(diff.notes!.after).toBe("null");
  await page.context().close();
});

test("personal data the reader may not read shows as redacted, in the form the API documents for it", async () => {
  // No role is sent a visible event with redacted values today (a coach reads only their own records, whose personal
  // data they may read); the API's documented marker is put into a real answer to see how the page shows it.
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  await page.route("**/graphql", async (route) => {
    // The console sends an operation by its documentId (web/persisted-operations.json).
    const body = route.request().postDataJSON() as { documentId?: string };
    if (body.documentId !== auditEventsDocumentId) return route.continue();
    const response = await route.fetch();
    const json = await response.json();
    for (const node of json.data.auditEvents.nodes) if (node.newValues?.full_name) node.newValues.full_name = { $redacted: "pii" };
    await route.fulfill({ response, json });
  });
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}`));
  const [inserted] = await sqlEvents(coach.user, { table: "clients", record: coach.clientId });
  const diff = await shownDiff(page, inserted!.id);
  expect(diff.full_name!.after).toBe("redacted (personal data you may not read)");
  expect(await page.locator('[data-pii="redacted"]').count()).toBe(1);
  await page.context().close();
});

test("the chain and the undo are not a coach's: the API refuses them in words", async () => {
  const token = await login(coach.user.email);
  const chain = await graphql("{ auditChainStatus { newestSealId } }", {}, token);
  expect(chain.body.errors?.[0]?.message).toMatch(/permission denied|not allowed|may not/i);
  const undo = await graphql(
    "mutation ($key: JSON!, $id: BigInt!) { undoAuditEvent(input: { tableName: \"clients\", recordKey: $key, eventId: $id }) { result } }",
    { key: coach.clientId, id: adminUpdateId },
    token,
  );
  expect(undo.body.errors?.[0]?.message).toMatch(/permission denied|not allowed|may not/i);
  const { rows } = await rootPool().query("select notes from app_public.clients where id = $1", [coach.clientId]);
  expect(rows[0].notes).toBe("Admin notes");
});

test("an admin undoes an update through the API: the old values are back and the undo is a new audited event by the admin", async () => {
  const page = await newTab(browser);
  await signIn(page, admin.email);
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}&operation=UPDATE`));
  const event = page.locator(`[data-event="${adminUpdateId}"]`);
  await event.getByRole("button", { name: /Show change/ }).click();
  await event.locator("[data-undo-sql]").waitFor();
  const expectedSql = await withRootDb(async (client) => {
    await becomeUser(client, admin);
    const { rows } = await client.query("select statement from app_public.audit_undo_sql('app_public.clients', to_jsonb($1::text), $2)", [coach.clientId, adminUpdateId]);
    return rows[0].statement as string;
  });
  expect(expectedSql).toBe(`update app_public.clients set notes = 'First notes' where id = '${coach.clientId}' and notes is not distinct from 'Admin notes'`);
  expect(await event.locator("[data-undo-sql]").textContent()).toBe(`${expectedSql};`);
  await screenshot(page, "audit-undo-sql");

  await event.getByRole("button", { name: "Undo this change…" }).click();
  await event.getByRole("button", { name: "Confirm undo" }).click();
  await page.getByText(`Undone: event ${adminUpdateId}'s old values are back`).waitFor();
  const { rows } = await rootPool().query("select notes from app_public.clients where id = $1", [coach.clientId]);
  expect(rows[0].notes).toBe("First notes");
  const updates = await sqlEvents(admin, { table: "clients", record: coach.clientId, operation: "UPDATE" });
  const undo = updates.at(-1)!;
  expect(undo.id).not.toBe(adminUpdateId);
  expect(undo.old_values).toMatchObject({ notes: "Admin notes" });
  expect(undo.new_values).toMatchObject({ notes: "First notes" });
  const { rows: attribution } = await rootPool().query("select actor_user_id from app_public.audit_events('clients', to_jsonb($1::text)) where id = $2", [coach.clientId, undo.id]);
  expect(attribution[0].actor_user_id).toBe(admin.id);
  // The list reloaded: the undo is on the page too.
  await page.locator(`[data-event="${undo.id}"]`).waitFor();

  // Undoing the same change again is refused in words: the record no longer holds what it wrote.
  await page.reload();
  await event.getByRole("button", { name: /Show change/ }).click();
  await event.getByRole("button", { name: "Undo this change…" }).click();
  await event.getByRole("button", { name: "Confirm undo" }).click();
  await event.getByText(`Could not undo: The record has changed since event ${adminUpdateId} (or no longer exists): nothing was undone.`).waitFor();
  await screenshot(page, "audit-undo-refused");
  await page.context().close();
});

test("an admin undoes a delete: the SQL inserts the old values again, and the row is back under a new key", async () => {
  const pool = rootPool();
  const provider = `undo-${Date.now()}`;
  const { rows: [rate] } = await pool.query(
    "insert into app_public.provider_rates (provider, model, cost_per_minute_minor, effective_from) values ($1, 'm-1', 0.5, '2026-01-01T00:00:00Z') returning id",
    [provider],
  );
  await commitAs(admin, (client) => client.query("delete from app_public.provider_rates where id = $1", [rate.id]));
  try {
    const [deleted] = await sqlEvents(admin, { table: "provider_rates", record: rate.id, operation: "DELETE" });
    const page = await newTab(browser);
    await signIn(page, admin.email);
    await page.goto(apiUrl(`/admin/audit?table=provider_rates&record=${rate.id}`));
    const event = page.locator(`[data-event="${deleted!.id}"]`);
    await event.getByRole("button", { name: /Show change/ }).click();
    await event.locator("[data-undo-sql]").waitFor();
    expect(await event.locator("[data-undo-sql]").textContent()).toBe(
      `insert into app_public.provider_rates (model, currency, provider, effective_from, cost_per_minute_minor) values ('m-1', 'EUR', '${provider}', '2026-01-01 00:00:00+00', '0.5000');`,
    );
    await event.getByRole("button", { name: "Undo this delete…" }).click();
    await event.getByRole("button", { name: "Confirm undo" }).click();
    await page.locator("[data-undone]").waitFor();
    const { rows } = await pool.query("select id, cost_per_minute_minor::text as cost from app_public.provider_rates where provider = $1", [provider]);
    expect(rows.map((row) => row.cost)).toEqual(["0.5000"]);
    expect(rows[0].id).not.toBe(rate.id);
    await page.context().close();
  } finally {
    await pool.query("delete from app_public.provider_rates where provider = $1", [provider]);
  }
});

test("a coach sees their own records' events with no undo button, and nothing of another coach's record", async () => {
  const page = await newTab(browser);
  await signIn(page, coach.user.email);
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}`));
  await page.locator("[data-event]").first().waitFor();
  const own = await sqlEvents(coach.user, { table: "clients", record: coach.clientId });
  expect(await shownEvents(page)).toEqual(own.map((one) => ({ id: one.id, operation: one.operation })));
  await page.locator(`[data-event="${own[1]!.id}"]`).getByRole("button", { name: /Show change/ }).click();
  await page.locator("[data-undo-sql]").waitFor();
  expect(await page.locator("[data-action]").count()).toBe(0);
  expect(await page.getByRole("region", { name: "Hash chain" }).count()).toBe(0);
  await screenshot(page, "audit-coach");

  await page.goto(apiUrl(`/admin/audit?table=clients&record=${otherCoach.clientId}`));
  await page.getByText("No events match these filters.").waitFor();
  expect(await sqlEvents(coach.user, { table: "clients", record: otherCoach.clientId })).toEqual([]);
  await page.context().close();
});

test("an auditor sees the chain's newest seal as audit_chain_status says, verifies it, exports the filter, and has no action buttons", async () => {
  const page = await newTab(browser);
  await signIn(page, auditor.email);
  await page.goto(apiUrl(`/admin/audit?table=clients&record=${coach.clientId}`));
  await page.getByRole("region", { name: "Hash chain" }).getByRole("button", { name: "Verify the chain" }).waitFor();
  const { status, verified } = await withRootDb(async (client) => {
    await becomeUser(client, auditor);
    const status = await client.query("select newest_seal_id::text from app_public.audit_chain_status()");
    const verified = await client.query("select intact from app_public.audit_verify_chain()");
    return { status: status.rows[0], verified: verified.rows[0] };
  });
  await settled(page);
  const seal = page.locator("[data-newest-seal]");
  expect((await seal.count()) ? await seal.getAttribute("data-newest-seal") : null).toBe(status.newest_seal_id);
  await page.getByRole("button", { name: "Verify the chain" }).click();
  await page.locator("[data-verified]").waitFor();
  expect(await page.locator("[data-verified]").getAttribute("data-verified")).toBe(verified.intact ? "intact" : "broken");

  const expected = await sqlEvents(auditor, { table: "clients", record: coach.clientId });
  const csv = await downloadText(page, page.getByRole("button", { name: "Download the events as CSV" }));
  expect(csv.filename).toBe("audit-export.csv");
  const lines = csv.text.trim().split(/\r?\n/);
  expect(lines[0]!.split(",").slice(0, 3)).toEqual(["id", "occurredAt", "tableSchema"]);
  expect(lines.slice(1).map((line) => line.split(",")[0])).toEqual(expected.map((one) => one.id));
  const jsonl = await downloadText(page, page.getByRole("button", { name: "Download the events as JSON Lines" }));
  const rows = jsonl.text.trim().split("\n").map((line) => JSON.parse(line));
  expect(rows.map((row) => [row.id, row.operation, row.newValues])).toEqual(expected.map((one) => [one.id, one.operation, one.new_values]));
  await page.locator("[data-export-rows]").waitFor();

  await page.locator("[data-event]").first().getByRole("button", { name: /Show change/ }).click();
  await settled(page);
  expect(await page.locator("[data-action]").count()).toBe(0);
  await screenshot(page, "audit-auditor");
  // At a tablet's width the page still fits: nothing wider than the window but the tables, which scroll.
  await page.setViewportSize({ width: 800, height: 1000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
  await screenshot(page, "audit-auditor-tablet");
  await page.context().close();
});
