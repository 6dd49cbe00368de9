import type { NextFunction, Request, Response } from "express";
import jwt from "jsonwebtoken";

/** Application roles and the PostgreSQL roles requests run as. */
export const pgRoleFor = {
  coach: "custodian_coach",
  admin: "custodian_admin",
  auditor: "custodian_auditor",
} as const;
export type AppRole = keyof typeof pgRoleFor;

export interface Claims {
  userId: string;
  role: AppRole;
}

export const JWT_AUDIENCE = "custodian";
export const JWT_ISSUER = "custodian";

declare module "express-serve-static-core" {
  interface Request {
    id: string;
    claims: Claims | null;
  }
}

/**
 * Verifies a Bearer token if one is sent; a bad or expired token is refused
 * with 401 rather than silently treated as anonymous.
 */
export function authenticateRequests(secret: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    req.claims = null;
    const header = req.get("authorization");
    if (!header) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return unauthorized(res, "The Authorization header must be 'Bearer <token>'.");
    try {
      const payload = jwt.verify(match[1]!, secret, {
        algorithms: ["HS256"],
        audience: JWT_AUDIENCE,
        issuer: JWT_ISSUER,
      }) as jwt.JwtPayload;
      if (typeof payload.user_id !== "string" || !(payload.role in pgRoleFor)) {
        return unauthorized(res, "The token's claims are not Custodian's.");
      }
      req.claims = { userId: payload.user_id, role: payload.role as AppRole };
      next();
    } catch (error) {
      const expired = error instanceof jwt.TokenExpiredError;
      unauthorized(res, expired ? "The token has expired; authenticate again." : "The token is invalid.");
    }
  };
}

/** 401 in the shape the caller reads: GraphQL errors for /graphql, the REST error body elsewhere. */
function unauthorized(res: Response, message: string) {
  const body = res.req.path.startsWith("/graphql")
    ? { errors: [{ message, extensions: { code: "UNAUTHENTICATED" } }] }
    : { error: message };
  res.status(401).json(body);
}

/**
 * The settings a request's transaction runs with: the role RLS checks, the
 * user's claims, and the attribution the audit trail records.
 */
export function pgSettingsFor(req: Request): Record<string, string> {
  const settings: Record<string, string> = {
    role: req.claims ? pgRoleFor[req.claims.role] : "custodian_anonymous",
    "custodian.actor_kind": "user",
    "custodian.request_id": req.id,
    "custodian.client_ip": req.ip ?? "",
    "custodian.user_agent": (req.get("user-agent") ?? "").slice(0, 500),
  };
  if (req.claims) {
    settings["jwt.claims.user_id"] = req.claims.userId;
    settings["jwt.claims.role"] = req.claims.role;
  }
  return settings;
}
