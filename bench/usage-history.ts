// The usage history the benches build at volume (bench.write_history of
// usage-setup.sql): events over two years for the coaches there are, written
// in time order, half a million per statement.
import type pg from "pg";
import { timed } from "./scratch-database.ts";

export const historyDays = 730;
const batchSize = 500_000;

/** Writes `events` usage events of history (before yesterday) and returns how long it took, in ms. Needs usage-setup.sql loaded. */
export async function writeHistory(admin: pg.Client, events: number, progress: (message: string) => void): Promise<number> {
  let written = 0;
  return timed(async () => {
    const slices = Math.ceil(events / batchSize);
    for (let slice = 0; slice < slices; slice++) {
      const batch = Math.min(batchSize, events - written);
      await admin.query("select bench.write_history($1, $2, 0.002, $3, $4)", [batch, historyDays, slice, slices]);
      written += batch;
      progress(`history: ${written} of ${events} events`);
    }
    // The invoices read the coach-month ledgers: they must hold the history too.
    await admin.query("select bench.keep_ledgers('-infinity')");
  });
}
