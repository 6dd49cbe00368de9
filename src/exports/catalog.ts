import { UserError } from "../errors.ts";
import { filters as auditFilters, recordKeyJson, selectList as auditColumns } from "../server/rest/audit-export.ts";
import type { Parameter } from "../server/rest/query.ts";
import { analytics, coach, monthRange, range } from "../server/rest/usage.ts";

/**
 * The streaming exports, one definition each, read by both doors: the REST
 * routes GET /api/v1/exports/<name> and `custodian export <name>`. Each is
 * one SQL query the caller's role runs through a cursor, for a range.
 */
export interface ExportDefinition {
  /** As the route and the command name it: usage-events, invoices, analytics/<name>, audit-events. */
  name: string;
  /** Query parameters, in the order the SQL takes them; the two ends of the range first. */
  parameters: Parameter[];
  /** One query with $1, $2, ... for the parameters. */
  sql: string;
  /** The values the SQL takes, from the checked parameters (default: each as given). */
  params?: (values: Record<string, string | null>) => unknown[];
  /** The SQL function's words for its arguments, and the names the parameters have instead. */
  parameterNames?: Record<string, string>;
}

export type ExportFormat = "jsonl" | "csv";
/** JSON Lines unless `format` says CSV: both stream a row at a time. */
export const exportFormats = ["jsonl", "csv"] as const satisfies readonly ExportFormat[];

const required = (parameters: Parameter[]) =>
  parameters.map((parameter) => ({ ...parameter, kind: { ...parameter.kind, required: true } }) as Parameter);

const auditRange = required(auditFilters.filter((parameter) => parameter.name.startsWith("occurred_")))
  // A new route takes the snake_case names only.
  .map(({ formerName: _, ...parameter }) => parameter);
const auditNarrowing = auditFilters.filter((parameter) => !parameter.name.startsWith("occurred_"));

const definitions: ExportDefinition[] = [
  {
    name: "usage-events",
    parameters: [...range, coach],
    sql: "select * from app_private.usage_events_export($1::date, $2::date, $3::uuid)",
  },
  {
    name: "invoices",
    parameters: [...monthRange, coach],
    sql: "select * from app_private.invoices_export($1::date, $2::date, $3::uuid)",
  },
  ...Object.entries(analytics).map(([name, endpoint]) => ({
    name: `analytics/${name}`,
    parameters: endpoint.parameters,
    sql: endpoint.sql,
  })),
  {
    name: "audit-events",
    parameters: [...auditRange, ...auditNarrowing],
    // The range's ends are audit_events' last two arguments.
    sql: `select ${auditColumns}
          from app_public.audit_events($3, $4::jsonb, $5::uuid, $6::audit.actor_kind, $7::audit.operation, $1::timestamptz, $2::timestamptz)
          order by id`,
    params: (values) => [
      values.occurred_from, values.occurred_before, values.table_name,
      values.record_key === null ? null : recordKeyJson(values.record_key), values.actor_id, values.actor_kind, values.operation,
    ],
    parameterNames: { tableName: "table_name", recordKey: "record_key", occurredFrom: "occurred_from", occurredBefore: "occurred_before" },
  },
];

const byName = new Map(definitions.map((definition) => [definition.name, definition]));

/** Every export's name, as the README and the refusals list them. */
export const exportNames = definitions.map((definition) => definition.name);

/** The export of this name; any other name is refused, naming the ones there are. */
export function exportNamed(name: string): ExportDefinition {
  const definition = byName.get(name);
  if (name === "") throw new UserError(`Name an export: ${exportNames.join(", ")}.`);
  if (!definition) throw new UserError(`There is no export "${name}"; the exports are ${exportNames.join(", ")}.`);
  return definition;
}

/** The SQL's values, in order, from the checked parameters. */
export function exportParams(definition: ExportDefinition, values: Record<string, string | null>): unknown[] {
  return definition.params ? definition.params(values) : definition.parameters.map((parameter) => values[parameter.name]);
}

/** The file's name: the export and its range, e.g. usage-events_2026-11-01_2026-12-01 (no extension). */
export function exportFilename(definition: ExportDefinition, values: Record<string, string | null>): string {
  const [start, end] = definition.parameters;
  const safe = (text: string) => text.replace(/[^0-9A-Za-z.-]+/g, "-");
  return [definition.name.replace("/", "-"), safe(values[start!.name] ?? ""), safe(values[end!.name] ?? "")].join("_");
}
