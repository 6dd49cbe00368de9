import { createHash } from "node:crypto";
import type pg from "pg";
import { readArchiveRows, verifyArchive, type ArchiveManifest } from "../archive/archive.ts";
import type { ArchiveStore } from "../archive/store.ts";

/**
 * The chain checkpoint an audit_partition archive carries in its manifest's
 * `extra.checkpoint`, and audit.chain_checkpoints records when the partition
 * is dropped: which events left, the seals that cover them (archived with
 * them) and where the live chain continues. Ids are text: they are bigints.
 */
export interface PartitionCheckpoint {
  partition: string;
  /** The month's first day, YYYY-MM-DD (UTC). */
  month: string;
  eventCount: number;
  firstEventId: string;
  lastEventId: string;
  /** The ids as an int8multirange's text, e.g. "{[100,201),[305,400)}". */
  eventIds: string;
  firstSealId: string;
  lastSealId: string;
  /** The newest seal up to which every sealed event has left once this month has; null while older events stay. */
  continuesFromSealId: string | null;
  continuesAfterEventId: string | null;
  /** Hex of that seal's hash (the genesis hash when there is none). */
  continuesFromHash: string;
}

export function isPartitionCheckpoint(value: unknown): value is PartitionCheckpoint {
  const c = value as Record<string, unknown> | null;
  return (
    typeof c === "object" && c !== null &&
    typeof c.partition === "string" && typeof c.month === "string" && Number.isSafeInteger(c.eventCount) &&
    typeof c.firstEventId === "string" && typeof c.lastEventId === "string" && typeof c.eventIds === "string" &&
    typeof c.firstSealId === "string" && typeof c.lastSealId === "string" &&
    (c.continuesFromSealId === null || typeof c.continuesFromSealId === "string") &&
    (c.continuesAfterEventId === null || typeof c.continuesAfterEventId === "string") &&
    typeof c.continuesFromHash === "string"
  );
}

export interface ArchivedPartitionVerification {
  ok: boolean;
  problems: string[];
  checkpoint: PartitionCheckpoint | null;
  eventsVerified: number;
  sealsVerified: number;
}

interface ArchivedSeal {
  id: string;
  version: number;
  eventIds: string[];
  /** Version 2: each event's digest; version 1: the chain hash after each event. */
  perEvent: Buffer[];
  previousHash: Buffer;
  hash: Buffer;
}

const eventBatch = 2000;

/**
 * Checks an audit_partition archive on its own, without the events it came
 * from: its files against its manifest (verifyArchive), each archived seal's
 * hash against its digests and the seal before it, every archived event's
 * digest against the one its seal holds (recomputed by the database's digest
 * functions, audit.event_digest_v2 / audit.event_digest, over the archived
 * row), every event the checkpoint names present and of its month, and the
 * archived seals against those the database still keeps (they stay when the
 * month is dropped). Every problem is named; nothing is written.
 */
export async function verifyArchivedPartition(client: pg.ClientBase, store: ArchiveStore, id: string): Promise<ArchivedPartitionVerification> {
  const result: ArchivedPartitionVerification = { ok: false, problems: [], checkpoint: null, eventsVerified: 0, sealsVerified: 0 };
  const files = await verifyArchive(store, id);
  if (!files.ok) {
    result.problems.push(...files.problems);
    return result;
  }
  const manifest = files.manifest!;
  const checkpoint = checkpointOf(manifest);
  if (!checkpoint) {
    result.problems.push(`archive ${id} is not an audit partition archive with a chain checkpoint (kind ${manifest.kind})`);
    return result;
  }
  result.checkpoint = checkpoint;

  const seals: ArchivedSeal[] = [];
  for await (const row of readArchiveRows(store, id, "audit.seals")) seals.push(sealOf(row));
  result.problems.push(...(await sealProblems(client, seals, checkpoint)));
  result.sealsVerified = seals.length;

  const ranges = parseRanges(checkpoint.eventIds);
  const inRanges = (eventId: bigint) => ranges.some(([lower, upper]) => eventId >= lower && eventId < upper);
  const expected = seals.flatMap((seal) => seal.eventIds.filter((eventId) => inRanges(BigInt(eventId))));
  if (expected.length !== checkpoint.eventCount) {
    result.problems.push(`the archived seals list ${expected.length} of the ${checkpoint.eventCount} events the checkpoint says left`);
  }
  const position = new Map<string, { seal: ArchivedSeal; index: number }>();
  for (const seal of seals) seal.eventIds.forEach((eventId, index) => position.set(eventId, { seal, index }));

  const monthStart = Date.parse(`${checkpoint.month}T00:00:00Z`);
  const monthEnd = new Date(monthStart).setUTCMonth(new Date(monthStart).getUTCMonth() + 1);
  let batch: Record<string, unknown>[] = [];
  const check = async () => {
    const { rows } = await client.query<{ id: string; occurred_at: Date; v2: Buffer; v1: Buffer }>(
      `select e.id::text, e.occurred_at, audit.event_digest_v2(e) as v2, audit.event_digest(e) as v1
       from pg_catalog.jsonb_populate_recordset(null::audit.events, $1::jsonb) e`,
      [JSON.stringify(batch)],
    );
    batch = [];
    for (const event of rows) {
      const at = position.get(event.id);
      position.delete(event.id);
      const when = event.occurred_at.getTime();
      if (!inRanges(BigInt(event.id))) result.problems.push(`event ${event.id} is in the archive but not among the events the checkpoint says left`);
      else if (!at) result.problems.push(`event ${event.id} is in no archived seal`);
      else if (!digestMatches(at.seal, at.index, event)) result.problems.push(`event ${event.id} was altered after it was sealed in seal ${at.seal.id}`);
      else if (when < monthStart || when >= monthEnd) result.problems.push(`event ${event.id} did not occur in ${checkpoint.month.slice(0, 7)}`);
      else result.eventsVerified++;
    }
  };
  for await (const row of readArchiveRows(store, id, "audit.events")) {
    batch.push(row);
    if (batch.length === eventBatch) await check();
  }
  if (batch.length > 0) await check();
  const missing = expected.filter((eventId) => position.has(eventId));
  if (missing.length > 0) result.problems.push(`${missing.length} sealed events of the month are missing from the archive (the first is event ${missing[0]})`);
  result.ok = result.problems.length === 0;
  return result;
}

export function checkpointOf(manifest: ArchiveManifest): PartitionCheckpoint | null {
  const checkpoint = manifest.extra.checkpoint;
  return manifest.kind === "audit_partition" && isPartitionCheckpoint(checkpoint) ? checkpoint : null;
}

function digestMatches(seal: ArchivedSeal, index: number, event: { v1: Buffer; v2: Buffer }): boolean {
  if (seal.version === 2) return seal.perEvent[index]!.equals(event.v2);
  const before = index === 0 ? seal.previousHash : seal.perEvent[index - 1]!;
  return sha256(before, event.v1).equals(seal.perEvent[index]!);
}

/** Each seal follows from its digests and continues the one before it; the database's copy, where it has one, is the same. */
async function sealProblems(client: pg.ClientBase, seals: ArchivedSeal[], checkpoint: PartitionCheckpoint): Promise<string[]> {
  const problems: string[] = [];
  if (seals.length === 0) return ["the archive holds no seals"];
  if (seals[0]!.id !== checkpoint.firstSealId || seals.at(-1)!.id !== checkpoint.lastSealId) {
    problems.push(`the archive holds seals ${seals[0]!.id} to ${seals.at(-1)!.id}, the checkpoint says ${checkpoint.firstSealId} to ${checkpoint.lastSealId}`);
  }
  seals.forEach((seal, index) => {
    const own = seal.version === 2 ? sha256(seal.previousHash, ...seal.perEvent) : seal.perEvent.at(-1)!;
    if (!own.equals(seal.hash)) problems.push(`seal ${seal.id} was altered: its hash does not follow from the events it seals`);
    const before = seals[index - 1];
    if (before && !seal.previousHash.equals(before.hash)) problems.push(`seal ${seal.id} does not continue seal ${before.id}`);
  });
  const { rows } = await client.query<{ id: string; hash: Buffer }>(
    "select id::text, hash from audit.seals where id = any($1::bigint[]) or id = $2::bigint",
    [seals.map((seal) => seal.id), checkpoint.continuesFromSealId],
  );
  const kept = new Map(rows.map((row) => [row.id, row.hash]));
  for (const seal of seals) {
    const hash = kept.get(seal.id);
    if (hash && !hash.equals(seal.hash)) problems.push(`seal ${seal.id} differs from the database's seal ${seal.id}`);
  }
  if (checkpoint.continuesFromSealId !== null) {
    const archived = seals.find((seal) => seal.id === checkpoint.continuesFromSealId)?.hash ?? kept.get(checkpoint.continuesFromSealId);
    if (archived && archived.toString("hex") !== checkpoint.continuesFromHash) {
      problems.push(`the checkpoint continues the chain from seal ${checkpoint.continuesFromSealId}, whose hash is not ${checkpoint.continuesFromHash}`);
    }
  }
  return problems;
}

function sealOf(row: Record<string, unknown>): ArchivedSeal {
  const bytes = (value: unknown) => Buffer.from(String(value).replace(/^\\x/, ""), "hex");
  const version = Number(row.version);
  const perEvent =
    version === 2
      ? Array.from({ length: (row.event_ids as unknown[]).length }, (_, index) => bytes(row.digests).subarray(32 * index, 32 * index + 32))
      : (row.chain as unknown[]).map(bytes);
  return {
    id: String(row.id),
    version,
    eventIds: (row.event_ids as unknown[]).map(String),
    perEvent,
    previousHash: bytes(row.previous_hash),
    hash: bytes(row.hash),
  };
}

/** "{[1,5),[7,9)}" as [lower, upper) pairs. */
export function parseRanges(multirange: string): [bigint, bigint][] {
  return [...multirange.matchAll(/\[(-?\d+),(-?\d+)\)/g)].map((match) => [BigInt(match[1]!), BigInt(match[2]!)]);
}

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}
