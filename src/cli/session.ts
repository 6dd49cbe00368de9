import { loadConfig, type Config } from "../config.ts";
import { openDatabase, type Database, type OpenOptions } from "../db/database.ts";
import { loadSecrets, type Secrets } from "../db/secrets.ts";

export interface Session {
  config: Config;
  secrets: Secrets;
  database: Database;
}

/**
 * Opens the configured (or embedded) database for one command and closes it
 * after. On the embedded database a command uses the running server's when
 * one runs (`shared`, the default); `exclusive` commands are refused then.
 */
export async function withSession<T>(
  work: (session: Session) => Promise<T>,
  access: OpenOptions["access"] = "shared",
): Promise<T> {
  const config = loadConfig();
  const secrets = loadSecrets(config);
  const database = await openDatabase(config, secrets, { command: commandName(), access });
  try {
    return await work({ config, secrets, database });
  } finally {
    await database.stop();
  }
}

/** The command and its action as typed (`audit verify`), never a flag's value. */
function commandName(): string {
  const words: string[] = [];
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith("-") || words.length === 2) break;
    words.push(arg);
  }
  return words.join(" ");
}
