import fs from "node:fs";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { runWorkerOnce } from "../support/worker-once.ts";

afterAll(closeRootPool);

test("a queued job runs end to end in `custodian worker --once` and records its effect", async () => {
  const { rows } = await rootPool().query("select id from graphile_worker.add_job('worker_heartbeat', '{}'::json)");
  const jobId = rows[0].id as string;

  const result = await runWorkerOnce();
  expect(result.stderr).not.toMatch(/error/i);
  expect(result.code).toBe(0);

  const heartbeat = await rootPool().query("select last_job_id::text, last_seen_at from app_private.worker_heartbeats");
  expect(heartbeat.rows).toEqual([{ last_job_id: String(jobId), last_seen_at: expect.any(Date) }]);
  const left = await rootPool().query("select count(*)::int as n from graphile_worker.jobs where id = $1", [jobId]);
  expect(left.rows[0].n).toBe(0);
});

test("the worker's crontab rolls usage up every 10 minutes, one run at a time", async () => {
  const { parseCrontab } = await import("graphile-worker");
  const crontab = parseCrontab(fs.readFileSync(path.join(projectRoot, "worker", "crontab"), "utf8"));
  const aggregate = crontab.filter((item) => item.task === "usage_aggregate");
  expect(aggregate).toHaveLength(1);
  // Which minutes of a few hours and days the schedule fires at.
  const fires = (hour: number, date: number, dow: number) =>
    Array.from({ length: 60 }, (_, min) => min).filter((min) => aggregate[0]!.match({ min, hour, date, month: 6, dow }));
  for (const [hour, date, dow] of [[0, 1, 1], [13, 15, 3], [23, 28, 0]] as const) {
    expect(fires(hour, date, dow)).toEqual([0, 10, 20, 30, 40, 50]);
  }
  expect(aggregate[0]!.options).toMatchObject({ maxAttempts: 1, jobKey: "usage_aggregate" });
});

test("the daily retention run shares its queue with the runs admins ask for, so that one waits for the other", async () => {
  const { parseCrontab } = await import("graphile-worker");
  const crontab = parseCrontab(fs.readFileSync(path.join(projectRoot, "worker", "crontab"), "utf8"));
  const retention = crontab.filter((item) => item.task === "retention_run");
  expect(retention).toHaveLength(1);
  expect(retention[0]!.options).toMatchObject({ maxAttempts: 1, queueName: "retention_run" });
  const asked = fs.readFileSync(path.join(projectRoot, "migrations", "fixtures", "retention", "request-run.sql"), "utf8");
  expect(asked).toContain("queue_name => 'retention_run'");
});
