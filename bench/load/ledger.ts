// What the load's clients saw: every write acknowledged (its door, table, row
// and the audit operation it must have left), every write sent whose answer
// never came (in doubt: it may or may not have committed), and the refusals.
// Only this, never the database's own view, is what the accounting checks.

/** Where a write came in: GraphQL as a coach, as an admin, as the transcription pipeline's account, or plain SQL. */
export type Door = "graphql_coach" | "graphql_admin" | "graphql_pipeline" | "sql";
/** The audit operations a write leaves (audit.operation): a soft delete and a restore are their own kinds. */
export type AuditOperation = "INSERT" | "UPDATE" | "SOFT_DELETE" | "RESTORE";

export interface Write {
  door: Door;
  table: string;
  id: string;
  operation: AuditOperation;
}

export class Ledger {
  readonly acknowledged: Write[] = [];
  /** Writes sent whose answer never came; an insert's id is then unknown. */
  readonly inDoubt: Array<Omit<Write, "id"> & { id?: string }> = [];
  /** Attempts whose move to completed or failed was acknowledged: each owes one usage event. */
  readonly terminalAttempts: string[] = [];
  /** Usage credits acknowledged, by the id of the event they wrote. */
  readonly credits: string[] = [];
  /** Erasure runs whose request was acknowledged: each owes an erasure once the worker has run it. */
  readonly erasureRuns: string[] = [];
  /** Retention runs whose request was acknowledged, by worker job id. */
  readonly retentionJobs: string[] = [];
  /** Clean refusals (the answer said no; nothing was written), by reason. */
  readonly refusals = new Map<string, number>();

  acknowledge(write: Write): void {
    this.acknowledged.push(write);
  }

  doubt(write: Omit<Write, "id"> & { id?: string }): void {
    this.inDoubt.push(write);
  }

  /** Writes outside the audit trail (credits, retention requests) left without an answer. */
  readonly otherInDoubt = new Map<string, number>();

  doubtOther(what: string): void {
    this.otherInDoubt.set(what, (this.otherInDoubt.get(what) ?? 0) + 1);
  }

  refuse(reason: string): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  /** Acknowledged writes per door. */
  byDoor(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const write of this.acknowledged) counts[write.door] = (counts[write.door] ?? 0) + 1;
    return counts;
  }
}
