// The benches' usage history (bench/usage-setup.sql) writes exactly as many
// events and records as asked: a bench that reports 10 million events must
// have written 10 million.
import fs from "node:fs";
import path from "node:path";
import { closeRootPool, withRootDb } from "../support/db.ts";
import { createCoach } from "../support/fixtures.ts";

const setup = fs.readFileSync(path.join(import.meta.dirname, "../../bench/usage-setup.sql"), "utf8");

afterAll(closeRootPool);

test("bench.write_history writes every event it is asked for, over all three models", async () => {
  await withRootDb(async (client) => {
    await createCoach(client, "history");
    await client.query(setup);
    const { rows: [before] } = await client.query("select count(*)::int as n from app_public.usage_events");
    await client.query("select bench.write_history(3000, 30, 0, 0, 1)");
    const { rows } = await client.query(
      "select provider, count(*)::int as n from app_public.usage_events where rule_version is not null group by 1 order by 1");
    const { rows: [after] } = await client.query("select count(*)::int as n from app_public.usage_events");
    expect(after.n - before.n).toBe(3000);
    expect(rows.map((row) => row.provider)).toEqual(expect.arrayContaining(["assemblyai", "deepgram", "openai"]));
  });
});

test("bench.write_pending writes every captured record it is asked for", async () => {
  await withRootDb(async (client) => {
    await createCoach(client, "pending");
    await client.query(setup);
    const { rows: [before] } = await client.query("select count(*)::int as n from app_private.usage_records");
    await client.query("select bench.write_pending(1000)");
    const { rows: [after] } = await client.query("select count(*)::int as n from app_private.usage_records");
    expect(after.n - before.n).toBe(1000);
  });
});

test("bench.keep_ledgers makes the coach-month ledgers hold the history, so that each invoice is the sum of its events", async () => {
  await withRootDb(async (client) => {
    const coach = await createCoach(client, "history-ledgers");
    await client.query(setup);
    await client.query("select bench.write_history(2000, 40, 0, 0, 1)");
    await client.query("select bench.keep_ledgers('-infinity')");
    // (As the owner: invoice_preview answers every coach to the database's owner.)
    const { rows } = await client.query(
      `select i.month::text, i.usage_minor::text as invoiced,
         (select coalesce(sum(e.amount_minor), 0)::text from app_public.usage_events e
          where e.kind = 'attempt' and e.coach_profile_id = $1 and e.billing_month = i.month) as events
       from generate_series(date_trunc('month', now() - interval '40 days'), date_trunc('month', now()), interval '1 month') m,
         app_public.invoice_preview($1, m::date) i`,
      [coach.profileId]);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((row) => row.invoiced !== row.events)).toEqual([]);
  });
});
