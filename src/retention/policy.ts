/** A retention policy as app_public.retention_policies holds it. */
export interface RetentionPolicy {
  name: string;
  category: string;
  target_table: string;
  clock_column: string;
  period: string | null;
  action: "archive_then_delete" | "anonymize" | "delete" | "keep_forever";
  enabled: boolean;
}

/** What one policy's part of a run did: the run log's row (app_public.retention_run_policies). */
export interface RunPolicyRow {
  policy_name: string;
  action: RetentionPolicy["action"];
  status: "running" | "finished" | "failed" | "skipped";
  rows_archived: string;
  rows_deleted: string;
  cascade_rows_deleted: string;
  rows_anonymized: string;
  rows_spared_by_hold: string;
  archives_written: number;
  errors: number;
  error: string | null;
  note: string | null;
}

export interface RunRow {
  id: string;
  status: "running" | "finished" | "failed";
  dry_run: boolean;
  as_of: Date;
  policy_name: string | null;
  task: string | null;
  started_at: Date;
  finished_at: Date | null;
  error: string | null;
}

/** The SQLSTATEs with which the database refuses to start a run: the caller's to fix, said in one line. */
export const runRefusals = new Set(["55P03", "P0002", "22023", "22004"]);
