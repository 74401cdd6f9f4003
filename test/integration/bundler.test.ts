// The bundler process: started by a build, and gone again once deploys stop coming.
import { afterAll, expect, it } from "vitest";
import { Bundler } from "../../src/deploy/bundler";

const bundler = new Bundler({ idleMs: 300 });
afterAll(() => bundler.close());

const FILES = new Map([["program.ts", Buffer.from("export function handle() { return 1; }\n")]]);
const HANDLERS = [{ key: "h0", trigger: "api", file: "program.ts", exportName: "handle" }];

it("starts on a build, stays up while builds come, and exits when idle", async () => {
  expect(bundler.running).toBe(false);
  expect((await bundler.bundle(FILES, HANDLERS)).ok).toBe(true);
  expect(bundler.running).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 150));
  // A second build inside the idle window puts the exit off again.
  expect((await bundler.bundle(FILES, HANDLERS)).ok).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(bundler.running).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(bundler.running).toBe(false);
  // And a build after that starts a new one.
  expect((await bundler.bundle(FILES, HANDLERS)).ok).toBe(true);
});
