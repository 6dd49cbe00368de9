import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "../support/cli.ts";

const asRoot = process.getuid?.() === 0;

// As root, the embedded PostgreSQL runs as the system user "postgres": a
// DATA_DIR inside a folder only root may enter (as mkdtemp makes them) is
// refused in words, not with initdb's stack trace.
(asRoot ? test : test.skip)("a DATA_DIR the embedded PostgreSQL cannot reach is refused in one line that says how to fix it", async () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-private-"));
  try {
    const dataDir = path.join(parent, "data");
    const result = await runCli(["audit", "verify"], { NODE_ENV: "development", DATABASE_URL: "", DATA_DIR: dataDir, LOG_LEVEL: "warn" });
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr:
        `custodian: Could not create the embedded database in ${dataDir}/pg: could not access directory "${dataDir}/pg": Permission denied.` +
        ' As root, PostgreSQL runs as the user "postgres", which must be able to reach DATA_DIR (chmod 755 on it and the folders above it).\n',
    });
    // It let go of the folder.
    expect(fs.existsSync(path.join(dataDir, "custodian.pid"))).toBe(false);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
}, 120_000);
