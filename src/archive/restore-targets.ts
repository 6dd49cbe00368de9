import type pg from "pg";
import { UserError } from "../errors.ts";
import type { ArchiveManifest } from "./manifest.ts";

/** Where one archived table's rows go back, and how. */
export interface RestoreTarget {
  /** The archived table, "schema.table". */
  table: string;
  /** The table the rows are inserted into, quoted: the original, or its copy in the inspection schema. */
  target: string;
  inspection: boolean;
  /** The target's columns. */
  columns: string[];
  /** Those an insert may name (generated columns are computed by the table itself). */
  insertable: string[];
  /** The primary key: a row whose key is there already is skipped. Empty in an inspection copy. */
  key: string[];
  /** The table has a `generated always as identity` column, whose archived values are kept. */
  overridingSystemValue: boolean;
}

/** Schemas an inspection copy may not go into: Custodian's own and PostgreSQL's. */
const reservedSchemas = /^(app_public|app_private|audit|governance|public|graphile_.*|information_schema|pg_.*)$/;

/**
 * The tables an archive's rows go back into, in the order to fill them
 * (parents before children, else the manifest's order). Refuses, before
 * anything is written: a table the archive does not hold or the database
 * no longer has, audit events into the trail itself, a bad or taken
 * inspection schema.
 */
export async function restoreTargets(
  client: pg.ClientBase,
  manifest: ArchiveManifest,
  { table, intoSchema }: { table: string | null; intoSchema: string | null },
): Promise<RestoreTarget[]> {
  const held = manifest.files.map((file) => file.table);
  if (table !== null && !held.includes(table)) {
    throw new UserError(`Archive ${manifest.id} holds no rows of ${table}; it holds ${held.join(", ")}.`);
  }
  const tables = table === null ? held : [table];
  for (const name of tables) {
    const { rows } = await client.query("select pg_catalog.to_regclass($1) is not null as found", [name]);
    if (!rows[0].found) throw new UserError(`Table ${name} of archive ${manifest.id} no longer exists in the database, so its rows cannot be restored.`);
  }
  if (intoSchema === null) {
    const trail = tables.find((name) => name.startsWith("audit."));
    if (trail) {
      throw new UserError(
        `${trail} is the append-only audit trail: archived audit events are never written back into it. Restore them into an inspection schema with --into-schema NAME.`,
      );
    }
    const ordered = await parentsFirst(client, tables);
    const targets: RestoreTarget[] = [];
    for (const name of ordered) targets.push(await originalTarget(client, name));
    return targets;
  }
  return inspectionTargets(client, manifest, tables, intoSchema);
}

async function originalTarget(client: pg.ClientBase, table: string): Promise<RestoreTarget> {
  const { rows } = await client.query<{ target: string; columns: string[]; insertable: string[]; key: string[]; identity: boolean }>(
    `select (select pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
               from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = $1::regclass) as target,
       array(select a.attname from pg_catalog.pg_attribute a where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum)::text[] as columns,
       array(select a.attname from pg_catalog.pg_attribute a where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped and a.attgenerated = '' order by a.attnum)::text[] as insertable,
       array(select a.attname from pg_catalog.pg_index i cross join lateral pg_catalog.unnest(i.indkey) with ordinality k(attnum, n)
             join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = $1::regclass and i.indisprimary order by k.n)::text[] as key,
       exists (select from pg_catalog.pg_attribute a where a.attrelid = $1::regclass and a.attidentity = 'a' and not a.attisdropped) as identity`,
    [table],
  );
  const row = rows[0]!;
  return { table, target: row.target, inspection: false, columns: row.columns, insertable: row.insertable, key: row.key, overridingSystemValue: row.identity };
}

/** Kahn's order over the foreign keys between the tables; ties keep the given order. */
async function parentsFirst(client: pg.ClientBase, tables: string[]): Promise<string[]> {
  const { rows } = await client.query<{ child: number; parent: number }>(
    `select c.conrelid::int as child, c.confrelid::int as parent from pg_catalog.pg_constraint c
      where c.contype = 'f' and c.conrelid <> c.confrelid
        and c.conrelid = any($1::regclass[]) and c.confrelid = any($1::regclass[])`,
    [tables],
  );
  const oids = await client.query<{ oid: number }>("select t::regclass::oid::int as oid from pg_catalog.unnest($1::text[]) with ordinality u(t, n) order by n", [tables]);
  const nameOf = new Map(oids.rows.map((row, index) => [row.oid, tables[index]!]));
  const ordered: string[] = [];
  const remaining = new Set(tables);
  while (remaining.size > 0) {
    const next = [...remaining].find((name) =>
      !rows.some((edge) => nameOf.get(edge.child) === name && remaining.has(nameOf.get(edge.parent)!)));
    // A cycle of foreign keys: the rest in the given order (a row that then cannot go back is reported).
    const take = next ?? [...remaining][0]!;
    ordered.push(take);
    remaining.delete(take);
  }
  return ordered;
}

async function inspectionTargets(client: pg.ClientBase, manifest: ArchiveManifest, tables: string[], schema: string): Promise<RestoreTarget[]> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema) || reservedSchemas.test(schema)) {
    throw new UserError(
      `--into-schema takes a new schema's name, lowercase letters, digits and _ (not one of Custodian's or PostgreSQL's own); got "${schema}".`,
    );
  }
  const names = tables.map((name) => name.split(".")[1]!);
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice) throw new UserError(`Archive ${manifest.id} holds two tables named ${twice}; restore them one at a time with --table.`);
  const { rows: [existing] } = await client.query("select governance.is_inspection_schema($1) as inspection", [schema]);
  if (existing.inspection === false) {
    throw new UserError(`Schema ${schema} exists and is not an inspection schema made by archive restore; name a new one with --into-schema.`);
  }
  if (existing.inspection === null) {
    await client.query(`create schema ${quote(schema)}`);
    await client.query(
      `comment on schema ${quote(schema)} is ${literal(`Inspection copies of archived rows (custodian archive restore --into-schema). Drop with select governance.drop_inspection_schema('${schema}').`)}`,
    );
  }
  const targets: RestoreTarget[] = [];
  for (const [index, table] of tables.entries()) {
    const copy = `${quote(schema)}.${quote(names[index]!)}`;
    const { rows } = await client.query("select pg_catalog.to_regclass($1) is not null as taken", [copy]);
    if (rows[0].taken) throw new UserError(`${schema}.${names[index]} already exists; restore into another schema with --into-schema.`);
    // Columns and types only (and not-null): no defaults, constraints, triggers, identity or generated columns.
    await client.query(`create table ${copy} (like ${table})`);
    // Readable by the owner (and superusers) only, like every table here behind row-level security.
    await client.query(`alter table ${copy} enable row level security`);
    await client.query(`comment on table ${copy} is ${literal(`Rows of ${table} from archive ${manifest.id} (written ${manifest.createdAt}), restored for inspection.`)}`);
    await client.query("select governance.classify_inspection_copy($1::regclass, $2::regclass)", [table, copy]);
    const columns = (await client.query<{ attname: string }>(
      "select attname from pg_catalog.pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum", [copy])).rows.map((row) => row.attname);
    targets.push({ table, target: copy, inspection: true, columns, insertable: columns, key: [], overridingSystemValue: false });
  }
  return targets;
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
