import type pg from "pg";
import type { ArchiveStore } from "../archive/store.ts";
import { readManifest } from "../archive/verify.ts";
import { checkpointOf, verifyArchivedPartition } from "./partition-archive.ts";

interface CheckpointRow {
  id: string;
  month: string;
  partition_name: string;
  archive_id: string;
  event_ids: string;
}

/**
 * What the database cannot show about its checkpoints: each names an archive
 * that must be in the store, carrying the same checkpoint. A checkpoint forged
 * by someone who can switch the database's triggers off (to excuse an event
 * they deleted) names an archive the store does not hold, or one that says
 * otherwise. Returns each problem in words; none when all is well.
 */
export async function checkpointProblems(client: pg.ClientBase, store: ArchiveStore): Promise<string[]> {
  if (!(await hasCheckpoints(client))) return [];
  const { rows } = await client.query<CheckpointRow>(
    `select id::text, to_char(month, 'YYYY-MM') as month, partition_name, archive_id::text, event_ids::text
     from audit.chain_checkpoints order by id`,
  );
  const problems: string[] = [];
  for (const row of rows) {
    const label = `checkpoint ${row.id} (month ${row.month})`;
    const { manifest, problem } = await readManifest(store, row.archive_id);
    const checkpoint = manifest ? checkpointOf(manifest) : null;
    if (!manifest) {
      problems.push(`${label} names archive ${row.archive_id}, which the ${store.description} does not hold (${problem}): the checkpoint was forged, or the archive was lost`);
    } else if (!checkpoint || checkpoint.partition !== row.partition_name || checkpoint.eventIds !== row.event_ids) {
      problems.push(`${label} names archive ${row.archive_id}, whose manifest does not carry the same checkpoint: one of them was forged`);
    }
  }
  return problems;
}

/** Where verify started, in words, when months were archived and dropped; null when none were. */
export async function describeChainStart(client: pg.ClientBase, store: ArchiveStore): Promise<string | null> {
  if (!(await hasCheckpoints(client))) return null;
  const { rows: [all] } = await client.query<{ count: number; months: string | null }>(
    "select count(*)::int as count, string_agg(to_char(month, 'YYYY-MM'), ', ' order by month) as months from audit.chain_checkpoints",
  );
  if (!all || all.count === 0) return null;
  const archived = `${all.count} ${all.count === 1 ? "month" : "months"} archived and dropped in all (${all.months}), each archive in the ${store.description}`;
  const { rows: [start] } = await client.query<{ after: string; seal: string; month: string; archive_id: string }>(
    "select continues_after_event_id::text as after, continues_from_seal_id::text as seal, to_char(month, 'YYYY-MM') as month, archive_id::text from audit.chain_start()",
  );
  if (!start) return `Verified from the first seal, passing over the events of archived months; ${archived}.`;
  return `Verified from checkpoint at event ${start.after} (seal ${start.seal}), month ${start.month} archived in archive ${start.archive_id}; ${archived}.`;
}

/** `audit verify --archive ID`: the archived month checked on its own, in words. */
export async function verifyArchivedPartitionReport(client: pg.ClientBase, store: ArchiveStore, id: string): Promise<{ ok: boolean; text: string }> {
  const result = await verifyArchivedPartition(client, store, id);
  const c = result.checkpoint;
  if (!result.ok) {
    return { ok: false, text: `Archive ${id} does NOT verify:\n${result.problems.map((problem) => `  - ${problem}\n`).join("")}` };
  }
  return {
    ok: true,
    text:
      `Archive ${id} verifies: ${result.eventsVerified} events of ${c!.month.slice(0, 7)} (audit.${c!.partition}) match their digests in ${result.sealsVerified} archived seals, ` +
      `and each seal follows from its digests and the one before it.\n` +
      `The live chain continues ${c!.continuesFromSealId === null ? "from the first seal" : `after seal ${c!.continuesFromSealId} (event ${c!.continuesAfterEventId}, hash ${c!.continuesFromHash})`}.\n`,
  };
}

/** A database migrated before checkpoints existed (000010) has none; verify works there as before. */
async function hasCheckpoints(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>("select to_regclass('audit.chain_checkpoints') is not null as exists");
  return rows[0]!.exists;
}
