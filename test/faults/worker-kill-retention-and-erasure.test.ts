import type pg from "pg";
import { becomeUser } from "../support/db.ts";
import { scratchDirectory } from "../support/archive.ts";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import {
  holdLocks, jobState, killWorker, reconcileDifferences, startWorkerProcess, testPool,
  waitUntilJobDone, waitUntilOnlyTestSessions, waitUntilWaitingOn,
} from "../support/faults.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";
import { createCoach, createUser, type User } from "../support/fixtures.ts";
import { plantClient, residuePlaces, verifiedErasureRequest } from "../support/gdpr.ts";
import { cascadeRows, committed, plantDeletedClient } from "../support/retention.ts";

// kill -9 of `custodian worker` in the middle of a retention run and of an
// erasure, on a database of this file's own. A session of the test holds a
// row the task reaches halfway through; once the worker's session waits on
// it, the worker is killed.

const AS_OF = "2001-01-01T00:00:00.000Z";
let scratch: ScratchDatabase;
let db: pg.Pool;
let env: Record<string, string>;
let archive: { dir: string; remove: () => void };
let admin: User;

beforeAll(async () => {
  scratch = await openScratchDatabase();
  archive = scratchDirectory("faults-retention");
  env = testEnvironment({ DATABASE_URL: scratch.url, ARCHIVE_DIR: archive.dir });
  expect((await runCli(["migrate"], env)).code).toBe(0);
  db = testPool(scratch.url);
  admin = await createUser(db, "admin", "faults-admin");
}, 120_000);

afterAll(async () => {
  await db?.end();
  await scratch?.drop();
  archive?.remove();
});

async function chainVerifies(): Promise<void> {
  expect(await runCli(["audit", "seal"], env)).toMatchObject({ code: 0 });
  expect(await runCli(["audit", "verify"], env)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Audit trail intact: /) });
}

/** An admin asks for a real run of one policy, as the console does (app_public.request_retention_run). Returns the job's id. */
async function requestRun(policy: string): Promise<string> {
  return committed(db, async (client) => {
    await becomeUser(client, admin);
    const { rows: [job] } = await client.query("select app_public.request_retention_run($1, false, $2)::text as id", [policy, AS_OF]);
    return job.id;
  });
}

const rowsOf = async (clientIds: string[]) => Object.fromEntries(await Promise.all(clientIds.map(async (id) => [id, await cascadeRows(db, id)])));
const countOf = (rows: Record<string, Record<string, unknown[]>>) => Object.values(rows).flatMap((tables) => Object.values(tables)).flat().length;

test("killed between a retention archive and its removal: every row stays, the run and its policy close as abandoned, the queue is free and the next run removes exactly the archived rows", async () => {
  const coach = await createCoach(db, "retention-fault");
  const clients: string[] = [];
  for (const month of ["02", "03", "04"]) clients.push(await committed(db, (client) => plantDeletedClient(client, coach, `2000-${month}-01T00:00:00Z`, `fault-${month}`)));
  const before = await rowsOf(clients);
  expect(countOf(before)).toBe(15);

  const worker = await startWorkerProcess(env);
  // The run archives all three and verifies the archive, then waits to remove the second client, which the test holds.
  const holder = await holdLocks(db, `select 1 from app_public.clients where id = '${clients[1]}' for update`);
  const jobId = await requestRun("soft_deleted_clients");
  await waitUntilWaitingOn(db, holder.pid, "the run waits to remove the held client");
  await killWorker(worker);
  await waitUntilOnlyTestSessions(db);
  await holder.release();

  expect(await rowsOf(clients)).toEqual(before);
  const { rows: [dead] } = await db.query("select id, status from app_public.retention_runs where task = $1", [`worker retention_run (job ${jobId})`]);
  expect(dead.status).toBe("running");
  const { rows: archives } = await db.query("select id, verified_at is not null as verified, rows_removed_at from app_public.retention_archives where run_id = $1", [dead.id]);
  expect(archives).toEqual([{ id: expect.any(String), verified: true, rows_removed_at: null }]);
  expect(await jobState(db, jobId)).toMatchObject({ queue_name: "retention_run", locked_by: worker.poolId });

  const restarted = await startWorkerProcess(env);
  try {
    // Released as the worker starts: the job (one attempt) failed in words, the run and its policy closed, the queue free.
    expect(await jobState(db, jobId)).toMatchObject({ locked_by: null, attempts: 1, max_attempts: 1, last_error: expect.stringMatching(/^The worker process running it died/) });
    const abandoned = "Abandoned: the process running it ended before it finished. What it archived but had not removed is resumed by the next run.";
    expect((await db.query("select status, error from app_public.retention_runs where id = $1", [dead.id])).rows).toEqual([{ status: "failed", error: abandoned }]);
    expect((await db.query("select status, error from app_public.retention_run_policies where run_id = $1", [dead.id])).rows)
      .toEqual([{ status: "failed", error: abandoned }]);
    expect(restarted.output().stderr).toContain("closed 1 retention run(s) a dead process left running, as failed");

    // The next run asked for goes through the same queue at once, and removes exactly what the archive holds.
    const next = await requestRun("soft_deleted_clients");
    await waitUntilJobDone(db, next);
    expect(countOf(await rowsOf(clients))).toBe(0);
    expect((await db.query("select rows_removed_at is not null as removed from app_public.retention_archives where id = $1", [archives[0].id])).rows)
      .toEqual([{ removed: true }]);
    const { rows: [run] } = await db.query("select id, status from app_public.retention_runs where task = $1", [`worker retention_run (job ${next})`]);
    expect(run.status).toBe("finished");
    expect((await db.query("select status, rows_archived::int, rows_deleted::int, cascade_rows_deleted::int from app_public.retention_run_policies where run_id = $1", [run.id])).rows)
      .toEqual([{ status: "finished", rows_archived: 0, rows_deleted: 3, cascade_rows_deleted: 12 }]);
  } finally {
    await restarted.stop();
  }
  expect(await reconcileDifferences(db)).toEqual([]);
  await chainVerifies();
});

test("killed in the middle of an erasure: the person is not half erased (every value still where it was, the request still verified), and the released job erases them whole", async () => {
  const planted = await plantClient(db, "erasure-fault");
  const requestId = await verifiedErasureRequest(db, planted.clientId);
  const places = await residuePlaces(db, planted.identifiers, planted.contents);
  expect(places.length).toBeGreaterThan(3);
  const { rows: [transcription] } = await db.query(
    "select t.id from app_public.transcriptions t join app_public.coaching_sessions s on s.id = t.session_id where s.client_id = $1 and t.status = 'completed'",
    [planted.clientId]);

  const worker = await startWorkerProcess(env);
  // The erasure blanks the client and their sessions, then waits on the transcription the test holds.
  const holder = await holdLocks(db, `select 1 from app_public.transcriptions where id = '${transcription.id}' for update`);
  const { rows: [job] } = await db.query("select id::text from graphile_worker.add_job('gdpr_erase', json_build_object('requestId', $1::text))", [requestId]);
  await waitUntilWaitingOn(db, holder.pid, "the erasure waits on the held transcription");
  await killWorker(worker);
  await waitUntilOnlyTestSessions(db);
  await holder.release();

  expect(await residuePlaces(db, planted.identifiers, planted.contents)).toEqual(places);
  expect((await db.query("select state from app_public.data_subject_requests where id = $1", [requestId])).rows).toEqual([{ state: "verified" }]);
  expect((await db.query("select count(*)::int as n from app_public.data_subject_erasures where request_id = $1", [requestId])).rows[0].n).toBe(0);

  // A job with attempts left runs again as soon as the restarted worker releases it.
  const restarted = await startWorkerProcess(env);
  try {
    expect(restarted.output().stderr).toContain(`released job ${job.id} (gdpr_erase) of worker pool ${worker.poolId}, which is gone: it runs again now (attempt 2 of 25)`);
    await waitUntilJobDone(db, job.id);
  } finally {
    await restarted.stop();
  }
  expect(await residuePlaces(db, planted.identifiers, planted.contents)).toEqual([]);
  expect((await db.query("select state from app_public.data_subject_requests where id = $1", [requestId])).rows).toEqual([{ state: "completed" }]);
  expect((await db.query("select count(*)::int as n from app_public.data_subject_erasures where request_id = $1", [requestId])).rows[0].n).toBe(1);
  expect(await reconcileDifferences(db)).toEqual([]);
  await chainVerifies();
});
