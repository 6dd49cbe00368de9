import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { runCli, startCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { login } from "../support/http.ts";
import { queryOnce, withScratchDatabase } from "../support/scratch-database.ts";

/** `custodian start` as `npm start` runs it on a fresh machine: the embedded PostgreSQL in DATA_DIR. */
const embeddedEnvironment = (dataDir: string) => ({
  NODE_ENV: "development",
  DATABASE_URL: "",
  JWT_SECRET: "",
  AUTHENTICATOR_PASSWORD: "",
  DATA_DIR: dataDir,
  PORT: "0",
  WORKER: "on",
  SEED_DEMO: "on",
  LOG_LEVEL: "warn",
});

function scratchDataDir(): string {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-while-running-"));
  fs.chmodSync(dataDir, 0o755);
  return dataDir;
}

test("while `custodian start` runs on the embedded database, the operator's commands use its database; those that need it to themselves are refused in words", async () => {
  const dataDir = scratchDataDir();
  const env = embeddedEnvironment(dataDir);
  const server = await startCli(["start"], env, /Press Ctrl-C to stop\./, 150_000);
  try {
    const base = /GraphQL\s+(http:\S+)\/graphql/.exec(server.output().stdout)![1]!;
    const serverPid = server.child.pid;

    const verified = await runCli(["audit", "verify"], env);
    expect(verified).toMatchObject({ code: 0, stderr: "" });
    expect(verified.stdout).toMatch(/^Audit trail intact: \d+ events in \d+ seals verified; \d+ not sealed yet\.\n/);

    // The demo's usage is there to aggregate: the server's database, not an empty one.
    const aggregated = await runCli(["usage", "aggregate"], env);
    expect(aggregated.code).toBe(0);
    expect(aggregated.stdout).toMatch(/^Rebuilt the usage rollups of [1-9]\d* days \(\d{4}-\d\d-\d\d through \d{4}-\d\d-\d\d\)\.\n$/);

    const created = await runCli(
      ["users", "create", "--email", "night-operator@example.com", "--password", "while-running-1", "--role", "admin"],
      env,
    );
    expect(created).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Created admin night-operator@example\.com \(/) });
    // The running server sees the account at once.
    expect(await login("night-operator@example.com", "while-running-1", base)).toEqual(expect.any(String));

    expect(await runCli(["migrate"], env)).toMatchObject({ code: 0, stdout: "Database is up to date.\n" });
    expect(await runCli(["worker", "--once"], env)).toMatchObject({ code: 0, stderr: "" });

    // Commands that need the data folder to themselves.
    const reset = await runCli(["db", "reset"], env);
    expect(reset).toMatchObject({
      code: 1,
      stdout: "",
      stderr: `custodian: custodian db reset needs ${dataDir} to itself, and Custodian is running on it (pid ${serverPid}); stop it first.\n`,
    });
    const worker = await runCli(["worker"], env);
    expect(worker).toMatchObject({
      code: 1,
      stderr: `custodian: custodian worker needs ${dataDir} to itself, and Custodian is running on it (pid ${serverPid}) (it runs the worker itself unless WORKER=off; \`custodian worker --once\` runs beside it); stop it first.\n`,
    });
    const second = await runCli(["start"], env);
    expect(second).toMatchObject({ code: 1, stderr: `custodian: Custodian is already running on ${dataDir} (pid ${serverPid}); stop it first.\n` });

    // Nothing of that disturbed the server: the account it made is still there.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await login("night-operator@example.com", "while-running-1", base)).toEqual(expect.any(String));
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(fs.existsSync(path.join(dataDir, "custodian.pid"))).toBe(false);

    // With the server stopped, a command starts the embedded database for itself, and stops it after.
    const alone = await runCli(["audit", "verify"], env);
    expect(alone).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Audit trail intact: /) });
    expect(fs.existsSync(path.join(dataDir, "custodian.pid"))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);
  } finally {
    await server.stop("SIGTERM");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 300_000);

/** Holds a TCP port on 127.0.0.1 for the test's duration. */
async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  return {
    port: (blocker.address() as net.AddressInfo).port,
    release: () => new Promise((resolve) => blocker.close(() => resolve())),
  };
}

test("a busy port is refused in one line naming it, before the embedded database is created", async () => {
  const dataDir = scratchDataDir();
  const { port, release } = await holdPort();
  try {
    const result = await runCli(["start"], { ...embeddedEnvironment(dataDir), PORT: String(port) });
    expect(result).toEqual({ code: 1, stdout: "", stderr: `custodian: Port ${port} on 127.0.0.1 is already in use; set PORT to another.\n` });
    // The data folder was not touched: no cluster, no secrets, no lock.
    expect(fs.readdirSync(dataDir)).toEqual([]);
  } finally {
    await release();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);

test("a busy port is refused before DATABASE_URL's database is migrated", () =>
  withScratchDatabase(async (databaseUrl) => {
    const { port, release } = await holdPort();
    try {
      const result = await runCli(["start"], testEnvironment({ DATABASE_URL: databaseUrl, PORT: String(port) }));
      expect(result).toEqual({ code: 1, stdout: "", stderr: `custodian: Port ${port} on 127.0.0.1 is already in use; set PORT to another.\n` });
      const { rows } = await queryOnce(databaseUrl, "select to_regclass('app_public.users') as users, to_regnamespace('graphile_migrate') as migrations");
      expect(rows).toEqual([{ users: null, migrations: null }]);
    } finally {
      await release();
    }
  }), 120_000);

test("a HOST that is not this machine's is refused in words before anything starts", async () => {
  const dataDir = scratchDataDir();
  try {
    const result = await runCli(["start"], { ...embeddedEnvironment(dataDir), HOST: "192.0.2.1", PORT: "3999" });
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: "custodian: HOST 192.0.2.1 is not an address of this machine; set HOST to one (127.0.0.1, or 0.0.0.0 for all).\n",
    });
    expect(fs.readdirSync(dataDir)).toEqual([]);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);

test("while a one-off command has started the embedded database for itself, `start` and other commands are told to wait for it", async () => {
  const dataDir = scratchDataDir();
  try {
    // As `custodian seed` writes it while it runs (this test's process stands in for it).
    fs.writeFileSync(path.join(dataDir, "custodian.pid"), JSON.stringify({ pid: process.pid, command: "seed", port: 5 }) + "\n");
    const expected = `custodian: custodian seed (pid ${process.pid}) is using ${dataDir}; try again when it has finished.\n`;
    expect(await runCli(["start"], embeddedEnvironment(dataDir))).toMatchObject({ code: 1, stdout: "", stderr: expected });
    expect(await runCli(["audit", "verify"], embeddedEnvironment(dataDir))).toMatchObject({ code: 1, stdout: "", stderr: expected });
    expect(fs.existsSync(path.join(dataDir, "pg"))).toBe(false);

    // A holder that is gone leaves nothing in the way.
    fs.writeFileSync(path.join(dataDir, "custodian.pid"), JSON.stringify({ pid: 2 ** 22 + 1, command: "start", port: 5 }) + "\n");
    const alone = await runCli(["audit", "verify"], embeddedEnvironment(dataDir));
    expect(alone).toMatchObject({ code: 1, stderr: "custodian: The database has no Custodian schema yet; run `custodian migrate` first.\n" });
    expect(fs.existsSync(path.join(dataDir, "custodian.pid"))).toBe(false);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);
