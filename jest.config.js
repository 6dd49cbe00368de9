// Jest runs in ESM mode (node --experimental-vm-modules): graphile-worker
// 0.18 is ESM-only, and the code runs as Node 24 strips its types, in tests
// as in production (see test/support/strip-types.js).
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: { "\\.ts$": "<rootDir>/test/support/strip-types.js" },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  reporters: ["default", "<rootDir>/test/support/summary-reporter.js"],
  maxWorkers: 2,
  testTimeout: 60_000,
};
