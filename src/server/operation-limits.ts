import { SafeError } from "postgraphile/grafast";
import { Kind, parse, print, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode, type ValueNode } from "postgraphile/graphql";

/** What one GraphQL operation may cost before it runs (settings in src/config.ts). */
export interface OperationLimits {
  /** Deepest nesting of fields (GRAPHQL_MAX_DEPTH). */
  maxDepth: number;
  /** Largest `first` or `last` on a connection (GRAPHQL_MAX_PAGE_SIZE). */
  maxPageSize: number;
  /** The page a connection gets when it names neither (GRAPHQL_DEFAULT_PAGE_SIZE). */
  defaultPageSize: number;
  /** Most rows the operation could return: each list's page size times those of the lists around it, summed (GRAPHQL_MAX_COST). */
  maxCost: number;
}

/** A refusal before the operation runs: 400, with the limit's setting named. */
function refuse(message: string): never {
  throw new SafeError(message, { statusCode: 400, code: "LIMIT" });
}

const introspection = new Set(["__schema", "__type", "__typename"]);

/**
 * Checks an operation against the limits with its variables' values, and
 * gives every connection that names no page size the default one, so that no
 * list is unbounded. Returns the query to run (rewritten when a page size
 * was added), or throws a 400 naming the limit.
 */
export function limitOperation(query: string, variables: Record<string, unknown> | null | undefined, limits: OperationLimits): string {
  let document: DocumentNode;
  try {
    document = parse(query);
  } catch {
    return query; // grafserv answers a syntax error itself
  }
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  let rewritten = false;

  const pageSize = (value: ValueNode): number | null => {
    if (value.kind === Kind.INT) return Number(value.value);
    if (value.kind === Kind.VARIABLE) {
      const given = variables?.[value.name.value];
      return typeof given === "number" ? given : null;
    }
    return null;
  };

  // Returns the cost of a selection set reached through lists whose page sizes multiply to `rows`.
  const walk = (selectionSet: SelectionSetNode, depth: number, rows: number, seen: Set<string>): number => {
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || seen.has(fragment.name.value)) continue; // validation reports both
        cost += walk(fragment.selectionSet, depth, rows, new Set([...seen, fragment.name.value]));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        cost += walk(selection.selectionSet, depth, rows, seen);
      } else {
        cost += walkField(selection, depth + 1, rows, seen);
      }
    }
    return cost;
  };

  const walkField = (field: FieldNode, depth: number, rows: number, seen: Set<string>): number => {
    if (introspection.has(field.name.value)) return 0;
    if (depth > limits.maxDepth) {
      refuse(`The operation nests fields ${depth} deep at ${field.name.value}; the limit is ${limits.maxDepth} (GRAPHQL_MAX_DEPTH).`);
    }
    if (!field.selectionSet) return 0;
    let page: number | null = null;
    for (const argument of field.arguments ?? []) {
      if (argument.name.value !== "first" && argument.name.value !== "last") continue;
      const size = pageSize(argument.value);
      if (size !== null && size > limits.maxPageSize) {
        refuse(`${argument.name.value}: ${size} on ${field.name.value} is more than the largest page, ${limits.maxPageSize} (GRAPHQL_MAX_PAGE_SIZE).`);
      }
      page = Math.max(page ?? 0, size ?? limits.maxPageSize);
    }
    const isConnection = field.selectionSet.selections.some(
      (child) => child.kind === Kind.FIELD && (child.name.value === "nodes" || child.name.value === "edges"),
    );
    if (isConnection && page === null) {
      // No page size named: the default page, so that no list is unbounded.
      (field as { arguments: unknown }).arguments = [
        ...(field.arguments ?? []),
        { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: "first" }, value: { kind: Kind.INT, value: String(limits.defaultPageSize) } },
      ];
      rewritten = true;
      page = limits.defaultPageSize;
    }
    const inner = page === null ? rows : rows * page;
    const cost = (page === null ? 0 : inner) + walk(field.selectionSet, depth, inner, seen);
    if (cost > limits.maxCost) {
      refuse(`The operation could return about ${cost.toLocaleString("en")} rows at ${field.name.value}; the limit is ${limits.maxCost.toLocaleString("en")} (GRAPHQL_MAX_COST). Ask for smaller pages or fewer nested lists.`);
    }
    return cost;
  };

  let total = 0;
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    total += walk(definition.selectionSet, 0, 1, new Set());
    if (total > limits.maxCost) {
      refuse(`The request could return about ${total.toLocaleString("en")} rows; the limit is ${limits.maxCost.toLocaleString("en")} (GRAPHQL_MAX_COST). Ask for smaller pages or fewer nested lists.`);
    }
  }
  return rewritten ? print(document) : query;
}

/** A grafserv plugin applying the limits to every GraphQL request body before it is parsed and validated. */
export function operationLimitsPlugin(limits: OperationLimits): GraphileConfig.Plugin {
  return {
    name: "CustodianOperationLimitsPlugin",
    version: "1.0.0",
    grafserv: {
      middleware: {
        processGraphQLRequestBody(next, event) {
          const { body } = event;
          if (typeof body.query === "string") {
            body.query = limitOperation(body.query, body.variableValues as Record<string, unknown> | undefined, limits);
          }
          return next();
        },
      },
    },
  };
}
