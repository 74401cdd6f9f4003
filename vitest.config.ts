import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // isolated-vm needs every process that loads it started with --no-node-snapshot.
    pool: "forks",
    execArgv: ["--no-node-snapshot"],
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
