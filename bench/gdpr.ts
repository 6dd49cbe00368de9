// GDPR erasure and proof of erasure at volume. On a scratch database
// (DATABASE_URL's server, else a throwaway embedded PostgreSQL): the demo data
// of `custodian seed --demo --scale BENCH_SCALE` plus one heavy client of the
// first demo coach (BENCH_HEAVY_SESSIONS sessions, BENCH_HEAVY_TRANSCRIPTS
// transcripts of about BENCH_TRANSCRIPT_BYTES bytes each, and their audit
// history: inserts, a rename, corrections), usage rated and rolled up. Then:
// the heavy client's erasure (one transaction: anonymize, destroy the key,
// residue scan, commit) timed with the rows it touched; the residue scan on
// its own over the whole database, before and after; fingerprints of usage
// events, rollups and invoices before and after (they must be identical);
// the audit chain verified after. Prints one JSON line last.
//
// BENCH_SCALE (30), BENCH_HEAVY_SESSIONS (1000), BENCH_HEAVY_TRANSCRIPTS (10000),
// BENCH_TRANSCRIPT_BYTES (3000). BENCH_QUICK=1 runs a small size (scale 2,
// 100 sessions, 1,000 transcripts) in well under a minute.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sealPendingEvents, verifyChain } from "../src/audit/seal.ts";
import { UserError } from "../src/errors.ts";
import { runErasure } from "../src/gdpr/erasure.ts";
import { exportClientToFile } from "../src/gdpr/operator-export.ts";
import { seedDemo } from "../src/seed/seed-demo.ts";
import { rollUpDirtyDays } from "../src/usage/aggregate.ts";
import { rateCapturedUsage } from "../src/usage/rate.ts";
import { connectAsOwner, createScratchDatabase, progressOf, runBench, timed, type Teardown } from "./scratch-database.ts";

const progress = progressOf("gdpr");

interface Settings {
  scale: number;
  sessions: number;
  transcripts: number;
  transcriptBytes: number;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const quick = env.BENCH_QUICK === "1";
  const number = (name: string, fallback: number) => {
    const value = Number(env[name] || fallback);
    if (!(Number.isInteger(value) && value > 0)) throw new UserError(`${name} must be a positive whole number (got "${env[name]}").`);
    return value;
  };
  return {
    scale: number("BENCH_SCALE", quick ? 2 : 30),
    sessions: number("BENCH_HEAVY_SESSIONS", quick ? 100 : 1000),
    transcripts: number("BENCH_HEAVY_TRANSCRIPTS", quick ? 1000 : 10_000),
    transcriptBytes: number("BENCH_TRANSCRIPT_BYTES", 3000),
  };
}

const seconds = (ms: number) => Number((ms / 1000).toFixed(2));

async function main(settings: Settings, teardown: Teardown) {
  const started = performance.now();
  const databaseUrl = await createScratchDatabase(teardown, progress);
  progress(`seeding the demo at scale ${settings.scale}`);
  const seedMs = await timed(() => seedDemo(databaseUrl, settings.scale, false));
  const owner = await connectAsOwner(databaseUrl, teardown);
  await owner.query(fs.readFileSync(path.join(import.meta.dirname, "gdpr-setup.sql"), "utf8"));

  progress(`seeding the heavy client: ${settings.sessions} sessions, ${settings.transcripts} transcripts of ${settings.transcriptBytes} bytes`);
  const tag = crypto.randomBytes(4).toString("hex");
  let heavy = "";
  const heavyMs = await timed(async () => {
    await owner.query("begin");
    heavy = (await owner.query("select pg_temp.seed_heavy_client($1, $2, $3, $4) as id",
      [tag, settings.sessions, settings.transcripts, settings.transcriptBytes])).rows[0].id;
    await owner.query("commit");
  });
  progress("rating and rolling up usage, sealing the audit trail");
  await rateCapturedUsage(owner);
  await rollUpDirtyDays(owner);
  await sealPendingEvents(owner, 30);
  await owner.query("vacuum analyze");

  const sizes = (await owner.query(
    `select (select count(*) from audit.events)::int as audit_events, (select count(*) from app_public.transcriptions)::int as transcriptions,
       (select count(*) from app_public.clients)::int as clients, pg_size_pretty(pg_database_size(current_database())) as database_size`)).rows[0];

  // The heavy client's former values, held in this process's memory only (as the erasure holds them in its transaction).
  const formerValues = (await owner.query(
    `select array[c.full_name, c.email::text, c.phone, 'Heavy Oldname ' || $2] as identifiers,
       array[c.notes] || array(select s.title from app_public.coaching_sessions s where s.client_id = c.id)
         || array(select t.transcript_text from app_public.transcriptions t join app_public.coaching_sessions s on s.id = t.session_id
                  where s.client_id = c.id and t.transcript_text is not null) as contents
     from app_public.clients c where c.id = $1`, [heavy, tag])).rows[0] as { identifiers: string[]; contents: string[] };
  const scan = async () => {
    let places = 0;
    const ms = await timed(async () => {
      places = (await owner.query("select count(*)::int as n from governance.residue_scan($1, $2)", [formerValues.identifiers, formerValues.contents])).rows[0].n;
    });
    return { seconds: seconds(ms), places };
  };
  progress(`residue scan before the erasure (${formerValues.identifiers.length + formerValues.contents.length} values)`);
  const scanBefore = await scan();

  progress("exporting everything about the heavy client (access request)");
  const exportFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "custodian-bench-gdpr-")), "export.zip");
  teardown.defer(() => fs.promises.rm(path.dirname(exportFile), { recursive: true, force: true }));
  let built!: Awaited<ReturnType<typeof exportClientToFile>>;
  const exportMs = await timed(async () => (built = await exportClientToFile(owner, heavy, exportFile, 7)));

  const figuresBefore = (await owner.query("select pg_temp.figures() as f")).rows[0].f;
  const { rows: [request] } = await owner.query("insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1) returning id", [heavy]);
  await owner.query("update app_public.data_subject_requests set state = 'verified', verification = 'bench: operator verified' where id = $1", [request.id]);
  progress("erasing the heavy client");
  let erasure!: Awaited<ReturnType<typeof runErasure>>;
  const erasureMs = await timed(async () => (erasure = await runErasure(owner, request.id)));

  progress("residue scan after the erasure");
  const scanAfter = await scan();
  await rateCapturedUsage(owner);
  await rollUpDirtyDays(owner);
  const figuresAfter = (await owner.query("select pg_temp.figures() as f")).rows[0].f;
  const identical = Object.fromEntries(Object.keys(figuresBefore).map((key) => [key, figuresBefore[key] === figuresAfter[key]]));

  progress("sealing and verifying the audit chain");
  await sealPendingEvents(owner, 30);
  let chain!: Awaited<ReturnType<typeof verifyChain>>;
  const verifyMs = await timed(async () => (chain = await verifyChain(owner)));

  return {
    bench: "gdpr",
    demo: { scale: settings.scale, seed_seconds: seconds(seedMs) },
    heavy_client: { sessions: settings.sessions, transcripts: settings.transcripts, transcript_bytes: settings.transcriptBytes, seed_seconds: seconds(heavyMs) },
    database: sizes,
    erasure: {
      seconds: seconds(erasureMs),
      rows_touched: erasure.rowsErased,
      rows_by_table: erasure.rowsByTable,
      values_searched: erasure.valuesSearched,
      values_shared_skipped: erasure.valuesSharedSkipped,
      residue_count: erasure.residueCount,
    },
    residue_scan: {
      values: formerValues.identifiers.length + formerValues.contents.length,
      before: scanBefore,
      after: scanAfter,
    },
    figures_identical: identical,
    figures_all_identical: Object.values(identical).every(Boolean),
    audit_verify: { intact: chain.intact, events: chain.eventsVerified, seconds: seconds(verifyMs) },
    access_export: {
      seconds: seconds(exportMs),
      bytes: built.byteSize,
      files: built.manifest.files.length,
      rows: built.manifest.tables.reduce((sum, table) => sum + table.rows, 0),
    },
    total_seconds: Math.round((performance.now() - started) / 1000),
  };
}

const settings = readSettings(process.env);
await runBench(progress, (teardown) => main(settings, teardown));
