import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, type User } from "../support/fixtures.ts";
import { deleteErasedCoach, deletePlantedClients, holdOffInspectionCopiesWhileThisFileRuns, plantClient, residuePlaces, verifiedErasureRequest, type PlantedClient } from "../support/gdpr.ts";
import { graphql, login } from "../support/http.ts";
import { runWorkerOnce } from "../support/worker-once.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// An erasure asked for through the API and run by the worker (at volume the
// residue scan outlasts a request): requestDataSubjectErasure over GraphQL,
// the real worker (`custodian worker --once`), the run read back with its
// outcome, the erasure's record or the refusal that stopped it.

let admin: User;
let auditor: User;
const planted: PlantedClient[] = [];

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "erasure-run-admin");
  auditor = await createUser(rootPool(), "auditor", "erasure-run-auditor");
});
afterAll(async () => {
  await deletePlantedClients(rootPool(), planted);
  await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

async function plant(): Promise<PlantedClient> {
  const person = await plantClient(rootPool(), "erasure-run");
  planted.push(person);
  return person;
}

const runFields = `rowId requestId requestedAt finishedAt seconds overrideReason error requester { displayName }
  erasure { rowsErased residueCount overrideReason eraser { displayName } overriddenHold { reason } }`;

async function ask(token: string, requestId: string, overrideReason: string | null = null) {
  const { body } = await graphql(
    `mutation ($id: UUID!, $reason: String) { requestDataSubjectErasure(input: { requestId: $id, overrideReason: $reason }) { result { ${runFields} } } }`,
    { id: requestId, reason: overrideReason }, token);
  return { run: body.data?.requestDataSubjectErasure?.result, errors: body.errors };
}

async function requestAsStaff(token: string, requestId: string) {
  const { body } = await graphql(
    `query ($id: UUID!) { dataSubjectRequest(rowId: $id) { state latestErasureRun { ${runFields} } erasureRuns { totalCount } } }`, { id: requestId }, token);
  expect(body.errors).toBeUndefined();
  return body.data!.dataSubjectRequest;
}

async function runsOf(requestId: string): Promise<number> {
  return (await rootPool().query("select count(*)::int as n from app_public.data_subject_erasure_runs where request_id = $1", [requestId])).rows[0].n;
}

test("an admin asks for an erasure and the worker runs it as eraseDataSubject does, recorded as erased by that admin; asked again while it waits, the same run", async () => {
  const person = await plant();
  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  const token = await login(admin.email);
  const { run: waiting, errors } = await ask(token, requestId);
  expect(errors).toBeUndefined();
  expect(waiting).toMatchObject({
    requestId, finishedAt: null, seconds: null, error: null, erasure: null, overrideReason: null, requester: { displayName: "erasure-run-admin" },
  });
  expect((await ask(token, requestId)).run.rowId).toBe(waiting.rowId);
  expect(await requestAsStaff(token, requestId)).toMatchObject({ state: "verified", latestErasureRun: { rowId: waiting.rowId }, erasureRuns: { totalCount: 1 } });

  expect((await runWorkerOnce()).code).toBe(0);
  const read = await requestAsStaff(await login(auditor.email), requestId);
  expect(read).toMatchObject({
    state: "completed",
    latestErasureRun: {
      rowId: waiting.rowId, finishedAt: expect.any(String), seconds: expect.stringMatching(/^\d+\.\d{3}$/), error: null,
      erasure: { rowsErased: 5, residueCount: 0, overrideReason: null, eraser: { displayName: "erasure-run-admin" }, overriddenHold: null },
    },
  });
  expect(await residuePlaces(rootPool(), person.identifiers, person.contents)).toEqual([]);
  // The erasure's writes are the worker's, for the run's task; the record names the admin who asked.
  const attributed = await rootPool().query(
    `select distinct t.actor_kind::text, t.task from audit.events e join audit.transactions t on t.xact_id = e.transaction_id and t.started_at = e.occurred_at
     where e.table_name = 'data_subject_erasures' and e.new_values ->> 'request_id' = $1`, [requestId]);
  expect(attributed.rows).toEqual([{ actor_kind: "worker", task: "gdpr_erasure_run" }]);

  // Done: asking again is refused in the erasure's words, and queues nothing.
  const again = await ask(token, requestId);
  expect(again.errors?.[0]?.message).toMatch(new RegExp(`^Request ${requestId} is completed; only a verified \\(or in-progress\\) erasure request is run`));
  expect(await runsOf(requestId)).toBe(1);
});

test("what can be refused at once is, in the erasure's words, queuing nothing: coaches and auditors, an unverified request, a legal hold without an override reason; with one the run erases under the hold", async () => {
  const person = await plant();
  const token = await login(admin.email);
  const unverified = (await rootPool().query(
    "insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1) returning id", [person.clientId])).rows[0].id;
  expect((await ask(token, unverified)).errors?.[0]?.message).toMatch(new RegExp(`^Request ${unverified} is received; only a verified`));
  expect(await runsOf(unverified)).toBe(0);

  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  expect((await ask(await login(person.coach.user.email), requestId)).errors?.[0]?.message).toBe("A coach may not use requestDataSubjectErasure.");
  expect((await ask(await login(auditor.email), requestId)).errors?.[0]?.message).toBe("An auditor may not use requestDataSubjectErasure.");
  const hold = (await rootPool().query(
    "insert into app_public.legal_holds (client_id, reason) values ($1, 'Tax inspection 2026-07') returning id", [person.clientId])).rows[0].id;
  expect((await ask(token, requestId)).errors?.[0]?.message).toMatch(new RegExp(`^Cannot erase ${person.clientId}: legal hold ${hold} placed at .* covers them: Tax inspection 2026-07$`));
  expect(await runsOf(requestId)).toBe(0);

  const { run, errors } = await ask(token, requestId, "Inspection closed; release pending");
  expect(errors).toBeUndefined();
  expect(run).toMatchObject({ overrideReason: "Inspection closed; release pending", finishedAt: null });
  expect((await runWorkerOnce()).code).toBe(0);
  expect((await requestAsStaff(token, requestId)).latestErasureRun).toMatchObject({
    rowId: run.rowId, error: null,
    erasure: { overrideReason: "Inspection closed; release pending", overriddenHold: { reason: "Tax inspection 2026-07" }, eraser: { displayName: "erasure-run-admin" } },
  });
});

test("residue written while a run waits refuses it when it runs: nothing changes, the run keeps the refusal and what to do; asking again is a new run", async () => {
  const person = await plant();
  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  const token = await login(admin.email);
  const { run } = await ask(token, requestId);
  const other = await createCoach(rootPool(), "erasure-run-other");
  try {
    await rootPool().query("update app_public.clients set notes = $2 where id = $1", [other.clientId, `Referred by ${person.identifiers[0]}.`]);
    expect((await runWorkerOnce()).code).toBe(0);
    const read = await requestAsStaff(token, requestId);
    expect(read.state).toBe("verified");
    expect(read.latestErasureRun).toMatchObject({ rowId: run.rowId, finishedAt: expect.any(String), erasure: null });
    expect(read.latestErasureRun.error).toMatch(new RegExp(
      `^Erasure of ${person.clientId} refused: their former values can still be read in 2 place\\(s\\): app_public\\.clients\\.notes \\{"id": "${other.clientId}"\\}; ` +
      `audit\\.events\\.new_values .* Another person's record or a record kept by law mentions them; rectify it, then run the erasure again\\.$`));
    expect((await rootPool().query("select full_name from app_public.clients where id = $1", [person.clientId])).rows[0].full_name).toBe(person.identifiers[0]);

    const again = await ask(token, requestId);
    expect(again.errors).toBeUndefined();
    expect(again.run.rowId).not.toBe(run.rowId);
    expect((await requestAsStaff(token, requestId)).latestErasureRun.rowId).toBe(again.run.rowId);
    // Rectified, the note no longer names them; the trail's copies still do (sealed under the other client's key, which stays): refused again, naming only those.
    await rootPool().query("update app_public.clients set notes = 'Referred by a former client.' where id = $1", [other.clientId]);
    expect((await runWorkerOnce()).code).toBe(0);
    const second = (await requestAsStaff(token, requestId)).latestErasureRun;
    expect(second).toMatchObject({ rowId: again.run.rowId, finishedAt: expect.any(String), erasure: null });
    expect(second.error).toMatch(/refused: their former values can still be read in 2 place\(s\): audit\.events\.(new|old)_values .*; audit\.events\.(new|old)_values /);
  } finally {
    await rootPool().query("update app_public.clients set notes = null where id = $1", [other.clientId]);
    await deleteErasedCoach(rootPool(), other);
  }
});

test("a failure that may pass (here a lock not granted in time) is not kept as the run's outcome: the try raises (its job fails, for the worker to try again), the run stays waiting, and the next try erases", async () => {
  const person = await plant();
  const requestId = await verifiedErasureRequest(rootPool(), person.clientId);
  const token = await login(admin.email);
  const { run } = await ask(token, requestId);
  // Another transaction holds the client's row; the run's try gives up on it after 200 ms.
  const holder = await rootPool().connect();
  const tried = await rootPool().connect();
  try {
    await holder.query("begin");
    await holder.query("select 1 from app_public.clients where id = $1 for update", [person.clientId]);
    await tried.query("begin");
    await tried.query("set local lock_timeout = '200ms'");
    await expect(tried.query("select * from app_private.run_data_subject_erasure($1)", [run.rowId]))
      .rejects.toMatchObject({ code: "55P03" });
    await tried.query("rollback");
  } finally {
    await holder.query("rollback");
    holder.release();
    tried.release();
  }
  expect((await requestAsStaff(token, requestId)).latestErasureRun).toMatchObject({ rowId: run.rowId, finishedAt: null, error: null, erasure: null });

  expect((await runWorkerOnce()).code).toBe(0);
  expect((await requestAsStaff(token, requestId)).latestErasureRun).toMatchObject({
    rowId: run.rowId, finishedAt: expect.any(String), error: null, erasure: { residueCount: 0 },
  });
});
