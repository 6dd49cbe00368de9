import type pg from "pg";
import { custodianSchemas } from "./catalog.ts";

// What distributing Custodian on Citus needs of the schema (docs/scaling.md,
// "Past one node"), read from the catalog. Each rule is one Citus refusal or
// one way a distributed write would go wrong; docs/scaling.md cites the source.

export type Placement = "distributed" | "reference" | "coordinator";

export interface Plan {
  /** Every table of Custodian's schemas: where it lives on a cluster, and for a distributed one, its distribution column. */
  placement: Record<string, { placement: Placement; column?: string }>;
}

export type Rule =
  | "placed"
  | "coach-owned-distributed"
  | "distribution-column"
  | "primary-key"
  | "unique"
  | "foreign-key-colocated"
  | "foreign-key-action"
  | "foreign-key-to-distributed"
  | "foreign-key-to-coordinator"
  | "policy-subquery"
  | "policy-function"
  | "trigger-reaches-coordinator"
  | "trigger-writes-reference"
  | "reference-audit";

/** One way the schema breaks one rule: `key` names it stably (for the list of known gaps), `message` says what breaks which rule. */
export interface Violation {
  rule: Rule;
  key: string;
  message: string;
}

interface Table {
  name: string;
  columns: string[];
  notNull: string[];
  /** Each column's type, as format_type spells it. */
  types: Record<string, string>;
}

interface UniqueIndex {
  table: string;
  name: string;
  /** Key columns; null for an expression. */
  columns: Array<string | null>;
  primary: boolean;
  definition: string;
}

interface ForeignKey {
  table: string;
  name: string;
  columns: string[];
  referenced: string;
  referencedColumns: string[];
  onDelete: string;
  onUpdate: string;
  definition: string;
}

interface Policy {
  table: string;
  name: string;
  hasSubquery: boolean;
  functions: string[];
}

interface Trigger {
  table: string;
  name: string;
  functionName: string;
  source: string;
}

interface Catalog {
  tables: Table[];
  uniqueIndexes: UniqueIndex[];
  foreignKeys: ForeignKey[];
  policies: Policy[];
  triggers: Trigger[];
  functionSources: Map<string, string>;
}

/** The catalog's tables (partitions apart: they follow their parent), keys, policies and triggers in Custodian's schemas. */
export async function readCatalog(client: pg.ClientBase): Promise<Catalog> {
  const tables = await client.query<Table>(`
    with custodian as (${custodianSchemas})
    select c.oid::pg_catalog.regclass::text as name,
      pg_catalog.array_agg(a.attname::text order by a.attnum) as columns,
      coalesce(pg_catalog.array_agg(a.attname::text order by a.attnum) filter (where a.attnotnull), '{}') as "notNull",
      pg_catalog.jsonb_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)) as types
    from pg_catalog.pg_class c
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where c.relnamespace in (select oid from custodian) and c.relkind in ('r', 'p') and not c.relispartition
    group by c.oid order by 1`);
  const uniqueIndexes = await client.query<UniqueIndex>(`
    with custodian as (${custodianSchemas})
    select i.indrelid::pg_catalog.regclass::text as table, x.relname::text as name, i.indisprimary as primary,
      (select pg_catalog.array_agg(a.attname::text order by k.n)
       from pg_catalog.unnest(i.indkey[0:i.indnkeyatts - 1]) with ordinality k (attnum, n)
       left join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum) as columns,
      pg_catalog.pg_get_indexdef(i.indexrelid) as definition
    from pg_catalog.pg_index i
    join pg_catalog.pg_class x on x.oid = i.indexrelid
    join pg_catalog.pg_class t on t.oid = i.indrelid
    where t.relnamespace in (select oid from custodian) and not t.relispartition and (i.indisunique or i.indisexclusion)
    order by 1, 2`);
  const foreignKeys = await client.query<ForeignKey>(`
    with custodian as (${custodianSchemas})
    select k.conrelid::pg_catalog.regclass::text as table, k.conname::text as name,
      k.confrelid::pg_catalog.regclass::text as referenced,
      (select pg_catalog.array_agg(a.attname::text order by u.n) from pg_catalog.unnest(k.conkey) with ordinality u (attnum, n)
       join pg_catalog.pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum) as columns,
      (select pg_catalog.array_agg(a.attname::text order by u.n) from pg_catalog.unnest(k.confkey) with ordinality u (attnum, n)
       join pg_catalog.pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum) as "referencedColumns",
      k.confdeltype::text as "onDelete", k.confupdtype::text as "onUpdate", pg_catalog.pg_get_constraintdef(k.oid) as definition
    from pg_catalog.pg_constraint k
    join pg_catalog.pg_class t on t.oid = k.conrelid
    where k.contype = 'f' and k.connamespace in (select oid from custodian) and not t.relispartition and k.conparentid = 0
    order by 1, 2`);
  const policies = await client.query<Policy>(`
    with custodian as (${custodianSchemas})
    select p.polrelid::pg_catalog.regclass::text as table, p.polname::text as name,
      pg_catalog.strpos(coalesce(p.polqual::text, '') || coalesce(p.polwithcheck::text, ''), '{SUBLINK') > 0 as "hasSubquery",
      coalesce((select pg_catalog.array_agg(distinct d.refobjid::pg_catalog.regproc::text)
                from pg_catalog.pg_depend d
                where d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass and d.objid = p.oid
                  and d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass), '{}') as functions
    from pg_catalog.pg_policy p join pg_catalog.pg_class c on c.oid = p.polrelid
    where c.relnamespace in (select oid from custodian)
    order by 1, 2`);
  const triggers = await client.query<Trigger>(`
    with custodian as (${custodianSchemas})
    select t.tgrelid::pg_catalog.regclass::text as table, t.tgname::text as name,
      t.tgfoid::pg_catalog.regproc::text as "functionName", f.prosrc as source
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_class c on c.oid = t.tgrelid
    join pg_catalog.pg_proc f on f.oid = t.tgfoid
    where c.relnamespace in (select oid from custodian) and not c.relispartition and not t.tgisinternal
    order by 1, 2`);
  const functions = await client.query<{ name: string; source: string }>(`
    with custodian as (${custodianSchemas})
    select p.oid::pg_catalog.regproc::text as name, p.prosrc as source
    from pg_catalog.pg_proc p where p.pronamespace in (select oid from custodian)`);
  return {
    tables: tables.rows,
    uniqueIndexes: uniqueIndexes.rows,
    foreignKeys: foreignKeys.rows,
    policies: policies.rows,
    triggers: triggers.rows,
    functionSources: sourcesByName(functions.rows),
  };
}

/** Each function's text by its qualified name, overloads joined (a call by name may reach any of them). */
function sourcesByName(rows: Array<{ name: string; source: string }>): Map<string, string> {
  const sources = new Map<string, string>();
  for (const row of rows) sources.set(row.name, sources.has(row.name) ? `${sources.get(row.name)}\n${row.source}` : row.source);
  return sources;
}

/**
 * The coach-owned tables: those each of whose rows belongs to one coach.
 * The root is app_public.coach_profiles (its id is the coach); a table is
 * coach-owned when it has a NOT NULL coach_profile_id, or a foreign key whose
 * columns are all NOT NULL to a coach-owned table (its rows hang off a
 * coach's rows), transitively.
 */
export function coachOwnedTables(catalog: Catalog): Map<string, string> {
  const owned = new Map<string, string>([["app_public.coach_profiles", "the root: its id is the coach"]]);
  for (const table of catalog.tables) {
    if (table.notNull.includes("coach_profile_id")) owned.set(table.name, "it has a NOT NULL coach_profile_id");
  }
  const notNull = new Map(catalog.tables.map((table) => [table.name, new Set(table.notNull)]));
  for (let grew = true; grew; ) {
    grew = false;
    for (const key of catalog.foreignKeys) {
      if (owned.has(key.table) || !owned.has(key.referenced)) continue;
      if (!key.columns.every((column) => notNull.get(key.table)?.has(column))) continue;
      owned.set(key.table, `every row references a coach-owned ${key.referenced} (${key.name})`);
      grew = true;
    }
  }
  return owned;
}

/** A function and every Custodian function its text calls by its qualified name, transitively. */
function calledFunctions(catalog: Catalog, start: string): string[] {
  const seen = new Set<string>([start]);
  const queue = [start];
  while (queue.length > 0) {
    const source = catalog.functionSources.get(queue.shift()!) ?? "";
    for (const name of catalog.functionSources.keys()) {
      if (seen.has(name) || !name.includes(".")) continue;
      if (new RegExp(`(^|[^a-z0-9_."])${name.replace(".", "\\.")}\\s*\\(`, "i").test(source)) {
        seen.add(name);
        queue.push(name);
      }
    }
  }
  return [...seen];
}

const deleteActions: Record<string, string> = { a: "NO ACTION", r: "RESTRICT", c: "CASCADE", n: "SET NULL", d: "SET DEFAULT" };

/** Every way the schema breaks a rule of the plan, in a stable order. */
export function distributionViolations(catalog: Catalog, plan: Plan): Violation[] {
  const violations: Violation[] = [];
  const add = (rule: Rule, key: string, message: string) => violations.push({ rule, key: `${rule}: ${key}`, message: `${message} [rule ${rule}]` });
  const placementOf = (table: string) => plan.placement[table]?.placement;
  const distributionColumn = (table: string) => plan.placement[table]?.column ?? "coach_profile_id";
  const isDistributed = (table: string) => placementOf(table) === "distributed";
  const tableNames = new Set(catalog.tables.map((table) => table.name));

  // Every table has a place, and the plan names no table that is gone.
  for (const table of catalog.tables) {
    if (!placementOf(table.name)) {
      add("placed", table.name, `${table.name} has no place in the distribution plan (test/schema/distribution-plan.ts, docs/scaling.md): say whether it is distributed, a reference table or kept on the coordinator`);
    }
  }
  for (const table of Object.keys(plan.placement)) {
    if (!tableNames.has(table)) add("placed", table, `the distribution plan places ${table}, which the schema does not have`);
  }

  // Coach-owned tables are distributed by the coach.
  for (const [table, why] of coachOwnedTables(catalog)) {
    if (placementOf(table) && !isDistributed(table)) {
      add("coach-owned-distributed", table, `${table} is coach-owned (${why}) but the plan keeps it as a ${placementOf(table)} table; coach-owned rows are distributed by coach_profile_id`);
    }
  }

  const rootType = catalog.tables.find((table) => table.name === "app_public.coach_profiles")?.types.id;
  for (const table of catalog.tables.filter((table) => isDistributed(table.name))) {
    const column = distributionColumn(table.name);
    if (!table.columns.includes(column)) {
      add("distribution-column", table.name, `${table.name} is distributed by ${column} but has no such column`);
    } else if (!table.notNull.includes(column)) {
      add("distribution-column", table.name, `${table.name} is distributed by ${column}, which may be null (Citus routes every row by it)`);
    } else if (table.types[column] !== rootType) {
      add("distribution-column", table.name,
        `${table.name} is distributed by ${column} of type ${table.types[column]}, but colocated tables share one type: app_public.coach_profiles.id is ${rootType}`);
    }
  }

  // Citus enforces a unique index only when the distribution column is one of its key columns.
  for (const index of catalog.uniqueIndexes.filter((index) => isDistributed(index.table))) {
    const column = distributionColumn(index.table);
    if (index.columns.includes(column)) continue;
    const rule: Rule = index.primary ? "primary-key" : "unique";
    add(rule, `${index.table} ${index.name}`,
      `${index.table}: ${index.primary ? "primary key" : "unique index"} ${index.name} (${index.columns.map((c) => c ?? "an expression").join(", ")}) does not include the distribution column ${column}`);
  }

  for (const key of catalog.foreignKeys) {
    const from = placementOf(key.table);
    const to = placementOf(key.referenced);
    if (!from || !to) continue;
    const where = `${key.table}: foreign key ${key.name} (${key.definition})`;
    if (from === "distributed" && to === "distributed") {
      // Colocated tables may reference each other only through the distribution column, in the same position.
      const position = key.columns.indexOf(distributionColumn(key.table));
      if (position < 0 || key.referencedColumns[position] !== distributionColumn(key.referenced)) {
        add("foreign-key-colocated", `${key.table} ${key.name}`,
          `${where} joins two distributed tables without pairing ${key.table}.${distributionColumn(key.table)} with ${key.referenced}.${distributionColumn(key.referenced)}`);
        continue;
      }
    }
    if (from === "distributed" && key.columns.includes(distributionColumn(key.table))) {
      // Citus refuses actions that would rewrite the distribution column.
      const badDelete = key.onDelete === "n" || key.onDelete === "d";
      const badUpdate = key.onUpdate === "n" || key.onUpdate === "d" || key.onUpdate === "c";
      if (badDelete || badUpdate) {
        add("foreign-key-action", `${key.table} ${key.name}`,
          `${where} includes the distribution column and says ${badDelete ? `ON DELETE ${deleteActions[key.onDelete]}` : `ON UPDATE ${deleteActions[key.onUpdate]}`}, which Citus refuses`);
      }
    }
    if (from !== "distributed" && to === "distributed") {
      add("foreign-key-to-distributed", `${key.table} ${key.name}`, `${where}: a ${from} table may not reference the distributed ${key.referenced}`);
    }
    if (from !== "coordinator" && to === "coordinator") {
      add("foreign-key-to-coordinator", `${key.table} ${key.name}`, `${where}: a ${from} table may reference only reference tables, not ${key.referenced}, which stays on the coordinator`);
    }
  }

  const distributedNames = catalog.tables.filter((table) => isDistributed(table.name)).map((table) => table.name);
  const coordinatorNames = catalog.tables.filter((table) => placementOf(table.name) === "coordinator").map((table) => table.name);
  const mentions = (source: string, tables: string[]) =>
    tables.filter((table) => new RegExp(`(^|[^a-z0-9_."])${table.replace(".", "\\.")}($|[^a-z0-9_])`, "i").test(source));

  for (const policy of catalog.policies.filter((policy) => isDistributed(policy.table))) {
    if (policy.hasSubquery) {
      add("policy-subquery", `${policy.table} ${policy.name}`, `${policy.table}: policy ${policy.name} has a subquery; Citus refuses any subquery in a policy on a distributed table`);
    }
    for (const fn of policy.functions) {
      const read = mentions(catalog.functionSources.get(fn) ?? "", distributedNames);
      if (read.length > 0) {
        add("policy-function", `${policy.table} ${policy.name} ${fn}`,
          `${policy.table}: policy ${policy.name} calls ${fn}, which reads the distributed ${read.join(", ")}: on a shard that is a distributed query from a query on a shard, which Citus refuses`);
      }
    }
  }

  // A shard's or a reference table's trigger fires on a worker, which holds
  // no coordinator-only table: neither its function nor any Custodian
  // function it calls, by name, may name one. And a shard's trigger may not
  // write a reference table: that is a write to every node, from a shard.
  const referenceNames = catalog.tables.filter((table) => placementOf(table.name) === "reference").map((table) => table.name);
  const writes = (source: string, tables: string[]) =>
    tables.filter((table) => new RegExp(`(insert\\s+into|update|delete\\s+from)\\s+${table.replace(".", "\\.")}($|[^a-z0-9_])`, "i").test(source));
  const tracked = new Set<string>();
  for (const trigger of catalog.triggers.filter((trigger) => placementOf(trigger.table) === "distributed" || placementOf(trigger.table) === "reference")) {
    const reached = new Map<string, string>();
    const written = new Map<string, string>();
    for (const fn of calledFunctions(catalog, trigger.functionName)) {
      const source = catalog.functionSources.get(fn) ?? "";
      const through = (table: string) => (fn === trigger.functionName ? table : `${table} (through ${fn})`);
      for (const table of mentions(source, coordinatorNames)) if (!reached.has(table)) reached.set(table, through(table));
      for (const table of writes(source, referenceNames)) if (!written.has(table)) written.set(table, through(table));
    }
    const where = `${trigger.table}: trigger ${trigger.name} (${trigger.functionName})`;
    if (reached.size > 0) {
      add("trigger-reaches-coordinator", `${trigger.table} ${trigger.name}`,
        `${where} reaches ${[...reached.values()].join(", ")}, kept on the coordinator, yet fires on the worker holding the ${placementOf(trigger.table)} table's placement`);
    }
    if (placementOf(trigger.table) === "distributed" && written.size > 0) {
      add("trigger-writes-reference", `${trigger.table} ${trigger.name}`,
        `${where} writes the reference table ${[...written.values()].join(", ")}: from a shard, a write to every node, which Citus refuses as a distributed query from a query on a shard`);
    }
    if (placementOf(trigger.table) === "reference" && trigger.functionName.startsWith("audit.capture_")) tracked.add(trigger.table);
  }
  for (const table of tracked) {
    add("reference-audit", table,
      `${table} is audit-tracked (audit.enable_tracking), and a reference table's triggers fire on every node's copy: each write would be recorded once per node`);
  }

  return violations.sort((a, b) => a.key.localeCompare(b.key));
}
