import fs from "node:fs";
import path from "node:path";
import express, { type Request, type Response } from "express";
import { log } from "../log.ts";
import { projectRoot } from "../paths.ts";

/** The admin console's sources (web/) and its built assets (web/dist, git-ignored). */
export const consoleSource = path.join(projectRoot, "web");
export const consoleDist = path.join(consoleSource, "dist");

// The build output, and the type declarations `npm run typecheck` generates (Vite does not read them).
const ignoredForStaleness = new Set(["dist", "node_modules", "graphql-env.d.ts"]);

function newestChange(entry: string): number {
  const stat = fs.statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(entry).filter((name) => !ignoredForStaleness.has(name)).map((name) => newestChange(path.join(entry, name))));
}

/** True when web/dist is missing or older than a file of web/ (a pull or an edit since the last build). */
export function consoleBuildIsStale(): boolean {
  const built = path.join(consoleDist, "index.html");
  if (!fs.existsSync(built)) return true;
  return newestChange(consoleSource) > fs.statSync(built).mtimeMs;
}

/** Builds the console with Vite (`npm install` does it too, through the prepare script). */
export async function buildConsole(): Promise<void> {
  const { build } = await import("vite");
  await build({ configFile: path.join(consoleSource, "vite.config.ts"), logLevel: "warn" });
}

/** Builds the console when it is missing or stale; a failed build leaves the API running, and says so. */
export async function ensureConsoleBuilt(): Promise<void> {
  if (!consoleBuildIsStale()) return;
  const startedAt = Date.now();
  try {
    await buildConsole();
    log.info({ ms: Date.now() - startedAt }, "console built");
  } catch (error) {
    log.error({ err: error }, "the console could not be built; /admin answers 503 until it is (npm run console:build)");
  }
}

/** /admin: the built single-page app; every path under it that is not an asset is the app's index.html. / leads there. */
export function consoleRoutes(): express.Router {
  const router = express.Router({ strict: true }); // /admin and /admin/ differ: the first redirects to the second
  const index = path.join(consoleDist, "index.html");
  // The server's address alone, as `npm start` prints it, opens the console.
  router.get("/", (_req, res) => res.redirect(302, "/admin/"));
  router.get("/admin", (req, res) => res.redirect(301, `/admin/${req.originalUrl.slice("/admin".length)}`));
  router.use("/admin/assets", express.static(path.join(consoleDist, "assets"), { immutable: true, maxAge: "1y", fallthrough: false }));
  router.get("/admin/{*splat}", (_req: Request, res: Response) => {
    if (!fs.existsSync(index)) {
      res.status(503).type("text/plain").send("The console is not built: run `npm run console:build`, or restart Custodian, which builds it.\n");
      return;
    }
    res.set("cache-control", "no-cache").sendFile(index);
  });
  return router;
}
