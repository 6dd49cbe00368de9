import fs from "node:fs";
import path from "node:path";
import { consoleManifest, documentIdOf, exportedDocuments, manifestPath, manifestText, sourceFiles } from "../../web/operations-manifest.ts";
import { projectRoot } from "../../src/paths.ts";
import { loadManifest } from "../../src/server/persisted-operations.ts";

// The console's persisted operations (web/persisted-operations.json) are
// every GraphQL document it sends, each by the id of its text: a document
// left out would be refused by a server with GRAPHQL_PERSISTED_ONLY=on, and
// an edited one would be sent as text.

test("the committed web/persisted-operations.json is the console's operations as they are now (run `npm run console:persisted` if not)", async () => {
  const committed = fs.readFileSync(manifestPath, "utf8");
  expect(manifestText(await consoleManifest())).toBe(committed);
});

test("each documentId is the SHA-256 of its text, and the server reads the same manifest", () => {
  const manifest = loadManifest();
  expect(Object.keys(manifest).length).toBeGreaterThan(40);
  for (const [documentId, text] of Object.entries(manifest)) expect(documentId).toBe(documentIdOf(text));
  expect(manifest).toEqual(JSON.parse(fs.readFileSync(manifestPath, "utf8")));
});

test("every graphql(`…`) of web/src is exported from an operations.ts, so that the manifest has it", async () => {
  const documents = await exportedDocuments();
  const misplaced: string[] = [];
  for (const file of sourceFiles()) {
    const written = (fs.readFileSync(path.join(projectRoot, "web", "src", file), "utf8").match(/\bgraphql\(\s*`/g) ?? []).length;
    const exported = documents.get(file)?.length ?? 0;
    if (written !== exported) misplaced.push(`${file}: ${written} written, ${exported} exported`);
  }
  expect(misplaced).toEqual([]);
});

test("each operation has its own name, so that an answer or an error names one operation", async () => {
  const names = Object.values(loadManifest()).map((text) => /^(?:query|mutation|subscription) (\w+)/.exec(text)?.[1]);
  expect(names).not.toContain(undefined);
  expect(new Set(names).size).toBe(names.length);
});
