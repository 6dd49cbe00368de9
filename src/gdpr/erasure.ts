import type pg from "pg";

/** What app_public.erase_data_subject records about one erasure (never the erased data). */
export interface ErasureRecord {
  id: string;
  requestId: string;
  subjectId: string;
  rowsByTable: Record<string, number>;
  rowsErased: number;
  valuesSearched: number;
  valuesSharedSkipped: number;
  residueCount: number;
  overrideReason: string | null;
}

/** Runs a verified erasure request in one transaction (the SQL decides everything); a failure leaves nothing changed. */
export async function runErasure(client: pg.ClientBase, requestId: string, overrideReason: string | null = null): Promise<ErasureRecord> {
  const { rows: [row] } = await client.query(
    `select id, request_id, subject_id, rows_by_table, rows_erased, values_searched, values_shared_skipped, residue_count, override_reason
     from app_public.erase_data_subject($1, $2)`,
    [requestId, overrideReason],
  );
  return {
    id: row.id,
    requestId: row.request_id,
    subjectId: row.subject_id,
    rowsByTable: row.rows_by_table,
    rowsErased: row.rows_erased,
    valuesSearched: row.values_searched,
    valuesSharedSkipped: row.values_shared_skipped,
    residueCount: row.residue_count,
    overrideReason: row.override_reason,
  };
}

/** One line for an operator or a log. */
export function describeErasure(erasure: ErasureRecord): string {
  const tables = Object.keys(erasure.rowsByTable).length;
  return `Erased ${erasure.subjectId} (request ${erasure.requestId}): ${erasure.rowsErased} rows in ${tables} tables anonymized, audit key destroyed; ` +
    `residue scan: ${erasure.residueCount} places still hold a former value (${erasure.valuesSearched} values searched, ` +
    `${erasure.valuesSharedSkipped} shared with other people not searched)` +
    (erasure.overrideReason ? `; legal hold overridden: ${erasure.overrideReason}` : "") + ".";
}

/** SQLSTATEs of the erasure's refusals: an operator's mistake, said in one line. */
export const erasureRefusals = new Set(["P0002", "22023", "55000", "22P02", "23514"]);
