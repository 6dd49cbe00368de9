import {
  buildClientSchema, getIntrospectionQuery, getNamedType, isEnumType, isInputObjectType, isListType, isNonNullType, isObjectType,
  isScalarType, type GraphQLArgument, type GraphQLField, type GraphQLInputType, type GraphQLNamedType, type GraphQLObjectType,
  type GraphQLSchema, type IntrospectionQuery,
} from "graphql";
import { graphql } from "./http.ts";

/**
 * The GraphQL half of the row-level security fuzz: the schema as the server
 * introspects it, and operations generated from it (every root field, with
 * arguments aimed at another coach's rows and a selection reaching through
 * nested relations), so a new field is fuzzed without being listed.
 */

export async function introspectedSchema(token: string): Promise<GraphQLSchema> {
  const { body } = await graphql<IntrospectionQuery>(getIntrospectionQuery(), {}, token);
  if (!body.data) throw new Error(`introspection failed: ${JSON.stringify(body.errors)}`);
  return buildClientSchema(body.data);
}

/** The values aimed at coach B: B's key per type (rowId), B's node id per type, and B's distinctive texts. */
export interface Target {
  rowIds: Record<string, string>;
  nodeIds: Record<string, string[]>;
  tag: string;
  email: string;
  usageEventId: string | null;
}

const isConnection = (type: GraphQLNamedType) => type.name.endsWith("Connection");

/** A GraphQL literal for a value of this input type aimed at B, or undefined when the fuzz has none. */
export function literalFor(name: string, type: GraphQLInputType, target: Target, ownerType?: string): string | undefined {
  const named = getNamedType(type);
  const text = (value: string) => JSON.stringify(value);
  if (isEnumType(named)) return named.getValues()[0]!.name;
  if (isInputObjectType(named)) return undefined;
  switch (named.name) {
    case "UUID": {
      const byName: Array<[RegExp, string]> = [
        [/coachProfile|onlyCoach/i, "CoachProfile"], [/client/i, "Client"], [/session/i, "CoachingSession"],
        [/transcription/i, "Transcription"], [/request/i, "DataSubjectRequest"], [/user|actor|subject/i, "User"],
      ];
      const typeName = name === "rowId" && ownerType ? ownerType : byName.find(([pattern]) => pattern.test(name))?.[1] ?? "CoachProfile";
      return text(target.rowIds[typeName] ?? target.rowIds.CoachProfile!);
    }
    case "ID": return text(target.nodeIds[ownerType ?? ""]?.[0] ?? Object.values(target.nodeIds)[0]![0]!);
    case "Date": return text(/to|before|until/i.test(name) ? "2029-12-01" : /month/i.test(name) ? "2026-11-01" : "2020-01-01");
    case "Datetime": return text(/from/i.test(name) ? "2020-01-01T00:00:00Z" : "2029-06-01T00:00:00Z");
    case "String": return text(/table/i.test(name) ? "clients" : /email/i.test(name) ? target.email : /password/i.test(name) ? "not the password 1" : target.tag);
    case "JSON": return `{id: ${text(target.rowIds.Client!)}}`;
    case "BigInt": return text(target.usageEventId ?? "1");
    case "Int": return "10";
    case "Float": case "BigFloat": return text("1");
    case "Boolean": return "true";
    default: return undefined;
  }
}

/** Arguments for a field: `extra`, every required one, and every optional key, time, text or JSON (aimed at B), but `except`. Null when a required one has no value. */
export function argumentsFor(field: GraphQLField<unknown, unknown>, target: Target, extra: string[] = [], except?: string): string | null {
  const parts: string[] = [...extra];
  const returned = getNamedType(field.type).name;
  for (const arg of field.args as readonly GraphQLArgument[]) {
    if (arg.name === except) continue;
    const required = isNonNullType(arg.type) && arg.defaultValue === undefined;
    const named = getNamedType(arg.type);
    if (!required && !["UUID", "ID", "Date", "Datetime", "String", "JSON", "BigInt"].includes(named.name)) continue;
    const value = literalFor(arg.name, arg.type, target, returned);
    if (value === undefined) {
      if (required) return null;
      continue;
    }
    parts.push(`${arg.name}: ${isListType(isNonNullType(arg.type) ? arg.type.ofType : arg.type) ? `[${value}]` : value}`);
  }
  return parts.length ? `(${parts.join(", ")})` : "";
}

/**
 * A selection of a type down to `depth` levels: its scalar fields, the
 * objects it points at, and the first rows of its connections (with
 * totalCount), skipping fields that need arguments the fuzz has no value for.
 */
/**
 * What the role is refused, learnt from the server's refusals ("A coach may
 * not read legal_holds." / "may not read costPerMinuteMinor of ...; leave it
 * out."): selections leave those out, so the rest is read.
 */
export interface Refused {
  fields: Set<string>;
  tables: Set<string>;
}

export function newRefused(): Refused {
  return { fields: new Set(), tables: new Set() };
}

/** Learns from an answer's errors; true when it learnt something new. */
export function learnRefusals(refused: Refused, errors: Array<{ message: string }> | undefined): boolean {
  let learnt = false;
  for (const { message } of errors ?? []) {
    const column = /may not read (\w+) of \w+; leave it out/.exec(message)?.[1];
    const table = /^An? \w+ may not read ([a-z_]+)\.$/.exec(message)?.[1];
    if (column && !refused.fields.has(column)) refused.fields.add(column), (learnt = true);
    if (table && !refused.tables.has(table)) refused.tables.add(table), (learnt = true);
  }
  return learnt;
}

const snake = (name: string) => name.replace(/Connection$/, "").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
/** Whether a GraphQL type shows rows of a refused table (LegalHold, LegalHoldsConnection: legal_holds). */
const showsRefusedTable = (typeName: string, refused: Refused) =>
  [...refused.tables].some((table) => snake(typeName).startsWith(table.replace(/(ies|s)$/, "")));

export function selectionOf(type: GraphQLObjectType, depth: number, target: Target, refused: Refused = newRefused()): string {
  if (isConnection(type)) {
    const nodes = type.getFields().nodes;
    const node = nodes ? getNamedType(nodes.type) : null;
    const inner = node && isObjectType(node) ? ` nodes { ${selectionOf(node, depth, target, refused)} }` : "";
    return `totalCount${inner}`;
  }
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) continue;
    const named = getNamedType(field.type);
    if (refused.fields.has(field.name) || showsRefusedTable(named.name, refused)) continue;
    if (isScalarType(named) || isEnumType(named)) {
      parts.push(field.name);
    } else if (isObjectType(named) && depth > 0 && named.name !== "Query") {
      const first = field.args.some((arg) => arg.name === "first") ? "(first: 5)" : "";
      parts.push(`${field.name}${first} { ${selectionOf(named, depth - 1, target, refused)} }`);
    }
  }
  return parts.length ? parts.join(" ") : "__typename";
}

/** The root query fields' operations, one per field: its arguments aimed at B and a selection two relations deep. */
export function rootQueries(schema: GraphQLSchema, target: Target, refused: Refused = newRefused()): { field: string; query: string | null }[] {
  return Object.values(schema.getQueryType()!.getFields())
    .filter((field) => !["query", "id", "node"].includes(field.name))
    .map((field) => {
      const args = argumentsFor(field, target);
      if (args === null) return { field: field.name, query: null };
      const named = getNamedType(field.type);
      const first = field.args.some((arg) => arg.name === "first") && !args.includes("first:") ? (args ? args.replace(/\)$/, ", first: 50)") : "(first: 50)") : args;
      const selection = isObjectType(named) ? ` { ${selectionOf(named, 2, target, refused)} }` : "";
      return { field: field.name, query: `{ ${field.name}${first}${selection} }` };
    });
}
