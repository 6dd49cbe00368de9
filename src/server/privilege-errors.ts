import { AsyncLocalStorage } from "node:async_hooks";
import type { NextFunction, Request, Response } from "express";
import type { Pool } from "pg";

/**
 * PostGraphile builds one schema for every role, so an input type offers
 * the columns any role may set, and a role that sends one it has no grant
 * for meets PostgreSQL's bare "permission denied for table clients". The
 * grants stay the rule; this turns that refusal into words naming the
 * fields the caller's role may not write or read, read from the same grants.
 */

type Privilege = "SELECT" | "INSERT" | "UPDATE";
/** table → role → privilege → columns the role holds it on */
export type Grants = Map<string, Map<string, Map<Privilege, Set<string>>>>;

const appRoles = ["custodian_coach", "custodian_admin", "custodian_auditor"];

export async function loadGrants(pool: Pool): Promise<Grants> {
  const { rows } = await pool.query<{ table: string; role: string; privilege: Privilege; column: string }>(
    `select c.relname as table, r.role, p.privilege, a.attname as column
     from pg_catalog.pg_class c
     join pg_catalog.pg_namespace n on n.oid = c.relnamespace and n.nspname = 'app_public'
     join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     cross join unnest($1::text[]) r(role)
     cross join unnest(array['SELECT', 'INSERT', 'UPDATE']) p(privilege)
     where c.relkind in ('r', 'p', 'v') and pg_catalog.has_column_privilege(r.role, c.oid, a.attnum, p.privilege)`,
    [appRoles],
  );
  const grants: Grants = new Map();
  for (const { table, role, privilege, column } of rows) {
    const byRole = grants.get(table) ?? grants.set(table, new Map()).get(table)!;
    const byPrivilege = byRole.get(role) ?? byRole.set(role, new Map()).get(role)!;
    (byPrivilege.get(privilege) ?? byPrivilege.set(privilege, new Set()).get(privilege)!).add(column);
  }
  return grants;
}

const requestRole = new AsyncLocalStorage<string>();

/** Remembers the request's database role for the error that may follow (after authentication). */
export function rememberRole(roleOf: (req: Request) => string) {
  return (req: Request, _res: Response, next: NextFunction) => requestRole.run(roleOf(req), next);
}

const camel = (column: string) => column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** "A coach", "An auditor": the role as a person. */
const roleWords = (role: string) => {
  const name = role.replace(/^custodian_/, "");
  return `${/^[aeiou]/.test(name) ? "An" : "A"} ${name}`;
};

function list(names: string[]): string {
  return names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

/**
 * Words for "permission denied for table T" raised while running the GraphQL
 * field `fieldName`, or null when the grants do not explain it.
 */
export function explainPermissionDenied(grants: Grants, message: string, fieldName: string | undefined): string | null {
  const table = /^permission denied for table (\w+)$/.exec(message)?.[1];
  const role = requestRole.getStore();
  if (!table || !role || !appRoles.includes(role)) return null;
  const byRole = grants.get(table);
  if (!byRole) return null;
  const who = roleWords(role);
  const privilege: Privilege = /^create/.test(fieldName ?? "") ? "INSERT" : /^update/.test(fieldName ?? "") ? "UPDATE" : "SELECT";
  const mine = byRole.get(role)?.get(privilege) ?? new Set<string>();
  const others = new Set([...byRole.values()].flatMap((p) => [...(p.get(privilege) ?? [])]));
  const denied = [...others].filter((column) => !mine.has(column)).map(camel);
  const verb = privilege === "SELECT" ? "read" : "set";
  if (mine.size === 0) return `${who} may not ${privilege === "SELECT" ? "read" : privilege === "INSERT" ? "create" : "change"} ${table}.`;
  if (denied.length === 0) return null;
  return `${who} may not ${verb} ${list(denied)} of ${table}; leave ${denied.length === 1 ? "it" : "them"} out.`;
}

/**
 * Words for a refusal the grants do not explain: a row-level security
 * policy refusing the row ("new row violates row-level security policy"),
 * or a table or function the role may not touch at all.
 */
export function explainRowSecurity(message: string, fieldName: string | undefined): string | null {
  const role = requestRole.getStore();
  const who = role && appRoles.includes(role) ? roleWords(role) : "You";
  const policy = /^new row violates row-level security policy.* for table "(\w+)"$/.exec(message)?.[1];
  if (policy) {
    const noun = policy.replaceAll("_", " ");
    return role === "custodian_coach"
      ? `${who} may only write ${noun} of their own: this row would belong to another coach (or to none).`
      : `${who} may not write this row of ${noun}: the table's row rules refuse it.`;
  }
  const fn = /^permission denied for function (\w+)$/.exec(message)?.[1];
  const table = /^permission denied for (?:table|view|materialized view|sequence) (\w+)$/.exec(message)?.[1];
  if ((fn || table) && role === "custodian_anonymous") return `Sign in first: ${fieldName ?? fn ?? table} is not open to anonymous callers.`;
  if (fn) return `${who} may not use ${fieldName ?? fn}.`;
  if (table) {
    const verb = /^(create|update|delete|restore|issue|void|close)/.test(fieldName ?? "") ? "change" : "read";
    return `${who} may not ${verb} ${table.replaceAll("_", " ")}.`;
  }
  return null;
}
