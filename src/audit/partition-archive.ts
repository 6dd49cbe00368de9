import { createHash } from "node:crypto";
import type pg from "pg";
import { verifyArchive, type ArchiveManifest } from "../archive/archive.ts";
import { linesCheckedAgainst } from "../archive/read.ts";
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
  eventIds: bigint[];
  /** Version 2: the digests joined (32 bytes per event); version 1: the chain hash after each event. */
  digests: Buffer;
  chain: Buffer[];
  previousHash: Buffer;
  hash: Buffer;
}

/** A sealed event the checkpoint says left: the seal listing it and its place there. */
interface ExpectedEvent {
  id: bigint;
  seal: ArchivedSeal;
  index: number;
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
 *
 * Memory stays bounded whatever the month's size: the seals and the events
 * are both in id order, so they are read side by side (one seal and one batch
 * of events at a time), never collected.
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
  const inRanges = rangeMembership(parseRanges(checkpoint.eventIds));
  const seals = sealsChecked(client, linesCheckedAgainst(store, manifest, "audit.seals"), checkpoint, result);
  const expectedEvents = eventsExpected(seals, inRanges, result);
  let expected = await nextOf(expectedEvents);
  let expectedCount = 0;
  let missing = 0;
  let firstMissing: bigint | null = null;
  const skipMissingBelow = async (eventId: bigint | null) => {
    while (expected && (eventId === null || expected.id < eventId)) {
      missing++;
      firstMissing ??= expected.id;
      expectedCount++;
      expected = await nextOf(expectedEvents);
    }
  };

  const monthStart = Date.parse(`${checkpoint.month}T00:00:00Z`);
  const monthEnd = new Date(monthStart).setUTCMonth(new Date(monthStart).getUTCMonth() + 1);
  let previousEventId: bigint | null = null;
  let batch: string[] = [];
  const check = async () => {
    // The archived JSON text as it is (JSON.parse would round big ids), the batch's lines in one
    // text (JSON text holds no raw newline), read as json (cheaper than building jsonb);
    // the version 1 digest (twice the cost) only for the events of version 1 seals.
    const lines = batch;
    batch = [];
    const { rows } = await client.query<{ id: string; occurred_at: Date; v2: Buffer }>(
      `select e.id::text, e.occurred_at, audit.event_digest_v2(e) as v2
       from pg_catalog.string_to_table($1, E'\\n') with ordinality a (line, n),
            pg_catalog.json_populate_record(null::audit.events, a.line::json) e
       order by a.n`,
      [lines.join("\n")],
    );
    const sealedV1: { event: { id: string; occurred_at: Date }; seal: ArchivedSeal; index: number; line: string }[] = [];
    const judge = (event: { id: string; occurred_at: Date }, seal: ArchivedSeal, matches: boolean) => {
      const when = event.occurred_at.getTime();
      if (!matches) result.problems.push(`event ${event.id} was altered after it was sealed in seal ${seal.id}`);
      else if (when < monthStart || when >= monthEnd) result.problems.push(`event ${event.id} did not occur in ${checkpoint.month.slice(0, 7)}`);
      else result.eventsVerified++;
    };
    for (const [position, event] of rows.entries()) {
      const eventId = BigInt(event.id);
      if (previousEventId !== null && eventId <= previousEventId) result.problems.push(`event ${event.id} is out of id order in the archive`);
      previousEventId = eventId;
      await skipMissingBelow(eventId);
      if (!inRanges(eventId)) {
        result.problems.push(`event ${event.id} is in the archive but not among the events the checkpoint says left`);
        continue;
      }
      if (!expected || expected.id !== eventId) {
        result.problems.push(`event ${event.id} is in no archived seal`);
        continue;
      }
      const { seal, index } = expected;
      expectedCount++;
      expected = await nextOf(expectedEvents);
      if (seal.version === 2) judge(event, seal, seal.digests.subarray(32 * index, 32 * index + 32).equals(event.v2));
      else sealedV1.push({ event, seal, index, line: lines[position]! });
    }
    if (sealedV1.length === 0) return;
    const { rows: v1 } = await client.query<{ v1: Buffer }>(
      `select audit.event_digest(e) as v1
       from pg_catalog.string_to_table($1, E'\\n') with ordinality a (line, n),
            pg_catalog.json_populate_record(null::audit.events, a.line::json) e
       order by a.n`,
      [sealedV1.map((one) => one.line).join("\n")],
    );
    sealedV1.forEach(({ event, seal, index }, position) => judge(event, seal, chainStepMatches(seal, index, v1[position]!.v1)));
  };
  for await (const line of linesCheckedAgainst(store, manifest, "audit.events")) {
    batch.push(line);
    if (batch.length === eventBatch) await check();
  }
  if (batch.length > 0) await check();
  await skipMissingBelow(null);
  if (expectedCount !== checkpoint.eventCount) {
    result.problems.push(`the archived seals list ${expectedCount} of the ${checkpoint.eventCount} events the checkpoint says left`);
  }
  if (missing > 0) result.problems.push(`${missing} sealed events of the month are missing from the archive (the first is event ${firstMissing})`);
  result.ok = result.problems.length === 0;
  return result;
}

async function nextOf<T>(iterator: AsyncIterator<T>): Promise<T | null> {
  const next = await iterator.next();
  return next.done ? null : next.value;
}

/** The events the seals list among the checkpoint's ids, in order, one seal at a time. */
async function* eventsExpected(
  seals: AsyncIterable<ArchivedSeal>,
  inRanges: (eventId: bigint) => boolean,
  result: ArchivedPartitionVerification,
): AsyncGenerator<ExpectedEvent> {
  let previous: bigint | null = null;
  for await (const seal of seals) {
    for (let index = 0; index < seal.eventIds.length; index++) {
      const eventId = seal.eventIds[index]!;
      if (previous !== null && eventId <= previous) {
        result.problems.push(`seal ${seal.id} lists event ${eventId} out of id order`);
        continue;
      }
      previous = eventId;
      if (inRanges(eventId)) yield { id: eventId, seal, index };
    }
  }
}

export function checkpointOf(manifest: ArchiveManifest): PartitionCheckpoint | null {
  const checkpoint = manifest.extra.checkpoint;
  return manifest.kind === "audit_partition" && isPartitionCheckpoint(checkpoint) ? checkpoint : null;
}

/** A version 1 seal's chain step for an event: the hash before it and the event's digest give the hash after it. */
function chainStepMatches(seal: ArchivedSeal, index: number, digest: Buffer): boolean {
  const before = index === 0 ? seal.previousHash : seal.chain[index - 1]!;
  return seal.chain[index] !== undefined && sha256(before, digest).equals(seal.chain[index]!);
}

/**
 * The archived seals, one at a time as they are read, each checked as it
 * passes: it follows from its digests and continues the one before it; the
 * database's copy, where it has one, is the same; the first and last are those
 * the checkpoint names.
 */
async function* sealsChecked(
  client: pg.ClientBase,
  lines: AsyncIterable<string>,
  checkpoint: PartitionCheckpoint,
  result: ArchivedPartitionVerification,
): AsyncGenerator<ArchivedSeal> {
  const problems = result.problems;
  let first: ArchivedSeal | null = null;
  let before: ArchivedSeal | null = null;
  let continuesFromHash: Buffer | null = null;
  for await (const line of lines) {
    const seal = sealOf(JSON.parse(line) as Record<string, unknown>);
    first ??= seal;
    const own = seal.version === 2 ? sha256(seal.previousHash, seal.digests) : seal.chain.at(-1);
    if (!own || !own.equals(seal.hash)) problems.push(`seal ${seal.id} was altered: its hash does not follow from the events it seals`);
    if (before && !seal.previousHash.equals(before.hash)) problems.push(`seal ${seal.id} does not continue seal ${before.id}`);
    const { rows: [kept] } = await client.query<{ hash: Buffer }>("select hash from audit.seals where id = $1::bigint", [seal.id]);
    if (kept && !kept.hash.equals(seal.hash)) problems.push(`seal ${seal.id} differs from the database's seal ${seal.id}`);
    if (seal.id === checkpoint.continuesFromSealId) continuesFromHash = seal.hash;
    result.sealsVerified++;
    before = seal;
    yield seal;
  }
  if (!first || !before) {
    problems.push("the archive holds no seals");
    return;
  }
  if (first.id !== checkpoint.firstSealId || before.id !== checkpoint.lastSealId) {
    problems.push(`the archive holds seals ${first.id} to ${before.id}, the checkpoint says ${checkpoint.firstSealId} to ${checkpoint.lastSealId}`);
  }
  if (checkpoint.continuesFromSealId !== null) {
    if (continuesFromHash === null) {
      const { rows: [kept] } = await client.query<{ hash: Buffer }>("select hash from audit.seals where id = $1::bigint", [checkpoint.continuesFromSealId]);
      continuesFromHash = kept?.hash ?? null;
    }
    if (continuesFromHash && continuesFromHash.toString("hex") !== checkpoint.continuesFromHash) {
      problems.push(`the checkpoint continues the chain from seal ${checkpoint.continuesFromSealId}, whose hash is not ${checkpoint.continuesFromHash}`);
    }
  }
}

function sealOf(row: Record<string, unknown>): ArchivedSeal {
  const bytes = (value: unknown) => Buffer.from(String(value ?? "").replace(/^\\x/, ""), "hex");
  const version = Number(row.version);
  return {
    id: String(row.id),
    version,
    eventIds: ((row.event_ids as unknown[] | null) ?? []).map((eventId) => BigInt(eventId as number)),
    digests: version === 2 ? bytes(row.digests) : Buffer.alloc(0),
    chain: version === 2 ? [] : ((row.chain as unknown[] | null) ?? []).map(bytes),
    previousHash: bytes(row.previous_hash),
    hash: bytes(row.hash),
  };
}

/** Whether an id is in [lower, upper) ranges (sorted, as a multirange's text lists them). */
function rangeMembership(ranges: [bigint, bigint][]): (eventId: bigint) => boolean {
  return (eventId) => {
    let low = 0;
    let high = ranges.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const [lower, upper] = ranges[middle]!;
      if (eventId < lower) high = middle - 1;
      else if (eventId >= upper) low = middle + 1;
      else return true;
    }
    return false;
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
