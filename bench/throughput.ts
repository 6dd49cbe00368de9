import type pg from "pg";

/** One connection of the concurrent writers; `sent` counts its statements over the whole run and makes keys unique. */
export interface Worker {
  client: pg.Client;
  index: number;
  sent: number;
}

/** Runs one-statement transactions on every worker for `seconds`; returns statements per second, all workers together. */
export async function measureTps(workers: Worker[], seconds: number, statement: (worker: Worker) => pg.QueryConfig): Promise<number> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const counts = await Promise.all(
    workers.map(async (worker) => {
      let count = 0;
      while (performance.now() < deadline) {
        await worker.client.query(statement(worker));
        worker.sent++;
        count++;
      }
      return count;
    }),
  );
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - started) / 1000);
}
