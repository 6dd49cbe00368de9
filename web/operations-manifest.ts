// The console's persisted operations (trusted documents): every GraphQL
// document it sends, each exported from an operations.ts beside its page, by
// documentId. `npm run console:persisted` writes them to
// web/persisted-operations.json (committed: a diff shows what production may
// run); the server loads that file, and the console sends the ids.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { print, type DocumentNode } from "@0no-co/graphql.web";
import { projectRoot } from "../src/paths.ts";

const source = path.join(projectRoot, "web", "src");
export const manifestPath = path.join(projectRoot, "web", "persisted-operations.json");

/** A document's id: "sha256:" and the hex digest of its text, so that an edited operation gets a new id. */
export function documentIdOf(text: string): string {
  return `sha256:${crypto.createHash("sha256").update(text).digest("hex")}`;
}

/** Every file of web/src (but the generated types), relative to it. */
export function sourceFiles(dir = source): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry.name) && entry.name !== "graphql-env.d.ts" ? [path.relative(source, full)] : [];
  });
}

const isDocument = (value: unknown): value is DocumentNode => (value as { kind?: unknown } | null)?.kind === "Document";

/** The documents each operations.ts exports, by file. */
export async function exportedDocuments(): Promise<Map<string, Array<{ name: string; document: DocumentNode }>>> {
  const byFile = new Map<string, Array<{ name: string; document: DocumentNode }>>();
  for (const file of sourceFiles().filter((file) => path.basename(file) === "operations.ts").sort()) {
    const module = (await import(pathToFileURL(path.join(source, file)).href)) as Record<string, unknown>;
    byFile.set(
      file,
      Object.entries(module)
        .filter((entry): entry is [string, DocumentNode] => isDocument(entry[1]))
        .map(([name, document]) => ({ name, document })),
    );
  }
  return byFile;
}

/** The manifest: documentId → the text the console sends (printed as the console prints it), sorted by id. */
export async function consoleManifest(): Promise<Record<string, string>> {
  const entries: Array<[string, string]> = [];
  for (const documents of (await exportedDocuments()).values()) {
    for (const { document } of documents) {
      const text = print(document);
      entries.push([documentIdOf(text), text]);
    }
  }
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

export const manifestText = (manifest: Record<string, string>) => JSON.stringify(manifest, null, 2) + "\n";

if (import.meta.main) {
  const manifest = await consoleManifest();
  fs.writeFileSync(manifestPath, manifestText(manifest));
  process.stdout.write(`${Object.keys(manifest).length} operations written to ${path.relative(process.cwd(), manifestPath)}\n`);
}
