import type { NextFunction, Request, Response } from "express";
import { refuse } from "./refusal.ts";

/**
 * The one route that reads a request body is POST /graphql, and grafserv
 * refuses a body larger than MAX_REQUEST_BYTES there (413,
 * operation-limits.ts). Every other route takes none: a GET (or HEAD or
 * OPTIONS) that sends one anyway is refused before any route runs,
 * rather than having its body silently ignored, and a /graphql body announced as too large is refused
 * before it is read.
 */
export function bodyLimits(maxRequestBytes: number) {
  return (req: Request, res: Response, next: NextFunction) => {
    const length = req.get("content-length");
    const sendsBody = req.get("transfer-encoding") !== undefined || (length !== undefined && length !== "0");
    if (!sendsBody) return next();
    if (req.method === "POST" && req.path === "/graphql") {
      if (length === undefined || !(Number(length) > maxRequestBytes)) return next();
      return refuseUnread(res, 413, `The request body is larger than ${maxRequestBytes.toLocaleString("en")} bytes (MAX_REQUEST_BYTES).`);
    }
    // Another method on a REST route is answered 405, on an unknown path 404: the body is not read either way.
    if (!bodilessMethods.has(req.method)) return next();
    const route = `${req.method} ${req.path.length > 100 ? `${req.path.slice(0, 100)}…` : req.path}`;
    refuseUnread(res, 413, `${route} takes no request body (its limit is 0 bytes); send the parameters in the query string, or send none.`);
  };
}

/** The methods every route but POST /graphql answers; none of them carries a body here. */
const bodilessMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/** The body is not read, so the connection cannot carry another request after this answer. */
function refuseUnread(res: Response, status: number, message: string) {
  res.setHeader("Connection", "close");
  refuse(res, status, message, "LIMIT");
}
