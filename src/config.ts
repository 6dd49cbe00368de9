import path from "node:path";
import { UserError } from "./errors.ts";

/** Every setting Custodian reads, validated in one place. */
export interface Config {
  nodeEnv: "development" | "production" | "test";
  /** A superuser (or CREATEROLE) connection; unset means the embedded PostgreSQL. */
  databaseUrl: string | null;
  host: string;
  port: number;
  /** Where the embedded database and generated development secrets live. */
  dataDir: string;
  /** HS256 secret for session tokens; generated into dataDir outside production when unset. */
  jwtSecret: string | null;
  jwtTtlSeconds: number;
  /** The API's login role password; generated into dataDir outside production when unset. */
  authenticatorPassword: string | null;
  /** Run the job worker inside `start`. */
  runWorker: boolean;
  /** Seed demo data when `start` finds an empty database (never in production). */
  seedDemo: boolean;
  /** Where verified archives are written before retention deletes rows (ARCHIVE_DIR, default <dataDir>/archive). */
  archiveDir: string;
  /** How many days a built GDPR export stays downloadable before its bytes are deleted. */
  gdprExportTtlDays: number;
  /** What one API request may cost before and while it runs. */
  limits: ApiLimits;
  /** What the GraphQL API shows of itself and which operations it runs. */
  surface: ApiSurface;
  /** Refused sign-ins allowed per account and per address in a sliding window (copied into the database by `start`). */
  signInLimits: SignInLimits;
  /** Origins whose pages may call the API from a browser (CORS_ORIGINS); none by default. */
  corsOrigins: string[];
}

export interface ApiSurface {
  /** Ruru (GraphiQL) at /graphiql (GRAPHIQL; off by default in production). */
  graphiql: boolean;
  /** `__schema` and `__type` answered (GRAPHQL_INTROSPECTION; off by default in production). */
  introspection: boolean;
  /** Only the console's shipped operations run, named by their documentId (GRAPHQL_PERSISTED_ONLY; off by default). */
  persistedOnly: boolean;
}

export interface SignInLimits {
  maxPerAccount: number;
  maxPerAddress: number;
  windowSeconds: number;
}

export interface ApiLimits {
  /** Deepest nesting of fields in a GraphQL operation. */
  maxDepth: number;
  /** Largest `first`/`last`. */
  maxPageSize: number;
  /** The page a connection gets when it names neither `first` nor `last`. */
  defaultPageSize: number;
  /** Most rows one GraphQL operation could return (page sizes multiplied through nested lists, summed). */
  maxCost: number;
  /** Longest one SQL statement of a request may run, in milliseconds. */
  statementTimeoutMs: number;
  /** Largest request body, in bytes. */
  maxRequestBytes: number;
  /** Longest Grafast may take to plan an operation it has not seen, in milliseconds. */
  planningTimeoutMs: number;
  /** Longest Grafast may take to execute an operation, in milliseconds (checked between its steps). */
  executionTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf(env, "NODE_ENV", ["development", "production", "test"], "development");
  // The logger reads LOG_LEVEL itself (src/log.ts); checked here so a bad one gets its line.
  oneOf(env, "LOG_LEVEL", logLevels, nodeEnv === "test" ? "warn" : "info");
  const dataDir = path.resolve(env.DATA_DIR || ".data");
  const config: Config = {
    nodeEnv,
    databaseUrl: databaseUrl(env.DATABASE_URL),
    host: env.HOST || "127.0.0.1",
    port: integer(env, "PORT", 3000, 0, 65535),
    dataDir,
    archiveDir: archiveDir(env.ARCHIVE_DIR, dataDir),
    jwtSecret: env.JWT_SECRET || null,
    jwtTtlSeconds: integer(env, "JWT_TTL_SECONDS", 8 * 3600, 60, 30 * 86400),
    authenticatorPassword: env.AUTHENTICATOR_PASSWORD || null,
    runWorker: oneOf(env, "WORKER", ["on", "off"], "on") === "on",
    seedDemo: nodeEnv !== "production" && oneOf(env, "SEED_DEMO", ["on", "off"], "on") === "on",
    gdprExportTtlDays: integer(env, "GDPR_EXPORT_TTL_DAYS", 7, 1, 90),
    limits: {
      maxDepth: integer(env, "GRAPHQL_MAX_DEPTH", 12, 2, 100),
      maxPageSize: integer(env, "GRAPHQL_MAX_PAGE_SIZE", 1000, 1, 100_000),
      defaultPageSize: integer(env, "GRAPHQL_DEFAULT_PAGE_SIZE", 100, 1, 100_000),
      maxCost: integer(env, "GRAPHQL_MAX_COST", 250_000, 1, 1_000_000_000),
      statementTimeoutMs: integer(env, "STATEMENT_TIMEOUT_MS", 30_000, 100, 3_600_000),
      maxRequestBytes: integer(env, "MAX_REQUEST_BYTES", 1_000_000, 1_000, 100_000_000),
      planningTimeoutMs: integer(env, "GRAPHQL_PLANNING_TIMEOUT_MS", 5_000, 100, 600_000),
      executionTimeoutMs: integer(env, "GRAPHQL_EXECUTION_TIMEOUT_MS", 60_000, 100, 3_600_000),
    },
    surface: surface(env, nodeEnv),
    signInLimits: {
      maxPerAccount: integer(env, "SIGN_IN_MAX_PER_ACCOUNT", 10, 1, 1_000_000),
      maxPerAddress: integer(env, "SIGN_IN_MAX_PER_ADDRESS", 50, 1, 1_000_000),
      windowSeconds: integer(env, "SIGN_IN_WINDOW_SECONDS", 900, 1, 86_400),
    },
    corsOrigins: corsOrigins(env.CORS_ORIGINS),
  };
  if (config.limits.defaultPageSize > config.limits.maxPageSize) {
    throw new UserError("GRAPHQL_DEFAULT_PAGE_SIZE may not be larger than GRAPHQL_MAX_PAGE_SIZE.");
  }
  if (config.jwtSecret !== null && config.jwtSecret.length < 32) {
    throw new UserError("JWT_SECRET must be at least 32 characters long.");
  }
  if (nodeEnv === "production") {
    if (!config.jwtSecret) throw new UserError("JWT_SECRET is required when NODE_ENV=production.");
    if (!config.databaseUrl) throw new UserError("DATABASE_URL is required when NODE_ENV=production.");
    if (!config.authenticatorPassword) {
      throw new UserError("AUTHENTICATOR_PASSWORD is required when NODE_ENV=production.");
    }
  }
  return config;
}

/** GraphiQL and introspection are for development; production shows them only when asked to. */
function surface(env: Env, nodeEnv: Config["nodeEnv"]): ApiSurface {
  const development = nodeEnv !== "production";
  const introspection = onOff(env, "GRAPHQL_INTROSPECTION", development);
  const persistedOnly = onOff(env, "GRAPHQL_PERSISTED_ONLY", false);
  // Ruru reads the schema by introspection and sends operations nobody shipped: it follows them unless named.
  const graphiql = onOff(env, "GRAPHIQL", development && introspection && !persistedOnly);
  if (graphiql && !introspection) {
    throw new UserError("GRAPHIQL=on needs GRAPHQL_INTROSPECTION=on: GraphiQL reads the schema by introspection. Set both, or leave GRAPHIQL off.");
  }
  if (graphiql && persistedOnly) {
    throw new UserError("GRAPHIQL=on cannot work with GRAPHQL_PERSISTED_ONLY=on: GraphiQL sends operations the console did not ship. Turn one of them off.");
  }
  return { graphiql, introspection, persistedOnly };
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  return oneOf(env, name, ["on", "off"], fallback ? "on" : "off") === "on";
}

function archiveDir(value: string | undefined, dataDir: string): string {
  if (value === undefined || value === "") return path.join(dataDir, "archive");
  if (value.trim() === "") throw new UserError("ARCHIVE_DIR is blank; leave it unset for <DATA_DIR>/archive or name a directory.");
  const dir = path.resolve(value);
  // Archives mixed into the database's own files would be lost with them, or corrupt them.
  if (dir === dataDir || dir === path.join(dataDir, "pg") || dir.startsWith(path.join(dataDir, "pg") + path.sep)) {
    throw new UserError(`ARCHIVE_DIR may not be the data directory or its database folder (got "${value}"); use a folder of its own, e.g. ${path.join(dataDir, "archive")}.`);
  }
  return dir;
}

/** CORS_ORIGINS: a comma-separated list of origins (scheme://host[:port]), each exactly as a browser sends it. */
function corsOrigins(value: string | undefined): string[] {
  if (value === undefined || value.trim() === "") return [];
  return value.split(",").map((entry) => {
    const origin = entry.trim();
    let url: URL | null = null;
    try {
      url = new URL(origin);
    } catch {
      // refused below
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.origin !== origin) {
      throw new UserError(`CORS_ORIGINS must list origins such as https://console.example.com, separated by commas (got "${origin}": no path, no trailing slash, no wildcard).`);
    }
    return origin;
  });
}

function databaseUrl(value: string | undefined): string | null {
  if (!value) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UserError("DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database).");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new UserError(`DATABASE_URL must start with postgres:// (got ${url.protocol}//).`);
  }
  if (!url.hostname) throw new UserError("DATABASE_URL names no host.");
  if (url.pathname.length <= 1) throw new UserError("DATABASE_URL names no database.");
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UserError(`${name} must be a whole number from ${min} to ${max} (got "${raw}").`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UserError(`${name} must be one of ${allowed.join(", ")} (got "${raw}").`);
  }
  return raw as T;
}
