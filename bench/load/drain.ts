// After the load: the real worker finishes what the writes left it (rating,
// rollups, sealing, a queued retention run), queued now rather than waited for
// on the crontab, before the accounting reads the result.
import type pg from "pg";

async function waitUntil(client: pg.ClientBase, sql: string, what: string, timeoutSeconds: number, progress: (message: string) => void): Promise<boolean> {
  const until = performance.now() + timeoutSeconds * 1000;
  while (performance.now() < until) {
    const { rows: [row] } = await client.query(sql);
    if (row.done) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  progress(`gave up waiting for ${what} after ${timeoutSeconds} s`);
  return false;
}

const noJobsOf = (tasks: string[]) =>
  `not exists (select from graphile_worker.jobs where task_identifier in (${tasks.map((task) => `'${task}'`).join(", ")}))`;

const noRunningJobOf = (task: string) =>
  `not exists (select from graphile_worker.jobs where task_identifier = '${task}' and locked_at is not null)`;

/** Queues the worker's jobs one after the other and waits for each to leave nothing behind. Resolves to whether all did. */
export async function drainWorker(owner: pg.ClientBase, progress: (message: string) => void, timeoutSeconds = 180): Promise<boolean> {
  const queue = (task: string) => owner.query("select graphile_worker.add_job($1, '{}'::json, job_key := $1, max_attempts := 5)", [task]);
  let drained = await waitUntil(owner, `select ${noJobsOf(["retention_run", "gdpr_erase", "gdpr_erasure_run"])} as done`, "the retention run and the erasure", timeoutSeconds, progress);
  // A scheduled rating run queues the next one itself (usage_rate.ts), so a
  // rating job is always waiting: done is nothing left to rate and none running.
  await queue("usage_rate");
  drained = (await waitUntil(owner,
    `select ${noRunningJobOf("usage_rate")} and not exists (select from app_private.usage_records) as done`, "the rating", timeoutSeconds, progress)) && drained;
  await queue("usage_aggregate");
  drained = (await waitUntil(owner,
    `select ${noRunningJobOf("usage_aggregate")} and not exists (select from app_private.usage_dirty_days) as done`, "the rollups", timeoutSeconds, progress)) && drained;
  await queue("audit_seal");
  drained = (await waitUntil(owner,
    `select ${noRunningJobOf("audit_seal")} and (select events_unsealed = 0 from app_public.audit_chain_status()) as done`, "the seal", timeoutSeconds, progress)) && drained;
  return drained;
}
