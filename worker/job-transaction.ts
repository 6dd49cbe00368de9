import type { JobHelpers } from "graphile-worker";
import type { PoolClient } from "pg";

/**
 * Runs a job's SQL in one transaction that names the job, so that the audit
 * trail attributes its writes to this task and job; repeatable read when
 * everything it reads must show one instant.
 */
export function inJobTransaction<T>(
  helpers: JobHelpers,
  work: (client: PoolClient) => Promise<T>,
  isolation: "read committed" | "repeatable read" = "read committed",
): Promise<T> {
  return helpers.withPgClient(async (client) => {
    await client.query(`begin isolation level ${isolation}`);
    try {
      await client.query(
        `select pg_catalog.set_config('custodian.actor_kind', 'worker', true),
                pg_catalog.set_config('custodian.task', $1, true),
                pg_catalog.set_config('custodian.job_id', $2, true)`,
        [helpers.job.task_identifier, String(helpers.job.id)],
      );
      const result = await work(client as PoolClient);
      await client.query("commit");
      return result;
    } catch (error) {
      await client.query("rollback");
      throw error;
    }
  });
}
