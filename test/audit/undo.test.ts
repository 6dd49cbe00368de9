import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach, createUser } from "../support/fixtures.ts";

// audit_undo_sql and undo_audit_event: what can be undone from the trail, by
// whom, and what an undo leaves behind. Each test is rolled back.

afterAll(closeRootPool);

/** The undo of one event as the role sees it. */
async function undoSql(client: import("pg").PoolClient, table: string, record: string, eventId: string) {
  const { rows } = await client.query("select statement, problem from app_public.audit_undo_sql($1, to_jsonb($2::text), $3)", [table, record, eventId]);
  return rows[0] as { statement: string | null; problem: string | null };
}

async function lastEvent(client: import("pg").PoolClient, table: string, record: string): Promise<{ id: string; operation: string }> {
  const { rows } = await client.query(
    "select id::text, operation::text from app_public.audit_events($1, to_jsonb($2::text)) order by id desc limit 1",
    [table, record],
  );
  return rows[0];
}

test("an admin's undo of a coach's update puts the old values back as a new event, only while the record holds the new ones", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "undo-coach");
    const admin = await createUser(client, "admin", "undo-admin");
    await becomeUser(client, coach.user);
    await client.query("update app_public.clients set notes = 'Coach notes' where id = $1", [coach.clientId]);
    await becomeRoot(client);
    const update = await lastEvent(client, "clients", coach.clientId);
    expect(update.operation).toBe("UPDATE");

    await becomeUser(client, admin);
    expect(await undoSql(client, "clients", coach.clientId, update.id)).toEqual({
      statement: `update app_public.clients set notes = NULL where id = '${coach.clientId}' and notes is not distinct from 'Coach notes'`,
      problem: null,
    });
    await client.query("select app_public.undo_audit_event('clients', to_jsonb($1::text), $2)", [coach.clientId, update.id]);
    const { rows } = await client.query("select notes from app_public.clients where id = $1", [coach.clientId]);
    expect(rows[0].notes).toBeNull();
    const undo = await lastEvent(client, "clients", coach.clientId);
    expect(undo.id).not.toBe(update.id);
    expect(undo.operation).toBe("UPDATE");
    // (Who wrote is recorded once per transaction: test/console/audit.test.ts commits the undo and finds the admin.)

    // Again: the record no longer holds what the update wrote, so nothing changes.
    const again = await errorOf(client, "select app_public.undo_audit_event('clients', to_jsonb($1::text), $2)", [coach.clientId, update.id]);
    expect(again).toMatchObject({ code: "55000", message: `The record has changed since event ${update.id} (or no longer exists): nothing was undone.` });
  }));

test("an insert, erased personal data and an event the reader cannot see are not undone from the trail, and say why", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "undo-why");
    const other = await createCoach(client, "undo-other");
    const admin = await createUser(client, "admin", "undo-why-admin");
    const inserted = await lastEvent(client, "clients", coach.clientId);
    await becomeUser(client, admin);
    expect((await undoSql(client, "clients", coach.clientId, inserted.id)).problem).toBe(
      "An INSERT is undone by deleting the record through the API, not from the trail.",
    );
    await client.query("update app_public.clients set full_name = 'Renamed' where id = $1", [coach.clientId]);
    await becomeRoot(client);
    const rename = await lastEvent(client, "clients", coach.clientId);
    await client.query("select audit.destroy_subject_key($1)", [coach.clientId]);
    await becomeUser(client, admin);
    expect(await undoSql(client, "clients", coach.clientId, rename.id)).toEqual({
      statement: null,
      problem: "The values of full_name are personal data you may not read, or were erased: this change cannot be undone from here.",
    });
    await becomeUser(client, other.user);
    expect((await undoSql(client, "clients", coach.clientId, rename.id)).problem).toBe(`There is no event ${rename.id} of that record that you may read.`);
  }));

test("only admins may run an undo: a coach and an auditor are refused", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "undo-refused");
    const auditor = await createUser(client, "auditor", "undo-auditor");
    const event = await lastEvent(client, "clients", coach.clientId);
    for (const actor of [coach.user, auditor]) {
      await becomeUser(client, actor);
      const refused = await errorOf(client, "select app_public.undo_audit_event('clients', to_jsonb($1::text), $2)", [coach.clientId, event.id]);
      expect(refused?.code).toBe("42501");
    }
  }));
