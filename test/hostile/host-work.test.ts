// What a session makes the host do for it (fetch, crypto.subtle) is bounded per session, per
// project and for the server, is charged to the session, and ends with the session. The fetch
// targets are a mock on 127.0.0.1 that this file starts; nothing leaves the machine.
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Fetcher, type FetchPolicy } from "../../src/bindings/host-fetch";
import { HostWorkCancelledError } from "../../src/bindings/host-work";
import type { DeployResult } from "../../src/deploy/deployer";
import { manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const MIB = 1024 * 1024;
const CPU_BUDGET_MS = 1000;
const CANCELLED = "the session ended before the host answered";

const PROGRAM = `
type Event = { data: { url: { query: Record<string, string> }; body: { text: string } } };
const base = (event: Event) => event.data.url.query.base;

export function fire_and_return(event: Event) {
  for (let i = 0; i < 16; i++) fetch(base(event) + "/hang").catch(() => {});
}

export async function hold(event: Event) {
  await Promise.all(Array.from({ length: 16 }, () =>
    fetch(base(event) + "/hang").catch((e) => console.log("refused: " + (e as Error).message))));
  await new Promise((r) => setTimeout(r, 60_000));
}

export async function post_big(event: Event) {
  const body = new Uint8Array(5 * 1024 * 1024);
  const refused: string[] = [];
  for (let i = 0; i < 8; i++)
    fetch(base(event) + "/hang", { method: "POST", body }).catch((e) => refused.push((e as Error).message));
  // Two of the eight are refused, at once; the others are never answered.
  for (let waited = 0; refused.length < 2 && waited < 10_000; waited += 50)
    await new Promise((r) => setTimeout(r, 50));
  return { refused };
}

async function rsaKey(event: Event) {
  const der = Uint8Array.from(atob(event.data.body.text), (c) => c.charCodeAt(0));
  return crypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
}

export async function sign_flood(event: Event) {
  const key = await rsaKey(event);
  const data = new Uint8Array(32);
  await Promise.all(Array.from({ length: 1000 }, () => crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, data)));
  return { signed: 1000 };
}

export async function sign_and_return(event: Event) {
  const key = await rsaKey(event);
  const data = new Uint8Array(32);
  for (let i = 0; i < 1000; i++) crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, data).catch(() => {});
}

export async function sign_loop(event: Event) {
  const key = await rsaKey(event);
  const data = new Uint8Array(32);
  for (;;) await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, data);
}
`;

const BYSTANDER = `
export async function fetch_ok(event: { data: { url: { query: Record<string, string> } } }) {
  const response = await fetch(event.data.url.query.base + "/ok");
  return { text: await response.text() };
}

export async function digest_ok() {
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(1));
  return { bytes: digest.byteLength };
}
`;

let t: TestServer;
let hoarder: DeployResult;
let holder: DeployResult;
let signer: DeployResult;
let bystander: DeployResult;
let mock: Server;
let mockBase: string;
/** Requests to /hang the mock holds open now, and has seen in all. */
let open = 0;
let seen = 0;
let pkcs8: string;

beforeAll(async () => {
  mock = createServer((req, res) => {
    if (req.url === "/ok") return void res.end("ok");
    // "/stall" reads nothing: the client is left writing (and holding) its body.
    if (req.url === "/stall") return;
    // Never answered: the request stays open until the client lets it go.
    open += 1;
    seen += 1;
    req.resume();
    res.on("close", () => (open -= 1));
  });
  await new Promise<void>((resolve) => mock.listen(0, "127.0.0.1", resolve));
  mockBase = `http://127.0.0.1:${(mock.address() as AddressInfo).port}`;
  pkcs8 = generateKeyPairSync("rsa", { modulusLength: 4096 })
    .privateKey.export({ type: "pkcs8", format: "der" })
    .toString("base64");

  t = await startTestServer({ fetchAllowPrivate: true, limits: { sessionCpuMs: CPU_BUDGET_MS } });
  const allow = `  allow_net: ["127.0.0.1:${new URL(mockBase).port}"]`;
  const deploy = async (project: string, program: string, triggers: string[], sync = true) => {
    const response = await t.deployFiles({
      "autokitteh.yaml": manifest(
        project,
        triggers.map((name) => ({ name, call: `program.ts:${name}`, is_sync: sync })),
        allow,
      ),
      "program.ts": program,
    });
    expect(response.status).toBe(201);
    return (await response.json()) as DeployResult;
  };
  hoarder = await deploy("hoarder", PROGRAM, [
    "fire_and_return",
    "post_big",
    "sign_flood",
    "sign_and_return",
  ]);
  holder = await deploy("holder", PROGRAM, ["hold"], false);
  signer = await deploy("signer", PROGRAM, ["sign_loop"], false);
  bystander = await deploy("bystander", BYSTANDER, ["fetch_ok", "digest_ok"]);
}, 60_000);
afterAll(async () => {
  await t.close();
  mock.closeAllConnections();
  mock.close();
});
afterEach(async () => {
  // Another project's fetch still goes through.
  expect(await callJson(bystander, "fetch_ok")).toEqual({ text: "ok" });
});

function call(project: DeployResult, trigger: string, body?: string) {
  const url = `${t.webhook(project, trigger)}?base=${encodeURIComponent(mockBase)}`;
  return fetch(url, { method: "POST", body });
}

async function callJson(project: DeployResult, trigger: string) {
  const response = await call(project, trigger);
  return (await response.json()) as unknown;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("fetch", () => {
  it("aborts a session's fetches when it ends, so returning sessions cannot hoard them", async () => {
    const before = seen;
    let last = "";
    for (let i = 0; i < 17; i++) {
      const response = await call(hoarder, "fire_and_return");
      expect(response.status).toBe(204);
      last = response.headers.get("isohook-session-id")!;
    }
    await t.waitForSession(last);
    expect(seen).toBeGreaterThan(before);
    await until("every request the sessions made is let go", () => open === 0, 3000);

    const log = await t.log(last);
    const fetches = log.filter((entry) => entry.kind === "call" && entry.data.binding === "fetch");
    expect(fetches).toHaveLength(16);
    for (const entry of fetches) expect(entry.data.error).toBe(CANCELLED);
    expect(log.at(-1)!.data).toEqual({ state: "completed" });
  });

  it("holds at most 64 fetches of one project in flight, and ends them when its sessions stop", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await call(holder, "hold");
      expect(response.status).toBe(202);
      ids.push(response.headers.get("isohook-session-id")!);
    }
    const refusals = async () => {
      const logs = await Promise.all(ids.map((id) => t.log(id)));
      return logs.flat().filter((entry) => entry.kind === "print");
    };
    await until("64 fetches are in flight and 16 refused", async () => {
      return open === 64 && (await refusals()).length === 16;
    });
    for (const print of await refusals()) {
      expect(print.data.text).toBe(
        "refused: fetch: a project may have at most 64 fetches in flight; try again later",
      );
    }
    // Another project's fetch goes through meanwhile (afterEach), and stopping ends them all.
    expect(await callJson(bystander, "fetch_ok")).toEqual({ text: "ok" });
    for (const id of ids) {
      const stopped = await t.api("POST", `/api/sessions/${id}/stop`);
      expect(stopped.status).toBe(200);
    }
    await until("the stopped sessions' requests are let go", () => open === 0, 3000);
  });

  it("counts request bodies against the bytes a session's fetches may hold", async () => {
    const response = await call(hoarder, "post_big");
    expect(await response.json()).toEqual({
      refused: Array(2).fill(
        "fetch: a session's fetches may hold at most 32 MiB of bodies at once",
      ),
    });
    await until("the posts are let go", () => open === 0, 3000);
  });

  it("counts request bodies per session, per project and for the server, until they finish", async () => {
    const fetcher = new Fetcher(true);
    const policy: FetchPolicy = {
      allowNet: [new URL(mockBase).host],
      allowPrivate: true,
      timeoutMs: 30_000,
      maxResponseBytes: 1024,
    };
    const ended = new AbortController();
    const body = new Uint8Array(10 * MIB);
    const post = (sessionId: string, project: string) =>
      fetcher
        .fetch(
          { sessionId, project },
          { url: `${mockBase}/stall`, method: "POST", headers: [], body, redirect: "follow" },
          policy,
          ended.signal,
        )
        .then(
          () => "answered",
          (error: Error) => error.message,
        );
    try {
      // A session holds 3 bodies of 10 MiB, a project 6, the server 25.
      const session = [1, 2, 3, 4].map(() => post("s", "p"));
      const project = [1, 2, 3, 4].map((i) => post(`s${i}`, "p"));
      const server = Array.from({ length: 20 }, (_, i) => post(`t${i}`, `q${i % 4}`));
      expect(fetcher.bytesInFlight).toBe(25 * 10 * MIB);
      expect(await session[3]).toBe(
        "fetch: a session's fetches may hold at most 32 MiB of bodies at once",
      );
      expect(await project[3]).toBe(
        "fetch: a project's fetches may hold at most 64 MiB of bodies at once; try again later",
      );
      expect(await server[19]).toBe(
        "fetch: the server holds too many bytes of fetches in flight; try again later",
      );

      ended.abort(new HostWorkCancelledError("the session ended"));
      const held = [...session.slice(0, 3), ...project.slice(0, 3), ...server.slice(0, 19)];
      for (const result of await Promise.all(held)) expect(result).toBe("the session ended");
      expect(fetcher.inFlight).toBe(0);
      expect(fetcher.bytesInFlight).toBe(0);
    } finally {
      mock.closeAllConnections();
      await fetcher.close();
    }
  });
});

describe("crypto.subtle", () => {
  it("charges crypto work to the session's CPU budget, and ends it there", async () => {
    const started = Date.now();
    const response = await call(hoarder, "sign_flood", pkcs8);
    expect(response.status).toBe(502);
    const session = await t.waitForSession(response.headers.get("isohook-session-id")!);
    expect(session).toMatchObject({ state: "error", error: "cpu time limit" });
    expect(session.cpu_ms as number).toBeGreaterThan(CPU_BUDGET_MS);
    expect(session.cpu_ms as number).toBeLessThan(CPU_BUDGET_MS + 500);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("drops a session's queued crypto work when it ends", async () => {
    const response = await call(hoarder, "sign_and_return", pkcs8);
    expect(response.status).toBe(204);
    const id = response.headers.get("isohook-session-id")!;
    await t.waitForSession(id);

    // The server process is this one: once the session has ended, it should be idle.
    const before = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeLessThan(250);

    const signs = (await t.log(id)).filter(
      (e) => e.kind === "call" && e.data.binding === "crypto_sign",
    );
    expect(signs).toHaveLength(1000);
    expect(signs.filter((e) => e.data.error === CANCELLED).length).toBeGreaterThan(990);
  });

  it("answers another project's crypto work promptly while one project floods the slots", async () => {
    // 100 sessions signing in a loop, ~10 ms a signature: served first come first served, a
    // digest would wait behind one signature of each (half a second or more); served fairly,
    // behind one at most.
    const ids = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const response = await call(signer, "sign_loop", pkcs8);
        expect(response.status).toBe(202);
        return response.headers.get("isohook-session-id")!;
      }),
    );
    try {
      const signing = t.db().prepare(
        `SELECT COUNT(DISTINCT session_id) AS n FROM session_log
         WHERE session_id IN (SELECT value FROM json_each(?)) AND kind = 'call'
           AND data ->> 'binding' = 'crypto_sign'`,
      );
      await until(
        "every flooding session has signed",
        () => (signing.get(JSON.stringify(ids)) as { n: number }).n === ids.length,
        10_000,
      );
      // The fastest of three, so that one slow start of a session on a busy machine is no failure.
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        expect(await callJson(bystander, "digest_ok")).toEqual({ bytes: 32 });
        waits.push(performance.now() - started);
      }
      expect(Math.min(...waits)).toBeLessThan(150);
    } finally {
      await Promise.all(ids.map((id) => t.api("POST", `/api/sessions/${id}/stop`)));
      await Promise.all(ids.map((id) => t.waitForSession(id)));
    }
  });
});
