// The exact accounting after a load (or after a fault and a restart): what the
// clients saw acknowledged (the ledger) against what the database holds. Every
// acknowledged write has exactly its audit events, of its kind, on its record;
// every acknowledged terminal attempt exactly one rated charge and nothing left
// to rate; every acknowledged credit its event; reconcile lists nothing over the
// load's days; each invoice as it stands equals the sum of its events; the
// hash chain verifies. Run it once the worker has rated, rolled up and sealed.
import type pg from "pg";
import type { Ledger, Write } from "./ledger.ts";

export interface AccountingScope {
  /** The load's days, from inclusive, to exclusive (UTC dates). */
  from: string;
  to: string;
  /** The billing month whose invoices are checked (its first day). */
  month: string;
  /** The coaches whose invoices are checked. */
  coachProfileIds: string[];
  /** An admin to read reconcile and the invoices as (both are for staff). */
  adminUserId: string;
}

export interface Accounting {
  lost_audit_events: number;
  /** Events on acknowledged records beyond what was acknowledged or left in doubt. */
  unexpected_audit_events: number;
  /** Expected audit events per table and kind, as counted from the acknowledged writes. */
  audit_events_expected: Record<string, number>;
  /** Per table and kind where the count differs: lost (acknowledged, missing) and unexpected (there, never acknowledged). */
  audit_mismatches: Record<string, { lost: number; unexpected: number }>;
  /** Events written by the erasures' transactions (the blanking), left out of the per-record count. */
  erasure_events: number;
  lost_erasures: number;
  lost_usage_events: number;
  duplicate_usage_events: number;
  unrated_usage_records: number;
  terminal_attempts: number;
  credits: number;
  reconcile_differences: number;
  reconcile_by_check: Record<string, number>;
  invoice_differences: number;
  invoices_checked: number;
  retention_runs: { requested: number; finished: number };
  /** The erasures asked of the worker: how many erased, and the longest run's own seconds (its residue scan reads every event). */
  erasure_runs: { requested: number; erased: number; longest_seconds: number | null };
  chain: { intact: boolean; events_verified: number; events_unsealed: number; problem: string | null };
}

/** Loads the ledger's writes into temporary tables on this connection. */
async function loadLedger(client: pg.ClientBase, ledger: Ledger): Promise<void> {
  await client.query(`create temporary table if not exists load_acknowledged (table_name text, id text, operation text) on commit preserve rows;
    create temporary table if not exists load_in_doubt (table_name text, id text, operation text) on commit preserve rows;
    truncate load_acknowledged, load_in_doubt`);
  // An insert left in doubt has no id to look for: it is neither owed nor counted.
  const doubted = ledger.inDoubt.filter((write): write is Write => write.id !== undefined);
  for (const [table, writes] of [["load_acknowledged", ledger.acknowledged], ["load_in_doubt", doubted]] as const) {
    await client.query(`insert into ${table} select * from unnest($1::text[], $2::text[], $3::text[])`,
      [writes.map((w) => w.table), writes.map((w) => w.id), writes.map((w) => w.operation)]);
  }
  await client.query("analyze load_acknowledged; analyze load_in_doubt");
}

/** Audit events owed by the acknowledged writes against those there: lost, unexpected, per table and kind. */
export async function auditAccounting(client: pg.ClientBase, ledger: Ledger) {
  await loadLedger(client, ledger);
  // The erasures' transactions blank the erased person's rows: their events
  // are the erasure's, counted apart, found by the erasure record's own event
  // (the record a run names once the worker has run it).
  const { rows: [erasures] } = await client.query(
    `select coalesce(array_agg(e.transaction_id::text), '{}') as transactions, count(*)::int as found
     from app_public.data_subject_erasure_runs r
     join audit.events e on e.record_key = jsonb_build_object('id', r.erasure_id) and e.table_schema = 'app_public'
       and e.table_name = 'data_subject_erasures' and e.operation = 'INSERT'
     where r.id = any($1::uuid[])`, [ledger.erasureRuns]);
  const { rows } = await client.query(
    `with records as (select distinct table_name, id from load_acknowledged union select distinct table_name, id from load_in_doubt),
     expected as (select table_name, id, operation, count(*)::int as n from load_acknowledged group by 1, 2, 3),
     doubted as (select table_name, id, operation, count(*)::int as n from load_in_doubt group by 1, 2, 3),
     actual as (
       select r.table_name, r.id, e.operation::text as operation, count(*)::int as n
       from records r
       join audit.events e on e.record_key = jsonb_build_object('id', r.id) and e.table_schema = 'app_public' and e.table_name = r.table_name
       where e.transaction_id::text <> all($1::text[]) or r.table_name = 'data_subject_erasures'
       group by 1, 2, 3)
     select table_name, operation,
       sum(coalesce(x.n, 0))::int as expected,
       sum(greatest(coalesce(x.n, 0) - coalesce(a.n, 0), 0))::int as lost,
       sum(greatest(coalesce(a.n, 0) - coalesce(x.n, 0) - coalesce(d.n, 0), 0))::int as unexpected
     from expected x
     full join actual a using (table_name, id, operation)
     left join doubted d using (table_name, id, operation)
     group by 1, 2 order by 1, 2`, [erasures.transactions]);
  const { rows: [erasureEvents] } = await client.query(
    "select count(*)::int as n from audit.events where transaction_id::text = any($1::text[])", [erasures.transactions]);
  return {
    lost: rows.reduce((sum, row) => sum + row.lost, 0) as number,
    unexpected: rows.reduce((sum, row) => sum + row.unexpected, 0) as number,
    expected: Object.fromEntries(rows.filter((row) => row.expected > 0).map((row) => [`${row.table_name} ${row.operation}`, row.expected])) as Record<string, number>,
    mismatches: Object.fromEntries(rows.filter((row) => row.lost > 0 || row.unexpected > 0)
      .map((row) => [`${row.table_name} ${row.operation}`, { lost: row.lost, unexpected: row.unexpected }])) as Record<string, { lost: number; unexpected: number }>,
    erasureEvents: erasureEvents.n as number,
    lostErasures: ledger.erasureRuns.length - (erasures.found as number),
  };
}

/** Rated charges owed by the acknowledged terminal attempts and credits: lost, duplicated, and records left unrated. */
export async function usageAccounting(client: pg.ClientBase, ledger: Ledger) {
  const { rows: [attempts] } = await client.query(
    `select count(*) filter (where n = 0)::int as lost, count(*) filter (where n > 1)::int as duplicated
     from (select (select count(*) from app_public.usage_events e where e.transcription_id = t.id and e.kind = 'attempt') as n
           from unnest($1::uuid[]) t(id)) x`, [ledger.terminalAttempts]);
  const { rows: [credits] } = await client.query(
    `select count(*) filter (where not exists (select from app_public.usage_events e where e.id = c.id))::int as lost
     from unnest($1::bigint[]) c(id)`, [ledger.credits]);
  const { rows: [unrated] } = await client.query("select count(*)::int as n from app_private.usage_records");
  return { lost: (attempts.lost as number) + (credits.lost as number), duplicated: attempts.duplicated as number, unrated: unrated.n as number };
}

/** Runs `work` acting as an admin, in a transaction rolled back afterwards. */
async function asAdmin<T>(client: pg.ClientBase, adminUserId: string, work: () => Promise<T>): Promise<T> {
  await client.query("begin");
  try {
    await client.query(
      `select set_config('role', 'custodian_admin', true), set_config('jwt.claims.user_id', $1, true), set_config('jwt.claims.role', 'admin', true)`,
      [adminUserId]);
    return await work();
  } finally {
    await client.query("rollback");
  }
}

async function reconcileAccounting(client: pg.ClientBase, scope: AccountingScope) {
  const { rows } = await asAdmin(client, scope.adminUserId, () => client.query(
    "select check_name, count(*)::int as n from app_public.usage_reconcile($1::date, $2::date) group by 1 order by 1", [scope.from, scope.to]));
  return Object.fromEntries(rows.map((row) => [row.check_name as string, row.n as number])) as Record<string, number>;
}

async function invoiceAccounting(client: pg.ClientBase, scope: AccountingScope) {
  // The preview as an admin reads it, against the sum of the month's events,
  // read by the owner (every event, no row-level security in the way).
  const { rows: previews } = await asAdmin(client, scope.adminUserId, () => client.query(
    `select coach_profile_id::text, usage_minor::bigint::text, credits_minor::bigint::text, plan_fee_minor::bigint::text, total_minor::bigint::text
     from app_public.invoice_preview(null, $1::date) where coach_profile_id = any($2::uuid[])`, [scope.month, scope.coachProfileIds]));
  const { rows: sums } = await client.query(
    `select coach_profile_id::text,
       coalesce(sum(amount_minor) filter (where kind = 'attempt'), 0)::text as usage_minor,
       coalesce(sum(amount_minor) filter (where kind <> 'attempt'), 0)::text as credits_minor
     from app_public.usage_events where billing_month = $1::date and coach_profile_id = any($2::uuid[]) group by 1`,
    [scope.month, scope.coachProfileIds]);
  const byCoach = new Map(sums.map((row) => [row.coach_profile_id as string, row]));
  let differences = 0;
  for (const invoice of previews) {
    const sum = byCoach.get(invoice.coach_profile_id) ?? { usage_minor: "0", credits_minor: "0" };
    const total = BigInt(invoice.plan_fee_minor) + BigInt(sum.usage_minor) + BigInt(sum.credits_minor);
    if (invoice.usage_minor !== sum.usage_minor || invoice.credits_minor !== sum.credits_minor || BigInt(invoice.total_minor) !== total) differences++;
  }
  // A coach with events this month and no invoice is a difference too.
  differences += [...byCoach.keys()].filter((id) => !previews.some((invoice) => invoice.coach_profile_id === id)).length;
  return { differences, checked: previews.length };
}

/** Erasure runs requested (acknowledged) against those the worker ran to an erasure, and how long the longest took. */
async function erasureRunAccounting(client: pg.ClientBase, ledger: Ledger) {
  const { rows: [runs] } = await client.query(
    "select count(erasure_id)::int as erased, max(seconds)::float8 as longest from app_public.data_subject_erasure_runs where id = any($1::uuid[])",
    [ledger.erasureRuns]);
  return { requested: ledger.erasureRuns.length, erased: runs.erased as number, longest_seconds: runs.longest as number | null };
}

/** Retention runs requested (acknowledged) against those the worker finished, started by that admin. */
async function retentionAccounting(client: pg.ClientBase, ledger: Ledger, adminUserId: string) {
  const { rows: [runs] } = await client.query(
    "select count(*)::int as n from app_public.retention_runs where started_by = $1 and dry_run and status = 'finished'", [adminUserId]);
  return { requested: ledger.retentionJobs.length, finished: runs.n as number };
}

async function chainAccounting(client: pg.ClientBase) {
  const { rows: [chain] } = await client.query(
    "select intact, events_verified::int, coalesce(events_unsealed, 0)::int as events_unsealed, problem from audit.verify_chain()");
  return { intact: chain.intact as boolean, events_verified: chain.events_verified as number, events_unsealed: chain.events_unsealed as number, problem: chain.problem as string | null };
}

/** The whole accounting, on an owner connection outside any transaction. */
export async function account(client: pg.ClientBase, ledger: Ledger, scope: AccountingScope): Promise<Accounting> {
  const audit = await auditAccounting(client, ledger);
  const usage = await usageAccounting(client, ledger);
  const reconcile = await reconcileAccounting(client, scope);
  const invoices = await invoiceAccounting(client, scope);
  return {
    lost_audit_events: audit.lost + audit.lostErasures,
    unexpected_audit_events: audit.unexpected,
    audit_events_expected: audit.expected,
    audit_mismatches: audit.mismatches,
    erasure_events: audit.erasureEvents,
    lost_erasures: audit.lostErasures,
    lost_usage_events: usage.lost,
    duplicate_usage_events: usage.duplicated,
    unrated_usage_records: usage.unrated,
    terminal_attempts: ledger.terminalAttempts.length,
    credits: ledger.credits.length,
    reconcile_differences: Object.values(reconcile).reduce((sum, n) => sum + n, 0),
    reconcile_by_check: reconcile,
    invoice_differences: invoices.differences,
    invoices_checked: invoices.checked,
    retention_runs: await retentionAccounting(client, ledger, scope.adminUserId),
    erasure_runs: await erasureRunAccounting(client, ledger),
    chain: await chainAccounting(client),
  };
}
