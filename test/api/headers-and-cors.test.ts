import { loadConfig } from "../../src/config.ts";
import { startCli, type RunningCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { apiUrl } from "../support/http.ts";

// Every response carries deliberate security headers (src/server/security-headers.ts),
// and CORS is closed unless CORS_ORIGINS lists an origin. The suite's server
// runs with no CORS_ORIGINS; a second server, started here on the same
// database, allows two origins.

const allowedOrigin = "https://console.example.com";
let corsServer: RunningCli & { match: RegExpMatchArray };

beforeAll(async () => {
  corsServer = await startCli(
    ["start"],
    testEnvironment({ PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!, CORS_ORIGINS: `${allowedOrigin},http://localhost:5173` }),
    /GraphQL\s+(http:\S+)\/graphql/,
  );
}, 60_000);

afterAll(async () => {
  await corsServer?.stop();
});

const corsUrl = (path: string) => corsServer.match[1] + path;
const query = JSON.stringify({ query: "{ currentUser { rowId } }" });

const consolePolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const dataPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

describe("security headers", () => {
  const answers: Array<[string, () => Promise<Response>, string]> = [
    ["the console", () => fetch(apiUrl("/admin/")), consolePolicy],
    ["a console asset that does not exist", () => fetch(apiUrl("/admin/assets/nothing.js")), consolePolicy],
    ["GraphQL", () => fetch(apiUrl("/graphql"), { method: "POST", headers: { "content-type": "application/json" }, body: query }), dataPolicy],
    ["a REST route refusing an anonymous caller", () => fetch(apiUrl("/api/v1/usage?from=2026-01-01&to=2026-02-01")), dataPolicy],
    ["a REST route refusing a bad parameter", () => fetch(apiUrl("/api/v1/audit?nonsense=1")), dataPolicy],
    ["the health check", () => fetch(apiUrl("/healthz")), dataPolicy],
    ["a path that does not exist", () => fetch(apiUrl("/nope")), dataPolicy],
  ];

  test.each(answers)("%s: no sniffing, no framing, no referrer, no shared window, no embedding, no HSTS over HTTP, no CORS", async (_name, request, policy) => {
    const response = await request();
    await response.arrayBuffer();
    expect(response.headers.get("content-security-policy")).toBe(policy);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("cross-origin-opener-policy")).toBe("same-origin");
    expect(response.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    expect(response.headers.get("strict-transport-security")).toBeNull();
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("x-powered-by")).toBeNull();
  });

  test("Ruru (GraphiQL) gets a policy of its own that allows its inline scripts and workers, and still no framing", async () => {
    const response = await fetch(apiUrl("/graphiql"));
    await response.text();
    const policy = response.headers.get("content-security-policy")!;
    expect(policy).toContain("script-src 'self' 'unsafe-inline' blob:");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toContain("connect-src 'self'");
  });

  test("Strict-Transport-Security only on a request that came over HTTPS, as a trusted proxy (loopback) says", async () => {
    const response = await fetch(apiUrl("/healthz"), { headers: { "x-forwarded-proto": "https" } });
    expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000");
  });
});

describe("CORS, closed by default", () => {
  const preflight = (url: string, origin: string) =>
    fetch(url, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });

  test("with no CORS_ORIGINS, a preflight from any origin is refused in words naming the setting, for GraphQL and REST", async () => {
    const graphql = await preflight(apiUrl("/graphql"), allowedOrigin);
    expect(graphql.status).toBe(403);
    expect(graphql.headers.get("access-control-allow-origin")).toBeNull();
    expect(await graphql.json()).toEqual({
      errors: [{ message: "Origin https://console.example.com may not call this API from a browser (CORS_ORIGINS; none is allowed).", extensions: { code: "CORS" } }],
    });
    const rest = await preflight(apiUrl("/api/v1/audit"), "https://evil.example");
    expect(rest.status).toBe(403);
    expect(await rest.json()).toEqual({ error: "Origin https://evil.example may not call this API from a browser (CORS_ORIGINS; none is allowed)." });
  });

  test("with no CORS_ORIGINS, a request naming an origin is answered without Access-Control-Allow-Origin, so another site's page cannot read it", async () => {
    const response = await fetch(apiUrl("/graphql"), { method: "POST", headers: { "content-type": "application/json", origin: "https://evil.example" }, body: query });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("vary")).toMatch(/Origin/);
  });

  test("an origin CORS_ORIGINS lists gets its preflight answered and may read answers, with Retry-After and X-Request-Id exposed", async () => {
    const answered = await preflight(corsUrl("/graphql"), allowedOrigin);
    expect(answered.status).toBe(204);
    expect(answered.headers.get("access-control-allow-origin")).toBe(allowedOrigin);
    expect(answered.headers.get("access-control-allow-methods")).toBe("GET, HEAD, POST");
    expect(answered.headers.get("access-control-allow-headers")).toBe("authorization, content-type, x-request-id");
    expect(answered.headers.get("access-control-allow-credentials")).toBeNull();
    expect(answered.headers.get("vary")).toMatch(/Origin/);
    const response = await fetch(corsUrl("/graphql"), { method: "POST", headers: { "content-type": "application/json", origin: allowedOrigin }, body: query });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(allowedOrigin);
    expect(response.headers.get("access-control-expose-headers")).toBe("Retry-After, X-Request-Id, Link, Content-Disposition");
    expect(await response.json()).toEqual({ data: { currentUser: null } });
    const rest = await fetch(corsUrl("/api/v1/audit"), { headers: { origin: "http://localhost:5173" } });
    expect(rest.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
  });

  test("an origin CORS_ORIGINS does not list is refused, and told which are allowed", async () => {
    const refused = await preflight(corsUrl("/api/v1/usage"), "https://console.example.com.evil.example");
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({
      error: "Origin https://console.example.com.evil.example may not call this API from a browser (CORS_ORIGINS; allowed: https://console.example.com, http://localhost:5173).",
    });
  });

  test("CORS_ORIGINS refuses what is not an origin, in words", () => {
    expect(loadConfig({ CORS_ORIGINS: "https://a.example, http://b.example:8080" }).corsOrigins).toEqual(["https://a.example", "http://b.example:8080"]);
    expect(loadConfig({}).corsOrigins).toEqual([]);
    for (const bad of ["*", "https://a.example/", "a.example", "ftp://a.example"]) {
      expect(() => loadConfig({ CORS_ORIGINS: bad })).toThrow(
        `CORS_ORIGINS must list origins such as https://console.example.com, separated by commas (got "${bad}": no path, no trailing slash, no wildcard).`,
      );
    }
  });
});
