import type { Task } from "graphile-worker";
import { inJobTransaction } from "../job-transaction.ts";

/** Records that the worker is alive and running jobs; /healthz reports it. */
const task: Task = async (_payload, helpers) => {
  await inJobTransaction(helpers, (client) =>
    client.query("select app_private.record_worker_heartbeat($1)", [helpers.job.id]),
  );
};

export default task;
