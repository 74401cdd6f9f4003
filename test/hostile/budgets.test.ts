// What a session may send across the sandbox line, and spend, is bounded; going past a bound
// ends that session, never the server.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
import { getenv, http_outcome, subscribe } from "autokitteh";

export function huge_outcome() {
  http_outcome({ body: "x".repeat(2 * 1024 * 1024) });
}
export function wide_outcome(event: { data: { url: { query: Record<string, string> } } }) {
  // "€" is one character and three UTF-8 bytes.
  http_outcome({ body: "€".repeat(Number(event.data.url.query.n)) });
}
export function many_intermediate_outcomes() {
  const big = "x".repeat(8 * 1024 * 1024);
  for (let i = 0; i < 40; i++) http_outcome({ body: big + i, more: true });
  http_outcome({ body: "done" });
}
export async function output_flood() {
  const big = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < 100; i++) await crypto.subtle.digest("SHA-256", big);
}
export function huge_getenv_name() {
  return { value: getenv("k".repeat(20_000_000)) ?? null };
}
export function many_subscriptions() {
  let made = 0;
  try {
    for (let i = 0; i < 1000; i++) { subscribe("other"); made++; }
  } catch (error) {
    return { made, error: (error as Error).name + ": " + (error as Error).message };
  }
  return { made };
}
export async function timers_spend_past_budget() {
  for (let i = 0; i < 6; i++) setTimeout(() => { const t = Date.now(); while (Date.now() - t < 400) {} }, 10);
  await new Promise((r) => setTimeout(r, 20_000));
}
export function shared_core_js_store() {
  return { store: typeof (globalThis as any)["__core-js_shared__"], compartment: typeof (globalThis as any).Compartment };
}
`;

let t: TestServer;
let p: DeployResult;
let bystander: DeployResult;

beforeAll(async () => {
  t = await startTestServer({ limits: { sessionCpuMs: 1000, maxBodyBytes: 1024 * 1024 } });
  const names = [
    "huge_outcome",
    "wide_outcome",
    "many_intermediate_outcomes",
    "output_flood",
    "huge_getenv_name",
    "many_subscriptions",
    "timers_spend_past_budget",
    "shared_core_js_store",
  ];
  p = await deployProgram(t, "budgets", PROGRAM, [
    ...names.map((name) => ({ name, call: `program.ts:${name}`, is_sync: true })),
    { name: "other" },
  ]);
  bystander = await deployProgram(
    t,
    "bystander",
    `import { http_outcome } from "autokitteh";\nexport function hello() { http_outcome({ body: "still here" }); }\n`,
    [{ name: "hello", call: "program.ts:hello", is_sync: true }],
  );
});
afterAll(() => t.close());
afterEach(async () => {
  expect(await (await fetch(t.webhook(bystander, "hello"), { method: "POST" })).text()).toBe(
    "still here",
  );
});

async function run(name: string) {
  const response = await fetch(t.webhook(p, name), { method: "POST" });
  const session = await t.waitForSession(response.headers.get("isohook-session-id")!);
  return { status: response.status, text: await response.text(), session };
}

it("an outcome body larger than the body limit is a RangeError", async () => {
  const { session } = await run("huge_outcome");
  expect(session).toMatchObject({
    state: "error",
    error: "RangeError: http_outcome: the body is larger than the limit of 1048576 bytes",
  });
});

it("an outcome's string body counts in the UTF-8 bytes it is sent as", async () => {
  const limit = 1024 * 1024;
  const atLimit = await fetch(`${t.webhook(p, "wide_outcome")}?n=${Math.floor(limit / 3)}`, {
    method: "POST",
  });
  expect(atLimit.status).toBe(200);
  expect((await atLimit.arrayBuffer()).byteLength).toBe(Math.floor(limit / 3) * 3);

  // Fewer characters than the limit, more bytes.
  const over = await fetch(`${t.webhook(p, "wide_outcome")}?n=${Math.floor(limit / 2)}`, {
    method: "POST",
  });
  expect(over.status).toBe(502);
  const session = await t.waitForSession(over.headers.get("isohook-session-id")!);
  expect(session.error).toBe(
    "RangeError: http_outcome: the body is larger than the limit of 1048576 bytes",
  );
});

it("intermediate outcomes cross only as much as the log keeps", async () => {
  const { status, text, session } = await run("many_intermediate_outcomes");
  expect(session.state).toBe("error");
  expect(session.error).toMatch(/RangeError: http_outcome: the body is larger/);
  expect(status).toBe(502);
  expect(text).not.toContain("xxxx");
});

it("a session that sends too much ends at the output limit", async () => {
  const { session } = await run("output_flood");
  expect(session.state).toBe("error");
  expect(session.error).toMatch(/^LimitError: output limit: /);
});

it("a var name too long for any var is simply not a var (and is not logged)", async () => {
  const response = await fetch(t.webhook(p, "huge_getenv_name"), { method: "POST" });
  expect(await response.json()).toEqual({ value: null });
  const sessionId = response.headers.get("isohook-session-id")!;
  await t.waitForSession(sessionId);
  expect(JSON.stringify(await t.log(sessionId)).length).toBeLessThan(10_000);
});

it("a session may hold 100 subscriptions", async () => {
  const { text } = await run("many_subscriptions");
  expect(JSON.parse(text)).toEqual({
    made: 100,
    error: "RangeError: subscribe: a session may hold at most 100 subscriptions",
  });
});

it("timers cannot spend CPU past the session's budget", async () => {
  const started = Date.now();
  const { session } = await run("timers_spend_past_budget");
  expect(session).toMatchObject({ state: "error", error: "cpu time limit" });
  expect(session.cpu_ms as number).toBeLessThan(1600);
  expect(Date.now() - started).toBeLessThan(5000);
});

it("no bundled package leaves a store on the global object", async () => {
  const { text } = await run("shared_core_js_store");
  expect(JSON.parse(text)).toEqual({ store: "undefined", compartment: "undefined" });
});
