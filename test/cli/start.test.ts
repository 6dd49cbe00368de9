import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli, startCli } from "../support/cli.ts";

/** `custodian start` exactly as `npm start` runs it on a fresh machine: no DATABASE_URL. */
const freshEnvironment = (dataDir: string) => ({
  NODE_ENV: "development",
  DATABASE_URL: "",
  JWT_SECRET: "",
  AUTHENTICATOR_PASSWORD: "",
  DATA_DIR: dataDir,
  PORT: "0",
  LOG_LEVEL: "warn",
});

test("`custodian start` on an empty data folder starts embedded PostgreSQL, seeds demo data, answers /healthz, refuses a second start and stops cleanly", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-start-"));
  fs.chmodSync(dataDir, 0o755);
  try {
    const env = freshEnvironment(dataDir);
    const first = await startCli(["start"], env, /Press Ctrl-C to stop\./, 120_000);
    const { stdout } = first.output();
    const base = /GraphQL\s+(http:\S+)\/graphql/.exec(stdout)![1];
    expect(stdout).toMatch(/embedded PostgreSQL/);
    expect(stdout).toMatch(/admin\s+admin@example\.com/);

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", database: "ok" });

    const login = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: 'mutation { authenticate(input: { email: "coach1@example.com", password: "custodian-demo" }) { jwtToken } }' }),
    });
    expect(((await login.json()) as any).data.authenticate.jwtToken).toEqual(expect.any(String));

    const second = await runCli(["start"], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^custodian: Custodian is already running on .* \(pid \d+\); stop it first\.\n$/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    expect(await first.stop("SIGTERM")).toBe(0);
    expect(first.output().stdout).toMatch(/Custodian stopped\./);
    expect(fs.existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);

    // The data survives a restart, and demo data is not seeded twice.
    const again = await startCli(["start"], env, /Press Ctrl-C to stop\./, 120_000);
    const againBase = /GraphQL\s+(http:\S+)\/graphql/.exec(again.output().stdout)![1];
    const admin = await fetch(`${againBase}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: 'mutation { authenticate(input: { email: "admin@example.com", password: "custodian-demo" }) { jwtToken } }' }),
    });
    expect(((await admin.json()) as any).data.authenticate.jwtToken).toEqual(expect.any(String));
    expect(await again.stop("SIGINT")).toBe(0);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
