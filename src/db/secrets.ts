import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config.ts";

export interface Secrets {
  jwtSecret: string;
  authenticatorPassword: string;
  /** The embedded cluster's superuser password. */
  embeddedSuperuserPassword: string;
}

/**
 * Secrets from the environment, or, outside production, generated once and
 * kept in `<dataDir>/secrets.json` (mode 0600) so that tokens and passwords
 * survive restarts.
 */
export function loadSecrets(config: Config): Secrets {
  const file = path.join(config.dataDir, "secrets.json");
  let stored: Partial<Secrets> = {};
  if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<Secrets>;
  const generated = {
    jwtSecret: stored.jwtSecret ?? random(),
    authenticatorPassword: stored.authenticatorPassword ?? random(),
    embeddedSuperuserPassword: stored.embeddedSuperuserPassword ?? random(),
  };
  const changed = Object.entries(generated).some(([key, value]) => stored[key as keyof Secrets] !== value);
  if (changed && config.nodeEnv !== "production") {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(generated, null, 2) + "\n", { mode: 0o600 });
  }
  return {
    jwtSecret: config.jwtSecret ?? generated.jwtSecret,
    authenticatorPassword: config.authenticatorPassword ?? generated.authenticatorPassword,
    embeddedSuperuserPassword: generated.embeddedSuperuserPassword,
  };
}

function random(): string {
  return crypto.randomBytes(32).toString("base64url");
}
