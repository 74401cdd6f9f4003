// What a handler returns crosses the sandbox boundary like an outcome does, and is held to the
// same bounds: the body limit and the session's output budget. A one-line `return` of a huge
// value must end its own session, not the sandbox process that holds other projects' sessions.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const MAX_BODY_BYTES = 1024 * 1024;

const PROGRAM = `
export function huge_value() {
  const s = "y".repeat(2 ** 24);
  return [s, s, s, s];
}

export function over_limit_value() {
  return "z".repeat(${MAX_BODY_BYTES});
}

export function over_limit_in_utf8() {
  // Fewer characters than the limit, more bytes (2 each, and 2 quotes): the limit is on what is sent.
  return "\\u00e9".repeat(${MAX_BODY_BYTES / 2 + 10});
}

export function over_limit_response() {
  return new Response(new Uint8Array(${MAX_BODY_BYTES + 1}));
}

export function at_limit_response() {
  return new Response(new Uint8Array(${MAX_BODY_BYTES}).fill(65));
}

export function async_huge_value() {
  const s = "w".repeat(2 ** 24);
  return Promise.resolve({ a: s, b: s, c: s, d: s });
}

export function bigint() {
  return { n: 10n };
}

export function cycle() {
  const a: Record<string, unknown> = {};
  a.self = a;
  return a;
}

export function past_many_small_values() {
  // Many small values first, then the large ones: the estimate must reach them.
  const s = "v".repeat(5_000_000);
  return [...new Array(100_001).fill(0), ...new Array(20).fill(s)];
}

export function deep() {
  let value: unknown = "leaf";
  for (let i = 0; i < 2_000; i++) value = [value];
  return value;
}

export function ok() {
  return { ok: true };
}
`;

const TRIGGERS = [
  "huge_value",
  "over_limit_value",
  "over_limit_in_utf8",
  "over_limit_response",
  "at_limit_response",
  "async_huge_value",
  "bigint",
  "cycle",
  "past_many_small_values",
  "deep",
  "ok",
];

let t: TestServer;
let p: DeployResult;
let bystander: DeployResult;

beforeAll(async () => {
  t = await startTestServer({ limits: { maxBodyBytes: MAX_BODY_BYTES } });
  // One sandbox process for both projects: a crash of it would show in the bystander.
  const deploy = async (name: string) => {
    const response = await t.deployFiles({
      "autokitteh.yaml": manifest(
        name,
        TRIGGERS.map((trigger) => ({
          name: trigger,
          call: `program.ts:${trigger}`,
          is_sync: true,
        })),
      ),
      "program.ts": PROGRAM,
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as DeployResult;
  };
  p = await deploy("returns");
  bystander = await deploy("returns_bystander");
});
afterAll(() => t.close());

async function expectRefused(trigger: string, reason: RegExp): Promise<void> {
  const pidBefore = t.server.sandboxPidOf("returns");
  const response = await fetch(t.webhook(p, trigger), { method: "POST" });
  expect(response.status, trigger).toBe(502);
  const id = response.headers.get("isohook-session-id")!;
  const session = await t.waitForSession(id);
  expect(session, trigger).toMatchObject({ state: "error" });
  expect(String(session.error), trigger).toMatch(reason);
  expect(t.server.sandboxPidOf("returns"), `${trigger}: the sandbox process lived on`).toBe(
    pidBefore,
  );
}

it("ends a session that returns a value larger than the body limit, and only that session", async () => {
  const waiting = fetch(t.webhook(bystander, "ok"), { method: "POST" });
  await expectRefused(
    "huge_value",
    /RangeError: the handler returned a value of at least \d+ bytes/,
  );
  await expectRefused("async_huge_value", /RangeError: the handler returned a value of at least/);
  await expectRefused("over_limit_value", /more than the limit of 1048576/);
  await expectRefused("past_many_small_values", /returned a value of at least \d+ bytes/);
  await expectRefused(
    "over_limit_in_utf8",
    /RangeError: the handler returned a body of 1048598 bytes/,
  );
  await expectRefused(
    "over_limit_response",
    /RangeError: the handler returned a body of 1048577 bytes/,
  );
  expect((await waiting).status).toBe(200);
  expect(await (await fetch(t.webhook(bystander, "ok"), { method: "POST" })).json()).toEqual({
    ok: true,
  });
});

it("sends a returned body of exactly the limit", async () => {
  const response = await fetch(t.webhook(p, "at_limit_response"), { method: "POST" });
  expect(response.status).toBe(200);
  expect((await response.arrayBuffer()).byteLength).toBe(MAX_BODY_BYTES);
});

it("says why a return value is not JSON", async () => {
  await expectRefused(
    "bigint",
    /^TypeError: the handler's return value cannot be sent as JSON: .*BigInt/,
  );
  await expectRefused(
    "cycle",
    /^TypeError: the handler's return value cannot be sent as JSON: .*circular/i,
  );
});

it("sends a deeply nested value that fits", async () => {
  const response = await fetch(t.webhook(p, "deep"), { method: "POST" });
  expect(response.status).toBe(200);
  expect((await response.text()).length).toBe(2 * 2_000 + 6);
});
