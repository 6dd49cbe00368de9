import { startCli, type RunningCli } from "../support/cli.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { login } from "../support/http.ts";

// An error the caller may not read is masked (the caller gets an id) and
// written to the log as one JSON line like every other log line, its stack a
// field: never grafserv's multi-line "Masked GraphQL error" print. A second
// server is started here so its log can be read.

let server: RunningCli & { match: RegExpMatchArray };
let admin: User;
let token: string;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "error-log-admin");
  token = await login(admin.email);
  server = await startCli(["start"], testEnvironment({ PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR!, LOG_LEVEL: "info" }), /GraphQL\s+(http:\S+)\/graphql/);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

test("a query whose database connection is killed under it is answered 503 with Retry-After in words, and logged as one JSON line with its stack", async () => {
  const ask = () =>
    fetch(`${server.match[1]}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "{ billingMonths { nodes { month } } }" }),
    });
  expect((await ask()).status).toBe(200); // the schema is built and the operation planned before the table is locked
  const locker = await rootPool().connect();
  let answer: { status: number; retryAfter: string | null; body: any };
  try {
    await locker.query("begin");
    await locker.query("lock table app_public.billing_months in access exclusive mode");
    const pending = ask();
    // The server's query waits for the lock; end its connection, as an operator's pg_terminate_backend would.
    let blocked: number | undefined;
    for (let tries = 0; tries < 100 && blocked === undefined; tries++) {
      const { rows } = await rootPool().query(
        "select pid from pg_stat_activity where usename = 'custodian_authenticator' and wait_event_type = 'Lock' and query like '%billing_months%'",
      );
      blocked = rows[0]?.pid;
      if (blocked === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(blocked).toEqual(expect.any(Number));
    await rootPool().query("select pg_terminate_backend($1)", [blocked]);
    const response = await pending;
    answer = { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
  } finally {
    await locker.query("rollback");
    locker.release();
  }

  // Not the caller's mistake, nor an internal one to mask: the database could not answer, and may again shortly.
  expect(answer.status).toBe(503);
  expect(answer.retryAfter).toBe("5");
  expect(answer.body.errors).toEqual([expect.objectContaining({
    message: "The database cannot be reached right now (it may be restarting); try again in a few seconds. A write whose answer this is may or may not have been made: read before you repeat it.",
    extensions: { code: "DATABASE_UNAVAILABLE" },
  })]);

  // The log line arrives shortly after the answer.
  let lines: string[] = [];
  const isOurs = (line: string) => line.includes('"the database could not answer"') && line.includes('"billingMonths"');
  for (let tries = 0; tries < 50; tries++) {
    lines = server.output().stderr.split("\n").filter((line) => line.trim() !== "");
    if (lines.some(isOurs)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const logged = lines.filter(isOurs);
  expect(logged).toHaveLength(1);
  const entry = JSON.parse(logged[0]!);
  expect(entry).toMatchObject({ level: 40, msg: "the database could not answer", path: "billingMonths", err: { message: "Connection terminated unexpectedly" } });
  expect(entry.err.stack).toMatch(/^Error: Connection terminated unexpectedly\n\s+at /);
  // Nothing of the error was printed outside JSON lines.
  expect(lines.filter((line) => /^\s+at |Masked GraphQL error/.test(line))).toEqual([]);
  for (const line of lines.filter((line) => line.startsWith("{"))) expect(() => JSON.parse(line)).not.toThrow();
});
