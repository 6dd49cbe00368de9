import fs from "node:fs";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";
import { closeRootPool, rootPool, withRootDb } from "../support/db.ts";
import { coachOwnedTables, distributionViolations, readCatalog, type Violation } from "../support/distribution-lint.ts";
import { distributionPlan, knownGaps } from "./distribution-plan.ts";

// docs/scaling.md's plan past one node, checked against the catalog: what
// distributing the schema on Citus by coach_profile_id needs, and the gaps
// today's schema still has, each closed by a numbered step of the plan.

afterAll(closeRootPool);

let violations: Violation[];

beforeAll(async () => {
  const client = await rootPool().connect();
  try {
    violations = distributionViolations(await readCatalog(client), distributionPlan);
  } finally {
    client.release();
  }
});

describe("the schema against the plan to distribute it by coach (docs/scaling.md)", () => {
  test("no table, key, constraint, policy or trigger breaks a rule beyond the known gaps", () => {
    const known = new Set(knownGaps.map((entry) => entry.gap));
    const fresh = violations.filter((violation) => !known.has(violation.key)).map((violation) => violation.message);
    // A new break names the object and the rule; docs/scaling.md says why the rule holds on Citus.
    expect(fresh).toEqual([]);
  });

  test("every known gap still exists, so that the list only shrinks", () => {
    const found = new Set(violations.map((violation) => violation.key));
    const closed = knownGaps.filter((entry) => !found.has(entry.gap)).map((entry) => `${entry.gap} no longer breaks its rule: take it off knownGaps in test/schema/distribution-plan.ts`);
    expect(closed).toEqual([]);
  });

  test("each known gap names a step that docs/scaling.md describes", () => {
    const doc = fs.readFileSync(path.join(projectRoot, "docs", "scaling.md"), "utf8");
    const steps = new Set([...doc.matchAll(/^### Step (\d+)\b/gm)].map((match) => Number(match[1])));
    const missing = knownGaps.filter((entry) => !steps.has(entry.step)).map((entry) => `${entry.gap}: docs/scaling.md has no "### Step ${entry.step}"`);
    expect(missing).toEqual([]);
    expect(new Set(knownGaps.map((entry) => entry.gap)).size).toBe(knownGaps.length);
  });

  test("the coach-owned tables are recognised by their coach_profile_id or a foreign key to one, and all are distributed", async () => {
    const client = await rootPool().connect();
    try {
      const owned = coachOwnedTables(await readCatalog(client));
      expect([...owned.keys()].sort()).toEqual([
        "app_private.usage_coach_daily",
        "app_private.usage_ledgers",
        "app_private.usage_records",
        "app_public.clients",
        "app_public.coach_profiles",
        "app_public.coaching_sessions",
        "app_public.consents",
        "app_public.invoices",
        "app_public.processing_restrictions",
        "app_public.transcriptions",
        "app_public.usage_daily",
        "app_public.usage_events",
      ]);
      expect(owned.get("app_public.consents")).toBe("every row references a coach-owned app_public.clients (consents_client_id_fkey)");
      for (const table of owned.keys()) expect([table, distributionPlan.placement[table]?.placement]).toEqual([table, "distributed"]);
    } finally {
      client.release();
    }
  });

  test("a new coach-owned table that breaks the rules is named with each rule it breaks", () =>
    withRootDb(async (client) => {
      // Rolled back: a table as a careless migration might add it (no foreign keys, so no lock on a shared table).
      await client.query(`
        create table app_public.lint_probes (id uuid primary key, coach_profile_id uuid not null, code text not null unique);
        create policy coach_own on app_public.lint_probes for select to custodian_coach
          using (coach_profile_id = (select app_private.current_coach_profile_id()));`);
      const catalog = await readCatalog(client);
      const messages = (plan: typeof distributionPlan) =>
        distributionViolations(catalog, plan).filter((violation) => violation.key.includes("lint_probes")).map((violation) => violation.message);
      expect(messages(distributionPlan)).toEqual([
        "app_public.lint_probes has no place in the distribution plan (test/schema/distribution-plan.ts, docs/scaling.md): say whether it is distributed, a reference table or kept on the coordinator [rule placed]",
      ]);
      expect(messages({ placement: { ...distributionPlan.placement, "app_public.lint_probes": { placement: "reference" } } })).toEqual([
        "app_public.lint_probes is coach-owned (it has a NOT NULL coach_profile_id) but the plan keeps it as a reference table; coach-owned rows are distributed by coach_profile_id [rule coach-owned-distributed]",
      ]);
      expect(messages({ placement: { ...distributionPlan.placement, "app_public.lint_probes": { placement: "distributed" } } })).toEqual([
        "app_public.lint_probes: policy coach_own calls app_private.current_coach_profile_id, which reads the distributed app_public.coach_profiles: on a shard that is a distributed query from a query on a shard, which Citus refuses [rule policy-function]",
        "app_public.lint_probes: policy coach_own has a subquery; Citus refuses any subquery in a policy on a distributed table [rule policy-subquery]",
        "app_public.lint_probes: primary key lint_probes_pkey (id) does not include the distribution column coach_profile_id [rule primary-key]",
        "app_public.lint_probes: unique index lint_probes_code_key (code) does not include the distribution column coach_profile_id [rule unique]",
      ]);
    }));
});

