import { runOnce, type Task } from "graphile-worker";
import pg from "pg";
import { inJobTransaction } from "../../worker/job-transaction.ts";
import { ownerUrl } from "../../src/db/connection-strings.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

let coach: Coach;
beforeAll(async () => {
  coach = await createCoach(rootPool(), "attributed");
});
afterAll(async () => {
  await deleteCoach(rootPool(), coach);
  await closeRootPool();
});

/** Who wrote the latest update of a client, as the audit trail recorded it. */
async function lastClientUpdate(clientId: string) {
  const { rows } = await rootPool().query(
    `select e.new_values, t.actor_kind::text, t.user_id, t.user_role, t.request_id, t.client_ip, t.user_agent,
            t.task, t.job_id, t.database_role, t.session_user_name, t.application_name
     from audit.events e
     join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
     where e.table_name = 'clients' and e.record_key = jsonb_build_object('id', $1::uuid) and e.operation = 'UPDATE'
     order by e.id desc limit 1`,
    [clientId],
  );
  return rows[0];
}

async function updateNotesThroughApi(token: string, notes: string, requestId: string) {
  const { body } = await graphql<{ updateClient: { client: { notes: string } } }>(
    "mutation ($id: UUID!, $notes: String) { updateClient(input: { rowId: $id, patch: { notes: $notes } }) { client { notes } } }",
    { id: coach.clientId, notes },
    token,
    { "x-request-id": requestId, "user-agent": "attribution-test/1.0" },
  );
  expect(body.data?.updateClient.client.notes).toBe(notes);
}

test("a coach writing through the API is recorded as that user, with the request's id, address and user agent", async () => {
  await updateNotesThroughApi(await login(coach.user.email), "coach wrote this", "req-coach-1");
  expect(await lastClientUpdate(coach.clientId)).toMatchObject({
    actor_kind: "user",
    user_id: coach.user.id,
    user_role: "coach",
    request_id: "req-coach-1",
    client_ip: expect.stringMatching(/127\.0\.0\.1|::1/),
    user_agent: "attribution-test/1.0",
    database_role: "custodian_coach",
    session_user_name: "custodian_authenticator",
  });
});

test("an admin writing through the API is recorded as the admin", async () => {
  const admin = await createUser(rootPool(), "admin", "attribution-admin");
  try {
    await updateNotesThroughApi(await login(admin.email), "admin wrote this", "req-admin-1");
    expect(await lastClientUpdate(coach.clientId)).toMatchObject({
      actor_kind: "user",
      user_id: admin.id,
      user_role: "admin",
      request_id: "req-admin-1",
      database_role: "custodian_admin",
    });
  } finally {
    await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  }
});

test("plain SQL with no attribution is recorded as unknown, with the session user, role and application name", async () => {
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL, application_name: "psql-by-hand" });
  await client.connect();
  try {
    await client.query("set role custodian_owner");
    await client.query("update app_public.clients set notes = 'owner wrote this' where id = $1", [coach.clientId]);
  } finally {
    await client.end();
  }
  expect(await lastClientUpdate(coach.clientId)).toMatchObject({
    new_values: expect.objectContaining({ notes: expect.anything() }),
    actor_kind: "unknown",
    user_id: null,
    database_role: "custodian_owner",
    session_user_name: "postgres",
    application_name: "psql-by-hand",
  });
});

test("a worker job is recorded as the worker, with its task name and job id", async () => {
  const pool = new pg.Pool({ connectionString: ownerUrl(process.env.TEST_DATABASE_URL!), max: 2 });
  // Connections may be cut when the test database stops; that is not this test's concern.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  const writeNotes: Task = async (payload, helpers) => {
    const { clientId } = payload as { clientId: string };
    await inJobTransaction(helpers, (client) =>
      client.query("update app_public.clients set notes = 'a job wrote this' where id = $1", [clientId]),
    );
  };
  try {
    const { rows } = await pool.query("select id::text from graphile_worker.add_job('test_write_notes', json_build_object('clientId', $1::uuid))", [
      coach.clientId,
    ]);
    await runOnce({ pgPool: pool, taskList: { test_write_notes: writeNotes }, noHandleSignals: true });
    expect(await lastClientUpdate(coach.clientId)).toMatchObject({
      actor_kind: "worker",
      task: "test_write_notes",
      job_id: rows[0].id,
      database_role: "custodian_owner",
    });
  } finally {
    await pool.end();
  }
});

test("a Custodian command is recorded as system", async () => {
  const client = new pg.Client({ connectionString: ownerUrl(process.env.TEST_DATABASE_URL!) });
  await client.connect();
  try {
    await client.query("update app_public.clients set notes = 'custodian wrote this' where id = $1", [coach.clientId]);
  } finally {
    await client.end();
  }
  expect(await lastClientUpdate(coach.clientId)).toMatchObject({ actor_kind: "system", database_role: "custodian_owner" });
});

test("migrations are recorded as migrations: the migration that set up tracking is in the trail", async () => {
  const { rows } = await rootPool().query(
    `select distinct t.actor_kind::text
     from audit.events e
     join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
     where e.table_name = 'tracked_tables' and e.record_key = '{"table_oid": "app_public.clients"}'`,
  );
  expect(rows).toEqual([{ actor_kind: "migration" }]);
});

test("attribution is stored once per transaction, however many events it has", async () => {
  const client = await rootPool().connect();
  try {
    await client.query("begin");
    await client.query("update app_public.clients set notes = 'one' where id = $1", [coach.clientId]);
    await client.query("update app_public.coaching_sessions set title = 'two' where id = $1", [coach.sessionId]);
    const { rows } = await client.query(
      `select (select count(*)::int from audit.events where transaction_id = pg_current_xact_id()) as events,
              (select count(*)::int from audit.transactions where xact_id = pg_current_xact_id()) as attributions`,
    );
    expect(rows[0]).toEqual({ events: 2, attributions: 1 });
  } finally {
    await client.query("rollback");
    client.release();
  }
});

test("a session cannot skip its attribution by setting a variable", async () => {
  const client = await rootPool().connect();
  try {
    await client.query("begin");
    await client.query("select set_config('audit.attributed_transaction', pg_current_xact_id()::text, true)");
    await client.query("update app_public.clients set notes = 'unattributed?' where id = $1", [coach.clientId]);
    const { rows } = await client.query("select count(*)::int as n from audit.transactions where xact_id = pg_current_xact_id()");
    expect(rows[0].n).toBe(1);
  } finally {
    await client.query("rollback");
    client.release();
  }
});
