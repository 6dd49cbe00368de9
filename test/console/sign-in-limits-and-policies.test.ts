import type { Browser, Page } from "playwright-core";
import { launchBrowser, newTab, screenshot, settled, signIn } from "../support/browser.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { apiUrl } from "../support/http.ts";

// In a real headless Chromium: the sign-in page says in words when sign-in
// is rate-limited (app_public.authenticate's answer), and the console and
// Ruru run under their Content-Security-Policy without a single violation.

let browser: Browser;
let limited: User;
let admin: User;

beforeAll(async () => {
  limited = await createUser(rootPool(), "coach", "console-limited");
  admin = await createUser(rootPool(), "admin", "console-csp");
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await rootPool().query("delete from app_public.users where id = any($1)", [[limited.id, admin.id]]);
  await closeRootPool();
});

/** Every Content-Security-Policy violation the page reports, as the browser words it. */
function violations(page: Page): string[] {
  const seen: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) seen.push(message.text());
  });
  return seen;
}

test("after ten wrong passwords, the sign-in page shows the database's words with the seconds to wait, even for the right password", async () => {
  // Ten refused attempts a minute ago, from an address the account never signed in from.
  await rootPool().query(
    `insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, client_address, attempted_at)
     select $1, $2, $2, 'wrong_password', '203.0.113.9', now() - interval '1 minute' from generate_series(1, 10)`,
    [limited.email, limited.id],
  );
  const page = await newTab(browser);
  const seen = violations(page);
  await page.goto(apiUrl("/admin/"));
  await page.getByLabel("Email").fill(limited.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  const { rows } = await rootPool().query(
    `select ceil(extract(epoch from min(w.attempted_at) + interval '900 seconds' - r.attempted_at))::int as wait
     from app_private.sign_in_attempts w, app_private.sign_in_attempts r
     where w.user_id = $1 and w.outcome = 'wrong_password' and r.user_id = $1 and r.outcome = 'rate_limited' group by r.attempted_at`,
    [limited.id],
  );
  expect(rows).toHaveLength(1);
  expect(await alert.textContent()).toBe(`Too many sign-in attempts for this account; try again in ${rows[0].wait} seconds.`);
  expect(await page.getByRole("navigation", { name: "Console" }).count()).toBe(0);
  await screenshot(page, "sign-in-rate-limited");
  expect(seen).toEqual([]);
  await page.context().close();
});

test("the console's pages run under its Content-Security-Policy without a violation", async () => {
  const page = await newTab(browser);
  const seen = violations(page);
  await signIn(page, admin.email);
  const links = page.getByRole("navigation", { name: "Console" }).getByRole("link");
  const names = await links.allTextContents();
  expect(names.length).toBeGreaterThan(3);
  for (const name of names) {
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name, exact: true }).click();
    await settled(page);
  }
  expect(seen).toEqual([]);
  await page.context().close();
});

test("Ruru at /graphiql runs under its own policy without a violation", async () => {
  const page = await newTab(browser);
  const seen = violations(page);
  await page.goto(apiUrl("/graphiql"));
  await page.locator(".graphiql-container").waitFor();
  expect(seen).toEqual([]);
  await page.context().close();
});
