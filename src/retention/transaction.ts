import type pg from "pg";

/** Says who writes (a worker job, the command line) at the start of each transaction of a run. */
export type Attribution = (client: pg.ClientBase) => Promise<void>;

/**
 * One transaction of a run: begin, attribute, work, commit. A backend that
 * died mid-way cannot roll back; the original error is what matters then.
 */
export async function inRunTransaction<T>(
  client: pg.ClientBase,
  attribute: Attribution | undefined,
  work: () => Promise<T>,
  isolation: "read committed" | "repeatable read" = "read committed",
): Promise<T> {
  await client.query(`begin isolation level ${isolation}`);
  try {
    await attribute?.(client);
    const result = await work();
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  }
}
