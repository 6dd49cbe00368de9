import type pg from "pg";
import { constraintKey, loadConstraintWords, type ConstraintWords } from "../server/constraint-words.ts";
import type { ArchiveManifest } from "./manifest.ts";
import { currentSchemaVersion } from "./schema-version.ts";
import type { ArchiveStore } from "./store.ts";
import { restoreTargets, type RestoreTarget } from "./restore-targets.ts";
import { linesCheckedAgainst } from "./read.ts";
import { ArchiveTampered, verifyArchive } from "./verify.ts";

export interface RestoreOptions {
  /** Only this "schema.table" of the archive. */
  table?: string | null;
  /** Restore into new tables in this schema, for inspection, instead of the original tables. */
  intoSchema?: string | null;
  /** The manifest recorded when the archive was written (the database's copy); the file must equal it. */
  recorded?: ArchiveManifest | null;
  /** Called once the targets are ready, before the first row is written, with the number of rows to restore. */
  onStart?: (rows: number) => void;
  /** Called after each batch with the rows it handled. */
  onRows?: (count: number) => void;
}

export interface RowNotRestored {
  /** The row's primary key, as archived (JSON of the key columns). */
  key: string;
  reason: string;
}

export interface TableRestoreReport {
  table: string;
  /** Where the rows went: the table itself or its copy in the inspection schema. */
  target: string;
  rows: number;
  restored: number;
  /** Rows whose key is already in the table: left as they are. */
  skipped: number;
  notRestored: RowNotRestored[];
}

export interface RestoreReport {
  manifest: ArchiveManifest;
  intoSchema: string | null;
  tables: TableRestoreReport[];
  /** Things the operator should know (an archive from another schema version, columns that no longer exist). */
  notes: string[];
}

/** Rows per insert statement; a batch that fails is retried row by row to name the rows that cannot go back. */
const batchSize = 500;

/**
 * Restores an archive's rows in one transaction, after verifying the whole
 * archive (a tampered one is refused before anything is written).
 *
 * Into the original tables: as the owner through the normal write path
 * (constraints, foreign keys and triggers apply, and the audit trail records
 * each insert, attributed to the task "archive restore <id>"), parents before
 * children; a row whose key is already there is skipped and counted; a row
 * that cannot go back is left out with the reason, never half-restored (each
 * batch in a savepoint, then each row of a failed batch in its own).
 *
 * Into an inspection schema: a new table per archived table, `like` the
 * original (columns and types; no constraints, triggers or generated
 * columns), and every row inserted as archived.
 *
 * `client` is the owner's connection, outside any transaction (this opens and
 * commits its own).
 */
export async function restoreArchive(client: pg.ClientBase, store: ArchiveStore, id: string, options: RestoreOptions = {}): Promise<RestoreReport> {
  const verification = await verifyArchive(store, id, { recorded: options.recorded ?? null });
  if (!verification.ok) {
    throw new ArchiveTampered(`Archive ${id} does not verify, so nothing was restored: ${verification.problems.join("; ")}.`);
  }
  const manifest = verification.manifest!;
  const intoSchema = options.intoSchema ?? null;
  const notes: string[] = [];
  const schemaVersion = await currentSchemaVersion(client);
  if (schemaVersion !== manifest.schemaVersion) {
    notes.push(`The archive was written at schema version ${manifest.schemaVersion}; the database is at ${schemaVersion}.`);
  }
  await client.query("begin");
  try {
    await client.query(
      `select pg_catalog.set_config('custodian.actor_kind', 'system', true), pg_catalog.set_config('custodian.task', $1, true)`,
      [`archive restore ${id}`],
    );
    const targets = await restoreTargets(client, manifest, { table: options.table ?? null, intoSchema });
    const words = await loadConstraintWords(client);
    options.onStart?.(targets.reduce((sum, target) => sum + manifest.files.find((file) => file.table === target.table)!.rows, 0));
    const tables: TableRestoreReport[] = [];
    for (const target of targets) {
      tables.push(await restoreTable(client, store, manifest, target, { notes, words, onRows: options.onRows ?? (() => undefined) }));
    }
    await client.query("commit");
    return { manifest, intoSchema, tables, notes };
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

async function restoreTable(
  client: pg.ClientBase,
  store: ArchiveStore,
  manifest: ArchiveManifest,
  target: RestoreTarget,
  { notes, words, onRows }: { notes: string[]; words: ConstraintWords; onRows: (count: number) => void },
): Promise<TableRestoreReport> {
  const report: TableRestoreReport = { table: target.table, target: target.target, rows: 0, restored: 0, skipped: 0, notRestored: [] };
  if (!target.inspection) await client.query("select governance.begin_archive_restoration($1, $2::regclass)", [manifest.id, target.target]);
  let insert: InsertStatement | null = null;
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    insert ??= insertStatement(target, Object.keys(JSON.parse(batch[0]!) as object), notes);
    await insertBatch(client, insert, target, batch, report, words);
    onRows(batch.length);
    batch = [];
  };
  for await (const line of linesCheckedAgainst(store, manifest, target.table)) {
    report.rows++;
    batch.push(line);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  if (!target.inspection) {
    await client.query("select governance.end_archive_restoration()");
    if (target.overridingSystemValue) await advanceIdentities(client, target.target);
  }
  return report;
}

/** Moves identity sequences past restored ids, so that the next ordinary insert does not take one again. */
async function advanceIdentities(client: pg.ClientBase, target: string): Promise<void> {
  const { rows } = await client.query<{ column: string; sequence: string }>(
    `select a.attname as column, pg_catalog.pg_get_serial_sequence($1, a.attname) as sequence from pg_catalog.pg_attribute a
      where a.attrelid = $1::regclass and a.attidentity <> '' and not a.attisdropped`,
    [target],
  );
  for (const { column, sequence } of rows) {
    await client.query(
      `select pg_catalog.setval($1::regclass, m) from (select max(${quote(column)}) as m from ${target}) x
        where m > coalesce(pg_catalog.pg_sequence_last_value($1::regclass), 0)`,
      [sequence],
    );
  }
}

interface InsertStatement {
  sql: string;
}

/** One insert of a batch of archived rows (a jsonb array), of the columns both the archive and the table have. */
function insertStatement(target: RestoreTarget, archivedColumns: string[], notes: string[]): InsertStatement {
  const archived = new Set(archivedColumns);
  const columns = target.insertable.filter((column) => archived.has(column));
  const gone = archivedColumns.filter((column) => !target.columns.includes(column));
  if (gone.length > 0) {
    notes.push(`${target.table}: the archived column${gone.length > 1 ? "s" : ""} ${gone.join(", ")} no longer exist${gone.length > 1 ? "" : "s"} in the table; ${gone.length > 1 ? "their" : "its"} values were not restored.`);
  }
  const list = columns.map(quote).join(", ");
  // A key already in the table is left alone (counted as skipped, never overwritten).
  const absent = target.key.length === 0 ? "" : `where not exists (select from ${target.target} t where ${target.key.map((column) => `t.${quote(column)} = r.${quote(column)}`).join(" and ")})`;
  return {
    sql: `insert into ${target.target} (${list}) ${target.overridingSystemValue ? "overriding system value " : ""}` +
      `select ${columns.map((column) => `r.${quote(column)}`).join(", ")} from pg_catalog.jsonb_populate_recordset(null::${target.target}, $1::pg_catalog.jsonb) r ${absent}`,
  };
}

async function insertBatch(
  client: pg.ClientBase,
  insert: InsertStatement,
  target: RestoreTarget,
  lines: string[],
  report: TableRestoreReport,
  words: ConstraintWords,
): Promise<void> {
  await client.query("savepoint restore_batch");
  try {
    const { rowCount } = await client.query(insert.sql, [`[${lines.join(",")}]`]);
    await client.query("release savepoint restore_batch");
    report.restored += rowCount ?? 0;
    report.skipped += lines.length - (rowCount ?? 0);
    return;
  } catch {
    await client.query("rollback to savepoint restore_batch");
  }
  // Row by row, to restore every row that can go back and name each one that cannot.
  for (const line of lines) {
    await client.query("savepoint restore_row");
    try {
      const { rowCount } = await client.query(insert.sql, [`[${line}]`]);
      await client.query("release savepoint restore_row");
      if (rowCount === 1) report.restored++;
      else report.skipped++;
    } catch (error) {
      await client.query("rollback to savepoint restore_row");
      report.notRestored.push({ key: keyOf(line, target), reason: reasonOf(error, words) });
    }
  }
}

function keyOf(line: string, target: RestoreTarget): string {
  const row = JSON.parse(line) as Record<string, unknown>;
  const columns = target.key.length > 0 ? target.key : Object.keys(row).slice(0, 1);
  return columns.map((column) => `${column}=${String(row[column])}`).join(", ");
}

/** Why the database refused a row: the constraint's words when it has them (constraint-words.sql), then its own message and detail. */
function reasonOf(error: unknown, words: ConstraintWords): string {
  const { message, detail, code, schema, table, constraint } = error as Record<string, string | undefined>;
  if (!code) throw error; // not the database refusing a row: a bug or a lost connection
  const sentence = constraint && schema && table ? words.get(constraintKey(schema, table, constraint)) : undefined;
  return [sentence, message, detail].filter(Boolean).join(" ") + ` (${code})`;
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

