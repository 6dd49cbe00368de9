import type pg from "pg";
import { becomeRoot, closeRootPool, withRootDb } from "../support/db.ts";
import {
  becomeRole, callsOf, fingerprintChanges, markTransactionStart, markerPattern, plantActors, plantVictim, probe,
  reachableFunctions, reachableRelations, rowsHolding, type ArgumentPool, type Call, type FuzzRole, type FuzzWorld, type Outcome, type Victim,
} from "../support/rls-fuzz.ts";

/**
 * Row-level security fuzz in plain SQL, as each role (SET ROLE and the JWT
 * claims, as the API sets them). Everything is generated from the catalog:
 * every table, view and function a role can reach, called with coach B's
 * keys. Coach A and anonymous callers must learn nothing about B: each read
 * gives the same answer with B's rows present and with them rolled back.
 * Nobody but an admin changes B's rows. Admins and auditors see every row
 * of B's the catalog holds, and an auditor writes nothing.
 */

afterAll(closeRootPool);

/**
 * Functions the fuzz does not call, each with why. The test fails when one of
 * them no longer exists, so the list cannot outlive its reason.
 */
const notCalled: Record<string, string> = {
  "app_public.authenticate(citext,text)":
    "records every attempt, naming the account asked for (that record is its purpose); what it answers for an unknown or wrong account is tested in test/auth/sign-in-audit.test.ts",
};

/** One rolled-back transaction on one snapshot: what other test files commit meanwhile is not seen, so two reads compare. */
function inSnapshot<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withRootDb(async (client) => {
    await client.query("set transaction isolation level repeatable read");
    await markTransactionStart(client);
    return work(client);
  });
}

interface Probes {
  reads: Call[];
  writes: Call[];
  uncallable: string[];
}

/** The reads (every relation; every function not volatile) and writes (every relation; volatile functions) a role attempts against B. */
async function probesFor(client: pg.ClientBase, role: FuzzRole, pool: ArgumentPool): Promise<Probes> {
  const pattern = markerPattern(pool.victim.markers);
  const probes: Probes = { reads: [], writes: [], uncallable: [] };
  const victimRows = pool.victimRows;
  for (const relation of await reachableRelations(client, role)) {
    probes.reads.push({
      label: `select from ${relation.name}`,
      sql: `select coalesce(pg_catalog.jsonb_agg(to_jsonb(x) order by to_jsonb(x)::text), '[]')::text as out from ${relation.name} x`,
      values: [],
    });
    const updated = relation.updatable[0] ?? relation.columns[0]!;
    probes.writes.push({ label: `update ${relation.name}.${updated} of B's rows`, sql: `update ${relation.name} x set "${updated}" = x."${updated}" where to_jsonb(x)::text ~ $1`, values: [pattern] });
    probes.writes.push({ label: `delete B's rows from ${relation.name}`, sql: `delete from ${relation.name} x where to_jsonb(x)::text ~ $1`, values: [pattern] });
    // A row like one of B's, pointing at B's parents, in the columns the role may set (or all, to be refused).
    const columns = (relation.insertable.length > 0 ? relation.insertable : relation.columns).map((column) => `"${column}"`).join(", ");
    const source = victimRows.get(relation.name)?.[0];
    probes.writes.push(source
      ? { label: `insert into ${relation.name} a row of B's`, sql: `insert into ${relation.name} (${columns}) select ${columns} from pg_catalog.jsonb_populate_record(null::${relation.name}, $1::jsonb)`, values: [source] }
      : { label: `insert into ${relation.name} default values`, sql: `insert into ${relation.name} default values`, values: [] });
  }
  for (const fn of await reachableFunctions(client, role)) {
    if (fn.signature in notCalled) continue;
    const calls = await callsOf(client, fn, pool);
    if (!calls) probes.uncallable.push(fn.signature);
    else (fn.volatility === "v" ? probes.writes : probes.reads).push(...calls);
  }
  return probes;
}

async function outcomes(client: pg.ClientBase, world: FuzzWorld, role: FuzzRole, calls: Call[]): Promise<Map<string, Outcome>> {
  await becomeRole(client, world, role);
  const results = new Map<string, Outcome>();
  for (const call of calls) results.set(call.label, await probe(client, call.sql, call.values));
  await becomeRoot(client);
  return results;
}

const shown = (outcome: Outcome | undefined) => (outcome === undefined ? "nothing" : "ok" in outcome ? outcome.ok.slice(0, 400) : `${outcome.error}: ${outcome.message}`);

/** Plants B, runs the role's reads with B present, rolls B back, runs them again: every answer must be the same. */
async function readsAboutVictim(client: pg.ClientBase, world: FuzzWorld, role: FuzzRole) {
  await client.query("savepoint before_victim");
  const victim = await plantVictim(client);
  const pool = await argumentPool(client, victim, world);
  const probes = await probesFor(client, role, pool);
  const withVictim = await outcomes(client, world, role, probes.reads);
  await client.query("rollback to savepoint before_victim");
  const withoutVictim = await outcomes(client, world, role, probes.reads);
  const differences = probes.reads
    .filter((call) => JSON.stringify(withVictim.get(call.label)) !== JSON.stringify(withoutVictim.get(call.label)))
    .map((call) => `${call.label}\n  with B:    ${shown(withVictim.get(call.label))}\n  without B: ${shown(withoutVictim.get(call.label))}`);
  return { victim, probes, withVictim, differences };
}

async function argumentPool(client: pg.ClientBase, victim: Victim, world: FuzzWorld): Promise<ArgumentPool> {
  const victimRows = await rowsHolding(client, victim.markers);
  const { rows } = await client.query("select new_values::text from audit.events where record_key ->> 'id' = $1 and new_values::text like '%$pii%' limit 1", [victim.coach.clientId]);
  return { victim, victimRows, sealedValues: rows[0]?.new_values ?? null, attacker: world.a };
}

/** Runs the writes as the role (each kept when accepted), then compares the rows holding `markers` before and after. */
async function writesAgainst(client: pg.ClientBase, world: FuzzWorld, role: FuzzRole, writes: Call[], markers: string[]) {
  const before = await rowsHolding(client, markers);
  await becomeRole(client, world, role);
  const accepted: string[] = [];
  for (const write of writes) {
    const outcome = await probe(client, write.sql, write.values, true);
    if ("ok" in outcome && !write.sql.startsWith("insert") && !write.sql.startsWith("select") && outcome.rowCount! > 0) {
      accepted.push(`${write.label}: ${outcome.rowCount} rows`);
    }
  }
  await becomeRoot(client);
  return { accepted, changes: fingerprintChanges(before, await rowsHolding(client, markers)) };
}

describe("row-level security fuzz in SQL, generated from the catalog", () => {
  test("the functions left out of the fuzz all still exist", () =>
    withRootDb(async (client) => {
      const { rows } = await client.query("select to_regprocedure(s) is not null as exists, s from unnest($1::text[]) s", [Object.keys(notCalled)]);
      expect(rows.filter((row) => !row.exists).map((row) => row.s)).toEqual([]);
    }));

  test.each(["coach", "anonymous"] as const)("as a %s, every read of every table, view and function answers the same whether coach B's rows exist or not", (role) =>
    inSnapshot(async (client) => {
      const world = await plantActors(client);
      const { probes, withVictim, differences } = await readsAboutVictim(client, world, role);
      expect(probes.uncallable).toEqual([]);
      expect(differences).toEqual([]);
      expect(probes.reads.length).toBeGreaterThan(role === "coach" ? 60 : 20);
      if (role === "coach") {
        // Not vacuous: coach A does read their own rows through the same probes.
        expect(shown(withVictim.get("select from app_public.clients"))).toContain(world.a.clientId);
      } else {
        const readable = [...withVictim].filter(([label, outcome]) => label.startsWith("select from") && "ok" in outcome && outcome.ok !== '[{"out":"[]"}]');
        expect(readable.map(([label]) => label)).toEqual([]);
      }
    }));

  test.each(["coach", "auditor", "anonymous"] as const)("as a %s, no update, delete, insert or volatile function changes coach B's rows", (role) =>
    inSnapshot(async (client) => {
      const world = await plantActors(client);
      const victim = await plantVictim(client);
      const probes = await probesFor(client, role, await argumentPool(client, victim, world));
      expect(probes.uncallable).toEqual([]);
      // An auditor changes nobody's rows: not B's, not A's.
      const markers = role === "auditor" ? [...victim.markers, world.a.user.id, world.a.profileId, world.a.clientId] : victim.markers;
      const { accepted, changes } = await writesAgainst(client, world, role, probes.writes, markers);
      expect(accepted).toEqual([]);
      expect(changes).toEqual([]);
      expect(probes.writes.length).toBeGreaterThan(60);
    }));

  test.each(["admin", "auditor"] as const)("an %s reads every row of coach B's in each relation they may select, and is refused the others", (role) =>
    inSnapshot(async (client) => {
      const world = await plantActors(client);
      const victim = await plantVictim(client);
      const pattern = markerPattern(victim.markers);
      const seen = async (relation: string) =>
        probe(client, `select count(*)::int as n from ${relation} x where to_jsonb(x)::text ~ $1`, [pattern]);
      const wrong: string[] = [];
      for (const relation of await reachableRelations(client, role)) {
        const asRoot = await seen(relation.name);
        await becomeRole(client, world, role);
        const asRole = await seen(relation.name);
        await becomeRoot(client);
        const expected = relation.canSelect ? shown(asRoot) : "42501";
        const got = relation.canSelect ? shown(asRole) : "error" in asRole ? asRole.error : shown(asRole);
        if (got !== expected) wrong.push(`${relation.name}: ${got}, expected ${expected}`);
      }
      expect(wrong).toEqual([]);
    }));
});
