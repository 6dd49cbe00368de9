// What soft delete costs on a big cascade: one DELETE of a coach profile with
// 10,000 clients, 10,000 sessions and 100,000 transcriptions, which soft-deletes
// all 120,001 rows in one batch (audit events included), then its restore, and
// the same cascade as a governed hard delete (rolled back, so that every round
// starts from the same rows). Rounds interleave the three, so that noise from
// the machine falls on all alike. Prints one JSON line last.
//
// BENCH_ROUNDS (default 3).
import fs from "node:fs";
import path from "node:path";
import type pg from "pg";
import { UserError } from "../src/errors.ts";
import { connectAsOwner, createScratchDatabase, median, progressOf, runBench, timed, type Teardown } from "./scratch-database.ts";

const progress = progressOf("soft-delete");
const expectedRows = 1 + 10_000 + 10_000 + 100_000;

function readRounds(env: NodeJS.ProcessEnv): number {
  const rounds = Number(env.BENCH_ROUNDS || 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new UserError(`BENCH_ROUNDS must be a positive integer (got "${env.BENCH_ROUNDS}").`);
  return rounds;
}

/** The rows of the profile's tree that are deleted, and in how many batches. */
async function deletedState(admin: pg.Client, profileId: string): Promise<{ rows: number; batches: number }> {
  const { rows } = await admin.query(
    `select count(*)::int as rows, count(distinct deletion_batch_id)::int as batches from (
       select deletion_batch_id from app_public.coach_profiles where id = $1 and is_deleted
       union all select deletion_batch_id from app_public.clients where coach_profile_id = $1 and is_deleted
       union all select deletion_batch_id from app_public.coaching_sessions where coach_profile_id = $1 and is_deleted
       union all select deletion_batch_id from app_public.transcriptions where coach_profile_id = $1 and is_deleted) d`,
    [profileId],
  );
  return rows[0];
}

async function expectDeleted(admin: pg.Client, profileId: string, rows: number, batches: number): Promise<void> {
  const state = await deletedState(admin, profileId);
  if (state.rows !== rows || state.batches !== batches) {
    throw new Error(`expected ${rows} deleted rows in ${batches} batches, found ${state.rows} in ${state.batches}`);
  }
}

async function main(rounds: number, teardown: Teardown) {
  const started = performance.now();
  const databaseUrl = await createScratchDatabase(teardown, progress);
  const admin = await connectAsOwner(databaseUrl, teardown);
  progress("setting up a coach with 10,000 clients, 10,000 sessions and 100,000 transcriptions");
  await admin.query(fs.readFileSync(path.join(import.meta.dirname, "soft-delete-setup.sql"), "utf8"));
  await admin.query("vacuum analyze app_public.coach_profiles, app_public.clients, app_public.coaching_sessions, app_public.transcriptions");
  const profileId: string = (await admin.query("select id from app_public.coach_profiles where display_name = 'Bench Coach'")).rows[0].id;

  const times = { soft_delete: [] as number[], restore: [] as number[], hard_delete: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    const softDelete = await timed(() => admin.query("delete from app_public.coach_profiles where id = $1", [profileId]));
    await expectDeleted(admin, profileId, expectedRows, 1);
    const restore = await timed(() => admin.query("select governance.restore('app_public.coach_profiles', $1)", [profileId]));
    await expectDeleted(admin, profileId, 0, 0);
    await admin.query("begin");
    const hardDelete = await timed(() =>
      admin.query("select governance.hard_delete('app_public.coach_profiles', $1, 'bench: hard delete for comparison')", [profileId]));
    await admin.query("rollback");
    await admin.query("vacuum app_public.coach_profiles, app_public.clients, app_public.coaching_sessions, app_public.transcriptions");
    progress(`round ${round}: soft delete ${Math.round(softDelete)} ms, restore ${Math.round(restore)} ms, hard delete ${Math.round(hardDelete)} ms`);
    times.soft_delete.push(softDelete);
    times.restore.push(restore);
    times.hard_delete.push(hardDelete);
  }
  const ms = (values: number[]) => Math.round(median(values));
  return {
    bench: "soft-delete",
    rounds,
    rows_in_cascade: expectedRows,
    soft_delete_ms: ms(times.soft_delete),
    restore_ms: ms(times.restore),
    hard_delete_ms: ms(times.hard_delete),
    soft_delete_rows_per_second: Math.round(expectedRows / (median(times.soft_delete) / 1000)),
    soft_over_hard: Number((median(times.soft_delete) / median(times.hard_delete)).toFixed(3)),
    restore_over_hard: Number((median(times.restore) / median(times.hard_delete)).toFixed(3)),
    total_seconds: Math.round((performance.now() - started) / 1000),
  };
}

const rounds = readRounds(process.env);
await runBench(progress, (teardown) => main(rounds, teardown));
