/** Fixed test secrets: the server and the tests must agree on them. */
export const TEST_JWT_SECRET = "test-jwt-secret-that-is-long-enough-0123456789";
export const TEST_AUTHENTICATOR_PASSWORD = "test-authenticator-password";

/** The environment a Custodian command gets in tests: the test database, no worker, no demo data. */
export function testEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: "test",
    DATABASE_URL: process.env.TEST_DATABASE_URL!,
    JWT_SECRET: TEST_JWT_SECRET,
    AUTHENTICATOR_PASSWORD: TEST_AUTHENTICATOR_PASSWORD,
    WORKER: "off",
    SEED_DEMO: "off",
    LOG_LEVEL: "warn",
    // Every test file signs in from 127.0.0.1, wrong passwords included; the
    // per-address limit is tested with addresses of its own (X-Forwarded-For).
    SIGN_IN_MAX_PER_ADDRESS: "1000",
    ...extra,
  };
}
