import { isUuid } from "../uuid.ts";

export const archiveFormat = "custodian-archive/1";

export type ArchiveKind = "rows" | "audit_partition";

/** What an archive holds, written last as <id>/manifest.json: the archive counts as written only once it is there. */
export interface ArchiveManifest {
  format: typeof archiveFormat;
  id: string;
  kind: ArchiveKind;
  policy: string | null;
  runId: string | null;
  schemaVersion: string;
  createdAt: string;
  timeRange: { from: string | null; to: string | null };
  /** `name` is the file's name inside the archive's folder. */
  files: ArchiveFileEntry[];
  extra: Record<string, unknown>;
}

export interface ArchiveFileEntry {
  name: string;
  table: string;
  rows: number;
  bytes: number;
  sha256: string;
}

const tablePattern = /^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$/;

/** A "schema.table" name as archives record it (lowercase, unquoted identifiers). */
export function isTableName(value: unknown): value is string {
  return typeof value === "string" && tablePattern.test(value) && value.length <= 127;
}

export function manifestName(id: string): string {
  return `${id}/manifest.json`;
}

export function tableFileName(table: string): string {
  return `${table}.jsonl.gz`;
}

/** Checks a parsed manifest's shape; throws naming the first field that is wrong. */
export function assertManifest(value: unknown): asserts value is ArchiveManifest {
  const fail = (field: string): never => {
    throw new Error(`its ${field} is missing or malformed`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("top level");
  const m = value as Record<string, unknown>;
  if (m.format !== archiveFormat) fail(`format (expected "${archiveFormat}")`);
  if (!isUuid(m.id)) fail("id");
  if (m.kind !== "rows" && m.kind !== "audit_partition") fail("kind");
  if (m.policy !== null && typeof m.policy !== "string") fail("policy");
  if (m.runId !== null && !isUuid(m.runId)) fail("runId");
  if (typeof m.schemaVersion !== "string") fail("schemaVersion");
  if (!isIsoTime(m.createdAt)) fail("createdAt");
  const range = m.timeRange as Record<string, unknown> | null;
  if (typeof range !== "object" || range === null || !isIsoTimeOrNull(range.from) || !isIsoTimeOrNull(range.to)) fail("timeRange");
  if (!Array.isArray(m.files)) fail("files");
  for (const [index, file] of (m.files as Record<string, unknown>[]).entries()) {
    const at = `files[${index}]`;
    if (typeof file !== "object" || file === null) fail(at);
    if (!isTableName(file.table)) fail(`${at}.table`);
    if (file.name !== tableFileName(file.table as string)) fail(`${at}.name`);
    for (const count of ["rows", "bytes"] as const) {
      if (!Number.isSafeInteger(file[count]) || (file[count] as number) < 0) fail(`${at}.${count}`);
    }
    if (typeof file.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(file.sha256)) fail(`${at}.sha256`);
  }
  if (typeof m.extra !== "object" || m.extra === null || Array.isArray(m.extra)) fail("extra");
}

/**
 * The top-level fields in which two manifests differ, e.g. the file's against
 * the copy the database recorded when it was written (key order ignored).
 */
export function manifestDifferences(actual: ArchiveManifest, recorded: ArchiveManifest): string[] {
  const keys = [...new Set([...Object.keys(recorded), ...Object.keys(actual)])].sort();
  return keys.filter(
    (key) => stableJson((actual as unknown as Record<string, unknown>)[key]) !== stableJson((recorded as unknown as Record<string, unknown>)[key]),
  );
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

function isIsoTime(value: unknown): boolean {
  return typeof value === "string" && !Number.isNaN(Date.parse(value));
}

function isIsoTimeOrNull(value: unknown): boolean {
  return value === null || isIsoTime(value);
}
