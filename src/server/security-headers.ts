import type { NextFunction, Request, Response } from "express";
import { refuse } from "./refusal.ts";

/**
 * The headers every response carries, set here and nowhere else:
 *
 * - Content-Security-Policy: the console (/admin) loads its own scripts,
 *   styles and images and talks to its own server only; Ruru (/graphiql)
 *   needs its inline scripts, styles and blob workers; everything else is
 *   data (JSON, CSV, zip) that a browser must never run or render as a page.
 * - No page of Custodian's may be framed (frame-ancestors, X-Frame-Options),
 *   sniffed into another type (X-Content-Type-Options), leak its URL, which
 *   may hold filters, to another site (Referrer-Policy), share a window with
 *   another site's page (Cross-Origin-Opener-Policy) or be embedded by
 *   another site (Cross-Origin-Resource-Policy).
 * - Strict-Transport-Security only on a request that arrived over HTTPS
 *   (directly, or from a trusted proxy that says so): Custodian itself
 *   listens on plain HTTP, and HSTS sent over HTTP would be ignored anyway,
 *   or would pin a development host on localhost to HTTPS.
 */
const dataPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const consolePolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");
const ruruPolicy = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline' blob:",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function policyFor(path: string): string {
  if (path === "/admin" || path.startsWith("/admin/")) return consolePolicy;
  if (path === "/graphiql" || path.startsWith("/ruru-static/")) return ruruPolicy;
  return dataPolicy;
}

export function securityHeaders(req: Request, res: Response, next: NextFunction) {
  res.setHeader("Content-Security-Policy", policyFor(req.path));
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  if (req.secure) res.setHeader("Strict-Transport-Security", "max-age=31536000");
  next();
}

/** What a browser page of an allowed origin may send and read. */
const allowedMethods = "GET, HEAD, POST";
const allowedHeaders = "authorization, content-type, x-request-id";
const exposedHeaders = "Retry-After, X-Request-Id, Link, Content-Disposition";

/**
 * CORS, closed by default: only the origins CORS_ORIGINS lists may read
 * answers from a page of theirs. A preflight from one of them is answered
 * with what it may send; from any other origin it is refused in words (403),
 * naming the setting. A simple request from another origin is answered
 * without Access-Control-Allow-Origin, so its page cannot read the answer
 * (the console's own requests are same-origin and need no header). Tokens
 * travel in the Authorization header, never in cookies, so no credentials
 * are allowed.
 */
export function cors(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins);
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.get("origin");
    res.vary("Origin");
    const isPreflight = req.method === "OPTIONS" && req.get("access-control-request-method") !== undefined;
    if (origin === undefined || !allowed.has(origin)) {
      if (!isPreflight) return next();
      const list = allowed.size ? `; allowed: ${[...allowed].join(", ")}` : "; none is allowed";
      return refuse(res, 403, `Origin ${origin ?? "(none)"} may not call this API from a browser (CORS_ORIGINS${list}).`, "CORS");
    }
    res.setHeader("Access-Control-Allow-Origin", origin);
    res.setHeader("Access-Control-Expose-Headers", exposedHeaders);
    if (!isPreflight) return next();
    res.setHeader("Access-Control-Allow-Methods", allowedMethods);
    res.setHeader("Access-Control-Allow-Headers", allowedHeaders);
    res.setHeader("Access-Control-Max-Age", "600");
    res.status(204).end();
  };
}
