import type { NextFunction, Request, Response } from "express";
import jwt from "jsonwebtoken";
import { SafeError } from "postgraphile/grafast";
import type { Pool } from "pg";
import { isUuid } from "../uuid.ts";
import { refuse } from "./refusal.ts";

/** Application roles and the PostgreSQL roles requests run as. */
export const pgRoleFor = {
  coach: "custodian_coach",
  admin: "custodian_admin",
  auditor: "custodian_auditor",
} as const;
export type AppRole = keyof typeof pgRoleFor;

export interface Claims {
  userId: string;
  sessionId: string;
  /** The account's role, from the database; the token's claim must be the same. */
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
 * Verifies a Bearer token if one is sent, then asks the database who it
 * speaks for now (one indexed lookup): the account's current role, or
 * nothing when the session was signed out or the account disabled or
 * removed. A bad, expired or ended token, or one whose role claim is not
 * the account's role now, is refused with 401 rather than silently treated
 * as anonymous or as another role.
 */
export function authenticateRequests(secret: string, pool: Pool) {
  return async (req: Request, res: Response, next: NextFunction) => {
    req.claims = null;
    const header = req.get("authorization");
    if (!header) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return unauthorized(res, "The Authorization header must be 'Bearer <token>'.");
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(match[1]!, secret, {
        algorithms: ["HS256"],
        audience: JWT_AUDIENCE,
        issuer: JWT_ISSUER,
      }) as jwt.JwtPayload;
    } catch (error) {
      const expired = error instanceof jwt.TokenExpiredError;
      return unauthorized(res, expired ? "The token has expired; authenticate again." : "The token is invalid.");
    }
    if (!isUuid(payload.user_id) || !isUuid(payload.session_id)) {
      return unauthorized(res, "The token's claims are not Custodian's; authenticate again.");
    }
    try {
      const { rows } = await pool.query<{ role: AppRole | null }>("select app_private.session_role($1, $2) as role", [
        payload.session_id,
        payload.user_id,
      ]);
      const role = rows[0]?.role;
      if (!role) return unauthorized(res, "This session has ended (signed out, or the account was disabled or removed); authenticate again.");
      // A token speaks for the role it was signed with: one claiming another (forged, or the account's role changed since) is refused.
      if (payload.role !== role) return unauthorized(res, "The token's role is not this account's role; authenticate again.");
      req.claims = { userId: payload.user_id, sessionId: payload.session_id, role };
      next();
    } catch (error) {
      next(error);
    }
  };
}

/** 401 in the shape the caller reads: GraphQL errors for /graphql, the REST error body elsewhere. */
function unauthorized(res: Response, message: string) {
  refuse(res, 401, message, "UNAUTHENTICATED");
}

/** The PostgreSQL role a request runs as. */
export function databaseRoleOf(req: Request): string {
  return req.claims ? pgRoleFor[req.claims.role] : "custodian_anonymous";
}

/**
 * The settings a request's transaction runs with: the role RLS checks, the
 * user's claims, and the attribution the audit trail records.
 */
export function pgSettingsFor(req: Request): Record<string, string> {
  const settings: Record<string, string> = {
    role: databaseRoleOf(req),
    "custodian.actor_kind": "user",
    "custodian.request_id": req.id,
    "custodian.client_ip": req.ip ?? "",
    "custodian.user_agent": (req.get("user-agent") ?? "").slice(0, 500),
  };
  if (req.claims) {
    settings["jwt.claims.user_id"] = req.claims.userId;
    settings["jwt.claims.session_id"] = req.claims.sessionId;
    settings["jwt.claims.role"] = req.claims.role;
  }
  return settings;
}

type JwtRecord = Record<string, unknown> & {
  refused_code?: string | null;
  refused_message?: string | null;
  refused_retry_after?: number | null;
};

/**
 * The claims to sign, or the refusal that app_public.authenticate answered
 * instead, thrown with the database's words and code (CREDS, 28000,
 * RATE_LIMITED) and, when rate-limited, the seconds to wait, which the HTTP
 * answer repeats as Retry-After (plain-answers-plugin.ts).
 */
function claimsOrRefusal(value: unknown): Record<string, unknown> | null {
  if (value == null) return null;
  const { refused_code: code, refused_message: message, refused_retry_after: retryAfter, ...claims } = value as JwtRecord;
  if (code) throw new SafeError(message ?? "Sign-in refused.", retryAfter != null ? { code, retryAfterSeconds: retryAfter } : { code });
  return claims;
}

/**
 * app_public.authenticate answers a refused sign-in with a row (so that the
 * database's record of the attempt is committed, not rolled back by an
 * error); this turns that row into the error the caller reads, with the
 * database's words and code, and keeps the refusal fields out of every
 * signed token.
 */
export const SignInRefusalPlugin: GraphileConfig.Plugin = {
  name: "SignInRefusalPlugin",
  version: "1.0.0",
  schema: {
    hooks: {
      GraphQLScalarType(spec, build, context) {
        if (!context.scope.isPgJwtType) return spec;
        const plan = (spec.extensions as { grafast?: { plan?: (...args: any[]) => any } } | undefined)?.grafast?.plan;
        if (!plan) throw new Error("SignInRefusalPlugin: the JWT scalar has no plan to wrap.");
        const { lambda } = build.grafast;
        return {
          ...spec,
          extensions: {
            ...spec.extensions,
            grafast: { ...(spec.extensions as any).grafast, plan: (...args: any[]) => lambda(plan(...args), claimsOrRefusal) },
          },
        };
      },
    },
  },
};
