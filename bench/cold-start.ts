// Cold start of `custodian start` on the embedded database: from spawn to a
// healthy /healthz, on an empty data folder (initdb, migrations, demo seed)
// and again on the same folder (warm). Prints one JSON line last.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../src/paths.ts";

async function timeStart(dataDir: string): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(projectRoot, "src/cli/main.ts"), "start"], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: "0", DATABASE_URL: "", LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = /GraphQL\s+(http:\S+)\/graphql/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.on("exit", (code) => reject(new Error(`start exited with ${code}`)));
  });
  while ((await fetch(`${base}/healthz`).catch(() => null))?.status !== 200) await new Promise((r) => setTimeout(r, 20));
  const elapsed = performance.now() - started;
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGTERM");
  await exited;
  return elapsed;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-bench-"));
fs.chmodSync(dataDir, 0o755);
try {
  const cold = await timeStart(dataDir);
  const warm = await timeStart(dataDir);
  console.log(JSON.stringify({ bench: "cold-start", cold_start_ms: Math.round(cold), warm_start_ms: Math.round(warm), warm_over_cold: +(warm / cold).toFixed(2) }));
} finally {
  fs.rmSync(dataDir, { recursive: true, force: true });
}
