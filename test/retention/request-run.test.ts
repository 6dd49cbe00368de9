import { scratchDirectory } from "../support/archive.ts";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb, type Actor } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";
import { holdRetentionRuns } from "../support/retention.ts";
import { runWorkerOnce } from "../support/worker-once.ts";

// A retention run asked for from the console (app_public.request_retention_run):
// admins only, checked in plain SQL as each role; the job it queues carries
// who asked, and the real worker records them as the run's startedBy.

/** A dry run as of 2001 changes nothing; its instant is this file's own in the run log. */
const AS_OF = "2001-02-03T04:05:06.000Z";
const pool = rootPool();
let admin: User;
let auditor: User;
let coach: Coach;
let archive: { dir: string; remove: () => void };

let releaseRuns: (() => Promise<void>) | undefined;

beforeAll(async () => {
  releaseRuns = await holdRetentionRuns();
  admin = await createUser(pool, "admin", "retention-request-admin");
  auditor = await createUser(pool, "auditor", "retention-request-auditor");
  coach = await createCoach(pool, "retention-request-coach");
  archive = scratchDirectory("retention-request");
}, 300_000); // waits while another file's retention runs go on

afterAll(async () => {
  await pool.query("delete from app_public.retention_runs where as_of = $1", [AS_OF]);
  await deleteCoach(pool, coach);
  for (const user of [admin, auditor]) await pool.query("delete from app_public.users where id = $1", [user.id]);
  archive.remove();
  await closeRootPool();
  await releaseRuns?.();
});

const request = "select app_public.request_retention_run($1, $2, $3) as job_id";

/** Calls the function as this actor in a transaction that is rolled back; the job it queued (read as root) or its error. */
async function requestAs(actor: Actor, policy: string | null, dryRun: boolean, asOf: string | null) {
  return withRootDb(async (client) => {
    await becomeUser(client, actor);
    const error = await errorOf(client, request, [policy, dryRun, asOf]);
    if (error) return { error: { code: error.code, message: error.message }, job: null };
    const { rows: [{ job_id }] } = await client.query(request, [policy, dryRun, asOf]);
    await becomeRoot(client);
    const { rows: [job] } = await client.query(
      `select t.identifier as task_identifier, q.queue_name, j.max_attempts, j.payload from graphile_worker._private_jobs j
       join graphile_worker._private_tasks t on t.id = j.task_id left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
       where j.id = $1`, [job_id]);
    return { error: null, job };
  });
}

test("an admin queues a retention_run job naming the policy, dry run, as of and who asked; nothing is queued for anyone else", async () => {
  const queued = await requestAs(admin, "soft_deleted_clients", false, AS_OF);
  expect(queued).toEqual({
    error: null,
    job: {
      task_identifier: "retention_run", queue_name: "retention_run", max_attempts: 1,
      payload: { policy: "soft_deleted_clients", dryRun: false, asOf: "2001-02-03T04:05:06+00:00", startedBy: admin.id },
    },
  });
  // Every enabled policy, now, a dry run by default: no policy named, the instant pinned when asked.
  const all = await withRootDb(async (client) => {
    await becomeUser(client, admin);
    const { rows: [row] } = await client.query("select app_public.request_retention_run() as job_id, pg_catalog.now() as now");
    await becomeRoot(client);
    const { rows: [job] } = await client.query("select payload from graphile_worker._private_jobs where id = $1", [row.job_id]);
    return { payload: job.payload, now: row.now as Date };
  });
  expect(all.payload).toEqual({ dryRun: true, asOf: expect.any(String), startedBy: admin.id });
  expect(new Date(all.payload.asOf).getTime()).toBe(all.now.getTime());

  for (const actor of [auditor, coach.user]) {
    const refused = await requestAs(actor, "soft_deleted_clients", true, AS_OF);
    expect([actor.role, refused.error?.code, refused.error?.message]).toEqual([actor.role, "42501", "permission denied for function request_retention_run"]);
  }
});

test("an unknown policy, a real run as of a future instant and an unsaid dry run are refused in words; a dry run may look ahead", async () => {
  expect((await requestAs(admin, "no_such_policy", true, AS_OF)).error).toEqual({ code: "P0002", message: 'There is no retention policy "no_such_policy".' });
  const future = await requestAs(admin, null, false, "2999-01-01T00:00:00Z");
  expect(future.error?.code).toBe("22023");
  expect(future.error?.message).toMatch(/^A retention run cannot act as of 2999-01-01 .*: that is in the future, and rows would go before their time\. Only a dry run may look ahead\.$/);
  expect((await withRootDb(async (client) => {
    await becomeUser(client, admin);
    return errorOf(client, "select app_public.request_retention_run('soft_deleted_clients', null)");
  }))?.code).toBe("22004");
  expect((await requestAs(admin, null, true, "2999-01-01T00:00:00Z")).job?.payload).toMatchObject({ dryRun: true, asOf: "2999-01-01T00:00:00+00:00" });
});

test("a run asked for over GraphQL is done by the real worker and recorded as started by the admin who asked", async () => {
  const answer = await graphql<{ requestRetentionRun: { result: string } }>(
    `mutation { requestRetentionRun(input: { policy: "soft_deleted_clients", dryRun: true, asOf: "${AS_OF}" }) { result } }`,
    {}, await login(admin.email));
  expect(answer.body.errors).toBeUndefined();
  const jobId = answer.body.data!.requestRetentionRun.result;
  // An auditor is refused by the API too, and nothing is queued.
  const refused = await graphql(`mutation { requestRetentionRun(input: { dryRun: true }) { result } }`, {}, await login(auditor.email));
  expect(refused.body.errors?.[0]?.message).toBe("An auditor may not use requestRetentionRun.");

  const result = await runWorkerOnce({ ARCHIVE_DIR: archive.dir });
  expect(result.code).toBe(0);
  const { rows: [run] } = await pool.query(
    "select status, dry_run, policy_name, started_by, task from app_public.retention_runs where as_of = $1", [AS_OF]);
  expect(run).toEqual({ status: "finished", dry_run: true, policy_name: "soft_deleted_clients", started_by: admin.id, task: `worker retention_run (job ${jobId})` });
  expect((await pool.query("select count(*)::int as n from graphile_worker.jobs where id = $1", [jobId])).rows[0].n).toBe(0);
});
