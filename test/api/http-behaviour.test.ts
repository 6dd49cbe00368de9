import { apiUrl, graphql } from "../support/http.ts";

describe("the HTTP server", () => {
  test("/healthz checks the database", async () => {
    const response = await fetch(apiUrl("/healthz"));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok", database: "ok" });
  });

  test("X-Request-Id is echoed when sent and generated when not", async () => {
    const sent = await fetch(apiUrl("/healthz"), { headers: { "x-request-id": "trace-123" } });
    expect(sent.headers.get("x-request-id")).toBe("trace-123");
    const generated = await fetch(apiUrl("/healthz"));
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("invalid GraphQL gets standard GraphQL errors, not a 500", async () => {
    const unknownField = await graphql("{ noSuchField }");
    expect([200, 400]).toContain(unknownField.status);
    expect(unknownField.body.errors?.[0]?.message).toMatch(/Cannot query field "noSuchField"/);
    const syntax = await graphql("{ clients ");
    expect(syntax.status).toBeGreaterThanOrEqual(400);
    expect(syntax.status).toBeLessThan(500);
    expect(syntax.body.errors?.[0]?.message).toMatch(/Syntax Error/);
  });

  test("a malformed JSON body is a 400 with no internals", async () => {
    const response = await fetch(apiUrl("/graphql"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(response.status).toBe(400);
    expect(await response.text()).not.toMatch(/at .*\.js:\d+/);
  });

  test("the server's address alone leads to the console", async () => {
    const response = await fetch(apiUrl("/"), { redirect: "manual" });
    expect([response.status, response.headers.get("location")]).toEqual([302, "/admin/"]);
  });

  test("an unknown path is a JSON 404", async () => {
    const response = await fetch(apiUrl("/nope"));
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "Not found." });
  });

  test("Ruru serves GraphiQL outside production", async () => {
    const response = await fetch(apiUrl("/graphiql"));
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/ruru/i);
  });
});
