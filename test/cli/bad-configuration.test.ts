import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";

/** Each case: one clear line on stderr, exit code 1, no stack trace. */
const cases: Array<[string, Record<string, string>, string[], RegExp]> = [
  ["a malformed DATABASE_URL", { DATABASE_URL: "not a url" }, ["migrate"], /^custodian: DATABASE_URL is not a valid URL/],
  ["a DATABASE_URL of another scheme", { DATABASE_URL: "mysql://u@localhost/db" }, ["migrate"], /^custodian: DATABASE_URL must start with postgres:\/\//],
  ["an unreachable database", { DATABASE_URL: "postgres://u:p@127.0.0.1:1/db" }, ["migrate"], /^custodian: Cannot reach the database at 127\.0\.0\.1:1/],
  ["a bad PORT", { PORT: "http" }, ["start"], /^custodian: PORT must be a whole number from 0 to 65535/],
  ["a short JWT_SECRET", { JWT_SECRET: "short" }, ["start"], /^custodian: JWT_SECRET must be at least 32 characters/],
  ["an unknown LOG_LEVEL", { LOG_LEVEL: "loud" }, ["audit", "seal"], /^custodian: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/],
  ["an ARCHIVE_DIR that is the data directory", { DATA_DIR: "/tmp/custodian-data", ARCHIVE_DIR: "/tmp/custodian-data" }, ["archive", "list"], /^custodian: ARCHIVE_DIR may not be the data directory or its database folder \(got "\/tmp\/custodian-data"\)/],
  ["an unknown command", {}, ["frobnicate"], /^custodian: Unknown command "frobnicate"/],
  ["an unknown flag", {}, ["worker", "--fast"], /^custodian: Unknown option '--fast'/],
];

test.each(cases)("%s gives one clear error line and exit code 1", async (_name, env, args, message) => {
  const result = await runCli(args, testEnvironment(env));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(message);
  expect(result.stderr.trim().split("\n")).toHaveLength(1);
});

test("a port in use gives one clear error line and exit code 1", async () => {
  const port = new URL(process.env.TEST_API_URL!).port;
  const result = await runCli(["start"], testEnvironment({ PORT: port }));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^custodian: Port ${port} on 127\\.0\\.0\\.1 is already in use`));
  expect(result.stderr.trim().split("\n")).toHaveLength(1);
});
