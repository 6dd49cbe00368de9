import type { Request, Response } from "express";
import type { Writable } from "node:stream";
import type { ClientBase, FieldDef, Pool, PoolClient } from "pg";
import { csvField } from "../../csv.ts";
import { UserError } from "../../errors.ts";
import { log } from "../../log.ts";
import { pgSettingsFor } from "../auth.ts";
import { isUserFacing } from "../mask-error.ts";

/** How a REST route sends rows: JSON (one array), JSON Lines, or CSV with a header. */
export type RowFormat = "json" | "jsonl" | "csv";

// Rows per fetch: a few megabytes at most in memory, few enough round trips.
const fetchSize = 2000;
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

/** A timestamptz as PostgreSQL writes it in UTC ("2026-11-25 10:00:00.123456+00") in ISO 8601 as GraphQL gives it, microseconds kept. */
const timestampType = 1184;
const isoTimestamp = (text: string) => text.replace(" ", "T").replace(/\+00$/, "+00:00");

/** A value's text as the export shows it: times in ISO 8601, booleans as true and false. */
function fieldText(field: FieldDef): (text: string) => string {
  if (field.dataTypeID === timestampType) return isoTimestamp;
  if (field.dataTypeID === booleanType) return (text) => (text === "t" ? "true" : "false");
  return (text) => text;
}

/** A value as JSON: booleans, small integers and JSON as themselves, anything else a string. Chosen once per column. */
function jsonField(field: FieldDef): (text: string | null) => string {
  const asText = fieldText(field);
  const asJson =
    field.dataTypeID === booleanType || smallIntegerTypes.has(field.dataTypeID) ? asText
    : jsonTypes.has(field.dataTypeID) ? (text: string) => JSON.stringify(JSON.parse(text))
    : (text: string) => JSON.stringify(asText(text));
  return (text) => (text === null ? "null" : asJson(text));
}

function csvColumn(field: FieldDef): (text: string | null) => string {
  const asText = fieldText(field);
  return (text) => csvField(text === null ? null : asText(text));
}

/**
 * Writes, waiting while the reader is slow (a client, a disk), so a large
 * export never piles up in memory; a reader that goes away ends the wait, so
 * the connection and its transaction are given back, and so does a write that
 * failed (a full disk): a file stream opened with autoClose: false then
 * neither drains nor closes. The caller learns of the failure from `out`.
 */
export function write(out: Writable, chunk: string | Buffer): Promise<void> {
  if (out.destroyed || out.errored) return Promise.resolve();
  if (out.write(chunk) || out.destroyed || out.errored) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      out.off("error", done);
      resolve();
    };
    out.once("drain", done);
    out.once("close", done);
    out.once("error", done);
  });
}

/** A row as PostgreSQL's text of each column, in the query's order. */
type Row = Array<string | null>;

/** Rows as the text of one format: the header, one batch's text, the end. */
function rowText(fields: FieldDef[], format: RowFormat) {
  const names = fields.map((field) => camelCase(field.name));
  const line =
    format === "csv"
      ? ((columns) => (row: Row) => columns.map((column, i) => column(row[i] ?? null)).join(",") + "\r\n")(fields.map(csvColumn))
      : ((columns, keys) => (row: Row) => "{" + columns.map((column, i) => keys[i] + column(row[i] ?? null)).join(",") + "}")(
          fields.map(jsonField), names.map((name) => JSON.stringify(name) + ":"));
  return {
    header: format === "csv" ? names.join(",") + "\r\n" : format === "json" ? "[" : "",
    batch(rows: Row[], first: boolean): string {
      const lines = rows.map(line);
      return format === "json" ? (first ? "" : ",") + lines.join(",") : format === "jsonl" ? lines.join("\n") + "\n" : lines.join("");
    },
    end: format === "json" ? "]" : "",
  };
}

/** Values as PostgreSQL's text, so times keep their microseconds and amounts their digits. */
const rawText = { getTypeParser: () => (value: string) => value };
/** One fetch: rows as arrays of text. */
const fetchRows = (client: ClientBase, count: number) =>
  client.query<Row>({ text: `fetch ${count} from rows_out`, types: rawText, rowMode: "array" });

/** A query's rows, read through a cursor in the caller's open transaction. */
export interface OpenRows {
  fields: FieldDef[];
  /** The first batch, read when the cursor was opened. */
  first: Row[];
}

/**
 * Declares a cursor for `sql` and reads its first `firstBatch` rows (500
 * unless given) at once: a bad argument fails here, before anything is
 * written. Runs in the transaction the caller opened.
 */
export async function openRows(client: ClientBase, sql: string, params: unknown[], firstBatch = fetchSize): Promise<OpenRows> {
  await client.query({ text: `declare rows_out no scroll cursor for ${sql}`, values: params });
  const batch = await fetchRows(client, firstBatch);
  return { fields: batch.fields, first: batch.rows };
}

/**
 * Writes opened rows to `out` in a format: the header, every batch as it is
 * fetched (waiting while `out` is slow: one batch in memory at a time), the
 * end; only the first batch when `firstOnly` (a page). Stops early when `out`
 * closes (a client gone) or a write to it failed. Does not end `out`. Returns
 * the rows written.
 */
export async function writeRows(
  client: ClientBase,
  rows: OpenRows,
  format: RowFormat,
  out: Writable,
  options: { firstOnly?: boolean; onBatch?: (rows: number) => void } = {},
): Promise<number> {
  const text = rowText(rows.fields, format);
  let closed = out.destroyed;
  out.once("close", () => (closed = true));
  await write(out, text.header);
  let batch = rows.first;
  let written = 0;
  while (batch.length > 0 && !closed) {
    await write(out, text.batch(batch, written === 0));
    // A batch whose write failed is not counted as written.
    if (out.errored) break;
    written += batch.length;
    options.onBatch?.(batch.length);
    if (options.firstOnly || batch.length < fetchSize) break;
    batch = (await fetchRows(client, fetchSize)).rows;
  }
  await write(out, text.end);
  return written;
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
 * An error from a query's arguments, which are checked in SQL: a bad one is
 * the caller's to fix (a 400, or 404 for something not there or not theirs),
 * named as `parameterNames` name them; any other error as it is.
 */
export function callerError(error: unknown, parameterNames: Record<string, string> = {}): unknown {
  if (!isUserFacing(error)) return error;
  const message = Object.entries(parameterNames).reduce(
    (text, [argument, parameter]) => text.replace(new RegExp(`\\b${argument}\\b`, "g"), parameter), error.message);
  return error.code === "P0002" ? new NotFound(message) : new UserError(message);
}

/**
 * Runs a query as the caller (their role, claims and row-level security, in a
 * read-only transaction) and streams its rows through a cursor. Values come
 * as PostgreSQL's text, so times keep their microseconds and amounts their
 * digits. An error the caller caused (a bad range, say) is a 400.
 */
export async function streamRows(pool: Pool, req: Request, res: Response, query: RowQuery): Promise<void> {
  const client: PoolClient = await pool.connect();
  try {
    let rows: OpenRows;
    try {
      await beginAsCaller(client, req);
      // A page is read whole (it is bounded) to know whether another follows.
      rows = await openRows(client, query.sql, query.params, query.page ? query.page.size + 1 : undefined);
    } catch (error) {
      throw callerError(error, query.parameterNames);
    }
    if (query.page) {
      const more = rows.first.length > query.page.size;
      if (more) rows.first = rows.first.slice(0, query.page.size);
      if (more) {
        const last = rows.first[rows.first.length - 1]!;
        const lastRow = Object.fromEntries(rows.fields.map((field, i) => [field.name, last[i] ?? null]));
        res.setHeader("Link", `<${query.page.next(lastRow)}>; rel="next"`);
      }
    }
    res.status(200);
    res.setHeader("Content-Type", contentTypes[query.format]);
    res.setHeader("Content-Disposition", `attachment; filename="${query.filename}.${query.format}"`);
    await writeRows(client, rows, query.format, res, { firstOnly: query.page !== undefined });
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
