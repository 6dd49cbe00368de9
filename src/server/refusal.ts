import type { Response } from "express";

/**
 * A refusal in the shape its caller reads: GraphQL's errors (with a code in
 * extensions) for /graphql, the REST error body elsewhere.
 */
export function refuse(res: Response, status: number, message: string, code: string): void {
  const body = res.req.path.startsWith("/graphql") ? { errors: [{ message, extensions: { code } }] } : { error: message };
  res.status(status).json(body);
}
