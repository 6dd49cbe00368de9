import { print, type DocumentNode } from "@0no-co/graphql.web";
import manifest from "../../persisted-operations.json" with { type: "json" };

/** The documentId of each operation the console ships, by its text (web/persisted-operations.json, inverted). */
const documentIdOfText = new Map(Object.entries(manifest as Record<string, string>).map(([documentId, text]) => [text, documentId]));

export type OperationBody = { documentId: string; variables: unknown } | { query: string; variables: unknown };

const bodies = new WeakMap<DocumentNode, { documentId: string } | { query: string }>();

/**
 * What a request sends for an operation: its documentId when the manifest
 * has its text, as every shipped operation does; otherwise its text (an
 * operation edited since `npm run console:persisted`, which a server with
 * GRAPHQL_PERSISTED_ONLY=on refuses in words).
 */
export function operationBody(document: DocumentNode, variables: unknown): OperationBody {
  let named = bodies.get(document);
  if (!named) {
    const text = print(document);
    const documentId = documentIdOfText.get(text);
    named = documentId ? { documentId } : { query: text };
    bodies.set(document, named);
  }
  return { ...named, variables };
}
