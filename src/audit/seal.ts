import type { ClientBase } from "pg";

export interface SealResult {
  /** Events sealed by this run. */
  sealed: number;
  /** The highest id that could be sealed; null when in-flight transactions did not end in time. */
  horizon: string | null;
}

const batchSize = 10_000;

/**
 * Seals every event that can be sealed now, one batch per transaction so that
 * a long backlog neither holds locks nor grows one transaction. The SQL
 * decides what is safe to seal (audit.seal_horizon) and how (audit.seal_batch).
 * The client must not be inside a transaction.
 */
export async function sealPendingEvents(client: ClientBase, maxWaitSeconds = 10): Promise<SealResult> {
  const { rows } = await client.query<{ horizon: string | null }>(
    "select audit.seal_horizon(make_interval(secs => $1))::text as horizon",
    [maxWaitSeconds],
  );
  const horizon = rows[0]!.horizon;
  let sealed = 0;
  if (horizon === null) return { sealed, horizon };
  for (;;) {
    const batch = await client.query<{ sealed: number }>("select audit.seal_batch($1, $2) as sealed", [horizon, batchSize]);
    const count = batch.rows[0]!.sealed;
    // A batch is a range of ids: gaps (rolled-back writes) make it smaller, and only an empty one means done.
    if (count === 0) return { sealed, horizon };
    sealed += count;
  }
}

export interface ChainReport {
  intact: boolean;
  eventsVerified: number;
  sealsVerified: number;
  eventsUnsealed: number | null;
  firstBadEventId: string | null;
  problem: string | null;
  /** The newest seal's hash (hex); keep it elsewhere to catch a rewritten chain. */
  headHash: string | null;
}

/** Recomputes the hash chain (audit.verify_chain) and reports the first problem. */
export async function verifyChain(client: ClientBase): Promise<ChainReport> {
  const { rows } = await client.query(
    `select intact, events_verified::int, seals_verified::int, events_unsealed::int,
            first_bad_event_id::text, problem, head_hash
     from audit.verify_chain()`,
  );
  const row = rows[0];
  return {
    intact: row.intact,
    eventsVerified: row.events_verified,
    sealsVerified: row.seals_verified,
    eventsUnsealed: row.events_unsealed,
    firstBadEventId: row.first_bad_event_id,
    problem: row.problem,
    headHash: row.head_hash,
  };
}

export interface SavedHead {
  /** The event whose sealed chain hash is the saved head; null when the chain never passes through it. */
  eventId: string | null;
  sealId: string | null;
  /** Events sealed after it. */
  sealedSince: number;
}

/**
 * Where an intact chain passes through `headHash` (hex), a hash the operator
 * kept from an earlier verify: always a seal's hash. Every seal's hash was
 * just recomputed by verifyChain, so the chain reaches the saved head exactly
 * when a seal holds it; when none does, seals were removed from the end or
 * the chain was rewritten since.
 */
export async function findSavedHead(client: ClientBase, headHash: string): Promise<SavedHead> {
  const { rows } = await client.query<{ event_id: string; seal_id: string; sealed_since: number }>(
    `select s.last_event_id::text as event_id, s.id::text as seal_id,
            (select coalesce(sum(cardinality(later.event_ids)), 0) from audit.seals later where later.id > s.id)::int as sealed_since
     from audit.seals s
     where s.hash = decode($1, 'hex')
     order by s.id
     limit 1`,
    [headHash],
  );
  const row = rows[0];
  return row ? { eventId: row.event_id, sealId: row.seal_id, sealedSince: row.sealed_since } : { eventId: null, sealId: null, sealedSince: 0 };
}
