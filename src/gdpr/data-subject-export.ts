import type pg from "pg";
import { cursorBatches } from "../db/cursor.ts";
import { csvField } from "../csv.ts";
import { ChunkSink } from "./export-chunks.ts";
import { ZipWriter, type ZipEntry } from "./zip-writer.ts";

/**
 * The access and portability export (GDPR Art. 15, 20): everything
 * governance.subject_rows finds about the person, as one JSON document and
 * one CSV per table, with a manifest, zipped into the export's chunks. The
 * rows and which tables hold them are SQL's to decide; this file only
 * writes them out.
 */

export const exportFormat = "custodian-gdpr-export/1";

export interface ManifestFile extends ZipEntry {
  /** The rows the file holds (export.json: all of them). */
  rows: number;
}

export interface ExportManifest {
  format: string;
  exportId: string;
  requestId: string;
  subject: { kind: "client" | "user"; id: string };
  exportedAt: string;
  /** Every table searched, with how many of its rows are about the person (soft-deleted ones included). */
  tables: { table: string; rows: number }[];
  /** Tables the map says hold personal data of this kind of person but gives no path to the person. */
  tablesWithoutPathToSubject: string[];
  /** Every other file of the zip: rows, size and SHA-256 of its content. */
  files: ManifestFile[];
}

export interface BuiltExport {
  exportId: string;
  requestId: string;
  byteSize: number;
  sha256: string;
  expiresAt: Date;
  manifest: ExportManifest;
}

interface Source {
  table_name: string;
  searchable: boolean;
}

interface Target {
  export_id: string;
  request_id: string;
  kind: "client" | "user";
  subject_id: string;
  built: boolean;
  exported_at: Date;
}

/**
 * Reads the rows about the person once (decrypting their audit events is
 * most of an export's time) into a temporary table, which export.json and
 * the CSVs then read in turn; dropped after the build, or at commit.
 */
async function stageRows(client: pg.ClientBase, target: Target): Promise<void> {
  await client.query("drop table if exists pg_temp.data_subject_export_rows");
  await client.query(
    `create temp table data_subject_export_rows on commit drop as
     select r.table_name, r.position, r.row_data::text as row
     from governance.subject_rows($1::governance.data_subject_kind, $2::uuid) with ordinality r(table_name, row_data, position)`,
    [target.kind, target.subject_id],
  );
  await client.query("create index on data_subject_export_rows (table_name, position)");
}

/** One table's rows as JSON text, a batch at a time (for a large client, never all at once). */
function tableRows(client: pg.ClientBase, table: string): AsyncGenerator<{ row: string }[]> {
  return cursorBatches<{ row: string }>(
    client, "select row from pg_temp.data_subject_export_rows where table_name = $1 order by position", [table]);
}

/** export.json: the head, then "tables": {name: [rows...]} in the order searched. */
async function* jsonDocument(client: pg.ClientBase, target: Target, tables: string[], counts: Map<string, number>) {
  const head = { format: exportFormat, requestId: target.request_id, subject: { kind: target.kind, id: target.subject_id }, exportedAt: target.exported_at.toISOString() };
  yield `${JSON.stringify(head).slice(0, -1)},"tables":{`;
  for (const [index, table] of tables.entries()) {
    yield `${index === 0 ? "" : ","}\n${JSON.stringify(table)}:[`;
    let rows = 0;
    for await (const batch of tableRows(client, table)) {
      yield batch.map((entry, i) => `${rows + i === 0 ? "" : ","}\n${entry.row}`).join("");
      rows += batch.length;
    }
    counts.set(table, rows);
    yield rows === 0 ? "]" : "\n]";
  }
  yield "\n}}\n";
}

/** A JSON value as a CSV cell: text as is, objects and arrays as JSON, null empty. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return csvField(JSON.stringify(value));
  return csvField(String(value));
}

/** csv/<table>.csv: a header of the row's columns, then one line per row. */
async function* csvDocument(client: pg.ClientBase, table: string) {
  let columns: string[] | null = null;
  for await (const batch of tableRows(client, table)) {
    const lines: string[] = [];
    for (const entry of batch) {
      const row = JSON.parse(entry.row) as Record<string, unknown>;
      if (columns === null) {
        columns = Object.keys(row);
        lines.push(columns.map(csvField).join(","));
      }
      lines.push(columns.map((column) => cell(row[column])).join(","));
    }
    yield lines.join("\r\n") + "\r\n";
  }
}

async function* once(text: string) {
  yield text;
}

/**
 * Builds an export in the caller's transaction (repeatable read, so that
 * every file shows the same instant): its zip stored in chunks, then marked
 * built with its manifest and expiry. Returns null when it is built already
 * (a second run of the same job); waits while another run builds it.
 */
export async function buildDataSubjectExport(client: pg.ClientBase, exportId: string, timeToLiveDays: number): Promise<BuiltExport | null> {
  const found = await client.query<Target>(
    `select e.id as export_id, e.request_id, case when r.client_id is not null then 'client' else 'user' end as kind,
            r.subject_id, e.built_at is not null as built, pg_catalog.now() as exported_at
     from app_public.data_subject_exports e join app_public.data_subject_requests r on r.id = e.request_id
     where e.id = $1 for update of e`,
    [exportId],
  );
  const target = found.rows[0];
  if (!target) throw new Error(`There is no export ${exportId}.`);
  if (target.built) return null;

  const sources = (await client.query<Source>(
    "select table_name, where_sql is not null as searchable from governance.subject_row_sources($1::governance.data_subject_kind)",
    [target.kind],
  )).rows;
  const tables = sources.filter((source) => source.searchable).map((source) => source.table_name);
  await stageRows(client, target);
  const sink = new ChunkSink(client, exportId);
  const zip = new ZipWriter(sink.write, target.exported_at);
  const counts = new Map<string, number>();
  const files: ManifestFile[] = [];

  const json = await zip.add("export.json", jsonDocument(client, target, tables, counts));
  files.push({ ...json, rows: [...counts.values()].reduce((sum, rows) => sum + rows, 0) });
  for (const table of tables) {
    if (counts.get(table) === 0) continue;
    const csv = await zip.add(`csv/${table}.csv`, csvDocument(client, table));
    files.push({ ...csv, rows: counts.get(table)! });
  }
  const manifest: ExportManifest = {
    format: exportFormat,
    exportId,
    requestId: target.request_id,
    subject: { kind: target.kind, id: target.subject_id },
    exportedAt: target.exported_at.toISOString(),
    tables: tables.map((table) => ({ table, rows: counts.get(table)! })),
    tablesWithoutPathToSubject: sources.filter((source) => !source.searchable).map((source) => source.table_name),
    files,
  };
  await zip.add("manifest.json", once(JSON.stringify(manifest, null, 2) + "\n"));
  const byteSize = await zip.finish();
  await sink.close();
  await client.query("drop table pg_temp.data_subject_export_rows");

  const finished = await client.query<{ expires_at: Date }>(
    "select expires_at from app_private.finish_data_subject_export($1, $2, $3, $4::jsonb, pg_catalog.make_interval(days => $5))",
    [exportId, byteSize, sink.sha256(), JSON.stringify(manifest), timeToLiveDays],
  );
  return { exportId, requestId: target.request_id, byteSize, sha256: sink.sha256(), expiresAt: finished.rows[0]!.expires_at, manifest };
}
