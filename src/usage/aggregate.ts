import type pg from "pg";

type Client = pg.ClientBase;

/** Runs `work` in its own transaction: a run killed midway leaves every day either rebuilt or as it was. */
async function inTransaction<T>(client: Client, work: () => Promise<T>): Promise<T> {
  await client.query("begin");
  try {
    const result = await work();
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

/**
 * Rolls up every day touched by usage events written since the last run (late
 * ones included) or marked by hand: first the days are marked and the
 * watermark moved, in one transaction; then the days are rebuilt, a month of
 * days per transaction. Returns how many days were rebuilt.
 */
export async function rollUpDirtyDays(client: Client): Promise<number> {
  await inTransaction(client, () => client.query("select app_private.mark_new_usage_days_dirty()"));
  let total = 0;
  for (;;) {
    const rebuilt = await inTransaction(client, async () => {
      const { rows } = await client.query<{ rebuilt: number }>("select app_private.rebuild_dirty_usage_days(31) as rebuilt");
      return rows[0]!.rebuilt;
    });
    if (rebuilt === 0) return total;
    total += rebuilt;
  }
}

/** The days that have usage events, first and last; null when there are none. */
export async function usageEventDays(client: Client): Promise<{ from: string; to: string } | null> {
  const { rows } = await client.query<{ first_day: string | null; last_day: string | null }>(
    "select first_day::text, last_day::text from app_private.usage_event_days()",
  );
  const { first_day: from, last_day: to } = rows[0]!;
  return from && to ? { from, to } : null;
}

/**
 * Rebuilds every day from `from` to `to` (both included, YYYY-MM-DD), one
 * transaction per day. New events' days are marked first, as the job does, so
 * that the watermark moves: a day rebuilt here is then settled for readers.
 */
export async function rebuildDays(client: Client, from: string, to: string, onDay: () => void): Promise<number> {
  await inTransaction(client, () => client.query("select app_private.mark_new_usage_days_dirty()"));
  const { rows } = await client.query<{ day: string }>(
    "select d::date::text as day from generate_series($1::date, $2::date, interval '1 day') d",
    [from, to],
  );
  for (const { day } of rows) {
    await inTransaction(client, () => client.query("select app_private.rebuild_usage_day($1::date)", [day]));
    onDay();
  }
  return rows.length;
}
