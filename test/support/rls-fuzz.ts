import crypto from "node:crypto";
import type pg from "pg";
import { custodianSchemas } from "./catalog.ts";
import { becomeRoot, becomeUser } from "./db.ts";
import { createAttempt, createCoach, createUser, PASSWORD, type Coach, type User } from "./fixtures.ts";

/**
 * The row-level security fuzz's generators: what each role can reach (read
 * from the catalog, so a new table, view or function is fuzzed without
 * being listed), a victim coach with rows in every place a coach's data can
 * go, and the victim's rows as the superuser sees them.
 */

export type FuzzRole = "coach" | "admin" | "auditor" | "anonymous";
export const fuzzRoles: FuzzRole[] = ["coach", "admin", "auditor", "anonymous"];

type Queryable = pg.ClientBase | pg.Pool;

/** Coach B: a coach with rows everywhere, a tag in their texts, and the keys of those rows (found by reference). */
export interface Victim {
  coach: Coach;
  tag: string;
  /** Every key of a row of B's (uuids), and B's tag: a row holding one of these is B's. */
  markers: string[];
  /** A rated usage event and an audit event of B's (for functions that take a bigint id). */
  usageEventId: string;
  auditEventId: string;
  requestId: string;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** A POSIX regular expression matching any of the markers, for `to_jsonb(row)::text ~ $1`. */
export const markerPattern = (markers: string[]) => markers.map(escapeRegex).join("|");

/**
 * Plants coach B (as superuser): a profile, a client with consent, a session
 * and a soft-deleted one, a rated attempt and a pending one, a data-subject
 * request with an export, a processing restriction, a legal hold, a session
 * token and its sign-in, and the audit events all of these write.
 */
export async function plantVictim(client: Queryable): Promise<Victim> {
  const tag = `fuzzb${crypto.randomBytes(5).toString("hex")}`;
  const coach = await createCoach(client, tag);
  await client.query("insert into app_public.usage_events overriding system value select * from app_private.price_usage_records($1)", [coach.profileId]);
  // A second attempt, left pending in the rating queue.
  await createAttempt(client, coach, { status: "failed", seconds: 60, finishedAt: "2026-11-02T11:00:00Z", provider: "deepgram", model: "nova-2" });
  const { rows: [deleted] } = await client.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, $2, '2026-11-02T10:00:00Z', 'recordings/fuzz.m4a', 600) returning id`, [coach.clientId, `Deleted ${tag}`]);
  await client.query("delete from app_public.coaching_sessions where id = $1", [deleted.id]);
  const { rows: [request] } = await client.query(
    "insert into app_public.data_subject_requests (kind, client_id) values ('access', $1) returning id", [coach.clientId]);
  await client.query("update app_public.data_subject_requests set state = 'verified', verification = $2 where id = $1", [request.id, `Checked ${tag}`]);
  await client.query("insert into app_public.data_subject_exports (request_id) values ($1)", [request.id]);
  const { rows: [restriction] } = await client.query(
    "insert into app_public.data_subject_requests (kind, client_id) values ('restriction', $1) returning id", [coach.clientId]);
  await client.query("update app_public.data_subject_requests set state = 'verified', verification = $2 where id = $1", [restriction.id, `Checked ${tag}`]);
  await client.query("insert into app_public.processing_restrictions (request_id, reason) values ($1, $2)", [restriction.id, `Contested ${tag}`]);
  await client.query("insert into app_public.legal_holds (coach_profile_id, reason) values ($1, $2)", [coach.profileId, `Dispute ${tag}`]);
  await client.query("select app_public.authenticate($1, $2)", [coach.user.email, PASSWORD]);

  const markers = await victimMarkers(client, [tag, coach.user.id, coach.profileId]);
  const { rows: [ids] } = await client.query(
    `select (select max(id)::text from app_public.usage_events where coach_profile_id = $1) as usage_event_id,
            (select max(id)::text from audit.events where record_key ->> 'id' = $2::text) as audit_event_id`,
    [coach.profileId, coach.clientId]);
  return { coach, tag, markers, usageEventId: ids.usage_event_id, auditEventId: ids.audit_event_id, requestId: request.id };
}

/** Every table in Custodian's schemas (partitioned parents, not their partitions). */
async function allTables(client: Queryable): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(`
    with custodian as (${custodianSchemas})
    select pg_catalog.format('%I.%I', n.nspname, c.relname) as name
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace in (select oid from custodian) and c.relkind in ('r', 'p') and not c.relispartition order by 1`);
  return rows.map((row) => row.name);
}

/**
 * The rows that hold a marker, by table, each as its JSON text, sorted: what
 * a superuser sees of B (or of anyone, given their markers). Rows written by
 * the test's own transaction only, so other test files' data is not read.
 */
export async function rowsHolding(client: Queryable, markers: string[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const pattern = markerPattern(markers);
  const since = await transactionStart(client);
  // Another file may drop a table meanwhile (one it made for its test): it
  // held nothing of this test's. In a transaction, a savepoint keeps the
  // transaction alive past the refusal.
  const inTransaction = !("totalCount" in client);
  for (const table of await allTables(client)) {
    if (inTransaction) await client.query("savepoint rows_holding");
    try {
      const { rows } = await client.query<{ row: string }>(
        `select to_jsonb(x)::text as row from ${table} x where x.xmin::text::bigint >= $2::bigint and to_jsonb(x)::text ~ $1 order by 1`,
        [pattern, since]);
      if (inTransaction) await client.query("release savepoint rows_holding");
      if (rows.length > 0) found.set(table, rows.map((row) => row.row));
    } catch (error) {
      if ((error as { code?: string }).code !== "42P01") throw error;
      if (inTransaction) await client.query("rollback to savepoint rows_holding");
    }
  }
  return found;
}

/** The oldest transaction id this test's transaction can have written with (its own, or a savepoint's). */
async function transactionStart(client: Queryable): Promise<string> {
  // A row's xmin is the 32-bit transaction id, without the epoch pg_current_xact_id carries.
  const { rows } = await client.query("select pg_catalog.pg_current_xact_id()::text::bigint % 4294967296 as xid");
  return String(startXid.get(client) ?? (startXid.set(client, rows[0].xid), rows[0].xid));
}
const startXid = new WeakMap<Queryable, string>();

/** Marks where the test's transaction starts: rows it wrote have a transaction id from here on. Call first. */
export async function markTransactionStart(client: Queryable): Promise<void> {
  startXid.delete(client);
  await transactionStart(client);
}

/** The markers (keys and texts of one person), grown by the uuid key of every row that holds one, until no more are found. */
export async function victimMarkers(client: Queryable, seed: string[]): Promise<string[]> {
  const markers = new Set(seed);
  for (;;) {
    const before = markers.size;
    for (const rows of (await rowsHolding(client, [...markers])).values()) {
      for (const row of rows) {
        const id = (JSON.parse(row) as { id?: unknown }).id;
        if (typeof id === "string" && /^[0-9a-f-]{36}$/.test(id)) markers.add(id);
      }
    }
    if (markers.size === before) return [...markers];
  }
}

/** The differences between two fingerprints of rowsHolding, as "table: n rows added/removed/changed". */
export function fingerprintChanges(before: Map<string, string[]>, after: Map<string, string[]>, ignored: string[] = []): string[] {
  const changes: string[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    if (ignored.includes(table)) continue;
    const was = new Set(before.get(table) ?? []);
    const is = new Set(after.get(table) ?? []);
    const gone = [...was].filter((row) => !is.has(row));
    const added = [...is].filter((row) => !was.has(row));
    if (gone.length + added.length > 0) changes.push(`${table}: ${gone.length} rows gone or changed, ${added.length} new or changed (${[...added, ...gone][0]!.slice(0, 300)})`);
  }
  return changes;
}

/**
 * Tables the system rewrites for every coach on its own, which other test
 * files' committed work changes while an HTTP fuzz runs (the daily rollups
 * and the per-coach day sums are rebuilt for every coach with usage on a
 * dirty day).
 */
export const rebuiltForEveryCoach = ["app_public.usage_daily", "app_private.usage_coach_daily"];

/**
 * Rates every pending usage record now (as the worker would), so that
 * another test file's rating run cannot change committed fixture coaches'
 * rows while an HTTP fuzz compares them.
 */
export async function rateEverythingPending(client: Queryable): Promise<void> {
  await client.query("select * from app_private.rate_usage_records(null)");
}

/** The actors of the fuzz: coach A, coach B, an admin and an auditor. */
export interface FuzzWorld {
  a: Coach;
  admin: User;
  auditor: User;
}

export async function plantActors(client: Queryable): Promise<FuzzWorld> {
  return { a: await createCoach(client, "fuzz-a"), admin: await createUser(client, "admin"), auditor: await createUser(client, "auditor") };
}

export async function becomeRole(client: pg.ClientBase, world: FuzzWorld, role: FuzzRole): Promise<void> {
  const user = role === "coach" ? world.a.user : role === "admin" ? world.admin : role === "auditor" ? world.auditor : null;
  await becomeUser(client, user);
}

export interface ReachableRelation {
  name: string;
  kind: string;
  canSelect: boolean;
  canDelete: boolean;
  /** Columns the role may update / insert (empty: none). */
  updatable: string[];
  insertable: string[];
  /** Every column that can be written at all (not generated), for attempts the role has no grant for. */
  columns: string[];
}

/** Every table, view and foreign table in the schemas the role may use, with the role's privileges on it. */
export async function reachableRelations(client: Queryable, role: FuzzRole): Promise<ReachableRelation[]> {
  const { rows } = await client.query<ReachableRelation>(`
    with custodian as (${custodianSchemas})
    select c.oid::regclass::text as name, c.relkind::text as kind,
      pg_catalog.has_any_column_privilege($1, c.oid, 'SELECT') as "canSelect",
      pg_catalog.has_table_privilege($1, c.oid, 'DELETE') as "canDelete",
      coalesce(pg_catalog.array_agg(a.attname::text order by a.attnum) filter (where pg_catalog.has_column_privilege($1, c.oid, a.attnum, 'UPDATE')), '{}') as updatable,
      coalesce(pg_catalog.array_agg(a.attname::text order by a.attnum) filter (where pg_catalog.has_column_privilege($1, c.oid, a.attnum, 'INSERT')), '{}') as insertable,
      coalesce(pg_catalog.array_agg(a.attname::text order by a.attnum) filter (where a.attgenerated = '' and a.attidentity = ''), '{}') as columns
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where c.relnamespace in (select oid from custodian) and pg_catalog.has_schema_privilege($1, n.oid, 'USAGE')
      and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
    group by c.oid order by 1`, [`custodian_${role}`]);
  return rows;
}

export interface ReachableFunction {
  signature: string;
  /** schema.name, quoted as needed. */
  name: string;
  volatility: "i" | "s" | "v";
  argNames: string[];
  argTypes: string[];
  defaults: number;
}

/** Every function the role may execute in the schemas it may use (not trigger or event trigger functions, not aggregates). */
export async function reachableFunctions(client: Queryable, role: FuzzRole): Promise<ReachableFunction[]> {
  const { rows } = await client.query<ReachableFunction>(`
    with custodian as (${custodianSchemas})
    select p.oid::regprocedure::text as signature,
      pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) as name,
      p.provolatile::text as volatility, p.pronargdefaults as defaults,
      (select coalesce(pg_catalog.array_agg(coalesce(p.proargnames[i], '') order by i), '{}')
       from pg_catalog.generate_series(1, coalesce(pg_catalog.cardinality(p.proallargtypes), p.pronargs)) i
       where p.proargmodes is null or p.proargmodes[i] in ('i', 'b', 'v')) as "argNames",
      (select coalesce(pg_catalog.array_agg(pg_catalog.format_type(t, null) order by o), '{}')
       from pg_catalog.unnest(p.proargtypes::oid[]) with ordinality u(t, o)) as "argTypes"
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where p.pronamespace in (select oid from custodian) and p.prokind = 'f'
      and pg_catalog.has_schema_privilege($1, n.oid, 'USAGE') and pg_catalog.has_function_privilege($1, p.oid, 'EXECUTE')
      and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
    order by 1`, [`custodian_${role}`]);
  return rows;
}

/** What a probe gave: its rows as JSON text, or its error's code and message. */
export type Outcome = { ok: string } | { error: string; message: string };

/** Runs a statement in a savepoint, rolled back after (a probe leaves nothing behind), and returns what it gave. */
export async function probe(client: Queryable, sql: string, values: unknown[] = [], keep = false): Promise<Outcome & { rowCount?: number }> {
  await client.query("savepoint probe");
  try {
    const result = await client.query(sql, values);
    await client.query(keep ? "release savepoint probe" : "rollback to savepoint probe");
    return { ok: JSON.stringify(result.rows), rowCount: result.rowCount ?? 0 };
  } catch (error) {
    await client.query("rollback to savepoint probe");
    const { code, message } = error as { code?: string; message: string };
    if (!code) throw error; // not PostgreSQL's answer: a bug in the test
    return { error: code, message };
  }
}

/** The values the fuzz passes to functions, per argument. */
export interface ArgumentPool {
  victim: Victim;
  /** B's rows by table, as JSON text (for functions that take a row). */
  victimRows: Map<string, string[]>;
  /** B's sealed personal data as the audit trail keeps it (for functions that reveal it). */
  sealedValues: string | null;
  attacker: Coach;
}

/** A value and the SQL expression that passes it as parameter $n. */
interface Candidate {
  value: unknown;
  cast: (n: number) => string;
}

const typed = (type: string) => (value: unknown): Candidate => ({ value, cast: (n) => `$${n}::${type}` });

/**
 * The values tried for one argument, the first being the one used while
 * another argument varies; named after what it takes where the name says so.
 * Null when the fuzz has no generator for the type (the function must then
 * be listed with a reason).
 */
export function candidatesFor(name: string, type: string, pool: ArgumentPool): Candidate[] | null {
  const b = pool.victim.coach;
  const as = typed(type);
  switch (type) {
    case "uuid": {
      const byName: Array<[RegExp, string[]]> = [
        [/coach_profile|only_coach/, [b.profileId]],
        [/client/, [b.clientId]],
        [/session/, [b.sessionId]],
        [/transcription/, [b.transcriptionId]],
        [/request/, [pool.victim.requestId]],
        [/owner/, [pool.attacker.profileId, b.profileId]],
        [/subject|user|actor/, [b.clientId, b.user.id]],
      ];
      const ids = byName.find(([pattern]) => pattern.test(name))?.[1] ?? [b.profileId, b.clientId, b.sessionId, b.transcriptionId, b.user.id, pool.victim.requestId];
      return [...ids, null].map(as);
    }
    case "date":
      return [as(/to|before|until/.test(name) ? "2029-12-01" : "2020-01-01")];
    case "timestamp with time zone":
      return [as(/from|before/.test(name) ? null : "2029-06-01T00:00:00Z")];
    case "text":
    case "citext": {
      if (/table/.test(name)) return ["clients", "coaching_sessions", "app_public.coach_profiles", null].map(as);
      if (/term|search/.test(name)) return [as(pool.victim.tag), as(null)];
      if (/email/.test(name)) return [as(b.user.email)];
      if (/password/.test(name)) return [as("not the password 1")];
      if (/granularity/.test(name)) return [as("day")];
      if (/column/.test(name)) return [as("full_name")];
      if (/^name$/.test(name)) return [as("UTC")];
      return [as(null), as(pool.victim.tag)];
    }
    case "jsonb":
      if (/key/.test(name)) return [as(JSON.stringify({ id: b.clientId })), as(JSON.stringify(b.clientId))];
      if (/row/.test(name)) return [as(pool.victimRows.get("app_public.clients")?.[0] ?? null)];
      return [as(pool.sealedValues), as(JSON.stringify({ id: b.clientId }))];
    case "bigint":
      return [as(/event/.test(name) && !/usage/.test(name) ? pool.victim.auditEventId : pool.victim.usageEventId), as(pool.victim.usageEventId)];
    case "integer":
    case "smallint":
      return [as(10)];
    case "boolean":
      return [as(true), as(false)];
    case "regclass":
      return [as("app_public.clients")];
    default: {
      // An array (the analytics' pending rollup rows, say): none, so that what
      // comes back is what the caller may read of the stored rows.
      if (type.endsWith("[]")) return [as("{}")];
      const rows = pool.victimRows.get(type);
      if (rows) return rows.slice(0, 2).map((row) => ({ value: row, cast: (n) => `pg_catalog.jsonb_populate_record(null::${type}, $${n}::jsonb)` }));
      return null;
    }
  }
}

/** An enum's labels, or null when the type is not an enum. */
export async function enumLabels(client: Queryable, type: string): Promise<string[] | null> {
  const { rows } = await client.query<{ labels: string[] | null }>(
    "select (select pg_catalog.array_agg(e.enumlabel::text order by e.enumsortorder) from pg_catalog.pg_enum e where e.enumtypid = $1::regtype) as labels", [type]);
  return rows[0]!.labels;
}

export interface Call {
  label: string;
  sql: string;
  values: unknown[];
}

/**
 * The calls of a function the fuzz makes: every argument at its first
 * candidate, then each argument through its other candidates in turn (not
 * every combination: a few calls per function). Null when an argument has
 * no generator.
 */
export async function callsOf(client: Queryable, fn: ReachableFunction, pool: ArgumentPool): Promise<Call[] | null> {
  const perArgument: Candidate[][] = [];
  for (const [i, type] of fn.argTypes.entries()) {
    const labels = await enumLabels(client, type);
    const candidates = labels ? labels.slice(0, 3).map(typed(type)) : candidatesFor(fn.argNames[i] ?? "", type, pool);
    if (!candidates) return null;
    perArgument.push(candidates);
  }
  const tuples: number[][] = [perArgument.map(() => 0)];
  perArgument.forEach((candidates, i) => {
    for (let c = 1; c < candidates.length; c++) tuples.push(perArgument.map((_, j) => (j === i ? c : 0)));
  });
  return tuples.map((tuple) => {
    const chosen = tuple.map((c, i) => perArgument[i]![c]!);
    return {
      label: `${fn.signature} with (${chosen.map((candidate) => JSON.stringify(candidate.value)?.slice(0, 60)).join(", ")})`,
      sql: `select coalesce(pg_catalog.jsonb_agg(to_jsonb(r) order by to_jsonb(r)::text), '[]')::text as out
            from ${fn.name}(${chosen.map((candidate, i) => candidate.cast(i + 1)).join(", ")}) r`,
      values: chosen.map((candidate) => candidate.value),
    };
  });
}

export { becomeRoot };
