// bench:load's accounting finds what is missing: an acknowledged write without
// its audit event, or of another kind, and a terminal attempt without its
// rated charge, are counted as lost; what is there and owed is not.
import crypto from "node:crypto";
import { auditAccounting, usageAccounting } from "../../bench/load/accounting.ts";
import { Ledger } from "../../bench/load/ledger.ts";
import { closeRootPool, withRootDb } from "../support/db.ts";
import { createCoach } from "../support/fixtures.ts";

afterAll(closeRootPool);

test("an acknowledged write counts as lost when its audit event is missing or of another kind, and only then", async () => {
  await withRootDb(async (client) => {
    const coach = await createCoach(client, "accounting");
    const ledger = new Ledger();
    ledger.acknowledge({ door: "sql", table: "clients", id: coach.clientId, operation: "INSERT" });
    ledger.acknowledge({ door: "sql", table: "coaching_sessions", id: coach.sessionId, operation: "INSERT" });
    expect(await auditAccounting(client, ledger)).toMatchObject({ lost: 0, unexpected: 0 });

    // A write acknowledged and never recorded, and one recorded as another kind.
    ledger.acknowledge({ door: "sql", table: "clients", id: crypto.randomUUID(), operation: "INSERT" });
    ledger.acknowledge({ door: "sql", table: "coaching_sessions", id: coach.sessionId, operation: "SOFT_DELETE" });
    const audit = await auditAccounting(client, ledger);
    expect(audit.lost).toBe(2);
    expect(audit.mismatches).toEqual({ "clients INSERT": { lost: 1, unexpected: 0 }, "coaching_sessions SOFT_DELETE": { lost: 1, unexpected: 0 } });

    // The soft delete done, its event is there and nothing is lost on that record.
    await client.query("delete from app_public.coaching_sessions where id = $1", [coach.sessionId]);
    expect((await auditAccounting(client, ledger)).mismatches).toEqual({ "clients INSERT": { lost: 1, unexpected: 0 } });
  });
});

test("an acknowledged terminal attempt counts as lost until its charge is rated, then exactly once", async () => {
  await withRootDb(async (client) => {
    const coach = await createCoach(client, "accounting");
    const ledger = new Ledger();
    ledger.terminalAttempts.push(coach.transcriptionId);
    expect(await usageAccounting(client, ledger)).toMatchObject({ lost: 1, duplicated: 0 });
    await client.query("select app_private.rate_usage_records(null)");
    expect(await usageAccounting(client, ledger)).toMatchObject({ lost: 0, duplicated: 0 });
  });
});
