import type { Pool } from "pg";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { JWT_AUDIENCE, JWT_ISSUER, pgSettingsFor, SignInRefusalPlugin } from "./auth.ts";
import { IncludeDeletedPlugin } from "./include-deleted-plugin.ts";
import { makeMaskError } from "./mask-error.ts";
import type { Grants } from "./privilege-errors.ts";
import type { ApiLimits, ApiSurface } from "../config.ts";
import { IntrospectionOffPlugin } from "./introspection.ts";
import { operationLimitsPlugin } from "./operation-limits.ts";
import { persistedOperationsPreset, type Manifest } from "./persisted-operations.ts";
import { constraintWordsOnce } from "./constraint-words.ts";
import { plainAnswersPlugin } from "./plain-answers-plugin.ts";

export interface PresetOptions {
  /** A pool logged in as custodian_authenticator, so PostGraphile's RBAC applies. */
  pool: Pool;
  jwtSecret: string;
  jwtTtlSeconds: number;
  /** GraphiQL, introspection, and whether only the console's operations run. */
  surface: ApiSurface;
  /** The console's operations by documentId (web/persisted-operations.json). */
  manifest: Manifest;
  /** The roles' column grants, to explain a privilege refusal in words. */
  grants: Grants;
  limits: ApiLimits;
}

export function makePreset(options: PresetOptions): GraphileConfig.Preset {
  // Read from SQL (app_private.constraint_words) before the first request is answered.
  const words = constraintWordsOnce(options.pool);
  return {
    extends: [
      PostGraphileAmberPreset,
      PgSimplifyInflectionPreset,
      PostGraphileConnectionFilterPreset,
      persistedOperationsPreset(options.manifest, options.surface.persistedOnly),
    ],
    plugins: [
      IncludeDeletedPlugin,
      SignInRefusalPlugin,
      operationLimitsPlugin(options.limits),
      plainAnswersPlugin(words),
      ...(options.surface.introspection ? [] : [IntrospectionOffPlugin]),
    ],
    pgServices: [makePgService({ pool: options.pool, schemas: ["app_public"] })],
    gather: { pgJwtTypes: "app_public.jwt_token" },
    schema: {
      pgJwtSecret: options.jwtSecret,
      pgJwtSignOptions: {
        algorithm: "HS256",
        expiresIn: options.jwtTtlSeconds,
        audience: JWT_AUDIENCE,
        issuer: JWT_ISSUER,
      },
    },
    grafast: {
      explain: false,
      // Planning an operation never seen before, and executing one, stop at these (GRAPHQL_PLANNING_TIMEOUT_MS, GRAPHQL_EXECUTION_TIMEOUT_MS).
      timeouts: { planning: options.limits.planningTimeoutMs, execution: options.limits.executionTimeoutMs },
      context(requestContext) {
        const req = requestContext.expressv4?.req;
        // STATEMENT_TIMEOUT_MS is set on the API pool's sessions (src/server/app.ts).
        return req ? { pgSettings: pgSettingsFor(req) } : {};
      },
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: options.surface.graphiql,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      maxRequestLength: options.limits.maxRequestBytes,
      maskError: makeMaskError(options.grants, options.limits, words),
    },
  };
}
