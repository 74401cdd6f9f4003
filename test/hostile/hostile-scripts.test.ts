// Hostile scripts, one per failure mode. After each, the server must still answer another
// project's webhook, and the hostile session must have ended in the right state, for the
// right reason. Nothing here leaves 127.0.0.1.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const ATTACKS: Record<string, string> = {
  infinite_loop: `for (;;) {}`,
  infinite_async_loop: `for (;;) await null;`,
  deep_recursion: `const dive = (n: number): number => dive(n + 1) + 1; return dive(0);`,
  memory_bomb_array: `const a: number[][] = []; for (;;) a.push(new Array(100_000).fill(1.5));`,
  memory_bomb_string: `const a: string[] = []; for (;;) a.push("x".repeat(16 << 20) + a.length);`,
  memory_bomb_typed_array: `const a: Uint8Array[] = []; for (;;) a.push(new Uint8Array(16 << 20).fill(1));`,
  timer_flood: `let n = 0;
    for (let i = 0; i < 999; i++) setInterval(() => n++, 0);
    await new Promise((r) => setTimeout(r, 300));
    http_outcome({ json: { fired: n > 0 } });`,
  promise_flood: `for (;;) Promise.resolve().then(() => {});`,
  promise_chain_after_return: `const grow = (): Promise<unknown> => Promise.resolve().then(grow);
    void grow();
    return 1;`,
  call_flood: `for (;;) clearTimeout(setTimeout(() => {}, 1000));`,
  huge_console_log: `const line = "L".repeat(70_000);
    for (let i = 0; i < 100_000; i++) console.log(line);
    http_outcome({ body: "printed" });`,
  outcome_getter_throws: `http_outcome({ get status_code(): number { throw new Error("getter says no"); } });`,
  outcome_getter_loops: `http_outcome({ get status_code(): number { for (;;) {} } });`,
  outcome_proxy_loops: `http_outcome(new Proxy({}, { ownKeys() { for (;;) {} } }) as never);`,
  outcome_tojson_throws: `http_outcome({ json: { toJSON() { throw new RangeError("toJSON says no"); } } });`,
  returned_thenable_trap: `const error = new Error("e");
    Object.defineProperty(error, "message", { get() { for (;;) {} } });
    return { get then() { throw error; } };`,
  returned_proxy: `return new Proxy({}, { get() { throw new Error("proxy says no"); }, ownKeys() { throw new Error("no keys"); } });`,
  thrown_non_error: `throw { get message() { for (;;) {} } };`,
  escape_via_constructor: `let found: unknown;
    try { found = ({}).constructor.constructor("return this")().process; } catch (e) { found = (e as Error).name; }
    http_outcome({ json: { found: String(found) } });`,
  escape_via_function: `http_outcome({ json: { process: typeof Function("return this")().process?.exit,
    require: typeof (globalThis as any).require, fromEval: typeof eval("typeof process === 'object' && process.exit") } });`,
  escape_via_prepare_stack_trace: `let result = "allowed";
    try { (Error as any).prepareStackTrace = (_: unknown, frames: any[]) => frames[0].getThis(); } catch (e) { result = (e as Error).name; }
    http_outcome({ json: { result, stackIsString: typeof new Error("x").stack === "string" } });`,
  escape_via_species: `class Evil extends Array { static get [Symbol.species]() { throw new Error("species"); } }
    const headers = Evil.from([["x-a", "1"]]);
    http_outcome({ headers: headers as never, body: "species ignored" });`,
  redefine_builtins: `const results: string[] = [];
    for (const change of [
      () => { JSON.stringify = () => "pwned"; },
      () => { (Array.prototype as any).map = () => []; },
      () => { Object.defineProperty(Uint8Array.prototype, "length", { get: () => 0 }); },
      () => { (Reflect as any).apply = () => 0; },
      () => { (Promise.prototype as any).then = () => 0; },
    ]) {
      try { change(); results.push("allowed"); } catch (e) { results.push((e as Error).name); }
    }
    http_outcome({ json: results });`,
  import_and_require: `let dynamic = "loaded";
    try { await (0, eval)("import('node:fs')"); } catch (e) { dynamic = (e as Error).name + ": " + (e as Error).message; }
    http_outcome({ json: { dynamic, require: typeof (globalThis as any).require, webassembly: typeof (globalThis as any).WebAssembly } });`,
  body_buffer_is_its_own: `const bytes = event.data.body.bytes;
    http_outcome({ json: { length: bytes.length, buffer: bytes.buffer.byteLength, offset: bytes.byteOffset } });`,
  timer_ids_are_per_session: `const id = setTimeout(() => {}, 10); clearTimeout(id);
    for (let i = 0; i < Number(event.data.url.query.burn ?? 0); i++) clearTimeout(setTimeout(() => {}, 10));
    http_outcome({ json: { first: id } });`,
};

/** Left for the next session: a microtask queued just before this session is stopped at its limit. */
const HIJACK = `
export async function victim() {
  await new Promise((r) => setTimeout(r, 600));
  http_outcome({ body: "the victim's own answer" });
}
export function attacker() {
  Promise.resolve().then(() => http_outcome({ status_code: 418, body: "hijacked" }));
  Promise.resolve().then(() => console.log("the attacker speaking"));
  for (;;) {}
}
`;

const program = `import { http_outcome, type Event } from "autokitteh";
${Object.entries(ATTACKS)
  .map(
    ([name, body]) =>
      `export async function ${name}(event: Event): Promise<unknown> {\n  void event;\n  ${body}\n}`,
  )
  .join("\n")}
${HIJACK}`;

let t: TestServer;
let hostile: DeployResult;
let bystander: DeployResult;

beforeAll(async () => {
  t = await startTestServer({ limits: { sessionCpuMs: 2000 } });
  hostile = await deployProgram(
    t,
    "hostile",
    program,
    [...Object.keys(ATTACKS), "victim", "attacker"].map((name) => ({
      name,
      call: `program.ts:${name}`,
      is_sync: true,
    })),
  );
  bystander = await deployProgram(
    t,
    "bystander",
    `import { http_outcome } from "autokitteh";\nexport function hello() { http_outcome({ body: "still here" }); }\n`,
    [{ name: "hello", call: "program.ts:hello", is_sync: true }],
  );
});
afterAll(() => t.close());

// After every attack: another project is served, at once and correctly.
afterEach(async () => {
  const started = Date.now();
  const response = await fetch(t.webhook(bystander, "hello"), { method: "POST" });
  expect(await response.text()).toBe("still here");
  expect(Date.now() - started).toBeLessThan(1000);
});

async function attack(name: string, query = "") {
  const response = await fetch(t.webhook(hostile, name) + query, { method: "POST" });
  const sessionId = response.headers.get("isohook-session-id")!;
  const session = await t.waitForSession(sessionId);
  const text = await response.text();
  return { status: response.status, text, session, log: () => t.log(sessionId) };
}

describe("runaway code ends at a limit", () => {
  it.each([
    "infinite_loop",
    "infinite_async_loop",
    "outcome_getter_loops",
    "outcome_proxy_loops",
    "returned_thenable_trap",
    "thrown_non_error",
  ])("%s: cpu time limit", async (name) => {
    const { status, session } = await attack(name);
    expect(status).toBe(502);
    expect(session).toMatchObject({ state: "error", error: "cpu time limit" });
  });

  it("promise_flood: cpu time limit or memory limit", async () => {
    const { status, session } = await attack("promise_flood");
    expect(status).toBe(502);
    expect(["cpu time limit", "memory limit"]).toContain(session.error);
  });

  it("promise_chain_after_return: work left running after the return ends the session at its limit", async () => {
    const { session } = await attack("promise_chain_after_return");
    expect(session.state).toBe("error");
    expect(["cpu time limit", "memory limit"]).toContain(session.error);
    expect(session.cpu_ms).toBeGreaterThan(0);
  });

  it("call_flood: the call limit", async () => {
    const { session } = await attack("call_flood");
    expect(session.state).toBe("error");
    expect(session.error).toMatch(/^LimitError: call limit: the session made more than \d+ calls/);
  });

  it("deep_recursion: a RangeError with the user's stack", async () => {
    const { session, log } = await attack("deep_recursion");
    expect(session).toMatchObject({
      state: "error",
      error: "RangeError: Maximum call stack size exceeded",
    });
    const error = (await log()).find((l) => l.kind === "error")!;
    expect(error.data.stack).toContain("program.ts:");
  });

  it("memory_bomb_array: memory limit", async () => {
    const { status, session } = await attack("memory_bomb_array");
    expect(status).toBe(502);
    expect(session).toMatchObject({ state: "error", error: "memory limit" });
  });

  it("memory_bomb_string: memory limit (or, on a loaded machine, the CPU limit first)", async () => {
    // Building big strings near the heap limit makes V8 collect garbage hard; when the machine
    // is busy, the CPU budget can run out before the memory does. Either way it is a limit.
    const { status, session } = await attack("memory_bomb_string");
    expect(status).toBe(502);
    expect(session.state).toBe("error");
    expect(["memory limit", "cpu time limit"]).toContain(session.error);
  });

  it("memory_bomb_typed_array: refused allocation or memory limit", async () => {
    const { session } = await attack("memory_bomb_typed_array");
    expect(session.state).toBe("error");
    expect(["memory limit", "RangeError: Array buffer allocation failed"]).toContain(session.error);
  });

  it("timer_flood: intervals never pile up; the session ends normally", async () => {
    const { status, text, session } = await attack("timer_flood");
    expect(status).toBe(200);
    expect(JSON.parse(text)).toEqual({ fired: true });
    expect(session.state).toBe("completed");
    expect(session.cpu_ms as number).toBeLessThan(2000);
  });

  it("huge_console_log: the print budget holds; the log stays small", async () => {
    const { text, session, log } = await attack("huge_console_log");
    expect(text).toBe("printed");
    expect(session.state).toBe("completed");
    const prints = (await log()).filter((l) => l.kind === "print");
    const printed = prints.reduce((sum, l) => sum + String(l.data.text).length, 0);
    expect(prints.length).toBeLessThan(20);
    expect(printed).toBeLessThan(1.1 * 1024 * 1024);
    expect(String(prints.at(-1)!.data.text)).toContain("print budget is spent");
  });
});

describe("values handed to bindings", () => {
  it("outcome_getter_throws: the getter's error ends the session", async () => {
    const { session } = await attack("outcome_getter_throws");
    expect(session).toMatchObject({ state: "error", error: "Error: getter says no" });
  });

  it("outcome_tojson_throws: toJSON's error ends the session", async () => {
    const { session } = await attack("outcome_tojson_throws");
    expect(session).toMatchObject({ state: "error", error: "RangeError: toJSON says no" });
  });

  it("returned_proxy: a proxy that throws is a user error, not the runtime's", async () => {
    const { status, session } = await attack("returned_proxy");
    expect(status).toBe(502);
    expect(session.state).toBe("error");
    expect(session.error).toMatch(/^Error: (proxy says no|no keys)$/);
  });

  it("escape_via_species: a subclass of Array is read as plain pairs", async () => {
    const { status, text } = await attack("escape_via_species");
    expect(status).toBe(200);
    expect(text).toBe("species ignored");
  });
});

describe("escapes", () => {
  it("escape_via_constructor: the Function constructor is tamed", async () => {
    expect(JSON.parse((await attack("escape_via_constructor")).text)).toEqual({
      found: "TypeError",
    });
  });

  it("escape_via_function: Function and eval see only the sandbox's global", async () => {
    expect(JSON.parse((await attack("escape_via_function")).text)).toEqual({
      process: "undefined",
      require: "undefined",
      fromEval: "undefined",
    });
  });

  it("escape_via_prepare_stack_trace: Error is frozen", async () => {
    expect(JSON.parse((await attack("escape_via_prepare_stack_trace")).text)).toEqual({
      result: "TypeError",
      stackIsString: true,
    });
  });

  it("redefine_builtins: the built-ins the runtime relies on cannot change", async () => {
    expect(JSON.parse((await attack("redefine_builtins")).text)).toEqual([
      "TypeError",
      "TypeError",
      "TypeError",
      "TypeError",
      "TypeError",
    ]);
  });

  it("import_and_require: no module loading, no require, no WebAssembly", async () => {
    const result = JSON.parse((await attack("import_and_require")).text);
    expect(result.dynamic).toMatch(/^(TypeError|Error|SyntaxError): /);
    expect(result).toMatchObject({ require: "undefined", webassembly: "undefined" });
  });
});

describe("what sessions could learn of each other", () => {
  it("body_buffer_is_its_own: the body's bytes have a buffer of their own", async () => {
    const response = await fetch(t.webhook(hostile, "body_buffer_is_its_own"), {
      method: "POST",
      body: "abcd",
    });
    expect(await response.json()).toEqual({ length: 4, buffer: 4, offset: 0 });
  });

  it("timer_ids_are_per_session: one session's timers say nothing of another's", async () => {
    await attack("timer_ids_are_per_session", "?burn=500");
    expect(JSON.parse((await attack("timer_ids_are_per_session")).text)).toEqual({ first: 1 });
  });

  it("microtask_hijack: code left by a session stopped at its limit runs in no one's name", async () => {
    const victim = fetch(t.webhook(hostile, "victim"), { method: "POST" });
    await new Promise((r) => setTimeout(r, 100));
    const attacker = await attack("attacker");
    expect(attacker.session).toMatchObject({ state: "error", error: "cpu time limit" });
    const answer = await victim;
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe("the victim's own answer");
    const victimLog = await t.log(answer.headers.get("isohook-session-id")!);
    expect(JSON.stringify(victimLog)).not.toContain("attacker");
  });
});
