import type { Request, Response } from "express";
import type { FieldDef, Pool, PoolClient } from "pg";
import { csvField } from "../../csv.ts";
import { UserError } from "../../errors.ts";
import { log } from "../../log.ts";
import { pgSettingsFor } from "../auth.ts";
import { isUserFacing } from "../mask-error.ts";

/** How a REST route sends rows: JSON (one array), JSON Lines, or CSV with a header. */
export type RowFormat = "json" | "jsonl" | "csv";

const fetchSize = 500;
const contentTypes: Record<RowFormat, string> = {
  json: "application/json; charset=utf-8",
  jsonl: "application/x-ndjson; charset=utf-8",
  csv: "text/csv; charset=utf-8",
};

// PostgreSQL type oids whose text becomes a JSON value other than a string.
// Like GraphQL, bigint and numeric stay strings: they may not fit a double.
const booleanType = 16;
const smallIntegerTypes = new Set([21, 23]);
const jsonTypes = new Set([114, 3802]);

const camelCase = (name: string) => name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

function jsonValue(text: string | null, field: FieldDef): unknown {
  if (text === null) return null;
  if (field.dataTypeID === booleanType) return text === "true";
  if (smallIntegerTypes.has(field.dataTypeID)) return Number(text);
  if (jsonTypes.has(field.dataTypeID)) return JSON.parse(text);
  return text;
}

/** A timestamptz as PostgreSQL writes it in UTC ("2026-11-25 10:00:00.123456+00") in ISO 8601 as GraphQL gives it, microseconds kept. */
const timestampType = 1184;
const isoTimestamp = (text: string) => text.replace(" ", "T").replace(/\+00$/, "+00:00");

/** A value's text as the export shows it: times in ISO 8601, booleans as true and false. */
function fieldText(text: string | null, field: FieldDef): string | null {
  if (text === null) return null;
  if (field.dataTypeID === timestampType) return isoTimestamp(text);
  if (field.dataTypeID === booleanType) return text === "t" ? "true" : "false";
  return text;
}

/**
 * Writes, waiting while the client is slow, so a large export never piles up
 * in memory; a client that goes away ends the wait, so the connection and its
 * transaction are given back.
 */
export function write(res: Response, chunk: string | Buffer): Promise<void> {
  if (res.write(chunk) || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

export interface RowQuery {
  /** One statement calling an app_public function; every value comes in `params`. */
  sql: string;
  params: unknown[];
  format: RowFormat;
  /** The attachment's name, without extension. */
  filename: string;
  /**
   * A bounded page: the query returns at most size + 1 rows; the extra one
   * only says there is more, and `next(last row sent)` is the next page's
   * link (a `Link: <...>; rel="next"` header).
   */
  page?: { size: number; next: (lastRow: Record<string, string | null>) => string };
  /** The SQL function's messages name GraphQL's arguments; over REST they name these query parameters instead. */
  parameterNames?: Record<string, string>;
}

/** Opens a read-only transaction as the request's caller: their role and claims, so row-level security applies. */
export async function beginAsCaller(client: PoolClient, req: Request): Promise<void> {
  await client.query("begin read only");
  await client.query("select pg_catalog.set_config(key, value, true) from json_each_text($1::json)", [
    JSON.stringify({ ...pgSettingsFor(req), TimeZone: "UTC", DateStyle: "ISO" }),
  ]);
}

/** A caller who names something that is not there, or not theirs to see: 404. */
class NotFound extends Error {
  readonly status = 404;
}

/**
 * Runs a query as the caller (their role, claims and row-level security, in a
 * read-only transaction) and streams its rows through a cursor. Values come
 * as PostgreSQL's text, so times keep their microseconds and amounts their
 * digits. An error the caller caused (a bad range, say) is a 400.
 */
export async function streamRows(pool: Pool, req: Request, res: Response, query: RowQuery): Promise<void> {
  const client: PoolClient = await pool.connect();
  let closed = false;
  res.on("close", () => (closed = true));
  const rawText = { getTypeParser: () => (value: string) => value };
  try {
    let batch;
    try {
      await beginAsCaller(client, req);
      await client.query({ text: `declare rows_out no scroll cursor for ${query.sql}`, values: query.params });
      // A page is read whole (it is bounded) to know whether another follows.
      const first = query.page ? query.page.size + 1 : fetchSize;
      batch = await client.query({ text: `fetch ${first} from rows_out`, types: rawText });
    } catch (error) {
      // Arguments are checked in SQL: a bad one is the caller's to fix.
      if (isUserFacing(error)) {
        const message = Object.entries(query.parameterNames ?? {}).reduce(
          (text, [argument, parameter]) => text.replace(new RegExp(`\\b${argument}\\b`, "g"), parameter), error.message);
        throw error.code === "P0002" ? new NotFound(message) : new UserError(message);
      }
      throw error;
    }
    if (query.page) {
      const more = batch.rows.length > query.page.size;
      if (more) batch.rows = batch.rows.slice(0, query.page.size);
      if (more) res.setHeader("Link", `<${query.page.next(batch.rows[batch.rows.length - 1])}>; rel="next"`);
    }
    const fields = batch.fields;
    const names = fields.map((field) => camelCase(field.name));
    const line = (row: Record<string, string | null>) =>
      query.format === "csv"
        ? fields.map((field) => csvField(fieldText(row[field.name] ?? null, field))).join(",") + "\r\n"
        : JSON.stringify(Object.fromEntries(fields.map((field, i) => [names[i], jsonValue(fieldText(row[field.name] ?? null, field), field)])));
    res.status(200);
    res.setHeader("Content-Type", contentTypes[query.format]);
    res.setHeader("Content-Disposition", `attachment; filename="${query.filename}.${query.format}"`);
    await write(res, query.format === "csv" ? names.join(",") + "\r\n" : query.format === "json" ? "[" : "");
    let first = true;
    while (batch.rows.length > 0 && !closed) {
      const lines = batch.rows.map((row) => line(row));
      const chunk =
        query.format === "json" ? (first ? "" : ",") + lines.join(",") : query.format === "jsonl" ? lines.join("\n") + "\n" : lines.join("");
      first = false;
      await write(res, chunk);
      if (query.page || batch.rows.length < fetchSize) break;
      batch = await client.query({ text: `fetch ${fetchSize} from rows_out`, types: rawText });
    }
    if (query.format === "json") await write(res, "]");
    res.end();
  } catch (error) {
    if (res.headersSent) {
      // Too late for a status: cut the stream so the export is visibly incomplete.
      log.error({ err: error, requestId: req.id }, "REST export failed while streaming");
      res.destroy(error as Error);
      return;
    }
    throw error;
  } finally {
    await client.query("rollback").catch(() => undefined);
    client.release();
  }
}
