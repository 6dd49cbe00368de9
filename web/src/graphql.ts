import { initGraphQLTada } from "gql.tada";
import type { introspection } from "./graphql-env.d.ts";

/**
 * Every operation of the console is written with this `graphql`, typed
 * against the committed schema.graphql (web/src/graphql-env.d.ts is generated
 * from it by `npm run typecheck`): a schema change that breaks a page fails
 * the type check. PostGraphile sends BigInt and BigFloat as strings, so they
 * stay strings until a page formats them.
 */
export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: {
    BigInt: string;
    BigFloat: string;
    Date: string;
    Datetime: string;
    Cursor: string;
    UUID: string;
    JwtToken: string;
    JSON: unknown;
  };
}>();

export type { FragmentOf, ResultOf, VariablesOf } from "gql.tada";
