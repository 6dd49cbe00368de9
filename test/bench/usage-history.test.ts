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
