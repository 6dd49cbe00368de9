import { GraphQLError, type ValidationRule } from "postgraphile/graphql";

/** What a caller reads when it asks for the schema of an installation that does not show it. */
export const introspectionOffMessage =
  "Introspection is off in this installation (GRAPHQL_INTROSPECTION=off, the default when NODE_ENV=production); the schema is published as schema.graphql. Set GRAPHQL_INTROSPECTION=on to answer __schema and __type.";

/**
 * Refuses `__schema` and `__type` anywhere in a document, once per document;
 * `__typename` stays, as clients use it to tell types apart.
 */
export const noIntrospection: ValidationRule = (context) => {
  let reported = false;
  return {
    Field(node) {
      if (reported || (node.name.value !== "__schema" && node.name.value !== "__type")) return;
      reported = true;
      context.reportError(new GraphQLError(introspectionOffMessage, { nodes: node, extensions: { code: "INTROSPECTION_OFF" } }));
    },
  };
};

/** Adds the rule to grafserv's validation of every operation (GRAPHQL_INTROSPECTION=off). */
export const IntrospectionOffPlugin: GraphileConfig.Plugin = {
  name: "CustodianIntrospectionOffPlugin",
  version: "1.0.0",
  grafserv: {
    middleware: {
      setPreset(next, event) {
        event.validationRules.push(noIntrospection);
        return next();
      },
    },
  },
};
