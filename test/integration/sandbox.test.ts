// What user code sees in the sandbox, and what it cannot do to other sessions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
import { getenv } from "autokitteh";

let count = 0;
const started = Date.now();

export function counter() {
  count += 1;
  return { count };
}

export async function concurrent(event: { data: { url: { query: Record<string, string> } } }) {
  const mine = event.data.url.query.n;
  count += 1;
  await new Promise((r) => setTimeout(r, 20));
  return { mine, count };
}

export function pollute() {
  const attempts: Record<string, string> = {};
  const attempt = (name: string, fn: () => void) => {
    try { fn(); attempts[name] = "allowed"; } catch (e) { attempts[name] = (e as Error).name; }
  };
  attempt("global", () => { (globalThis as any).leaked = "yes"; });
  attempt("implicit global", () => { eval("leaked2 = 1"); });
  attempt("Array.prototype", () => { (Array.prototype as any).evil = 1; });
  attempt("Object.prototype.toString", () => { Object.prototype.toString = () => "pwned"; });
  attempt("JSON.parse", () => { (JSON as any).parse = () => 1; });
  attempt("console.log", () => { (console as any).log = () => 1; });
  attempt("delete setTimeout", () => { delete (globalThis as any).setTimeout; });
  return attempts;
}

export function look() {
  return {
    leaked: (globalThis as any).leaked ?? null,
    evil: ([] as any).evil ?? null,
    require: typeof (globalThis as any).require,
    module: typeof (globalThis as any).module,
    Buffer: typeof (globalThis as any).Buffer,
    processKeys: Object.keys(process),
    processExit: typeof (process as any).exit,
    sharedArrayBuffer: typeof (globalThis as any).SharedArrayBuffer,
    finalization: typeof (globalThis as any).FinalizationRegistry,
    fromFunction: typeof Function("return this")().process?.exit,
    constructorEscape: (() => {
      try {
        return typeof (({}).constructor.constructor("return this")() as any).require;
      } catch (error) {
        return (error as Error).name;
      }
    })(),
  };
}

export function env() {
  return { getenv: getenv("GREETING"), processEnv: process.env.GREETING, missing: getenv("NOPE") ?? null, url: getenv("env__webhook_url") };
}

export function prints() {
  console.log("plain", 1, { a: [1, 2] }, null);
  console.info("%s is %d years", "Ada", 36);
  console.warn("the secret is", getenv("TOKEN"));
  console.error(new Error("shown"));
}

export function spin() {
  console.log("about to spin");
  for (;;) {}
}

export function hog() {
  const chunks: number[][] = [];
  for (;;) chunks.push(new Array(100_000).fill(1.5));
}
`;

let t: TestServer;
let p: DeployResult;
const call = async (trigger: string, query = "") => {
  const response = await fetch(t.webhook(p, trigger) + query, { method: "POST" });
  return {
    response,
    json: response.status === 200 ? ((await response.json()) as Record<string, unknown>) : null,
  };
};

beforeAll(async () => {
  t = await startTestServer({ limits: { sessionCpuMs: 300, isolateMemoryMb: 32 } });
  const triggers = ["counter", "concurrent", "pollute", "look", "env", "prints", "spin", "hog"].map(
    (name) => ({ name, call: `program.ts:${name}`, is_sync: true }),
  );
  const response = await t.deployFiles({
    "autokitteh.yaml": manifest(
      "sandboxed",
      triggers,
      "  vars:\n    - name: GREETING\n      value: hi\n    - name: TOKEN\n      value: s3cr3t-value\n      secret: true",
    ),
    "program.ts": PROGRAM,
  });
  expect(response.status).toBe(201);
  p = (await response.json()) as DeployResult;
});
afterAll(() => t.close());

describe("fresh module state", () => {
  it("runs the top level anew for every session", async () => {
    for (let i = 0; i < 5; i++) expect((await call("counter")).json).toEqual({ count: 1 });
  });

  it("keeps concurrent sessions of one isolate apart", async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call("concurrent", `?n=${i}`)),
    );
    results.forEach(({ json }, i) => expect(json).toEqual({ mine: String(i), count: 1 }));
  });
});

describe("shared state is frozen", () => {
  it("refuses writes to globals and built-ins", async () => {
    expect((await call("pollute")).json).toEqual({
      global: "TypeError",
      "implicit global": "ReferenceError",
      "Array.prototype": "TypeError",
      "Object.prototype.toString": "TypeError",
      "JSON.parse": "TypeError",
      "console.log": "TypeError",
      "delete setTimeout": "TypeError",
    });
  });

  it("shows nothing of Node or the host, and nothing another session wrote", async () => {
    await call("pollute");
    expect((await call("look")).json).toEqual({
      leaked: null,
      evil: null,
      require: "undefined",
      module: "undefined",
      Buffer: "undefined",
      processKeys: ["env"],
      processExit: "undefined",
      sharedArrayBuffer: "undefined",
      finalization: "undefined",
      fromFunction: "undefined",
      constructorEscape: "TypeError",
    });
  });
});

describe("vars and console", () => {
  it("reads vars through getenv and process.env, with each trigger's webhook URL", async () => {
    expect((await call("env")).json).toEqual({
      getenv: "hi",
      processEnv: "hi",
      missing: null,
      url: t.webhook(p, "env"),
    });
  });

  it("prints to the session log, formatted, with secrets redacted", async () => {
    const { response } = await call("prints");
    const id = response.headers.get("isohook-session-id")!;
    await t.waitForSession(id);
    const prints = (await t.log(id))
      .filter((l) => l.kind === "print")
      .map((l) => [l.data.level, l.data.text]);
    expect(prints.slice(0, 3)).toEqual([
      ["log", "plain 1 { a: [ 1, 2 ] } null"],
      ["info", "Ada is 36 years"],
      ["warn", "the secret is <secret>"],
    ]);
    expect(prints[3]![1]).toContain("shown");
    const calls = (await t.log(id)).filter((l) => l.kind === "call");
    expect(calls).toEqual([
      expect.objectContaining({ data: { binding: "getenv", args: ["TOKEN"], result: "<secret>" } }),
    ]);
    const everything = JSON.stringify(t.db().prepare("SELECT * FROM session_log").all());
    expect(everything).not.toContain("s3cr3t-value");
  });
});

describe("limits", () => {
  it("ends a spinning session at the CPU limit, keeping its prints, while others are served", async () => {
    const spinning = call("spin");
    await new Promise((r) => setTimeout(r, 50));
    const during = Date.now();
    expect((await call("counter")).json).toEqual({ count: 1 });
    expect(Date.now() - during).toBeLessThan(250);

    const { response } = await spinning;
    expect(response.status).toBe(502);
    const id = response.headers.get("isohook-session-id")!;
    const session = await t.waitForSession(id);
    expect(session).toMatchObject({ state: "error", error: "cpu time limit" });
    const log = await t.log(id);
    expect(log.find((l) => l.kind === "print")?.data.text).toBe("about to spin");
  });

  it("ends a memory bomb at the memory limit, and the deployment goes on serving", async () => {
    const { response } = await call("hog");
    expect(response.status).toBe(502);
    const session = await t.waitForSession(response.headers.get("isohook-session-id")!);
    expect(session).toMatchObject({ state: "error", error: "memory limit" });
    expect((await call("counter")).json).toEqual({ count: 1 });
  });
});
