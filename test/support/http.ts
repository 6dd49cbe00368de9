import { PASSWORD } from "./fixtures.ts";

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

export function apiUrl(path: string): string {
  return process.env.TEST_API_URL + path;
}

/** POSTs a GraphQL operation to the real server, with a token and extra headers when given. */
export async function graphql<T = Record<string, any>>(
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(apiUrl("/graphql"), {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse<T>["body"] };
}

/** Signs in through the authenticate mutation (of the suite's server, or of the server at `origin`) and returns the token. */
export async function login(email: string, password = PASSWORD, origin = apiUrl("")): Promise<string> {
  const response = await fetch(`${origin}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "mutation ($email: String!, $password: String!) { authenticate(input: { email: $email, password: $password }) { jwtToken } }",
      variables: { email, password },
    }),
  });
  const body = (await response.json()) as GraphQLResponse<{ authenticate: { jwtToken: string } }>["body"];
  if (!body.data?.authenticate?.jwtToken) throw new Error(`login failed for ${email}: ${JSON.stringify(body.errors)}`);
  return body.data.authenticate.jwtToken;
}
