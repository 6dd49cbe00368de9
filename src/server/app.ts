import http from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import type { ApiLimits, ApiSurface } from "../config.ts";
import { makePool } from "../db/pool.ts";
import { UserError } from "../errors.ts";
import { log } from "../log.ts";
import { authenticateRequests, databaseRoleOf } from "./auth.ts";
import { consoleRoutes } from "./console.ts";
import { graphiqlOff } from "./graphiql-off.ts";
import { loadManifest } from "./persisted-operations.ts";
import { makePreset } from "./preset.ts";
import { loadGrants, rememberRole } from "./privilege-errors.ts";
import { getOnly } from "./rest/query.ts";
import { restRoutes } from "./rest/routes.ts";
import { requestContext } from "./request-context.ts";

export interface ServerOptions {
  /** custodian_authenticator's connection string. */
  authenticatorUrl: string;
  jwtSecret: string;
  jwtTtlSeconds: number;
  surface: ApiSurface;
  limits: ApiLimits;
}

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
    res.status(404).json({ error: "Not found." });
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof UserError) {
      res.status(400).json({ error: error.message });
      return;
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      res.status(status).json({ error: (error as Error).message });
      return;
    }
    log.error({ err: error, requestId: req.id }, "request failed");
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
