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
 * The same login, acting as custodian_owner from the start (SET ROLE). Its
 * writes are Custodian's own ("system" in the audit trail) unless a migration
 * or a job says otherwise.
 */
export function ownerUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set("options", "-c role=custodian_owner -c custodian.actor_kind=system");
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
