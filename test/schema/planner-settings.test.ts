import { authenticatorUrl, ownerUrl } from "../../src/db/connection-strings.ts";
import { makePool } from "../../src/db/pool.ts";
import { custodianSchemas } from "../support/catalog.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { TEST_AUTHENTICATOR_PASSWORD } from "../support/environment.ts";

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

// Custodian's own connections start with JIT off whatever the server says: the
// API's pool (with its statement timeout kept) and the owner's (the worker,
// the CLI, migrations).
test("every connection Custodian makes starts with JIT off, the API's keeping its statement timeout", async () => {
  const api = makePool(authenticatorUrl(process.env.TEST_DATABASE_URL!, TEST_AUTHENTICATOR_PASSWORD), 1, "test", 12_345);
  const owner = makePool(ownerUrl(process.env.TEST_DATABASE_URL!), 1, "test");
  try {
    expect((await api.query("select current_user, current_setting('jit') as jit, current_setting('statement_timeout') as timeout")).rows[0])
      .toEqual({ current_user: "custodian_authenticator", jit: "off", timeout: "12345ms" });
    expect((await owner.query("select current_user, current_setting('jit') as jit")).rows[0])
      .toEqual({ current_user: "custodian_owner", jit: "off" });
  } finally {
    await api.end();
    await owner.end();
  }
});
