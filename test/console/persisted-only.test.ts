import type { Browser } from "playwright-core";
import { launchBrowser, newTab, settled, signIn } from "../support/browser.ts";
import { startCli, type RunningCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";

// The console against a server that runs only its persisted operations
// (GRAPHQL_PERSISTED_ONLY=on): signing in, opening pages, signing out. Every
// request it sends names a documentId and none sends text, so every operation
// those pages use is in web/persisted-operations.json (the manifest test
// checks the rest of the console's operations are too).

let server: RunningCli & { match: RegExpMatchArray };
let browser: Browser;
let admin: User;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "persisted-console-admin");
  server = await startCli(
    ["start"],
    testEnvironment({ PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!, GRAPHQL_PERSISTED_ONLY: "on" }),
    /GraphQL\s+(http:\S+)\/graphql/,
  );
  browser = await launchBrowser();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

test("an admin signs in, opens the overview, audit, GDPR and retention pages, and signs out, every operation by its documentId", async () => {
  const page = await newTab(browser);
  const sent: Array<Record<string, unknown>> = [];
  const answered: number[] = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/graphql") sent.push(request.postDataJSON() as Record<string, unknown>);
  });
  page.on("response", (response) => {
    if (new URL(response.url()).pathname === "/graphql") answered.push(response.status());
  });

  await signIn(page, admin.email, PASSWORD, server.match[1]);
  await page.locator("[data-figure]").first().waitFor();
  await settled(page);
  for (const name of ["Audit", "GDPR", "Retention"]) {
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name, exact: true }).click();
    await page.getByRole("heading", { level: 1, name }).waitFor();
    await settled(page);
    expect(await page.getByRole("alert").allTextContents()).toEqual([]);
  }
  // Signing out ends the session on the server too (the SignOut mutation, its only request).
  const signedOut = page.waitForResponse((response) => new URL(response.url()).pathname === "/graphql");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await signedOut;

  const names = sent.map((body) => (typeof body.documentId === "string" ? body.documentId : `text: ${String(body.query).slice(0, 40)}`));
  expect(names.filter((name) => !name.startsWith("sha256:"))).toEqual([]);
  expect(sent.every((body) => body.query === undefined)).toBe(true);
  expect(sent.length).toBeGreaterThanOrEqual(8);
  expect(answered.filter((status) => status !== 200)).toEqual([]);
});
