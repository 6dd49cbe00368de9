import pg from "pg";

let pool: pg.Pool | null = null;

/** A superuser pool on the test database, one per test file. */
export function rootPool(): pg.Pool {
  pool ??= new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 4 });
  return pool;
}

export async function closeRootPool(): Promise<void> {
  await pool?.end();
  pool = null;
}

/**
 * A session advisory lock of the tests' own, by name, on a connection of its
 * own (shared, or exclusive): test files that must not meet on the shared
 * database take turns by it. Resolves once held; call the result to let go.
 */
export async function holdTestLock(name: string, mode: "shared" | "exclusive" = "exclusive"): Promise<() => Promise<void>> {
  const holder = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await holder.connect();
  const lock = mode === "shared" ? "pg_advisory_lock_shared" : "pg_advisory_lock";
  await holder.query(`select pg_catalog.${lock}(pg_catalog.hashtext($1))`, [`custodian tests: ${name}`]);
  return () => holder.end();
}

/** Runs `work` in a transaction that is always rolled back (graphile/starter's manner). */
export async function withRootDb<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await rootPool().connect();
  try {
    await client.query("begin");
    return await work(client);
  } finally {
    await client.query("rollback");
    client.release();
  }
}

export interface Actor {
  id: string;
  role: "coach" | "admin" | "auditor";
}

/** For the rest of the transaction, act as this user, exactly as the API would; null is anonymous. */
export async function becomeUser(client: pg.ClientBase, user: Actor | null): Promise<void> {
  await client.query(
    `select pg_catalog.set_config('role', $1, true),
            pg_catalog.set_config('jwt.claims.user_id', $2, true),
            pg_catalog.set_config('jwt.claims.role', $3, true)`,
    [user ? `custodian_${user.role}` : "custodian_anonymous", user?.id ?? "", user?.role ?? ""],
  );
}

/** Back to the superuser, inside the same transaction. */
export async function becomeRoot(client: pg.ClientBase): Promise<void> {
  await client.query("reset role; select pg_catalog.set_config('jwt.claims.user_id', '', true)");
}

/** Runs a statement inside a savepoint and returns its error (or null), so the transaction goes on. */
export async function errorOf(client: pg.ClientBase, sql: string, values: unknown[] = []): Promise<{ code: string; message: string } | null> {
  await client.query("savepoint attempt");
  try {
    await client.query(sql, values);
    await client.query("release savepoint attempt");
    return null;
  } catch (error) {
    await client.query("rollback to savepoint attempt");
    return error as { code: string; message: string };
  }
}

/** Waits until `pid` is blocked on a lock, so that a test knows the second of two racers is really waiting. */
export async function waitUntilBlocked(client: pg.Pool | pg.ClientBase, pid: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { rows } = await client.query("select wait_event_type from pg_stat_activity where pid = $1", [pid]);
    if (rows[0]?.wait_event_type === "Lock") return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`backend ${pid} never waited for a lock`);
}

/** Runs `work` as this user in a transaction that commits, as a write through the API would (tests that commit clean up after themselves). */
export async function commitAs<T>(user: Actor, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await rootPool().connect();
  try {
    await client.query("begin");
    await becomeUser(client, user);
    // Attributed as the API attributes a request: a user's write.
    await client.query("select pg_catalog.set_config('custodian.actor_kind', 'user', true)");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}
