import pg from "pg";
import { makeSchema } from "postgraphile";
import { lexicographicSortSchema, printSchema } from "postgraphile/graphql";
import { loadConfig } from "../config.ts";
import { makePreset } from "./preset.ts";

/** The GraphQL schema's SDL as the API serves it, sorted so diffs stay small. */
export async function schemaSdl(authenticatorUrl: string): Promise<string> {
  const pool = new pg.Pool({ connectionString: authenticatorUrl, max: 2 });
  try {
    const { schema } = await makeSchema(
      makePreset({ pool, jwtSecret: "schema-export-only-not-a-secret", jwtTtlSeconds: 3600, surface: loadConfig({}).surface, manifest: {}, grants: new Map(), limits: loadConfig({}).limits }),
    );
    return printSchema(lexicographicSortSchema(schema)) + "\n";
  } finally {
    await pool.end();
  }
}
