import { UserError } from "../errors.ts";
import { isUuid } from "../uuid.ts";
import { digestStoredFile } from "./lines.ts";
import { assertManifest, manifestDifferences, manifestName, type ArchiveManifest } from "./manifest.ts";
import { ArchiveFileMissing, type ArchiveStore } from "./store.ts";

export interface ArchiveVerification {
  ok: boolean;
  problems: string[];
  manifest: ArchiveManifest | null;
}

export interface VerifyOptions {
  /** The manifest recorded elsewhere when the archive was written (the database's copy): the file must equal it. */
  recorded?: ArchiveManifest | null;
}

/** An archive that failed verification: nothing is restored from it. */
export class ArchiveTampered extends UserError {
  override name = "ArchiveTampered";
}

/**
 * Re-reads an archive: every file's SHA-256, byte and row count against its
 * manifest, files missing or not in the manifest, and (given `recorded`) the
 * manifest itself against the copy kept elsewhere. Every problem is named.
 */
export async function verifyArchive(store: ArchiveStore, id: string, { recorded = null }: VerifyOptions = {}): Promise<ArchiveVerification> {
  if (!isUuid(id)) return { ok: false, problems: [`"${id}" is not an archive id (a UUID)`], manifest: null };
  const names = await store.list(`${id}/`);
  if (names.length === 0) return { ok: false, problems: [`there is no archive ${id} in the ${store.description}`], manifest: null };
  const { manifest, problem } = await readManifest(store, id);
  if (!manifest) return { ok: false, problems: [problem!], manifest: null };
  const problems: string[] = [];
  if (recorded) {
    const fields = manifestDifferences(manifest, recorded);
    if (fields.length > 0) problems.push(`manifest.json differs from the manifest recorded when the archive was written (in ${fields.join(", ")})`);
  }
  for (const file of manifest.files) {
    const label = `${file.name} (${file.table})`;
    try {
      const found = await digestStoredFile(store, `${id}/${file.name}`);
      if (found.sha256 !== file.sha256) problems.push(`${label}: SHA-256 is ${found.sha256}, the manifest says ${file.sha256}`);
      if (found.bytes !== file.bytes) problems.push(`${label}: ${found.bytes} bytes, the manifest says ${file.bytes}`);
      if (found.unreadable) problems.push(`${label}: ${found.unreadable}`);
      else if (found.rows !== file.rows) problems.push(`${label}: ${found.rows} rows, the manifest says ${file.rows}`);
    } catch (error) {
      if (!(error instanceof ArchiveFileMissing)) throw error;
      problems.push(`${label}: the file is missing`);
    }
  }
  const listed = new Set([manifestName(id), ...manifest.files.map((file) => `${id}/${file.name}`)]);
  for (const name of names) if (!listed.has(name)) problems.push(`${name.slice(id.length + 1)}: a file the manifest does not list`);
  return { ok: problems.length === 0, problems, manifest };
}

/** The archive's manifest parsed and checked, or why it could not be. */
export async function readManifest(store: ArchiveStore, id: string): Promise<{ manifest: ArchiveManifest | null; problem: string | null }> {
  let text = "";
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of store.readFile(manifestName(id))) chunks.push(chunk);
    text = Buffer.concat(chunks).toString("utf8");
  } catch (error) {
    if (error instanceof ArchiveFileMissing) return { manifest: null, problem: "manifest.json is missing" };
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { manifest: null, problem: `manifest.json is not valid JSON (${(error as Error).message})` };
  }
  try {
    assertManifest(parsed);
  } catch (error) {
    return { manifest: null, problem: `manifest.json is not a custodian archive manifest: ${(error as Error).message}` };
  }
  if (parsed.id !== id) return { manifest: null, problem: `manifest.json names archive ${parsed.id}, not ${id}` };
  return { manifest: parsed, problem: null };
}
