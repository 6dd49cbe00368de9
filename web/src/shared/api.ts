import { print } from "@0no-co/graphql.web";
import type { TadaDocumentNode } from "gql.tada";

/** An answer the API gave in words, or a failure to reach it, said in words. */
export class ApiError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** The token was refused (expired, ended, or its account disabled): the tab must sign in again. */
export class SessionEnded extends ApiError {}

/** Sends one typed operation to /graphql with the tab's token, and returns its data or throws its errors in words. */
export async function request<Result, Variables>(
  document: TadaDocumentNode<Result, Variables>,
  variables: Variables,
  token: string | null,
): Promise<Result> {
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: print(document), variables }),
    });
  } catch {
    throw new ApiError("Custodian could not be reached. Check that the server is running, then try again.");
  }
  let body: { data?: Result | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`Custodian answered ${response.status} ${response.statusText} without a readable body.`);
  }
  if (response.status === 401) {
    throw new SessionEnded(body.errors?.[0]?.message ?? "Your session has ended.");
  }
  if (body.errors?.length) {
    const first = body.errors[0]!;
    // Fields of one operation often fail for one reason: it is said once.
    throw new ApiError([...new Set(body.errors.map((error) => error.message))].join(" "), first.extensions?.code);
  }
  if (!body.data) throw new ApiError(`Custodian answered ${response.status} without data.`);
  return body.data;
}
