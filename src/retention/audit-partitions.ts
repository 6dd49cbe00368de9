import { randomUUID } from "node:crypto";
import type pg from "pg";
import { currentSchemaVersion, verifyArchive, writeVerifiedArchive, type ArchiveManifest } from "../archive/archive.ts";
import type { ArchiveStore } from "../archive/store.ts";
import { checkpointOf, parseRanges, verifyArchivedPartition, type PartitionCheckpoint } from "../audit/partition-archive.ts";
import { cursorBatches } from "../db/cursor.ts";
import { UserError } from "../errors.ts";

export interface AuditPartitionOptions {
  /** The retention run this is part of (recorded with the archives); null outside a run. */
  runId: string | null;
  /** The instant the period is judged at. */
  asOf: Date;
  /** Only say what would happen: nothing is written or dropped. */
  dryRun: boolean;
  /** The period (an interval's text, e.g. "7 years"); by default the audit_events retention policy's. */
  period?: string;
}

export interface SparedPartition {
  partition: string;
  reason: string;
}

export interface AuditPartitionResult {
  /** Partitions archived by this call (an archive reused from an interrupted call is not counted again); in a dry run, those that would be. */
  partitionsArchived: number;
  /** Events in those archives. */
  rowsArchived: number;
  /** Partitions detached and dropped; in a dry run, those that would be. */
  partitionsDropped: number;
  /** Events that left with them (an archive reused from an interrupted call included); in a dry run, those that would. */
  rowsDropped: number;
  /** Every month partition that stays, and why (within the period, not sealed yet, does not verify, ...). */
  spared: SparedPartition[];
}

export const auditEventsPolicy = "audit_events";

interface PartitionStatus {
  partition_name: string;
  month: string;
  expired: boolean;
  event_count: string | null;
  spared_reason: string | null;
}

/**
 * The audit-events part of a retention run: every month partition of
 * audit.events entirely past the period, sealed and verifying, is archived
 * with its seals (or a verified archive of it from an earlier, interrupted
 * call is reused), then detached and dropped by audit.drop_archived_partition,
 * which records the chain's checkpoint. Never row by row. The SQL decides
 * what may go (audit.partition_retention_status) and checks it again when it
 * drops. A crash between archive and drop leaves the partition in place; the
 * next call finds its archive and drops it. The client must not be in a
 * transaction; it acts as the owner.
 */
export async function archiveExpiredAuditPartitions(
  client: pg.ClientBase,
  store: ArchiveStore,
  options: AuditPartitionOptions,
): Promise<AuditPartitionResult> {
  const period = options.period ?? (await policyPeriod(client));
  if (!options.dryRun) await store.checkWritable();
  const { rows } = await client.query<PartitionStatus>(
    `select partition_name, to_char(month, 'YYYY-MM-DD') as month, expired, event_count::text, spared_reason
     from audit.partition_retention_status($1::interval, $2)`,
    [period, options.asOf],
  );
  const result: AuditPartitionResult = { partitionsArchived: 0, rowsArchived: 0, partitionsDropped: 0, rowsDropped: 0, spared: [] };
  for (const status of rows) {
    if (status.spared_reason !== null) {
      result.spared.push({ partition: status.partition_name, reason: status.spared_reason });
      continue;
    }
    if (options.dryRun) {
      result.partitionsArchived++;
      result.rowsArchived += Number(status.event_count);
      result.partitionsDropped++;
      result.rowsDropped += Number(status.event_count);
      continue;
    }
    const outcome = await archiveAndDropAuditPartition(client, store, status.month, options.runId);
    if (outcome.archiveId !== null && !outcome.reusedArchive) {
      result.partitionsArchived++;
      result.rowsArchived += outcome.eventCount;
    }
    if (outcome.checkpointId !== null) {
      result.partitionsDropped++;
      result.rowsDropped += outcome.eventCount;
    }
    if (outcome.spared !== null) result.spared.push({ partition: status.partition_name, reason: outcome.spared });
  }
  return result;
}

export interface PartitionOutcome {
  /** The archive written, or reused from an earlier call stopped before its drop; null when none was. */
  archiveId: string | null;
  reusedArchive: boolean;
  eventCount: number;
  /** The chain checkpoint recorded as the partition was dropped; null when it was not. */
  checkpointId: string | null;
  /** Why the partition stays for now; null once dropped. */
  spared: string | null;
}

/**
 * Archives one month partition of audit.events (reusing a verified archive
 * of exactly its events when there is one) and drops it. Also what the
 * retention benchmark times against deleting the same rows.
 */
export async function archiveAndDropAuditPartition(
  client: pg.ClientBase,
  store: ArchiveStore,
  month: string,
  runId: string | null,
): Promise<PartitionOutcome> {
  const { rows: [part] } = await client.query<{ partition_name: string; event_ids: string | null }>(
    "select audit.partition_name('audit.events', $1::date) as partition_name, audit.partition_event_ids($1::date)::text as event_ids",
    [month],
  );
  const partition = part!.partition_name;
  const stays = (spared: string, archive: VerifiedArchive | null = null, reusedArchive = false): PartitionOutcome => ({
    archiveId: archive?.id ?? null,
    reusedArchive,
    eventCount: archive?.checkpoint.eventCount ?? 0,
    checkpointId: null,
    spared,
  });
  if (part!.event_ids === null) return stays("it holds no events");
  const eventIds = part!.event_ids;
  const reused = await reusableArchive(client, store, partition, eventIds);
  const written = reused ?? (await writePartitionArchive(client, store, month, partition, eventIds, runId));
  if ("spared" in written) return stays(written.spared);
  const archive = written;
  const reusedArchive = reused !== null;
  try {
    const { rows } = await client.query<{ id: string }>("select id::text from audit.drop_archived_partition($1, $2, $3, $4::int8multirange)", [
      partition,
      archive.id,
      store.description,
      eventIds,
    ]);
    return { archiveId: archive.id, reusedArchive, eventCount: archive.checkpoint.eventCount, checkpointId: rows[0]!.id, spared: null };
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    // lock_not_available: a long reader held the trail; the archive waits for the next run.
    if (code === "55P03") {
      return stays(`archived in ${archive.id}, not dropped yet: a long read held the audit trail; the next run drops it`, archive, reusedArchive);
    }
    // object_not_in_prerequisite_state: the month changed or no longer verifies since it was archived.
    if (code === "55000") return stays(message, archive, reusedArchive);
    throw error;
  }
}

interface VerifiedArchive {
  id: string;
  checkpoint: PartitionCheckpoint;
}

/**
 * An archive of exactly these events from an earlier call that stopped before
 * the drop, if its files and chain still verify: one recorded as verified, or
 * one recorded as created whose manifest reached the store before the call
 * stopped (it is then recorded as written and verified).
 */
async function reusableArchive(client: pg.ClientBase, store: ArchiveStore, partition: string, eventIds: string): Promise<VerifiedArchive | null> {
  const { rows } = await client.query<{ id: string; manifest: ArchiveManifest | null }>(
    `select id::text, manifest from app_public.retention_archives
     where kind = 'audit_partition' and rows_removed_at is null
       and (manifest is null and store = $3
            or verified_at is not null and manifest -> 'extra' -> 'checkpoint' ->> 'partition' = $1
               and manifest -> 'extra' -> 'checkpoint' ->> 'eventIds' = $2)
     order by verified_at desc nulls last, created_at desc`,
    [partition, eventIds, store.description],
  );
  for (const row of rows) {
    const files = await verifyArchive(store, row.id, { recorded: row.manifest });
    const found = files.manifest ? checkpointOf(files.manifest) : null;
    if (!files.ok || found?.partition !== partition || found.eventIds !== eventIds) continue;
    const chain = await verifyArchivedPartition(client, store, row.id);
    if (!chain.ok) continue;
    if (row.manifest === null) await recordVerified(client, files.manifest!);
    return { id: row.id, checkpoint: chain.checkpoint! };
  }
  return null;
}

/** The archive's record, from created to written and verified. */
async function recordVerified(client: pg.ClientBase, manifest: ArchiveManifest): Promise<void> {
  await client.query(
    `update app_public.retention_archives
     set manifest = $2, row_count = $3, time_from = $4, time_to = $5, written_at = now(), verified_at = now()
     where id = $1`,
    [manifest.id, manifest, manifest.files.reduce((sum, file) => sum + file.rows, 0), manifest.timeRange.from, manifest.timeRange.to],
  );
}

/**
 * Writes the month's events and the seals covering them as one archive, with
 * the chain checkpoint in its manifest, recorded in app_public.retention_archives
 * before the first byte (created), then as written and verified once the
 * files read back and the chain checks out over the archived copy.
 */
async function writePartitionArchive(
  client: pg.ClientBase,
  store: ArchiveStore,
  month: string,
  partition: string,
  eventIds: string,
  runId: string | null,
): Promise<VerifiedArchive | { spared: string }> {
  const id = randomUUID();
  await client.query(
    `insert into app_public.retention_archives (id, kind, policy_name, run_id, store)
     values ($1, 'audit_partition', (select name from app_public.retention_policies where name = $2), $3, $4)`,
    [id, auditEventsPolicy, runId, store.description],
  );
  const schemaVersion = await currentSchemaVersion(client);
  // One snapshot for the events, their seals and the checkpoint.
  await client.query("begin isolation level repeatable read read only");
  let manifest: ArchiveManifest;
  let checkpoint: PartitionCheckpoint;
  let timeRange: { from: string | null; to: string | null };
  try {
    checkpoint = await checkpointFor(client, month, partition, eventIds);
    const { rows: [range] } = await client.query<{ from: string; to: string }>(
      `select to_char(min(occurred_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "from",
              to_char(max(occurred_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "to"
       from audit.${quoteIdent(partition)}`,
    );
    timeRange = { from: range!.from, to: range!.to };
    manifest = await writeVerifiedArchive(store, {
      id,
      kind: "audit_partition",
      policy: auditEventsPolicy,
      runId,
      schemaVersion,
      timeRange,
      tables: [
        { table: "audit.events", lines: jsonLines(client, `select to_jsonb(e)::text as line from audit.${quoteIdent(partition)} e order by e.id`, []) },
        {
          table: "audit.seals",
          lines: jsonLines(client, "select to_jsonb(s)::text as line from audit.seals s where s.id between $1 and $2 order by s.id", [
            checkpoint.firstSealId,
            checkpoint.lastSealId,
          ]),
        },
      ],
      extra: { checkpoint },
    });
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
  const chain = await verifyArchivedPartition(client, store, id);
  if (!chain.ok) return { spared: `its archive ${id} did not verify against the chain: ${chain.problems.join("; ")}` };
  await recordVerified(client, manifest);
  return { id, checkpoint };
}

/** What the checkpoint will be once these events leave: the same SQL the drop records it with. */
async function checkpointFor(client: pg.ClientBase, month: string, partition: string, eventIds: string): Promise<PartitionCheckpoint> {
  const ranges = parseRanges(eventIds);
  const firstEventId = ranges[0]![0].toString();
  const lastEventId = (ranges.at(-1)![1] - 1n).toString();
  const { rows: [row] } = await client.query(
    `select s.first_seal_id::text, s.last_seal_id::text,
            p.seal_id::text as continues_from_seal_id, p.after_event_id::text as continues_after_event_id,
            encode(p.hash, 'hex') as continues_from_hash
     from audit.covering_seals($2, $3) s,
          audit.chain_continues_from(coalesce(audit.dropped_event_ids() + $1::int8multirange, $1::int8multirange)) p`,
    [eventIds, firstEventId, lastEventId],
  );
  return {
    partition,
    month,
    eventCount: Number(ranges.reduce((sum, [lower, upper]) => sum + (upper - lower), 0n)),
    firstEventId,
    lastEventId,
    eventIds,
    firstSealId: row.first_seal_id,
    lastSealId: row.last_seal_id,
    continuesFromSealId: row.continues_from_seal_id,
    continuesAfterEventId: row.continues_after_event_id,
    continuesFromHash: row.continues_from_hash,
  };
}

/** The period of the audit_events retention policy. */
async function policyPeriod(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ period: string | null }>("select period::text from app_public.retention_policies where name = $1", [
    auditEventsPolicy,
  ]);
  if (!rows[0] || rows[0].period === null) {
    throw new UserError(`The ${auditEventsPolicy} retention policy is missing or has no period; audit events stay.`);
  }
  return rows[0].period;
}

async function* jsonLines(client: pg.ClientBase, sql: string, params: unknown[]): AsyncGenerator<string> {
  for await (const rows of cursorBatches<{ line: string }>(client, sql, params, 2000)) {
    for (const row of rows) yield row.line;
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
