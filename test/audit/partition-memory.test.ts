import pg from "pg";
import { localDirectoryStore } from "../../src/archive/store.ts";
import { verifyArchivedPartition } from "../../src/audit/partition-archive.ts";
import { ownerUrl } from "../../src/db/connection-strings.ts";
import { archiveAndDropAuditPartition } from "../../src/retention/audit-partitions.ts";
import { scratchDirectory } from "../support/archive.ts";
import { liveBytes, mb } from "../support/live-memory.ts";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";

// A real month can hold millions of events: archiving and dropping one must
// take memory bounded by a seal and a batch, not by the month. The file
// builds its own database with a month of 20,000 events (ids below every
// other, sealed 10,000 a seal as the sealer does), archives and drops it, and
// measures the process's live memory meanwhile (sampled, not timed).

const events = 20_000; // two seals; enough to see growth that follows the month (the bench takes 200,000)
const month = "2018-01-01";
/**
 * Below what holding the month would take (its events parsed, its seals'
 * lists of ids); measured: about 6 MB. Set at 32 since the file samples inside
 * a Jest worker, which holds its own state too.
 */
const boundBytes = 32 * 1024 * 1024;

let scratch: ScratchDatabase;
let owner: pg.Client;
let archiveDir: { dir: string; remove: () => void };

beforeAll(async () => {
  scratch = await openScratchDatabase();
  archiveDir = scratchDirectory("partition-memory");
  expect((await runCli(["migrate"], testEnvironment({ DATABASE_URL: scratch.url }))).code).toBe(0);
  owner = new pg.Client({ connectionString: ownerUrl(scratch.url) });
  await owner.connect();
  await owner.query("select audit.create_month_partition('audit.events', $1::date)", [month]);
  await owner.query(
    `insert into audit.events (id, occurred_at, transaction_id, table_schema, table_name, record_key, operation, new_values, actor_kind)
     overriding system value
     select g - $1::bigint - 1, $2::timestamptz + g * interval '20 seconds', '1'::xid8, 'public', 'old_notes',
            jsonb_build_object('id', g), 'INSERT', jsonb_build_object('id', g, 'notes', md5(g::text)), 'system'
     from generate_series(1, $1::int) g`,
    [events, `${month} 00:00:00+00`],
  );
  while ((await owner.query<{ sealed: number }>("select audit.seal_batch(-1, 10000) as sealed")).rows[0]!.sealed > 0);
}, 120_000);

afterAll(async () => {
  await owner?.end();
  await scratch?.drop();
  archiveDir?.remove();
});

/**
 * The most the process's live memory rose above where it was while `work`
 * ran, sampled after a full collection: anything the work holds for the
 * whole month (a map of its ids, its seals, its events) shows. A collection
 * of a large test process's heap can take a second on a busy machine, so the
 * next sample waits at least four times as long as the last collection took
 * (and 200 ms): collections back to back would starve the work they measure.
 */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ value: T; bytes: number; samples: number }> {
  const start = liveBytes();
  let peak = start;
  let samples = 0;
  let timer: NodeJS.Timeout | undefined;
  const sample = () => {
    const began = performance.now();
    peak = Math.max(peak, liveBytes());
    samples++;
    timer = setTimeout(sample, Math.max(200, 4 * (performance.now() - began)));
  };
  timer = setTimeout(sample, 200);
  try {
    const value = await work();
    return { value, bytes: peak - start, samples };
  } finally {
    clearTimeout(timer);
  }
}

test(`a month of ${events} events is archived, verified and dropped with the process's memory bounded`, async () => {
  const store = localDirectoryStore(archiveDir.dir);
  const dropped = await peakGrowth(() => archiveAndDropAuditPartition(owner, store, month, null));
  expect(dropped.value).toMatchObject({ reusedArchive: false, eventCount: events, spared: null, checkpointId: expect.any(String) });
  expect((await owner.query("select to_regclass('audit.events_2018_01') is null as gone")).rows[0].gone).toBe(true);
  expect(dropped.samples).toBeGreaterThan(0);
  expect(dropped.bytes).toBeLessThan(boundBytes);

  // The archived month verifies on its own, in bounded memory too.
  const verified = await peakGrowth(() => verifyArchivedPartition(owner, store, dropped.value.archiveId!));
  expect(verified.value).toMatchObject({ ok: true, problems: [], eventsVerified: events, sealsVerified: events / 10_000 });
  expect(verified.samples).toBeGreaterThan(0);
  expect(verified.bytes).toBeLessThan(boundBytes);
  console.log(`live memory growth: archive and drop ${mb(dropped.bytes)} (${dropped.samples} samples), verify ${mb(verified.bytes)} (${verified.samples} samples)`);
}, 300_000); // about 30 s alone; far longer beside the rest of the suite on 2 cores
