import fs from "node:fs";
import path from "node:path";
import { progressBar } from "../cli/progress.ts";
import { requireSchema, withOwnerClient } from "../db/owner-client.ts";
import { projectRoot } from "../paths.ts";
import { rollUpDirtyDays } from "../usage/aggregate.ts";
import { rateCapturedUsage } from "../usage/rate.ts";

/** The logins the demo data creates; `start` prints them. */
export const demoLogins = {
  password: "custodian-demo",
  admin: "admin@example.com",
  auditor: "auditor@example.com",
  coaches: ["coach1@example.com", "coach2@example.com", "coach3@example.com"],
};

const COACHES_PER_SCALE = 3;
const COACHES_PER_BATCH = 50;

/**
 * Seeds demo data: plans, provider rates, an admin, an auditor and
 * 3 × scale coaches with their clients, sessions and attempts (and so their
 * usage events, rolled up by day), then a few admin actions, soft deletes and
 * a client's withdrawal of consent (src/seed/demo.sql says which). Idempotent:
 * existing demo accounts are left as they are.
 *
 * The demo is the history of the 180 days before `asOf` (default: the
 * database's now): plans, coaches and clients are created before the sessions
 * that use them, so that every report agrees on every month.
 */
export async function seedDemo(databaseUrl: string, scale: number, showProgress: boolean, asOf?: Date): Promise<void> {
  const sql = fs.readFileSync(path.join(projectRoot, "src", "seed", "demo.sql"), "utf8");
  await withOwnerClient(databaseUrl, async (client) => {
    await requireSchema(client);
    await client.query(sql);
    // One instant for every batch, so that they all tell the same history.
    const { rows: [{ now }] } = await client.query<{ now: Date }>("select coalesce($1::timestamptz, now()) as now", [asOf ?? null]);
    await client.query("begin");
    await client.query("select pg_temp.seed_reference_data($1), pg_temp.seed_staff($2)", [now, demoLogins.password]);
    await client.query("commit");
    // One bcrypt hash for every demo coach: hashing each would take minutes at scale.
    const { rows } = await client.query("select crypt($1, gen_salt('bf', 10)) as hash", [demoLogins.password]);
    const coaches = COACHES_PER_SCALE * scale;
    const bar = showProgress ? progressBar("Seeding coaches", coaches) : null;
    for (let first = 1; first <= coaches; first += COACHES_PER_BATCH) {
      const last = Math.min(coaches, first + COACHES_PER_BATCH - 1);
      await client.query("begin");
      await client.query("select pg_temp.seed_coaches($1, $2, $3, $4)", [first, last, rows[0].hash, now]);
      await client.query("commit");
      bar?.tick(last - first + 1);
    }
    bar?.finish();
    // A few admin actions and deletions for the console's audit viewer and deleted items, and a client's withdrawal of consent, each person's in their own transaction.
    for (const step of ["select pg_temp.seed_admin_actions()", "select pg_temp.seed_coach_deletions($1)", "select pg_temp.seed_consent_withdrawal()"]) {
      await client.query("begin");
      await client.query(step, step.includes("$1") ? [now] : []);
      await client.query("commit");
    }
    // The attempts' usage is captured as they are seeded; rate it and roll it
    // up now, so that the books have their events before the jobs' first run.
    await rateCapturedUsage(client);
    await rollUpDirtyDays(client);
  });
}

/** Whether the database has no users yet (a fresh install) and whether the demo logins exist. */
export async function demoDataState(databaseUrl: string): Promise<{ empty: boolean; demoLogins: boolean }> {
  return withOwnerClient(databaseUrl, async (client) => {
    const { rows } = await client.query(
      `select not exists (select from app_public.users) as empty,
              exists (select from app_public.users where email = $1) as demo_logins`,
      [demoLogins.admin],
    );
    return { empty: rows[0].empty, demoLogins: rows[0].demo_logins };
  });
}
