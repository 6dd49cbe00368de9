// A connection that outlives its server: when PostgreSQL goes away (a crash,
// a restart), the statement under way is in doubt, and the next one connects
// again. Errors PostgreSQL raised about the statement itself are refusals.
import pg from "pg";
import { InDoubt, Refused } from "./api.ts";

/** SQLSTATEs of a connection lost or a server going down: the statement's fate is unknown. */
function connectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return true; // no SQLSTATE: the socket broke
  return code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03";
}

export class ReconnectingClient {
  #client: pg.Client | null = null;
  readonly #connect: () => Promise<pg.Client>;

  /** `connect` opens a connection and sets it up (a role to act as). */
  constructor(connect: () => Promise<pg.Client>) {
    this.#connect = connect;
  }

  async #connected(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    try {
      const client = await this.#connect();
      // A connection that breaks between statements is dropped here, not thrown from an idle socket.
      client.on("error", () => {
        if (this.#client === client) this.#client = null;
      });
      this.#client = client;
      return client;
    } catch (error) {
      // Nothing was sent: the database is not there (yet). Not a write in doubt.
      await new Promise((resolve) => setTimeout(resolve, 200));
      throw new Refused(`database unavailable: ${(error as Error).message}`);
    }
  }

  async query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    const client = await this.#connected();
    try {
      return await client.query(text, values);
    } catch (error) {
      if (!connectionLost(error)) throw new Refused((error as Error).message);
      this.#client = null;
      void client.end().catch(() => undefined);
      throw new InDoubt((error as Error).message);
    }
  }

  async end(): Promise<void> {
    await this.#client?.end().catch(() => undefined);
    this.#client = null;
  }
}
