// The load's HTTP client: GraphQL operations and REST reads against the real
// server, each timed under its name, each answer sorted into acknowledged,
// refused (the server said no: nothing was written) or in doubt (no answer).
import type { Latencies } from "./latencies.ts";

/** The server answered and refused: nothing was written. */
export class Refused extends Error {}
/** No answer (a broken connection, a 5xx): the write may or may not have committed. */
export class InDoubt extends Error {}

export interface Api {
  base: string;
  graphqlLatencies: Latencies;
  restLatencies: Latencies;
}

/** Sends one named GraphQL operation with a token; resolves to its data. */
export async function graphql(api: Api, token: string | null, name: string, query: string, variables: Record<string, unknown>) {
  return api.graphqlLatencies.time(name, async () => {
    let response: Response;
    let body: { data?: Record<string, any> | null; errors?: Array<{ message: string }> };
    try {
      response = await fetch(`${api.base}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      body = (await response.json()) as typeof body;
    } catch (error) {
      throw new InDoubt(`${name}: no answer (${(error as Error).message})`);
    }
    if (response.status >= 500) throw new InDoubt(`${name}: ${response.status} ${JSON.stringify(body.errors)}`);
    // A masked error (an id, no words) is the server's failure, not a rule the caller broke: a lost connection among them.
    if (body.errors?.some((error) => (error as { extensions?: { errorId?: string } }).extensions?.errorId)) {
      throw new InDoubt(`${name}: ${body.errors.map((error) => error.message).join(" ")}`);
    }
    if (body.errors?.length || !body.data) throw new Refused(`${name}: ${body.errors?.map((error) => error.message).join(" ")}`);
    return body.data;
  });
}

/** GETs a REST route (its path and query string); timed under `route`. Resolves to the body's length. */
export async function restGet(api: Api, token: string, route: string, pathAndQuery: string): Promise<number> {
  return api.restLatencies.time(route, async () => {
    const response = await fetch(`${api.base}${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await response.text();
    if (response.status !== 200) throw new Refused(`GET ${pathAndQuery}: ${response.status} ${text.slice(0, 300)}`);
    return text.length;
  });
}

const AUTHENTICATE = `mutation Authenticate($email: String!, $password: String!) {
  authenticate(input: { email: $email, password: $password }) { jwtToken }
}`;

/** Signs in through the authenticate mutation, as the console does. */
export async function signIn(api: Api, email: string, password: string): Promise<string> {
  const data = await graphql(api, null, "Authenticate", AUTHENTICATE, { email, password });
  const token = data.authenticate?.jwtToken as string | undefined;
  if (!token) throw new Error(`signing in as ${email} failed`);
  return token;
}
