import { SafeError } from "postgraphile/grafast";
import {
  Kind,
  parse,
  print,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "postgraphile/graphql";

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
function refuse(message: string, code = "LIMIT"): never {
  throw new SafeError(message, { statusCode: 400, code });
}

const introspection = new Set(["__schema", "__type", "__typename"]);
/** Introspection's list fields, and how deeply they may nest: GraphiQL's own query nests three (types, fields, args). */
const introspectionLists = new Set(["types", "fields", "args", "inputFields", "interfaces", "enumValues", "possibleTypes", "directives"]);
const maxIntrospectionLists = 3;
/** Most field selections an operation may have once its fragments are spread: a few fragments each spread many times over otherwise make GraphQL's validation and planning run for minutes. */
export const maxExpandedFields = 10_000;
const pageArguments = new Set(["first", "last"]);
const rowsText = (rows: number) => (Number.isFinite(rows) ? Math.round(rows).toLocaleString("en") : "unboundedly many");

/** A selection set's shape for one row around it: how deep its fields nest and how many rows it could return. */
interface Shape {
  depth: number;
  cost: number;
}

/**
 * Checks an operation against the limits with its variables' values, and
 * gives every connection that names no page size (or names it as null) the
 * default one, so that no list is unbounded. Returns the query to run
 * (rewritten when a page size was added) and may set a null page-size
 * variable to the default page; throws a 400 naming the limit.
 *
 * Each fragment is measured once, whatever the number of its spreads, so the
 * check takes time in proportion to the query's length.
 */
export function limitOperation(query: string, variables: Record<string, unknown>, limits: OperationLimits): string {
  let document: DocumentNode;
  try {
    document = parse(query);
  } catch {
    return query; // grafserv answers a syntax error itself
  }
  const fragments = new Map<string, FragmentDefinitionNode>();
  const variableDefaults = new Map<string, ValueNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    if (definition.kind === Kind.OPERATION_DEFINITION) {
      for (const variable of definition.variableDefinitions ?? []) {
        if (variable.defaultValue) variableDefaults.set(variable.variable.name.value, variable.defaultValue);
      }
    }
  }
  let rewritten = false;

  /** A page argument's value for this request: a number, null (none), or undefined (not a number: validation refuses it). */
  const pageSize = (value: ValueNode): number | null | undefined => {
    if (value.kind === Kind.VARIABLE) {
      const name = value.name.value;
      const given = Object.hasOwn(variables, name) ? variables[name] : undefined;
      if (given === undefined && variableDefaults.has(name)) return pageSize(variableDefaults.get(name)!);
      if (given === undefined || given === null) return null;
      return typeof given === "number" ? given : undefined;
    }
    if (value.kind === Kind.NULL) return null;
    if (value.kind === Kind.INT) return Number(value.value);
    return undefined;
  };

  // Variables given as a page size, and whether each is used only so.
  const pageVariables = new Map<string, boolean>();
  const nullPageVariables = new Set<string>();

  const measured = new Map<string, Shape | "measuring">();
  const fragmentShape = (name: string): Shape | null => {
    const known = measured.get(name);
    if (known === "measuring") return null; // a cycle: validation refuses it
    if (known) return known;
    const fragment = fragments.get(name);
    if (!fragment) return null; // validation refuses it
    measured.set(name, "measuring");
    const shape = walk(fragment.selectionSet, 0, 1, `fragment ${name}`);
    measured.set(name, shape);
    return shape;
  };

  const listNestingOf = new Map<string, number>();
  /** How deeply introspection's list fields nest in a selection set (each fragment counted once). */
  const listNesting = (selectionSet: SelectionSetNode): number => {
    let deepest = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        if (!listNestingOf.has(name)) {
          listNestingOf.set(name, 0); // a cycle counts nothing: validation refuses it
          const fragment = fragments.get(name);
          if (fragment) listNestingOf.set(name, listNesting(fragment.selectionSet));
        }
        deepest = Math.max(deepest, listNestingOf.get(name)!);
      } else if (selection.selectionSet) {
        const own = selection.kind === Kind.FIELD && introspectionLists.has(selection.name.value) ? 1 : 0;
        deepest = Math.max(deepest, own + listNesting(selection.selectionSet));
      }
    }
    return deepest;
  };

  /** A selection set at `depth`, inside lists whose page sizes multiply to `rows`. */
  const walk = (selectionSet: SelectionSetNode, depth: number, rows: number, where: string): Shape => {
    const shape: Shape = { depth, cost: 0 };
    for (const selection of selectionSet.selections) {
      let inner: Shape;
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragmentShape(selection.name.value);
        if (!fragment) continue;
        inner = { depth: depth + fragment.depth, cost: rows * fragment.cost };
        checkDepth(inner.depth, `fragment ${selection.name.value}`);
        checkCost(inner.cost, `fragment ${selection.name.value}`);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        inner = walk(selection.selectionSet, depth, rows, where);
      } else {
        inner = walkField(selection, depth + 1, rows);
      }
      shape.depth = Math.max(shape.depth, inner.depth);
      shape.cost += inner.cost;
    }
    checkCost(shape.cost, where);
    return shape;
  };

  const checkDepth = (depth: number, where: string) => {
    if (depth > limits.maxDepth) {
      refuse(`The operation is nested ${depth} levels deep (at ${where}); the limit is ${limits.maxDepth} (GRAPHQL_MAX_DEPTH).`);
    }
  };
  const checkCost = (cost: number, where: string) => {
    if (cost > limits.maxCost) {
      refuse(
        `The operation could return about ${rowsText(cost)} rows (at ${where}); the limit is ${limits.maxCost.toLocaleString("en")} (GRAPHQL_MAX_COST). Ask for smaller pages (first/last) or fewer nested lists.`,
      );
    }
  };

  const walkField = (field: FieldNode, depth: number, rows: number): Shape => {
    const name = field.alias ? `${field.alias.value}: ${field.name.value}` : field.name.value;
    if (introspection.has(field.name.value)) {
      // The schema, not rows: exempt from the depth limit, as GraphiQL's introspection is deep, but
      // its lists may not nest more deeply than GraphiQL's do (types { fields { type { fields … } } } grows without bound).
      const lists = field.selectionSet ? listNesting(field.selectionSet) : 0;
      if (lists > maxIntrospectionLists) {
        refuse(`The introspection at ${name} nests ${lists} lists (types, fields, args…); the limit is ${maxIntrospectionLists}.`);
      }
      return { depth: 0, cost: 0 };
    }
    checkDepth(depth, name);
    if (!field.selectionSet) return { depth, cost: 0 };
    const isConnection = field.selectionSet.selections.some(
      (child) => child.kind === Kind.FIELD && (child.name.value === "nodes" || child.name.value === "edges"),
    );
    let page: number | null = null;
    const unnamed: ArgumentNode[] = [];
    for (const argument of field.arguments ?? []) {
      if (argument.name.value === "offset" && (pageSize(argument.value) ?? 0) < 0) {
        refuse(`offset: ${pageSize(argument.value)} on ${name} is negative; skip 0 rows or more.`, "22023");
      }
      if (!pageArguments.has(argument.name.value)) continue;
      if (argument.value.kind === Kind.VARIABLE) {
        const variable = argument.value.name.value;
        pageVariables.set(variable, pageVariables.get(variable) ?? true);
      }
      const size = pageSize(argument.value);
      if (size === undefined) continue;
      if (size === null) {
        unnamed.push(argument);
        continue;
      }
      if (size < 0) {
        refuse(`${argument.name.value}: ${size} on ${name} is negative; a page size is 0 to ${limits.maxPageSize} (GRAPHQL_MAX_PAGE_SIZE).`, "22023");
      }
      if (size > limits.maxPageSize) {
        refuse(`${argument.name.value}: ${size} on ${name} is more than the largest page, ${limits.maxPageSize} (GRAPHQL_MAX_PAGE_SIZE).`);
      }
      page = Math.max(page ?? 0, size);
    }
    if (isConnection && page === null) {
      // No page size named (or named as null): the default page, so that no list is unbounded.
      if (unnamed.length === 0) {
        (field as { arguments: readonly ArgumentNode[] }).arguments = [
          ...(field.arguments ?? []),
          { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: "first" }, value: { kind: Kind.INT, value: String(limits.defaultPageSize) } },
        ];
        rewritten = true;
      } else {
        const argument = unnamed[0]!;
        if (argument.value.kind === Kind.VARIABLE) {
          nullPageVariables.add(argument.value.name.value);
        } else {
          (argument as { value: ValueNode }).value = { kind: Kind.INT, value: String(limits.defaultPageSize) };
          rewritten = true;
        }
      }
      page = limits.defaultPageSize;
    } else if (page === null && unnamed.length > 0) {
      page = limits.maxPageSize; // a list we do not recognise as a connection: counted as the largest page
    }
    const inner = page === null ? rows : rows * page;
    const below = walk(field.selectionSet, depth, inner, name);
    const shape = { depth: below.depth, cost: (page === null ? 0 : inner) + below.cost };
    checkCost(shape.cost, name);
    return shape;
  };

  // Every other use of a variable, so that one given as null is set to the default page only when a page is all it gives.
  const markOtherUses = (value: ValueNode) => {
    if (value.kind === Kind.VARIABLE) pageVariables.set(value.name.value, false);
    else if (value.kind === Kind.LIST) value.values.forEach(markOtherUses);
    else if (value.kind === Kind.OBJECT) value.fields.forEach((field) => markOtherUses(field.value));
  };

  // Fragments spread inside fragments multiply: count the selections they expand to (each fragment counted once) before anything else.
  const expandedOf = new Map<string, number>();
  const expanded = (selectionSet: SelectionSetNode): number => {
    let count = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        if (!expandedOf.has(name)) {
          expandedOf.set(name, 0); // a cycle counts nothing: validation refuses it
          const fragment = fragments.get(name);
          if (fragment) expandedOf.set(name, expanded(fragment.selectionSet));
        }
        count += expandedOf.get(name)!;
      } else {
        count += (selection.kind === Kind.FIELD ? 1 : 0) + (selection.selectionSet ? expanded(selection.selectionSet) : 0);
      }
    }
    return count;
  };
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const fields = expanded(definition.selectionSet);
    if (fields > maxExpandedFields) {
      refuse(`The operation has ${rowsText(fields)} fields once its fragments are spread; the limit is ${maxExpandedFields.toLocaleString("en")}.`);
    }
  }

  let total = 0;
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    total += walk(definition.selectionSet, 0, 1, definition.name?.value ?? "the operation").cost;
    checkCost(total, "the request");
  }
  if (nullPageVariables.size > 0) {
    const visitArguments = (selectionSet: SelectionSetNode | undefined) => {
      for (const selection of selectionSet?.selections ?? []) {
        if (selection.kind === Kind.FIELD) {
          for (const argument of selection.arguments ?? []) {
            if (!pageArguments.has(argument.name.value)) markOtherUses(argument.value);
          }
        }
        if (selection.kind !== Kind.FRAGMENT_SPREAD) visitArguments(selection.selectionSet);
      }
    };
    for (const definition of document.definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION) visitArguments(definition.selectionSet);
    }
    for (const variable of nullPageVariables) {
      if (pageVariables.get(variable) !== true) {
        refuse(`$${variable} is null, so a connection would have no page size, but it is also used for something else; give it a value up to ${limits.maxPageSize} (GRAPHQL_MAX_PAGE_SIZE).`);
      }
      variables[variable] = limits.defaultPageSize;
    }
  }
  return rewritten ? print(document) : query;
}

/**
 * A grafserv plugin applying the limits to every GraphQL request body (a
 * persisted operation's text once its documentId is looked up) before it is parsed and validated (variables known, so a refusal is a 400 for
 * every client), and naming MAX_REQUEST_BYTES (grafserv's maxRequestLength)
 * when a body is too large.
 */
export function operationLimitsPlugin(limits: OperationLimits & { maxRequestBytes: number }): GraphileConfig.Plugin {
  return {
    name: "CustodianOperationLimitsPlugin",
    version: "1.0.0",
    // A persisted operation is checked as the text its documentId names.
    after: ["PersistedPlugin"],
    grafserv: {
      middleware: {
        processRequest(next, event) {
          const digest = event.requestDigest;
          const getBody = digest.getBody;
          digest.getBody = async () => {
            try {
              return await getBody.call(digest);
            } catch (error) {
              if ((error as SafeError | null)?.extensions?.statusCode === 413) {
                throw new SafeError(`The request body is larger than ${limits.maxRequestBytes.toLocaleString("en")} bytes (MAX_REQUEST_BYTES).`, { statusCode: 413, code: "LIMIT" });
              }
              throw error;
            }
          };
          return next();
        },
        processGraphQLRequestBody(next, event) {
          const { body } = event;
          if (typeof body.query === "string") {
            const variables = body.variableValues ?? {};
            if (variables !== null && typeof variables === "object" && !Array.isArray(variables)) {
              body.query = limitOperation(body.query, variables as Record<string, unknown>, limits);
              if (Object.keys(variables).length > 0) body.variableValues = variables as typeof body.variableValues;
            }
          }
          return next();
        },
      },
    },
  };
}
