import type pg from "pg";

type Client = pg.ClientBase;

/** Records a rating run could not price, by coach. */
export interface UnratableCoach {
  coachProfileId: string;
  records: number;
  reason: string;
}

export interface RatingResult {
  /** Records priced into usage events. */
  rated: number;
  /** Records left captured because they cannot be rated (kept, never dropped). */
  unratable: UnratableCoach[];
}

/**
 * Rates every captured usage record (app_private.rate_usage_records), `batch`
 * records per transaction: a run killed midway leaves every batch rated whole
 * or not at all, and the next run resumes where it stopped. Runs at once are
 * serialized by the SQL, so none rates a record twice.
 */
export async function rateCapturedUsage(client: Client, batch = 50_000, onBatch?: (rated: number) => void): Promise<RatingResult> {
  let rated = 0;
  for (;;) {
    await client.query("begin");
    let now: number;
    try {
      const { rows } = await client.query<{ rated: number }>("select rated from app_private.rate_usage_records($1)", [batch]);
      now = rows[0]!.rated;
      await client.query("commit");
    } catch (error) {
      await client.query("rollback");
      throw error;
    }
    rated += now;
    onBatch?.(now);
    if (now < batch) break;
  }
  const { rows } = await client.query<{ coach_profile_id: string; records: number; reason: string }>(
    `select coach_profile_id, count(*)::int as records, min(reason) as reason
     from app_private.unratable_usage_records() group by coach_profile_id order by coach_profile_id`,
  );
  return {
    rated,
    unratable: rows.map((row) => ({ coachProfileId: row.coach_profile_id, records: row.records, reason: row.reason })),
  };
}

/** The unratable records of a rating run in words, one line per coach; empty when there are none. */
export function describeUnratable(unratable: UnratableCoach[]): string[] {
  return unratable.map(({ records, reason }) => `${records} usage record${records === 1 ? "" : "s"} not rated: ${reason}`);
}
