import { closeRootPool, rootPool } from "../support/db.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { apiUrl, login } from "../support/http.ts";

// The REST routes' shared conventions (README, "API conventions"): GET only,
// any other method a 405 naming the allowed ones; unknown parameters and
// unreadable values a 400 in words.

const routes = [
  "/api/v1/usage",
  "/api/v1/audit",
  ...["usage", "providers", "revenue", "monthly-revenue", "retranscriptions", "failures", "top-coaches"].map(
    (name) => `/api/v1/admin/analytics/${name}`,
  ),
  ...["usage-events", "invoices", "analytics/usage", "audit-events"].map((name) => `/api/v1/exports/${name}`),
];

let admin: User;
let token: string;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "rest-conventions");
  token = await login(admin.email);
});

afterAll(async () => {
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

describe("methods", () => {
  test.each(routes)("%s answers POST, PUT, PATCH and DELETE with 405 and an Allow header, signed in or not", async (route) => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      for (const headers of [{ authorization: `Bearer ${token}` }, {}] as Array<Record<string, string>>) {
        const response = await fetch(apiUrl(route), { method, headers: { ...headers, "content-type": "application/json" }, body: "{}" });
        expect({ status: response.status, allow: response.headers.get("allow"), body: await response.json() }).toEqual({
          status: 405, allow: "GET, HEAD, OPTIONS", body: { error: `${route} answers GET only, not ${method}.` },
        });
      }
    }
  });

  test.each(routes)("%s answers OPTIONS with the methods it allows", async (route) => {
    const response = await fetch(apiUrl(route), { method: "OPTIONS" });
    expect({ status: response.status, allow: response.headers.get("allow") }).toEqual({ status: 204, allow: "GET, HEAD, OPTIONS" });
  });

  test("/healthz, too, answers GET only", async () => {
    const ok = await fetch(apiUrl("/healthz"));
    expect(ok.status).toBe(200);
    const response = await fetch(apiUrl("/healthz"), { method: "POST" });
    expect({ status: response.status, allow: response.headers.get("allow"), body: await response.json() }).toEqual({
      status: 405, allow: "GET, HEAD, OPTIONS", body: { error: "/healthz answers GET only, not POST." },
    });
  });

  test("a path that is no route is still a 404", async () => {
    const response = await fetch(apiUrl("/api/v1/nothing-here"), { method: "POST" });
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 404, body: { error: "Not found." } });
  });
});

describe("query parameters", () => {
  const range = { from: "1911-03-01", to: "1911-04-01" };

  test.each(routes)("%s refuses a parameter it does not know with 400, naming it and the ones it takes", async (route) => {
    const response = await fetch(apiUrl(`${route}?${new URLSearchParams({ ...range, coachProfileId: "x" })}`), {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatch(/^Unknown parameter "(coachProfileId|from)"; use [a-z_, ]+\.$/);
  });

  test("the parameters are snake_case on every route: the one multi-word name each takes is in snake_case", async () => {
    const taken: Record<string, string[]> = {};
    for (const route of routes) {
      const response = await fetch(apiUrl(`${route}?unknownThing=1`), { headers: { authorization: `Bearer ${token}` } });
      const { error } = await response.json();
      taken[route] = /; use (.*)\.$/.exec(error)![1]!.split(", ");
    }
    for (const names of Object.values(taken)) {
      for (const name of names) expect(name).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
    expect(taken["/api/v1/usage"]).toEqual(["from", "to", "coach_profile_id", "billing_month", "provider", "model", "format"]);
    expect(taken["/api/v1/audit"]).toEqual(["table_name", "record_key", "actor_id", "actor_kind", "operation", "occurred_from", "occurred_before", "limit", "after", "format"]);
  });

  test("a range's end is exclusive on every route that takes one: from equal to to is an empty range, refused in words", async () => {
    for (const route of routes.filter((route) => !route.endsWith("/audit") && !route.endsWith("/audit-events"))) {
      const response = await fetch(apiUrl(`${route}?from=1911-03-01&to=1911-03-01`), { headers: { authorization: `Bearer ${token}` } });
      expect({ route, status: response.status, body: await response.json() }).toEqual({
        route, status: 400, body: { error: "The range is empty or inverted: from (1911-03-01) must be before to (1911-03-01)." },
      });
    }
    const audit = await fetch(apiUrl("/api/v1/audit?occurred_from=1911-03-01T00:00:00Z&occurred_before=1911-03-01T00:00:00Z"), {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(audit.status).toBe(400);
    expect((await audit.json()).error).toMatch(/^The time range is empty: occurred_from \(.+\) must be before occurred_before \(.+\)\.$/);
  });
});
