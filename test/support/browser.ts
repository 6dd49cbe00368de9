import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import chromium from "@sparticuz/chromium";
import { chromium as playwright, type Browser, type Locator, type Page } from "playwright-core";
import { projectRoot } from "../../src/paths.ts";
import { PASSWORD } from "./fixtures.ts";
import { apiUrl } from "./http.ts";

/** Where each run leaves a screenshot of every page it visits (git-ignored). */
export const screenshotDir = path.join(projectRoot, "test", "console", "screenshots");

/**
 * A fontconfig that knows only the DejaVu fonts the dejavu-fonts-ttf package
 * ships: without any, headless Chromium on a machine without system fonts
 * renders text invisibly while DOM assertions still pass.
 */
function fontconfigFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-fonts-"));
  const fonts = path.join(projectRoot, "node_modules", "dejavu-fonts-ttf", "ttf");
  const file = path.join(dir, "fonts.conf");
  fs.writeFileSync(
    file,
    `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>${fonts}</dir>
  <cachedir>${path.join(dir, "cache")}</cachedir>
  <alias><family>sans-serif</family><prefer><family>DejaVu Sans</family></prefer></alias>
  <alias><family>serif</family><prefer><family>DejaVu Serif</family></prefer></alias>
  <alias><family>monospace</family><prefer><family>DejaVu Sans Mono</family></prefer></alias>
  <alias><family>system-ui</family><prefer><family>DejaVu Sans</family></prefer></alias>
</fontconfig>
`,
  );
  return file;
}

/** Real headless Chromium, the build that @sparticuz/chromium ships (unpacked once to $TMPDIR/chromium). */
export async function launchBrowser(): Promise<Browser> {
  const fontconfig = fontconfigFile();
  const browser = await playwright.launch({
    executablePath: await chromium.executablePath(),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"],
    env: { ...process.env, FONTCONFIG_FILE: fontconfig } as Record<string, string>,
  });
  // The fontconfig's folder (and its font cache) goes with the browser.
  browser.on("disconnected", () => fs.rmSync(path.dirname(fontconfig), { recursive: true, force: true }));
  return browser;
}

/** A new tab (its own sessionStorage) at a laptop's width. */
export async function newTab(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-US" });
  return context.newPage();
}

/** Signs in through the console's form (of the suite's server, or of the server at `origin`) and waits for the navigation. */
export async function signIn(page: Page, email: string, password = PASSWORD, origin = apiUrl("")): Promise<void> {
  await page.goto(`${origin}/admin/`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Console" }).waitFor();
}

/** Keeps a picture of the page as it is now, named for the page and the role. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Clicks a button that downloads a file and returns the file's name and text. */
export async function downloadText(page: Page, button: Locator): Promise<{ filename: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
  const file = await download.path();
  return { filename: download.suggestedFilename(), text: fs.readFileSync(file, "utf8") };
}

/** Waits until no panel is loading. */
export async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
}
