import type pg from "pg";
import type { ArchiveStore } from "../archive/store.ts";
import { UserError } from "../errors.ts";
import { archiveThenRemove, resumePendingArchives, type ArchivingContext } from "./archive-batch.ts";
import { archiveExpiredAuditPartitions } from "./audit-partitions.ts";
import { runRefusals, type RetentionPolicy, type RunPolicyRow, type RunRow } from "./policy.ts";
import { inRunTransaction, type Attribution } from "./transaction.ts";

export interface RetentionRunOptions {
  /** One policy, or null for every enabled policy. */
  policy: string | null;
  dryRun: boolean;
  /** The instant periods are judged at; null for the database's now. */
  asOf: Date | null;
  /** What starts it, for the run log: "worker retention_run", "custodian retention run". */
  task: string;
  startedBy?: string | null;
  /** Rows per transaction (a few thousand: writers never wait long). */
  batchSize?: number;
  /** Rows per archive (default five batches): fewer, larger archives, still removed batchSize rows per transaction. */
  archiveBatchSize?: number;
  attribute?: Attribution;
  progress?: RunProgress;
  /** Called between an archive's verification and its rows' removal (tests stop a run there). */
  afterArchiveVerified?: (archiveId: string) => Promise<void>;
}

export interface RunProgress {
  policyStarted(policy: RetentionPolicy, rowsDue: number): void;
  rowsDone(count: number): void;
  policyFinished(row: RunPolicyRow): void;
}

export interface RunSummary {
  run: RunRow;
  policies: RunPolicyRow[];
}

/**
 * A retention run: every enabled policy (or the one named) at one instant, in
 * the order app_private.retention_policies_in_run_order gives, each batch in
 * its own transaction, recorded in the run log. A policy that fails is
 * recorded and the others go on. Never two at once: the database refuses the
 * second with the running one's id. The archive store is checked before
 * anything is deleted.
 */
export async function runRetention(client: pg.ClientBase, store: ArchiveStore, options: RetentionRunOptions): Promise<RunSummary> {
  const { attribute } = options;
  let run: RunRow;
  try {
    run = await inRunTransaction(client, attribute, async () => (await client.query<RunRow>(
      "select * from app_private.start_retention_run($1, $2, coalesce($3::timestamptz, pg_catalog.now()), $4, $5)",
      [options.policy, options.dryRun, options.asOf, options.task, options.startedBy ?? null],
    )).rows[0]!);
  } catch (error) {
    if (runRefusals.has((error as { code?: string }).code ?? "")) throw new UserError((error as Error).message);
    throw error;
  }
  let failure: Error | null = null;
  try {
    if (!options.dryRun) await store.checkWritable();
    const { rows: policies } = await client.query<RetentionPolicy>(
      "select * from app_private.retention_policies_in_run_order($1)", [options.policy]);
    for (const policy of policies) await runPolicy(client, store, run, policy, options);
  } catch (error) {
    failure = error as Error;
  }
  try {
    run = await inRunTransaction(client, attribute, async () =>
      (await client.query<RunRow>("select * from app_private.finish_retention_run($1, $2)", [run.id, failure?.message ?? null])).rows[0]!);
  } catch (error) {
    throw failure ?? error;
  }
  if (failure) throw failure;
  const { rows } = await client.query<RunPolicyRow>("select * from app_public.retention_run_policies where run_id = $1 order by started_at, policy_name", [run.id]);
  return { run, policies: rows };
}

async function runPolicy(client: pg.ClientBase, store: ArchiveStore, run: RunRow, policy: RetentionPolicy, options: RetentionRunOptions): Promise<void> {
  const { attribute } = options;
  await inRunTransaction(client, attribute, () =>
    client.query("select app_private.start_retention_run_policy($1, $2, $3)", [run.id, policy.name, run.as_of]));
  let outcome: { status: "finished" | "skipped"; note: string | null; error: string | null };
  try {
    outcome = await actOn(client, store, run, policy, options);
  } catch (error) {
    // The store or the connection is gone: nothing else can go on.
    if (error instanceof UserError || isConnectionLost(error)) throw error;
    outcome = { status: "finished", note: null, error: (error as Error).message };
  }
  const row = await inRunTransaction(client, attribute, async () => (await client.query<RunPolicyRow>(
    "select * from app_private.finish_retention_run_policy($1, $2, $3, $4, $5)",
    [run.id, policy.name, outcome.error ? "failed" : outcome.status, outcome.error, outcome.note],
  )).rows[0]!);
  options.progress?.policyFinished(row);
}

async function actOn(client: pg.ClientBase, store: ArchiveStore, run: RunRow, policy: RetentionPolicy, options: RetentionRunOptions) {
  const finished = (note: string | null = null, error: string | null = null) => ({ status: "finished" as const, note, error });
  if (!policy.enabled && options.policy === null) return { status: "skipped" as const, note: "Disabled: not applied (still previewed and reported).", error: null };
  if (policy.action === "keep_forever") return finished("Kept forever: nothing to do.");
  if (policy.target_table === "audit.events") return auditPartitions(client, store, run, policy, options);

  const { rows: [counts] } = await client.query<{ rows_due: string }>(
    "select c.rows_due from app_public.retention_policies p, app_private.retention_counts(p, $2) c where p.name = $1", [policy.name, run.as_of]);
  const rowsDue = Number(counts!.rows_due);
  options.progress?.policyStarted(policy, rowsDue);
  if (options.dryRun) {
    const figures = policy.action === "anonymize" ? { anonymized: rowsDue } : policy.action === "delete" ? { deleted: rowsDue } : { archived: rowsDue, deleted: rowsDue };
    await inRunTransaction(client, options.attribute, () => client.query(
      "select app_private.add_retention_figures($1, $2, archived => $3, deleted => $4, anonymized => $5)",
      [run.id, policy.name, figures.archived ?? 0, figures.deleted ?? 0, figures.anonymized ?? 0]));
    options.progress?.rowsDone(rowsDue);
    return finished("Dry run: nothing changed.");
  }
  const batchSize = options.batchSize ?? 2000;
  if (policy.action === "anonymize") {
    for (;;) {
      const anonymized = await inRunTransaction(client, options.attribute, async () => Number((await client.query<{ n: string }>(
        "select app_private.retention_anonymize_batch($1, $2, $3, $4) as n", [run.id, policy.name, run.as_of, batchSize])).rows[0]!.n));
      if (anonymized === 0) return finished();
      options.progress?.rowsDone(anonymized);
    }
  }
  // The keys a batch left in place (held since, restored, or refused): not picked again in this run.
  const kept: string[] = [];
  if (policy.action === "delete") {
    for (;;) {
      const { removed, kept_keys } = await inRunTransaction(client, options.attribute, async () => (await client.query<{ removed: string; kept_keys: string[] }>(
        "select removed, kept_keys from app_private.retention_delete_batch($1, $2, $3, $4, $5)", [run.id, policy.name, run.as_of, batchSize, kept])).rows[0]!);
      if (Number(removed) === 0 && kept_keys.length === 0) return finished();
      kept.push(...kept_keys);
      options.progress?.rowsDone(Number(removed) + kept_keys.length);
    }
  }
  const context: ArchivingContext = {
    client, store, runId: run.id, asOf: run.as_of, attribute: options.attribute, afterArchiveVerified: options.afterArchiveVerified,
  };
  const archiveBatchSize = options.archiveBatchSize ?? batchSize * 5;
  const problems = await resumePendingArchives(context, policy);
  // Each batch starts where the previous one ended (its last clock and key): one pass over the due rows.
  // The clock goes back as text: a Date would lose its microseconds.
  let after = null as { clock_text: string; key: string } | null;
  for (;;) {
    const { rows: batch }: { rows: { key: string; clock: Date; clock_text: string }[] } = await client.query(
      `select k.key, k.clock, k.clock::text as clock_text
       from app_public.retention_policies p, app_private.retention_due_keys(p, $2, $3, $4, $5, $6) k where p.name = $1`,
      [policy.name, run.as_of, archiveBatchSize, kept, after?.clock_text ?? null, after?.key ?? null]);
    if (batch.length === 0) break;
    kept.push(...await archiveThenRemove(context, policy, batch, batchSize));
    after = batch.at(-1)!;
    options.progress?.rowsDone(batch.length);
  }
  return finished(null, problems.length > 0 ? problems.join(" ") : null);
}

/** audit.events leaves by whole monthly partitions, archived with their seals: the partitions part's entry point. */
async function auditPartitions(client: pg.ClientBase, store: ArchiveStore, run: RunRow, policy: RetentionPolicy, options: RetentionRunOptions) {
  const result = await archiveExpiredAuditPartitions(client, store, { runId: run.id, asOf: run.as_of, dryRun: options.dryRun });
  await inRunTransaction(client, options.attribute, () => client.query(
    "select app_private.add_retention_figures($1, $2, archived => $3, deleted => $4, archives => $5)",
    [run.id, policy.name, result.rowsArchived, result.rowsDropped, options.dryRun ? 0 : result.partitionsArchived]));
  return {
    status: "finished" as const,
    note: `${result.partitionsArchived} partition(s) archived (${result.rowsArchived} events), ${result.partitionsDropped} dropped (${result.rowsDropped} events); ${result.spared.length} kept.`,
    error: null,
  };
}

function isConnectionLost(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return code === "57P01" || code === "57P02" || code === "57P03" || /Connection terminated|Client has encountered a connection error|not queryable/i.test(message ?? "");
}
