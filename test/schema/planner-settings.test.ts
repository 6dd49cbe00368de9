import { custodianSchemas } from "../support/catalog.ts";
import { closeRootPool, rootPool } from "../support/db.ts";

afterAll(closeRootPool);

// A function that turns nested loops off makes any plan that still needs one
// (a lateral with a volatile call, one coach's records) cost more than
// jit_above_cost, by the planner's penalty for a disabled node. Wherever
// PostgreSQL has JIT (most servers, not the embedded one the tests use), each
// such statement was compiled before it ran: a one-row UPDATE of a client
// took 0.6-1 s on PostgreSQL 15. So JIT goes off with nested loops.
test("every function that turns nested loops off also turns JIT off, the generated captures included", async () => {
  const { rows } = await rootPool().query<{ name: string; jit_off: boolean }>(`
    select p.oid::pg_catalog.regprocedure::text as name, 'jit=off' = any (p.proconfig) as jit_off
    from pg_catalog.pg_proc p
    where p.pronamespace in (${custodianSchemas}) and 'enable_nestloop=off' = any (p.proconfig)
    order by 1`);
  const names = rows.map((row) => row.name);
  // What the rule is about is there: the pricing and a capture per tracked table.
  expect(names).toContain("app_private.price_usage_records(uuid,integer)");
  expect(names.filter((name) => /^audit\.capture_\d+\(\)$/.test(name)).length).toBeGreaterThanOrEqual(4);
  expect(rows.filter((row) => !row.jit_off).map((row) => row.name)).toEqual([]);
});
