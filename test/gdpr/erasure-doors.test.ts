import { becomeUser, closeRootPool, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { rateAndRollUp } from "../support/console.ts";
import { deletePlantedClients, holdOffInspectionCopiesWhileThisFileRuns, plantClient, residuePlaces, usageFigures, verifiedErasureRequest, type PlantedClient } from "../support/gdpr.ts";
import { graphql, login } from "../support/http.ts";
import { runWorkerOnce } from "../support/worker-once.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// Erasures that commit: usage figures kept byte for byte, a killed erasure
// changes nothing, and the doors: GraphQL over HTTP and the worker.

let admin: User;
const planted: PlantedClient[] = [];

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "gdpr-erase-admin");
});
afterAll(async () => {
  await deletePlantedClients(rootPool(), planted);
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

async function plant(): Promise<PlantedClient> {
  const person = await plantClient(rootPool());
  planted.push(person);
  return person;
}

const figuresAsAdmin = (coachProfileId: string) =>
  withRootDb(async (client) => {
    await becomeUser(client, admin);
    return usageFigures(client, coachProfileId);
  });

test("usage events, rollups, invoices and analytics are byte-identical before and after an erasure", async () => {
  const person = await plant();
  await rateAndRollUp();
  const before = await figuresAsAdmin(person.coach.profileId);
  expect(JSON.parse(before).events).toHaveLength(3); // the coach's attempt and the client's completed and failed ones
  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  await rootPool().query("select app_public.erase_data_subject($1)", [requestId]);
  await rateAndRollUp();
  expect(await figuresAsAdmin(person.coach.profileId)).toBe(before);
});

test("an erasure killed midway leaves nothing changed, and the request runs again", async () => {
  const person = await plant();
  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  const snapshot = async () => (await rootPool().query(
    `select (select to_jsonb(c) from app_public.clients c where c.id = $1) as client,
       (select jsonb_agg(t.transcript_text order by t.id) from app_public.transcriptions t join app_public.coaching_sessions s on s.id = t.session_id where s.client_id = $1) as transcripts,
       (select state from app_public.data_subject_requests where id = $2) as state,
       (select key is not null from app_private.audit_subject_keys where subject_id = $1) as key_kept,
       (select count(*) from app_public.data_subject_erasures where request_id = $2) as erasures,
       (select count(*) from audit.events e where e.subject_id = $1) as events`, [person.clientId, requestId])).rows[0];
  const before = await snapshot();

  // A writer holding one of the client's transcriptions stops the erasure
  // after it has blanked their client row and sessions; then it is killed.
  const blocker = await rootPool().connect();
  const eraser = await rootPool().connect();
  eraser.on("error", () => {}); // its connection is killed on purpose
  try {
    await blocker.query("begin");
    await blocker.query(
      "select 1 from app_public.transcriptions t join app_public.coaching_sessions s on s.id = t.session_id where s.client_id = $1 for update of t",
      [person.clientId]);
    const { rows: [{ pid }] } = await eraser.query("select pg_backend_pid() as pid");
    const running = eraser.query("select app_public.erase_data_subject($1)", [requestId]).then(() => null, (error: Error) => error);
    await waitUntilBlocked(rootPool(), pid);
    const progress = await rootPool().query(
      "select count(*)::int as n from pg_locks where pid = $1 and relation = 'app_public.clients'::regclass and mode = 'RowExclusiveLock'", [pid]);
    expect(progress.rows[0].n).toBe(1); // it had written the client row
    await rootPool().query("select pg_terminate_backend($1)", [pid]);
    expect((await running)?.message).toMatch(/terminat/);
  } finally {
    await blocker.query("rollback");
    blocker.release();
    eraser.release(true);
  }
  expect(await snapshot()).toEqual(before);

  const { rows: [erasure] } = await rootPool().query("select residue_count, rows_erased from app_public.erase_data_subject($1)", [requestId]);
  expect(erasure).toEqual({ residue_count: 0, rows_erased: 5 });
  expect(await residuePlaces(rootPool(), person.identifiers, person.contents)).toEqual([]);
});

test("an admin erases over GraphQL, with the hold's reason when refused and an override; a coach cannot", async () => {
  const person = await plant();
  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  const hold = (await rootPool().query(
    "insert into app_public.legal_holds (client_id, reason) values ($1, 'Chargeback dispute 2026-41') returning id", [person.clientId])).rows[0].id;
  const mutation = `mutation ($id: UUID!, $override: String) {
    eraseDataSubject(input: { requestId: $id, overrideReason: $override }) {
      result { residueCount rowsErased rowsByTable overrideReason overriddenHoldId erasedBy request { state } } } }`;

  const coachAnswer = await graphql(mutation, { id: requestId }, await login(person.coach.user.email));
  expect(coachAnswer.body.errors?.[0]?.message).toBe("A coach may not use eraseDataSubject.");

  const token = await login(admin.email);
  const refused = await graphql(mutation, { id: requestId }, token);
  expect(refused.body.errors?.[0]?.message).toMatch(new RegExp(`^Cannot erase ${person.clientId}: legal hold ${hold} placed at .* covers them: Chargeback dispute 2026-41$`));
  expect((await rootPool().query("select state from app_public.data_subject_requests where id = $1", [requestId])).rows[0].state).toBe("verified");

  const erased = await graphql(mutation, { id: requestId, override: "Dispute settled in writing; hold release pending" }, token);
  expect(erased.body.errors).toBeUndefined();
  expect(erased.body.data!.eraseDataSubject.result).toEqual({
    residueCount: 0, rowsErased: 5,
    rowsByTable: { "app_public.clients": 1, "app_public.coaching_sessions": 2, "app_public.transcriptions": 2 },
    overrideReason: "Dispute settled in writing; hold release pending", overriddenHoldId: hold, erasedBy: admin.id,
    request: { state: "completed" },
  });
  const auditor = await createUser(rootPool(), "auditor", "gdpr-erase-auditor");
  try {
    const read = await graphql(`query ($id: UUID!) { dataSubjectRequest(rowId: $id) { state erasure { residueCount overriddenHold { reason } } } }`,
      { id: requestId }, await login(auditor.email));
    expect(read.body.data!.dataSubjectRequest).toEqual({ state: "completed", erasure: { residueCount: 0, overriddenHold: { reason: "Chargeback dispute 2026-41" } } });
  } finally {
    await rootPool().query("delete from app_public.users where id = $1", [auditor.id]);
  }
  // The client's coach reads the record of their client's erasure (counts only), as the request itself.
  const coachRead = await graphql(`{ dataSubjectErasures { nodes { requestId residueCount } } }`, {}, await login(person.coach.user.email));
  expect(coachRead.body.errors).toBeUndefined();
  expect(coachRead.body.data!.dataSubjectErasures.nodes).toEqual([{ requestId, residueCount: 0 }]);
});

test("the worker's gdpr_erase job erases a verified request; a job for an unverified one fails and changes nothing", async () => {
  const person = await plant();
  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  const unverified = (await rootPool().query(
    "insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1) returning id", [person.coach.clientId])).rows[0].id;
  const jobs: string[] = [];
  const result = await runWorkerOnce({}, async () => {
    for (const id of [unverified, requestId]) {
      const { rows: [job] } = await rootPool().query(
        "select id::text from graphile_worker.add_job('gdpr_erase', json_build_object('requestId', $1::text), max_attempts => 1)", [id]);
      jobs.push(job.id);
    }
  });
  expect(result.code).toBe(0);
  const refusal = `Request ${unverified} is received; only a verified \\(or in-progress\\) erasure request is run`;
  expect(result.stdout + result.stderr).toMatch(new RegExp(refusal));
  const { rows: [failedJob] } = await rootPool().query("select last_error from graphile_worker.jobs where id = $1", [jobs[0]]);
  expect(failedJob.last_error).toMatch(new RegExp(refusal));

  const states = await rootPool().query("select id, state from app_public.data_subject_requests where id = any($1) order by state", [[requestId, unverified]]);
  expect(states.rows).toEqual([{ id: unverified, state: "received" }, { id: requestId, state: "completed" }]);
  const record = await rootPool().query("select erased_by, residue_count from app_public.data_subject_erasures where request_id = $1", [requestId]);
  expect(record.rows).toEqual([{ erased_by: null, residue_count: 0 }]);
  const attributed = await rootPool().query(
    `select distinct t.actor_kind::text, t.task from audit.events e join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
     where e.table_name = 'data_subject_erasures' and e.new_values ->> 'request_id' = $1`, [requestId]);
  expect(attributed.rows).toEqual([{ actor_kind: "worker", task: "gdpr_erase" }]);
  expect(await residuePlaces(rootPool(), person.identifiers, person.contents)).toEqual([]);
  // The failed job stays queued (max attempts reached) until removed.
  const failed = await rootPool().query("select id::text from graphile_worker.complete_jobs(array[$1::bigint])", [jobs[0]]);
  expect(failed.rows).toEqual([{ id: jobs[0] }]);
  expect((await rootPool().query("select 1 from graphile_worker.jobs where id = $1", [jobs[1]])).rowCount).toBe(0);
});
