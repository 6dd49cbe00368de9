import { loadConfig, type Config } from "../config.ts";
import { openDatabase, type Database } from "../db/database.ts";
import { loadSecrets, type Secrets } from "../db/secrets.ts";

export interface Session {
  config: Config;
  secrets: Secrets;
  database: Database;
}

/** Opens the configured (or embedded) database for one command and closes it after. */
export async function withSession<T>(work: (session: Session) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const secrets = loadSecrets(config);
  const database = await openDatabase(config, secrets);
  try {
    return await work({ config, secrets, database });
  } finally {
    await database.stop();
  }
}
