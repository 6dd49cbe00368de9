import http from "node:http";
import { apiUrl } from "../support/http.ts";

// Only POST /graphql reads a request body, up to MAX_REQUEST_BYTES (1,000,000
// by default; test/api/limits.test.ts tests a small one). Every other route
// refuses a body it would not read, and no failure answer carries internals.

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** A request as node's http sends it, so that a GET may carry a body and a body may be chunked. */
function raw(method: string, path: string, options: { headers?: Record<string, string>; body?: string | Buffer; chunks?: Buffer[] } = {}): Promise<RawAnswer> {
  const url = new URL(apiUrl(path));
  // Node sends a GET's body with neither header unless told.
  const framing: Record<string, string> = options.chunks
    ? { "transfer-encoding": "chunked" }
    : options.body !== undefined ? { "content-length": String(Buffer.byteLength(options.body)) } : {};
  const headers = { ...framing, ...options.headers };
  return new Promise((resolve, reject) => {
    const request = http.request({ method, host: url.hostname, port: url.port, path: url.pathname + url.search, headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, text }));
    });
    request.on("error", reject);
    if (options.chunks) for (const chunk of options.chunks) request.write(chunk);
    request.end(options.body);
  });
}

function expectNoInternals(text: string) {
  expect(text).not.toMatch(/\/work\/|node_modules|\.ts:\d+|\.js:\d+|\bat [\w.<>]+ \(|ENOENT|SELECT |select .* from/i);
}

describe("routes that take no body refuse one", () => {
  test.each([
    ["GET", "/api/v1/usage?from=2026-01-01&to=2026-02-01"],
    ["GET", "/api/v1/audit"],
    ["GET", "/healthz"],
    ["GET", "/admin/"],
    ["OPTIONS", "/api/v1/exports/clients"],
  ])("%s %s with a body is a 413 naming the limit", async (method, path) => {
    const answer = await raw(method, path, { headers: { "content-type": "application/json" }, body: '{"from":"2026-01-01"}' });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toEqual({
      error: `${method} ${path.split("?")[0]} takes no request body (its limit is 0 bytes); send the parameters in the query string, or send none.`,
    });
  });

  test("GET /graphql with a body is refused in GraphQL's shape", async () => {
    const answer = await raw("GET", "/graphql?query=%7B__typename%7D", { headers: { "content-type": "application/json" }, body: "{}" });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toEqual({
      errors: [{ message: "GET /graphql takes no request body (its limit is 0 bytes); send the parameters in the query string, or send none.", extensions: { code: "LIMIT" } }],
    });
  });

  test("a chunked body (no Content-Length) is refused too", async () => {
    const answer = await raw("GET", "/api/v1/audit", { chunks: [Buffer.from("a"), Buffer.from("b")] });
    expect(answer.status).toBe(413);
    expect(answer.headers["transfer-encoding"]).toBeUndefined();
  });

  test("another method with a body on a REST route is a 405 (test/api/rest-conventions.test.ts), its body unread", async () => {
    const answer = await raw("POST", "/api/v1/audit", { headers: { "content-type": "application/json" }, body: "{}" });
    expect(answer.status).toBe(405);
  });

  test("the same routes without a body are answered as before", async () => {
    expect((await raw("GET", "/healthz")).status).toBe(200);
    expect((await raw("GET", "/api/v1/usage?from=2026-01-01&to=2026-02-01")).status).toBe(401);
  });
});

describe("POST /graphql reads at most MAX_REQUEST_BYTES", () => {
  const tooLarge = `The request body is larger than 1,000,000 bytes (MAX_REQUEST_BYTES).`;

  test("a body announced larger than the limit is refused before it is read", async () => {
    const body = JSON.stringify({ query: `{ __typename } # ${"x".repeat(1_000_001)}` });
    const answer = await raw("POST", "/graphql", { headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }, body });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text).errors).toEqual([expect.objectContaining({ message: tooLarge })]);
  });

  test("a chunked body that grows past the limit is refused in the same words", async () => {
    const chunk = Buffer.from("x".repeat(100_000));
    const chunks = [Buffer.from('{"query":"{ __typename } #'), ...Array(11).fill(chunk), Buffer.from('"}')];
    const answer = await raw("POST", "/graphql", { headers: { "content-type": "application/json" }, chunks });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text).errors).toEqual([expect.objectContaining({ message: tooLarge })]);
  });

  test("within the limit it is answered", async () => {
    const answer = await raw("POST", "/graphql", { headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ data: { __typename: "Query" } });
  });
});

describe("failures carry no internals", () => {
  test.each([
    ["a malformed percent-encoding in a console path", "GET", "/admin/assets/%E0%A4%A"],
    ["a console asset that does not exist", "GET", "/admin/assets/missing.js"],
    ["a path escaping the assets folder", "GET", "/admin/assets/..%2f..%2fpackage.json"],
    ["an unknown export", "GET", "/api/v1/exports/nothing"],
    ["malformed JSON to GraphQL", "POST", "/graphql"],
    ["a GraphQL body that is not JSON", "POST", "/graphql"],
    ["a bad date to a REST route", "GET", "/api/v1/usage?from=2026-13-45&to=x"],
  ])("%s: a 4xx in words", async (_name, method, path) => {
    const body = _name === "malformed JSON to GraphQL" ? "{not json" : _name === "a GraphQL body that is not JSON" ? "query=%7B__typename%7D" : undefined;
    const contentType = _name === "a GraphQL body that is not JSON" ? "application/x-www-form-urlencoded" : "application/json";
    const answer = await raw(method, path, body ? { headers: { "content-type": contentType }, body } : {});
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expectNoInternals(answer.text);
    const parsed = JSON.parse(answer.text);
    expect(typeof (parsed.error ?? parsed.errors?.[0]?.message)).toBe("string");
  });
});
