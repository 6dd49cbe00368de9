import type { Task } from "graphile-worker";
import type { PoolClient } from "pg";
import { sealPendingEvents } from "../../src/audit/seal.ts";

/**
 * Seals new audit events into the hash chain, off the write path. Runs every
 * minute, so the newest sealed event is never much more than a minute old.
 */
const task: Task = async (_payload, helpers) => {
  const result = await helpers.withPgClient((client) => sealPendingEvents(client as PoolClient));
  if (result.horizon === null) {
    helpers.logger.warn("audit_seal: transactions still running after 10 s; sealing waits for the next run");
  } else if (result.sealed > 0) {
    helpers.logger.info(`audit_seal: sealed ${result.sealed} events up to id ${result.horizon}`);
  }
};

export default task;
