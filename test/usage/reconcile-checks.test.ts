import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, testPlanId, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";
import { runWorkerOnce } from "../support/worker-once.ts";
import { createBillingCoach, createSession, deleteBillingCoach, insertAttempt, type BillingCoach } from "./helpers.ts";

// Reconcile as a stored check, through its doors: asked for over GraphQL by
// an admin or an auditor, run by the real worker (`custodian worker --once`),
// read back with when it ran and what usage_reconcile found. The range is a
// month of 2003 that only this file writes to: one attempt priced with a
// provider that has no rate, so that the check has a difference to keep.

const FROM = "2003-02-01";
const TO = "2003-03-01";
let admin: User;
let auditor: User;
let coach: BillingCoach;
const asked: string[] = [];

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "reconcile-admin");
  auditor = await createUser(rootPool(), "auditor", "reconcile-auditor");
  coach = await createBillingCoach(rootPool(), await testPlanId(rootPool()), "reconcile-coach");
  const session = await createSession(rootPool(), coach, 600);
  await insertAttempt(rootPool(), session, {
    status: "completed", seconds: 300, finishedAt: "2003-02-10T10:00:00Z", rate: { provider: "prov-without-rate", model: "m-reconcile" },
  });
  // Rated, and the day rolled up, as the worker's jobs do.
  await rootPool().query("select app_private.rebuild_usage_day('2003-02-10')");
});

afterAll(async () => {
  await rootPool().query("delete from app_public.usage_reconcile_checks where id = any($1::uuid[])", [asked]);
  await deleteBillingCoach(rootPool(), coach);
  await rootPool().query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await closeRootPool();
});

const checkFields = `rowId fromDay toDay requestedAt finishedAt seconds differenceCount error userByRequestedBy { displayName }
  differences(first: 200, orderBy: PRIMARY_KEY_ASC) { totalCount nodes { position checkName day subject expected actual } }`;

async function requestCheck(token: string, from = FROM, to = TO) {
  const { body } = await graphql(
    `mutation ($from: Date!, $to: Date!) { requestUsageReconcileCheck(input: { fromDay: $from, toDay: $to }) { result { ${checkFields} } } }`,
    { from, to }, token);
  const check = body.data?.requestUsageReconcileCheck?.result;
  if (check) asked.push(check.rowId);
  return { check, errors: body.errors };
}

async function latestCheck(token: string) {
  const { body } = await graphql(
    `query ($from: Date!, $to: Date!) { latestUsageReconcileCheck(fromDay: $from, toDay: $to) { ${checkFields} } }`, { from: FROM, to: TO }, token);
  expect(body.errors).toBeUndefined();
  return body.data!.latestUsageReconcileCheck;
}

async function worker() {
  const result = await runWorkerOnce();
  expect(result.stderr).not.toMatch(/error/i);
  expect(result.code).toBe(0);
}

/** What usage_reconcile finds for the range now, as the check keeps it. */
async function reconcileNow() {
  const { rows } = await rootPool().query(
    "select check_name, day::text, subject, expected, actual from app_public.usage_reconcile($1, $2)", [FROM, TO]);
  return rows.map((row, index) => ({
    position: index + 1, checkName: row.check_name, day: row.day, subject: row.subject, expected: row.expected, actual: row.actual,
  }));
}

test("an admin asks for a check of a range; the worker keeps exactly what usage_reconcile finds, with who asked, when it ran and how long it took", async () => {
  const token = await login(admin.email);
  const { check: waiting, errors } = await requestCheck(token);
  expect(errors).toBeUndefined();
  expect(waiting).toMatchObject({
    fromDay: FROM, toDay: TO, finishedAt: null, seconds: null, differenceCount: null, error: null,
    userByRequestedBy: { displayName: "reconcile-admin" }, differences: { totalCount: 0, nodes: [] },
  });
  // Asked again while it waits: the same check, not a second one.
  expect((await requestCheck(token)).check.rowId).toBe(waiting.rowId);
  expect((await latestCheck(token)).rowId).toBe(waiting.rowId);

  await worker();
  const finished = await latestCheck(token);
  const expected = await reconcileNow();
  expect(expected.map((row) => row.checkName)).toContain("unknown_provider_cost");
  expect(finished).toMatchObject({
    rowId: waiting.rowId, finishedAt: expect.any(String), seconds: expect.stringMatching(/^\d+\.\d{3}$/), error: null,
    differenceCount: expected.length, differences: { totalCount: expected.length, nodes: expected },
  });
  expect(Date.parse(finished.finishedAt)).toBeGreaterThanOrEqual(Date.parse(finished.requestedAt));

  // Once finished, asking again is a new check (the range's latest from then on).
  const { check: again } = await requestCheck(token);
  expect(again.rowId).not.toBe(waiting.rowId);
  expect((await latestCheck(token)).rowId).toBe(again.rowId);
  await worker();
  expect(await latestCheck(token)).toMatchObject({ rowId: again.rowId, differenceCount: expected.length });
});

test("an auditor may ask for a check too (it changes no figure); a coach can neither ask nor read one; a bad range is refused in words", async () => {
  const auditorToken = await login(auditor.email);
  const { check, errors } = await requestCheck(auditorToken);
  expect(errors).toBeUndefined();
  expect(check.userByRequestedBy).toEqual({ displayName: "reconcile-auditor" });
  await worker();

  const coachToken = await login(coach.user.email);
  const refused = await requestCheck(coachToken);
  expect(refused.check).toBeUndefined();
  expect(refused.errors?.[0]?.message).toBe("A coach may not use requestUsageReconcileCheck.");
  const read = await graphql(`query ($from: Date!, $to: Date!) { latestUsageReconcileCheck(fromDay: $from, toDay: $to) { rowId } }`,
    { from: FROM, to: TO }, coachToken);
  expect(read.body.errors?.[0]?.message).toBe("A coach may not use latestUsageReconcileCheck.");

  const inverted = await requestCheck(auditorToken, TO, FROM);
  expect(inverted.errors?.[0]?.message).toBe(`The range is empty or inverted: from (${TO}) must be before to (${FROM}).`);
});

test("a check that cannot be done keeps the error that stopped it, and running a finished check again changes nothing", async () => {
  // A range usage_reconcile refuses (over 10 years), written past the request's own refusal.
  const { rows: [check] } = await rootPool().query(
    "insert into app_public.usage_reconcile_checks (from_day, to_day, requested_by) values ('1990-01-01', '2005-01-01', $1) returning id", [admin.id]);
  asked.push(check.id);
  const run = async () => (await rootPool().query("select app_private.run_usage_reconcile_check($1) as n", [check.id])).rows[0].n;
  expect(await run()).toBeNull();
  const stored = async () => (await rootPool().query(
    "select finished_at is not null as finished, difference_count, error from app_public.usage_reconcile_checks where id = $1", [check.id])).rows[0];
  expect(await stored()).toEqual({
    finished: true, difference_count: null, error: "The range is longer than 10 years (1990-01-01 to 2005-01-01); ask for less.",
  });
  expect(await run()).toBeNull();
  expect(await stored()).toEqual({
    finished: true, difference_count: null, error: "The range is longer than 10 years (1990-01-01 to 2005-01-01); ask for less.",
  });
  const missing = await rootPool().query("select app_private.run_usage_reconcile_check(gen_random_uuid())").catch((error: Error) => error);
  expect((missing as Error).message).toMatch(/^There is no reconcile check [0-9a-f-]{36}\.$/);
});
