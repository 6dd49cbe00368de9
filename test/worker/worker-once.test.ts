import { closeRootPool, rootPool } from "../support/db.ts";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";

afterAll(closeRootPool);

test("a queued job runs end to end in `custodian worker --once` and records its effect", async () => {
  const { rows } = await rootPool().query("select id from graphile_worker.add_job('worker_heartbeat', '{}'::json)");
  const jobId = rows[0].id as string;

  const result = await runCli(["worker", "--once"], testEnvironment());
  expect(result.stderr).not.toMatch(/error/i);
  expect(result.code).toBe(0);

  const heartbeat = await rootPool().query("select last_job_id::text, last_seen_at from app_private.worker_heartbeats");
  expect(heartbeat.rows).toEqual([{ last_job_id: String(jobId), last_seen_at: expect.any(Date) }]);
  const left = await rootPool().query("select count(*)::int as n from graphile_worker.jobs where id = $1", [jobId]);
  expect(left.rows[0].n).toBe(0);
});
