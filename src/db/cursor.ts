import crypto from "node:crypto";
import type pg from "pg";

/**
 * A query's rows, a batch at a time, through a cursor: the caller's
 * transaction must be open. Abandoning the loop closes the cursor.
 */
export async function* cursorBatches<Row>(client: pg.ClientBase, sql: string, params: unknown[], batchSize = 500): AsyncGenerator<Row[]> {
  const name = `rows_${crypto.randomBytes(6).toString("hex")}`;
  await client.query({ text: `declare ${name} no scroll cursor for ${sql}`, values: params });
  try {
    for (;;) {
      const { rows } = await client.query<Row & pg.QueryResultRow>(`fetch ${batchSize} from ${name}`);
      if (rows.length > 0) yield rows;
      if (rows.length < batchSize) return;
    }
  } finally {
    await client.query(`close ${name}`);
  }
}
