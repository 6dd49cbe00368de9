/**
 * The connection strings Custodian derives from the one superuser URL: each
 * component connects as the role it should act as.
 */

/** The same server and database, logged in as the API's authenticator. */
export function authenticatorUrl(databaseUrl: string, password: string): string {
  const url = new URL(databaseUrl);
  url.username = "custodian_authenticator";
  url.password = password;
  url.searchParams.delete("options");
  return url.toString();
}

/**
 * What every connection Custodian makes sets first: JIT off. Its queries are
 * short or read rollups, and where PostgreSQL has JIT their estimates pass
 * jit_above_cost, so each was compiled before it ran: on PostgreSQL 15 at 10
 * million usage events a coach's analytics took 29-31 ms instead of 4-16
 * and an admin's console overview 346 ms instead of 171 (README, "Using an
 * existing PostgreSQL"). Other writers are not Custodian's to configure;
 * the functions that need it turn JIT off themselves (the captures and the
 * pricing).
 */
export const connectionSettings = "-c jit=off";

/**
 * The same login, acting as custodian_owner from the start (SET ROLE). Its
 * writes are Custodian's own ("system" in the audit trail) unless a migration
 * or a job says otherwise.
 */
export function ownerUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set("options", `-c role=custodian_owner -c custodian.actor_kind=system ${connectionSettings}`);
  return url.toString();
}

/** The same server, another database. */
export function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = "/" + encodeURIComponent(database);
  return url.toString();
}

export function databaseName(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
}
