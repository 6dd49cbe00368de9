import fs from "node:fs";
import type { EmbeddedDatabase } from "../../src/db/embedded.ts";
import type { RunningCli } from "./cli.ts";

export default async function globalTeardown(): Promise<void> {
  const { api, embedded, dir } = (globalThis as Record<string, unknown>).__custodianTest as {
    api: RunningCli;
    embedded: EmbeddedDatabase | null;
    dir: string;
  };
  await api.stop("SIGTERM");
  await embedded?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
