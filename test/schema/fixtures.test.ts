import pg from "pg";
import { catalogSnapshot, custodianSchemas, fixtureFiles, isGeneratedFunction, readFixture, snapshotDifferences } from "../support/catalog.ts";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";

// A database of its own: running the fixtures drops and creates triggers and
// policies, whose exclusive locks would hold up (or deadlock with) the test
// files that run beside this one on the shared test database.
let client: pg.Client;
let scratch: ScratchDatabase;

beforeAll(async () => {
  scratch = await openScratchDatabase();
  const migrated = await runCli(["migrate"], testEnvironment({ DATABASE_URL: scratch.url }));
  expect(migrated).toMatchObject({ code: 0, stderr: "" });
  client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
}, 120_000);

afterAll(async () => {
  await client?.end();
  await scratch?.drop();
});

/** Runs every fixture file as a migration would (as the owner, with its settings); returns the failures. */
async function runEveryFixture(): Promise<string[]> {
  const failures: string[] = [];
  await client.query(`set local role custodian_owner;
    select pg_catalog.set_config('search_path', 'pg_catalog, public', true),
           pg_catalog.set_config('custodian.actor_kind', 'migration', true)`);
  for (const file of fixtureFiles()) {
    await client.query("savepoint fixture");
    try {
      await client.query(readFixture(file));
      await client.query("release savepoint fixture");
    } catch (error) {
      await client.query("rollback to savepoint fixture");
      failures.push(`${file}: ${(error as Error).message}`);
    }
  }
  await client.query("reset role");
  return failures;
}

/**
 * Takes away what the fixtures must give back: every privilege a role other
 * than the owner holds on Custodian's schemas, functions, tables and views,
 * every policy, and the comments on functions and views (but those of the
 * generated functions, which only their generators write). Grants add up, so
 * without this a grant missing from a fixture would go unnoticed. Objects
 * that were never granted anything keep their default (null) privileges.
 */
async function forgetRules(): Promise<void> {
  await client.query(`do $forget$
    declare
      roles text := (select pg_catalog.string_agg(pg_catalog.quote_ident(rolname), ', ') from pg_catalog.pg_roles
                     where rolname like 'custodian\\_%' and rolname <> 'custodian_owner') || ', public';
      object record;
    begin
      for object in
        select 'schema ' || pg_catalog.quote_ident(n.nspname) as name from pg_catalog.pg_namespace n
        where n.oid in (${custodianSchemas}) and n.nspacl is not null
        union all
        select 'function ' || p.oid::pg_catalog.regprocedure::text from pg_catalog.pg_proc p
        where p.pronamespace in (${custodianSchemas}) and p.proacl is not null
        union all
        select 'table ' || c.oid::pg_catalog.regclass::text from pg_catalog.pg_class c
        where c.relnamespace in (${custodianSchemas}) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and c.relacl is not null
      loop
        execute pg_catalog.format('revoke all on %s from %s', object.name, roles);
      end loop;
      for object in
        select pg_catalog.format('comment on function %s is null', p.oid::pg_catalog.regprocedure) as sql
        from pg_catalog.pg_proc p where p.pronamespace in (${custodianSchemas}) and not ${isGeneratedFunction("p")}
        union all
        select pg_catalog.format('comment on view %s is null', c.oid::pg_catalog.regclass) from pg_catalog.pg_class c
        where c.relnamespace in (${custodianSchemas}) and c.relkind = 'v'
        union all
        select pg_catalog.format('drop policy %I on %s', p.polname, p.polrelid::pg_catalog.regclass) from pg_catalog.pg_policy p
        join pg_catalog.pg_class c on c.oid = p.polrelid where c.relnamespace in (${custodianSchemas})
      loop
        execute object.sql;
      end loop;
    end
    $forget$`);
}

/** `work` in a transaction that is always rolled back. */
async function rolledBack<T>(work: () => Promise<T>): Promise<T> {
  await client.query("begin");
  try {
    return await work();
  } finally {
    await client.query("rollback");
  }
}

describe("migrations/fixtures holds the current text of every rule", () => {
  test("there are fixtures, in the feature folders", () => {
    const folders = new Set(fixtureFiles().map((file) => file.split("/")[0]));
    expect([...folders].sort()).toEqual(["archive", "audit", "auth", "domain", "gdpr", "retention", "soft-delete", "usage", "worker"]);
  });

  test("running every fixture again, after taking away every grant, policy and function comment, gives back the same functions, views, triggers, policies, grants and comments", () =>
    rolledBack(async () => {
      const before = await catalogSnapshot(client);
      expect(before.size).toBeGreaterThan(500);
      await forgetRules();
      expect(snapshotDifferences(before, await catalogSnapshot(client)).length).toBeGreaterThan(200);
      expect(await runEveryFixture()).toEqual([]);
      // A fixture older (or newer) than what the migrations made shows here by name.
      expect(snapshotDifferences(before, await catalogSnapshot(client))).toEqual([]);
    }));

  test("every function, view and policy of Custodian's schemas is defined by a fixture, except the per-table generated ones", () =>
    rolledBack(async () => {
      // An event trigger notes every object the fixtures create or replace,
      // whether a statement names it or a generator called by one does.
      await client.query(`
        create table public.fixture_definitions (identity text not null);
        create function public.note_fixture_definitions() returns event_trigger as $$
        begin
          insert into public.fixture_definitions
          select object_type || ' ' || object_identity from pg_catalog.pg_event_trigger_ddl_commands()
          where object_type in ('function', 'view', 'policy');
        end;
        $$ language plpgsql security definer;
        create event trigger note_fixture_definitions on ddl_command_end
          execute function public.note_fixture_definitions();`);
      expect(await runEveryFixture()).toEqual([]);
      const { rows } = await client.query<{ identity: string }>(`
        with custodian as (${custodianSchemas}),
        defined as (
          -- The capture and soft-delete trigger functions are generated per
          -- table (audit.enable_tracking, governance.enable_soft_delete); their
          -- home is their generator's fixture.
          select i.type || ' ' || i.identity as identity
          from pg_catalog.pg_proc p, lateral pg_catalog.pg_identify_object('pg_catalog.pg_proc'::regclass, p.oid, 0) i
          where p.pronamespace in (select oid from custodian)
            and not ${isGeneratedFunction("p")}
          union all
          select i.type || ' ' || i.identity
          from pg_catalog.pg_class c, lateral pg_catalog.pg_identify_object('pg_catalog.pg_class'::regclass, c.oid, 0) i
          where c.relnamespace in (select oid from custodian) and c.relkind in ('v', 'm')
          union all
          select i.type || ' ' || i.identity
          from pg_catalog.pg_policy p join pg_catalog.pg_class c on c.oid = p.polrelid,
            lateral pg_catalog.pg_identify_object('pg_catalog.pg_policy'::regclass, p.oid, 0) i
          where c.relnamespace in (select oid from custodian))
        select d.identity from defined d
        where d.identity not in (select f.identity from public.fixture_definitions f)
        order by 1`);
      expect(rows.map((row) => row.identity)).toEqual([]);
    }));
});
