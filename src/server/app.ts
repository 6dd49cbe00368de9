import http from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import type { ApiLimits, ApiSurface } from "../config.ts";
import { makePool } from "../db/pool.ts";
import { UserError } from "../errors.ts";
import { log } from "../log.ts";
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_CODE, DATABASE_UNAVAILABLE_WORDS, isDatabaseUnavailable } from "./database-unavailable.ts";
import { authenticateRequests, databaseRoleOf } from "./auth.ts";
import { consoleRoutes } from "./console.ts";
import { graphiqlOff } from "./graphiql-off.ts";
import { loadManifest } from "./persisted-operations.ts";
import { makePreset } from "./preset.ts";
import { loadGrants, rememberRole } from "./privilege-errors.ts";
import { getOnly } from "./rest/query.ts";
import { restRoutes } from "./rest/routes.ts";
import { requestContext } from "./request-context.ts";
import { bodyLimits } from "./body-limits.ts";
import { refuse } from "./refusal.ts";
import { cors, securityHeaders } from "./security-headers.ts";

export interface ServerOptions {
  /** custodian_authenticator's connection string. */
  authenticatorUrl: string;
  jwtSecret: string;
  jwtTtlSeconds: number;
  surface: ApiSurface;
  limits: ApiLimits;
  /** Origins whose pages may call the API (CORS_ORIGINS). */
  corsOrigins: readonly string[];
}

const clientErrorWords: Record<number, string> = {
  400: "The request could not be read: check its URL (percent-encoding) and headers.",
  403: "Forbidden.",
  404: "Not found.",
  413: "The request body is too large.",
  416: "The requested range is not satisfiable.",
};

export interface ApiServer {
  app: express.Express;
  server: http.Server;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

/** The HTTP API: GraphQL at /graphql (Ruru at /graphiql), /healthz, the REST routes, and the console at /admin. */
export async function createApiServer(options: ServerOptions): Promise<ApiServer> {
  // Every statement of a request, GraphQL or REST, stops at the timeout.
  const pool = makePool(options.authenticatorUrl, 10, "api", options.limits.statementTimeoutMs);
  const grants = await loadGrants(pool);
  const pgl = postgraphile(makePreset({ pool, grants, manifest: loadManifest(), ...options }));
  const serv = pgl.createServ(grafserv);

  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", "loopback");
  app.use(requestContext);
  app.use(securityHeaders);
  app.use(cors(options.corsOrigins));
  app.use(bodyLimits(options.limits.maxRequestBytes));
  const health = express.Router();
  getOnly(health, "/healthz", async (_req, res) => {
    try {
      const { rows } = await pool.query("select app_public.worker_last_seen_at() as worker_last_seen_at");
      res.json({ status: "ok", database: "ok", workerLastSeenAt: rows[0].worker_last_seen_at });
    } catch (error) {
      log.warn({ err: error }, "health check failed");
      res.status(503).json({ status: "unavailable", database: "unreachable" });
    }
  });
  app.use(health);
  // The console is static and public: its data comes through /graphql with the signed-in token.
  app.use(consoleRoutes());
  app.use(authenticateRequests(options.jwtSecret, pool));
  app.use(rememberRole(databaseRoleOf));
  for (const router of restRoutes(pool)) app.use(router);

  const server = http.createServer(app);
  await serv.addTo(app, server);
  if (!options.surface.graphiql) app.use(graphiqlOff());
  app.use((_req: Request, res: Response) => {
    refuse(res, 404, "Not found.", "NOT_FOUND");
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof UserError) {
      res.status(400).json({ error: error.message });
      return;
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      // Our routes' refusals (an export that expired, a row not found) carry their words. A library's
      // (http-errors, which sets `expose`: a malformed URL, a missing asset) is said in words of our own:
      // its message may name files.
      const fromLibrary = Object.hasOwn(error as object, "expose");
      const message = fromLibrary ? (clientErrorWords[status] ?? `The request was refused (${status}).`) : (error as Error).message;
      refuse(res, status, message, "BAD_REQUEST");
      return;
    }
    if (isDatabaseUnavailable(error) && !res.headersSent) {
      log.warn({ err: error, requestId: req.id }, "the database is unavailable");
      res.set("retry-after", String(DATABASE_RETRY_AFTER_SECONDS));
      refuse(res, 503, DATABASE_UNAVAILABLE_WORDS, DATABASE_UNAVAILABLE_CODE);
      return;
    }
    log.error({ err: error, requestId: req.id }, "request failed");
    if (res.headersSent) return void res.end();
    res.status(500).json({ error: "Internal error.", requestId: req.id });
  });

  return {
    app,
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once("error", (error: NodeJS.ErrnoException) => {
          reject(error.code === "EADDRINUSE" ? new UserError(`Port ${port} on ${host} is already in use; set PORT to another.`) : error);
        });
        server.listen(port, host, () => resolve((server.address() as { port: number }).port));
      });
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pgl.release();
      await pool.end();
    },
  };
}
