import fs from "node:fs";
import type { Page } from "playwright-core";
import { rollUpDirtyDays } from "../../src/usage/aggregate.ts";
import { rateCapturedUsage } from "../../src/usage/rate.ts";
import { parseStrictCsv } from "./csv.ts";
import { becomeUser, rootPool, withRootDb, type Actor } from "./db.ts";

/** What the worker's usage_rate job does: rate the captured usage, then roll up the days it touched. */
export async function rateAndRollUp(): Promise<void> {
  const client = await rootPool().connect();
  try {
    await rateCapturedUsage(client);
    await rollUpDirtyDays(client);
  } finally {
    client.release();
  }
}

/** What a SQL statement returns when run as this user (as the API would run it), in a transaction rolled back. */
export async function sqlAs<Row = Record<string, string | null>>(actor: Actor, sql: string, values: unknown[] = []): Promise<Row[]> {
  return withRootDb(async (client) => {
    await becomeUser(client, actor);
    return (await client.query(sql, values)).rows as Row[];
  });
}

/** A console table's rows as the raw values its cells carry (data-value), keyed by column id; waits for it. */
export async function tableRows(page: Page, table: string): Promise<Array<Record<string, string>>> {
  await page.locator(`table[data-table="${table}"]`).first().waitFor();
  return page.evaluate((name) => {
    const rows = document.querySelectorAll(`table[data-table="${name}"] tbody tr`);
    return [...rows].map((row) => Object.fromEntries([...row.querySelectorAll<HTMLElement>("td")].map((cell) => [cell.dataset.column!, cell.dataset.value!])));
  }, table);
}

/** Clicks a table's "Download CSV" and returns the file's name and rows (header first). */
export async function downloadCsv(page: Page, table: string): Promise<{ filename: string; rows: string[][] }> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator(`button[data-csv="${table}"]`).first().click()]);
  const file = await download.path();
  return { filename: download.suggestedFilename(), rows: parseStrictCsv(fs.readFileSync(file, "utf8")) };
}

/** The raw values of a table's rows in the order of the CSV's columns (the table's columns but controls). */
export async function tableMatrix(page: Page, table: string): Promise<string[][]> {
  return page.evaluate((name) => {
    const cells = (row: Element) => [...row.querySelectorAll<HTMLElement>("td")].filter((cell) => cell.dataset.control === undefined).map((cell) => cell.dataset.value!);
    return [...document.querySelectorAll(`table[data-table="${name}"] tbody tr`)].map(cells);
  }, table);
}

/** Waits until no panel of the page is loading. */
export async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
}
