import type { ClientBase, Pool } from "pg";

/**
 * The sentence for each constraint and unique index a write can break, keyed
 * `schema.table constraint`. Their one home is SQL
 * (migrations/fixtures/domain/constraint-words.sql); the server reads them
 * once, before the first GraphQL request, and the error formatter answers a
 * violation with them.
 */
export type ConstraintWords = Map<string, string>;

export const constraintKey = (schema: string, table: string, constraint: string) => `${schema}.${table} ${constraint}`;

export async function loadConstraintWords(pool: Pool | ClientBase): Promise<ConstraintWords> {
  const { rows } = await pool.query<{ table_name: string; constraint_name: string; words: string }>(
    "select table_name, constraint_name, words from app_private.constraint_words()",
  );
  return new Map(rows.map((row) => [`${row.table_name} ${row.constraint_name}`, row.words]));
}

/** Words read once, on the first request that needs them, and kept. */
export function constraintWordsOnce(pool: Pool) {
  let words: ConstraintWords = new Map();
  let loading: Promise<void> | null = null;
  return {
    /** Loads the words unless already loaded (a failed load is tried again on the next request). */
    ready(): Promise<void> {
      loading ??= loadConstraintWords(pool).then(
        (loaded) => {
          words = loaded;
        },
        (error: unknown) => {
          loading = null;
          throw error;
        },
      );
      return loading;
    },
    get(schema: string, table: string, constraint: string): string | undefined {
      return words.get(constraintKey(schema, table, constraint));
    },
  };
}
export type ConstraintWordsCache = ReturnType<typeof constraintWordsOnce>;
