// The console's pages at volume: the real server on the bench's scratch
// database, and, for each page, the GraphQL operations that page sends (the
// very documents of web/src/pages, sent at once as the page sends them),
// timed from the first request to the last answer. The p95 per page and role
// is what the 200 ms is about. Each is sent as the console sends it,
// by its documentId, to a server that runs nothing else (GRAPHQL_PERSISTED_ONLY=on).
import type { DocumentNode } from "graphql";
import pg from "pg";
import { ownerUrl } from "../src/db/connection-strings.ts";
import type { TadaDocumentNode } from "gql.tada";
import { AuditChainStatus, AuditEvents } from "../web/src/pages/audit/operations.ts";
import { Invoices, MonthlyRevenue } from "../web/src/pages/billing/operations.ts";
import { DeletedItems } from "../web/src/pages/deleted/operations.ts";
import { CoachDetail, UsageOverview } from "../web/src/pages/overview/operations.ts";
import { LatestReconcileCheck } from "../web/src/pages/reconcile/operations.ts";
import { Authenticate } from "../web/src/pages/sign-in/operations.ts";
import { UsageEvents } from "../web/src/pages/usage-events/operations.ts";
import { operationBody } from "../web/src/shared/persisted.ts";
import { startCustodian } from "./custodian-server.ts";
import type { Teardown } from "./scratch-database.ts";

/** What a page is opened on: the console's default range (the last 30 days), its months, and one coach. */
export interface PageContext {
  from: string;
  to: string;
  previousFrom: string;
  previousTo: string;
  /** The first days of the range's first month and of the month after its last. */
  fromMonth: string;
  toMonth: string;
  month: string;
  coachProfileId: string;
}

export type Role = "admin" | "coach";
export type Operation = [DocumentNode, Record<string, unknown>];

/** One operation with its variables, checked against the document's types as the page's are. */
function operation<Result, Variables>(document: TadaDocumentNode<Result, Variables>, variables: Variables): Operation {
  return [document as unknown as DocumentNode, variables as Record<string, unknown>];
}

/** Each page, the roles that open it, and the operations it sends on opening. */
export const PAGES: Record<string, { roles: readonly Role[]; operations: (context: PageContext, role: Role) => Operation[] }> = {
  overview: {
    roles: ["admin", "coach"],
    operations: (c) => [
      operation(UsageOverview, { from: c.from, to: c.to, previousFrom: c.previousFrom, previousTo: c.previousTo, granularity: "day", coach: null }),
    ],
  },
  coach: {
    roles: ["admin"],
    operations: (c) => [
      operation(CoachDetail, { coach: c.coachProfileId, month: c.month }),
      operation(UsageOverview, { from: c.from, to: c.to, previousFrom: c.previousFrom, previousTo: c.previousTo, granularity: "day", coach: c.coachProfileId }),
    ],
  },
  billing: {
    roles: ["admin", "coach"],
    operations: (c, role) => [
      ...(role === "admin" ? [operation(MonthlyRevenue, { from: c.fromMonth, to: c.toMonth })] : []),
      operation(Invoices, { month: c.month, coach: null }),
    ],
  },
  usage_events: {
    roles: ["admin", "coach"],
    operations: (c) => [
      operation(UsageEvents, { from: c.from, to: c.to, month: null, coach: null, provider: null, model: null, after: null, first: 50 }),
    ],
  },
  // The last check of the range (run by the worker; benchConsolePages runs one first, as the worker would).
  reconcile: { roles: ["admin"], operations: (c) => [operation(LatestReconcileCheck, { from: c.from, to: c.to })] },
  audit: {
    roles: ["admin", "coach"],
    operations: (_c, role) => [
      operation(AuditEvents, {
        tableName: null, recordKey: null, actorId: null, actorKind: null, operation: null, occurredFrom: null, occurredBefore: null, first: 50, after: null,
      }),
      ...(role === "admin" ? [operation(AuditChainStatus, {})] : []),
    ],
  },
  deleted: { roles: ["admin", "coach"], operations: () => [operation(DeletedItems, { tableName: null, deletionBatchId: null })] },
};

async function post(base: string, token: string | null, document: DocumentNode, variables: Record<string, unknown>) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(operationBody(document, variables)),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: Array<{ message: string }> };
  if (body.errors?.length) throw new Error(`the console's operation failed: ${body.errors.map((error) => error.message).join(" ")}`);
  return body.data!;
}

/** The reconcile page shows a finished check of its range: one is run first, as the worker runs one asked for. */
async function checkReconcileOnce(databaseUrl: string, context: PageContext): Promise<void> {
  const owner = new pg.Client({ connectionString: ownerUrl(databaseUrl) });
  await owner.connect();
  try {
    const { rows: [check] } = await owner.query(
      "insert into app_public.usage_reconcile_checks (from_day, to_day) values ($1, $2) returning id", [context.from, context.to]);
    await owner.query("select app_private.run_usage_reconcile_check($1)", [check.id]);
  } finally {
    await owner.end();
  }
}

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Number(sorted[Math.max(0, Math.ceil(sorted.length * 0.95) - 1)]!.toFixed(1));
}

/**
 * The p95 (ms) of opening each page, per role: all of the page's operations
 * sent at once, as the browser does, `runs` times each after two warm-up
 * runs, pages interleaved.
 */
export async function benchConsolePages(
  databaseUrl: string,
  teardown: Teardown,
  logins: Record<Role, { email: string; password: string }>,
  context: PageContext,
  runs: number,
): Promise<Record<string, Record<string, number>>> {
  const { base } = await startCustodian(databaseUrl, teardown, { worker: false, env: { GRAPHQL_PERSISTED_ONLY: "on" } });
  await checkReconcileOnce(databaseUrl, context);
  const tokens = {} as Record<Role, string>;
  for (const role of ["admin", "coach"] as const) {
    const data = await post(base, null, Authenticate as unknown as DocumentNode, logins[role]);
    tokens[role] = (data.authenticate as { jwtToken: string }).jwtToken;
  }
  const times: Record<string, Record<string, number[]>> = {};
  for (let run = 0; run < runs + 2; run++) {
    for (const [page, { roles, operations }] of Object.entries(PAGES)) {
      for (const role of roles) {
        const started = performance.now();
        await Promise.all(operations(context, role).map(([document, variables]) => post(base, tokens[role], document, variables)));
        const ms = performance.now() - started;
        if (run < 2) continue; // two warm-up runs
        ((times[role] ??= {})[page] ??= []).push(ms);
      }
    }
  }
  return Object.fromEntries(
    Object.entries(times).map(([role, pages]) => [role, Object.fromEntries(Object.entries(pages).map(([page, values]) => [page, p95(values)]))]),
  );
}
