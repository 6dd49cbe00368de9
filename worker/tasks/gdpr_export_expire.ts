import type { Task } from "graphile-worker";
import { inJobTransaction } from "../job-transaction.ts";

/**
 * Deletes the bytes of GDPR exports that have expired (the crontab runs it
 * hourly; downloads are refused from the instant an export expires). Each
 * export's record stays: when it was built, its size, hash and manifest, and
 * when its bytes were deleted.
 */
const task: Task = async (_payload, helpers) => {
  const deleted = await inJobTransaction(helpers, async (client) =>
    (await client.query<{ export_id: string; byte_size: string }>("select export_id, byte_size from app_private.delete_expired_data_subject_exports()")).rows);
  for (const row of deleted) helpers.logger.info(`gdpr_export_expire: deleted the ${row.byte_size} bytes of expired export ${row.export_id}`);
};

export default task;
