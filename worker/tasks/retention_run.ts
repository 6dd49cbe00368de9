import type { Task } from "graphile-worker";
import { archiveStoreFor } from "../../src/archive/store.ts";
import { loadConfig } from "../../src/config.ts";
import { UserError } from "../../src/errors.ts";
import { runRetention } from "../../src/retention/run.ts";

export interface RetentionRunPayload {
  /** One policy; every enabled policy when absent. */
  policy?: string;
  dryRun?: boolean;
  /** An ISO instant; now when absent. */
  asOf?: string;
}

export function assertRetentionRunPayload(payload: unknown): asserts payload is RetentionRunPayload {
  const { policy, dryRun, asOf } = (payload ?? {}) as Record<string, unknown>;
  const fine = (policy === undefined || typeof policy === "string")
    && (dryRun === undefined || typeof dryRun === "boolean")
    && (asOf === undefined || (typeof asOf === "string" && !Number.isNaN(Date.parse(asOf))));
  if (!fine || typeof payload !== "object" || payload === null) {
    throw new Error(`retention_run takes {"policy"?: name, "dryRun"?: boolean, "asOf"?: ISO instant}, not ${JSON.stringify(payload)}.`);
  }
}

/**
 * The daily retention run (worker/crontab): every enabled policy as of now,
 * batch by batch, each transaction attributed to this job. A run refused
 * because another is running is logged, not retried: the next day's run
 * picks up whatever is left.
 */
const task: Task = async (payload, helpers) => {
  assertRetentionRunPayload(payload);
  const store = archiveStoreFor(loadConfig());
  try {
    const { run, policies } = await helpers.withPgClient((client) => runRetention(client, store, {
      policy: payload.policy ?? null,
      dryRun: payload.dryRun ?? false,
      asOf: payload.asOf ? new Date(payload.asOf) : null,
      task: `worker ${helpers.job.task_identifier} (job ${helpers.job.id})`,
      attribute: async (client) => {
        await client.query(
          `select pg_catalog.set_config('custodian.actor_kind', 'worker', true),
                  pg_catalog.set_config('custodian.task', $1, true),
                  pg_catalog.set_config('custodian.job_id', $2, true)`,
          [helpers.job.task_identifier, String(helpers.job.id)],
        );
      },
    }));
    const failed = policies.filter((row) => row.status === "failed");
    helpers.logger.info(`retention_run: run ${run.id} ${run.status}: ${policies.map((row) =>
      `${row.policy_name} ${row.status} (archived ${row.rows_archived}, deleted ${row.rows_deleted}, anonymized ${row.rows_anonymized}, spared ${row.rows_spared_by_hold})`).join("; ")}`);
    if (failed.length > 0) helpers.logger.error(`retention_run: ${failed.map((row) => `${row.policy_name}: ${row.error}`).join("; ")}`);
  } catch (error) {
    if (error instanceof UserError) {
      helpers.logger.error(`retention_run: ${error.message}`);
      return;
    }
    throw error;
  }
};

export default task;
