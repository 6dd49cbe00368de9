import fs from "node:fs";
import path from "node:path";
import { PersistedPlugin } from "@grafserv/persisted";
import { SafeError } from "postgraphile/grafast";
import { UserError } from "../errors.ts";
import { projectRoot } from "../paths.ts";

/** The console's operations by documentId, generated from web/src by `npm run console:persisted` and committed. */
export const manifestFile = path.join(projectRoot, "web", "persisted-operations.json");

export type Manifest = Record<string, string>;

const documentIdPattern = /^sha256:[0-9a-f]{64}$/;

/** Reads the manifest: documentId ("sha256:" and the hex digest of the text) → the operation's text. */
export function loadManifest(file = manifestFile): Manifest {
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`The console's operations could not be read from ${file} (${(error as Error).message}); run \`npm run console:persisted\`.`);
  }
  const entries = manifest !== null && typeof manifest === "object" && !Array.isArray(manifest) ? Object.entries(manifest) : null;
  if (!entries || entries.some(([id, text]) => !documentIdPattern.test(id) || typeof text !== "string")) {
    throw new UserError(`${file} is not a manifest of operations ({"sha256:<hex>": "<operation>"}); run \`npm run console:persisted\`.`);
  }
  return Object.fromEntries(entries) as Manifest;
}

function refuse(message: string, statusCode: number): never {
  throw new SafeError(message, { statusCode, code: "PERSISTED" });
}

/**
 * Says in words what @grafserv/persisted would refuse in its own (and what it
 * would let through silently): an unknown documentId, a body naming both a
 * documentId and a text or neither, and, with GRAPHQL_PERSISTED_ONLY=on, a text.
 */
function persistedGuardPlugin(manifest: Manifest, persistedOnly: boolean): GraphileConfig.Plugin {
  return {
    name: "CustodianPersistedGuardPlugin",
    version: "1.0.0",
    before: ["PersistedPlugin"],
    grafserv: {
      middleware: {
        processGraphQLRequestBody(next, event) {
          const { documentId, query } = event.body;
          if (documentId !== undefined && documentId !== null) {
            if (typeof documentId !== "string" || !Object.hasOwn(manifest, documentId)) {
              const shown = typeof documentId === "string" ? `"${documentId.slice(0, 80)}"` : JSON.stringify(documentId).slice(0, 80);
              refuse(`No operation with documentId ${shown} was shipped with this Custodian (its console's operations are in web/persisted-operations.json); reload the console if Custodian was updated.`, 400);
            }
            if (query !== undefined && query !== null) refuse("Send an operation's documentId or its text (query), not both.", 400);
          } else if (typeof query !== "string") {
            // Refused here: @grafserv/persisted would log the whole body (its variables, a password among them).
            refuse("Send an operation: its documentId, or its text as query.", 400);
          } else if (persistedOnly) {
            refuse(
              "This installation runs only the operations its console shipped (GRAPHQL_PERSISTED_ONLY=on): name one by its documentId from web/persisted-operations.json, or set GRAPHQL_PERSISTED_ONLY=off to accept other operations.",
              403,
            );
          }
          return next();
        },
      },
    },
  };
}

/**
 * Persisted operations through @grafserv/persisted: a request naming a
 * documentId runs the manifest's text for it (and the limits see that text);
 * a request sending text runs it unless GRAPHQL_PERSISTED_ONLY=on.
 */
export function persistedOperationsPreset(manifest: Manifest, persistedOnly: boolean): GraphileConfig.Preset {
  return {
    plugins: [persistedGuardPlugin(manifest, persistedOnly), PersistedPlugin],
    grafserv: {
      // An object, so that each lookup is synchronous: when its lookup is a promise (persistedOperationsDirectory),
      // @grafserv/persisted 1.0.0 does not call the middleware after it, and the limits would not see the text.
      persistedOperations: manifest,
      allowUnpersistedOperation: !persistedOnly,
      // The GraphQL-over-HTTP persisted documents proposal's field, which the console sends; no other.
      hashFromPayload: (body) => (typeof body.documentId === "string" ? body.documentId : undefined),
    },
  };
}
