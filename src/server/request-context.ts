import crypto from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { log } from "../log.ts";

const validRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/** Accepts a sane X-Request-Id or makes one, echoes it, and logs the request when it ends. */
export function requestContext(req: Request, res: Response, next: NextFunction) {
  const given = req.get("x-request-id");
  req.id = given && validRequestId.test(given) ? given : crypto.randomUUID();
  res.setHeader("X-Request-Id", req.id);
  const started = process.hrtime.bigint();
  res.on("finish", () => {
    log.info(
      {
        requestId: req.id,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      },
      "request",
    );
  });
  next();
}
