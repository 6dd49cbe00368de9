import pg from "pg";
import { log } from "../log.ts";
import { connectionSettings } from "./connection-strings.ts";

/**
 * A pool whose connection errors (a restarted or stopping server) are logged
 * instead of crashing the process; every long-lived pool is made here.
 */
export function makePool(connectionString: string, max: number, purpose: string, statementTimeoutMs?: number): pg.Pool {
  // Options a connection string carries take precedence over these (node-pg
  // lets the URL win): ownerUrl's carry connectionSettings themselves.
  const options = [connectionSettings, statementTimeoutMs === undefined ? "" : `-c statement_timeout=${statementTimeoutMs}`].join(" ").trim();
  const pool = new pg.Pool({ connectionString, max, options });
  const onError = (error: Error) => log.warn({ err: error, purpose }, "database connection failed");
  pool.on("error", onError);
  pool.on("connect", (client) => client.on("error", onError));
  return pool;
}
