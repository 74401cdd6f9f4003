// The web APIs of the sandbox, used from a handler: URL, base64, structuredClone, crypto, fetch.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
const hex = (buffer: ArrayBuffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
const bytes = (text: string) => new TextEncoder().encode(text);
const attempt = async (fn: () => unknown) => {
  try { return await fn(); } catch (error) { return (error as Error).name + ": " + (error as Error).message; }
};

export function url() {
  const u = new URL("../b?x=1&y=2&x=3#frag", "https://user:pw@EXAMPLE.com:443/a/c");
  const params = new URLSearchParams("a=1&b=%20two&a=3");
  params.append("c", "é");
  return { href: u.href, origin: u.origin, all: u.searchParams.getAll("x"), params: params.toString(), idna: new URL("https://mañana.com/").host };
}

export function base64() {
  return { btoa: btoa("\\u00ff\\u0000abc"), atob: atob(" YW Jj\\n"), bad: (() => { try { atob("a"); return "accepted"; } catch (e) { return (e as Error).name; } })() };
}

export function clone() {
  const cyclic: Record<string, unknown> = { n: 1 };
  cyclic.self = cyclic;
  const copy = structuredClone({ cyclic, date: new Date(5), set: new Set([1]), bytes: new Uint8Array([7]) }) as any;
  return { cycle: copy.cyclic.self === copy.cyclic, date: copy.date.getTime(), set: [...copy.set], byte: copy.bytes[0], fn: (() => { try { structuredClone(() => 1); return "cloned"; } catch (e) { return (e as Error).name; } })() };
}

export function clone_kinds() {
  const buffer = new ArrayBuffer(8);
  const shared = { s: 1 };
  const sparse: unknown[] & { extra?: number } = [1, , shared];
  sparse.extra = 2;
  const value = {
    map: new Map<unknown, unknown>([[shared, "v"]]), set: new Set([shared]), date: new Date(9), regexp: /a/gi,
    error: new RangeError("r", { cause: shared }), dom: new DOMException("d", "DataCloneError"),
    buffer, u16: new Uint16Array(buffer, 2, 2), view: new DataView(buffer), big: 3n, wrapped: Object("s"), sparse,
  };
  const c = structuredClone(value) as typeof value;
  const refused: Record<string, string> = {};
  const samples: Record<string, unknown> = { weakMap: new WeakMap(), promise: Promise.resolve(), url: new URL("https://a.example/"), headers: new Headers(), symbol: Symbol("s"), proxiedFunction: new Proxy(() => 1, {}) };
  for (const [name, sample] of Object.entries(samples)) {
    try { structuredClone(sample); refused[name] = "cloned"; } catch (e) { refused[name] = (e as Error).name + (e instanceof DOMException ? " (DOMException " + e.code + ")" : ""); }
  }
  let transfer: string;
  try { structuredClone(buffer, { transfer: [buffer] } as never); transfer = "transferred"; } catch (e) { transfer = (e as Error).name; }
  return {
    kinds: [c.map instanceof Map, c.set instanceof Set, c.date instanceof Date, c.regexp instanceof RegExp, c.error instanceof RangeError, c.dom instanceof DOMException, c.buffer instanceof ArrayBuffer, c.u16 instanceof Uint16Array, c.view instanceof DataView, Array.isArray(c.sparse)],
    sharedKept: [...c.map.keys()][0] === [...c.set][0] && c.error.cause === [...c.set][0],
    oneBuffer: c.u16.buffer === c.buffer && c.view.buffer === c.buffer,
    values: [c.date.getTime(), String(c.regexp), c.error.message, c.dom.name, c.big, String(c.wrapped), c.u16.byteOffset].map(String),
    sparse: [1 in c.sparse, c.sparse.length, c.sparse.extra],
    refused,
    transfer,
  };
}

export async function crypto_apis() {
  const hmac = await crypto.subtle.importKey("raw", bytes("It's a Secret to Everybody"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const signature = await crypto.subtle.sign("HMAC", hmac, bytes("Hello, World!"));
  const sha512 = await crypto.subtle.importKey("raw", bytes("k"), { name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
  await crypto.subtle.importKey("jwk", { kty: "oct", k: "SldLLW1hdGVyaWFsLW5ldmVyLWxvZ2dlZA", alg: "HS256" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return {
    github: hex(signature),
    verified: await crypto.subtle.verify("HMAC", hmac, signature, bytes("Hello, World!")),
    tampered: await crypto.subtle.verify("HMAC", hmac, signature, bytes("Hello, World?")),
    sha1: hex(await crypto.subtle.digest("SHA-1", bytes("abc"))),
    sha256: hex(await crypto.subtle.digest({ name: "SHA-256" }, bytes("abc"))),
    sha384: hex(await crypto.subtle.digest("SHA-384", bytes(""))).slice(0, 16),
    sha512: hex(await crypto.subtle.sign("HMAC", sha512, bytes("m"))).length,
    uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
    random: crypto.getRandomValues(new Uint32Array(8)).some((n) => n !== 0),
    tooMuch: await attempt(() => crypto.getRandomValues(new Uint8Array(65537))),
    floats: await attempt(() => crypto.getRandomValues(new Float32Array(2) as never)),
    md5: await attempt(() => crypto.subtle.digest("MD5", bytes("x"))),
    wrongUsage: await attempt(() => crypto.subtle.sign("HMAC", sha512 as never, bytes("m")).then(() => crypto.subtle.verify("HMAC", sha512, new Uint8Array(64), bytes("m")))),
    fakeKey: await attempt(() => crypto.subtle.sign("HMAC", {} as never, bytes("m"))),
    newKey: await attempt(() => new (CryptoKey as any)()),
    equal: [crypto.subtle.timingSafeEqual(bytes("ab"), bytes("ab")), crypto.subtle.timingSafeEqual(bytes("ab"), bytes("ac"))],
    lengths: await attempt(() => crypto.subtle.timingSafeEqual(bytes("a"), bytes("ab"))),
  };
}

export async function ed25519(event: { data: { body: { json: { key: string; signature: string; message: string } } } }) {
  const { key, signature, message } = event.data.body.json;
  const fromHex = (h: string) => new Uint8Array(h.match(/../g)!.map((b) => parseInt(b, 16)));
  const publicKey = await crypto.subtle.importKey("raw", fromHex(key), { name: "Ed25519" }, false, ["verify"]);
  return {
    good: await crypto.subtle.verify("Ed25519", publicKey, fromHex(signature), bytes(message)),
    bad: await crypto.subtle.verify("Ed25519", publicKey, fromHex(signature), bytes(message + "!")),
  };
}

export function random_per_session() {
  return { math: Math.random(), uuid: crypto.randomUUID() };
}

export async function fetch_apis(event: { data: { url: { query: Record<string, string> } } }) {
  const base = event.data.url.query.base;
  const response = await fetch(base + "/echo?q=1", { method: "POST", headers: { "X-Test": "yes" }, body: JSON.stringify({ a: 1 }) });
  const redirected = await fetch(base + "/redirect-here");
  return {
    status: response.status,
    header: response.headers.get("x-seen"),
    body: await response.json(),
    url: response.url,
    redirected: [redirected.status, redirected.redirected, await redirected.text()],
    manual: (await fetch(base + "/redirect-here", { redirect: "manual" })).status,
    away: await attempt(() => fetch(base + "/redirect-away")),
    notAllowed: await attempt(() => fetch("https://example.org/")),
    ftp: await attempt(() => fetch("ftp://example.org/")),
    relative: await attempt(() => fetch("/relative")),
    trace: await attempt(() => fetch(base, { method: "TRACE" })),
    getBody: await attempt(() => fetch(base, { method: "GET", body: "x" })),
    big: await attempt(() => fetch(base + "/big")),
  };
}

export async function fetch_many(event: { data: { url: { query: Record<string, string> } } }) {
  const base = event.data.url.query.base;
  const results = await Promise.all(Array.from({ length: 20 }, () => fetch(base + "/slow").then((r) => r.status, (e) => (e as Error).message)));
  const wrongLength = await fetch(base + "/echo", { method: "POST", body: "12345", headers: { "Content-Length": "1", Host: "evil.example" } });
  return { ok: results.filter((r) => r === 200).length, refused: results.filter((r) => typeof r === "string"), echoed: await wrongLength.json() };
}

export async function fetch_refused(event: { data: { url: { query: Record<string, string> } } }) {
  const port = event.data.url.query.port;
  const out: Record<string, string> = {};
  for (const target of ["127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "127.1"]) {
    out[target] = String(await attempt(() => fetch("http://" + target + ":" + port + "/echo").then((r) => "reached " + r.status)));
  }
  return out;
}
`;

let t: TestServer;
let lax: TestServer;
let p: DeployResult;
let laxProject: DeployResult;
let mock: Server;
let mockBase: string;
const requestsSeen: string[] = [];

const triggers = [
  "url",
  "base64",
  "clone",
  "clone_kinds",
  "crypto_apis",
  "ed25519",
  "random_per_session",
  "fetch_apis",
  "fetch_many",
  "fetch_refused",
].map((name) => ({ name, call: `program.ts:${name}`, is_sync: true }));

async function call(
  server: TestServer,
  project: DeployResult,
  trigger: string,
  query = "",
  body?: string,
) {
  const response = await fetch(server.webhook(project, trigger) + query, { method: "POST", body });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, any>;
}

beforeAll(async () => {
  mock = createServer((req, res) => {
    requestsSeen.push(`${req.method} ${req.url}`);
    if (req.url === "/redirect-here") return void res.writeHead(302, { location: "/echo" }).end();
    if (req.url === "/redirect-away")
      return void res.writeHead(307, { location: "http://10.0.0.1/" }).end();
    if (req.url === "/big") return void res.end(Buffer.alloc(128 * 1024));
    if (req.url === "/slow") return void setTimeout(() => res.end("slow"), 300);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(200, {
        "content-type": "application/json",
        "x-seen": String(req.headers["x-test"] ?? ""),
      });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => mock.listen(0, "127.0.0.1", resolve));
  mockBase = `http://127.0.0.1:${(mock.address() as AddressInfo).port}`;

  // Loopback is refused unless the server allows private addresses; the fetch tests need a
  // local peer, so they run on a second server that does, with the mock in allow_net.
  t = await startTestServer();
  lax = await startTestServer({ fetchAllowPrivate: true, limits: { maxBodyBytes: 64 * 1024 } });
  const files = (allow: string) => ({
    "autokitteh.yaml": manifest("web", triggers, `  allow_net: [${allow}]`),
    "program.ts": PROGRAM,
  });
  const strictResponse = await t.deployFiles(
    files('"127.0.0.1", "localhost", "[::1]", "example.com"'),
  );
  p = (await strictResponse.json()) as DeployResult;
  const laxResponse = await lax.deployFiles(files(`"127.0.0.1:${new URL(mockBase).port}"`));
  laxProject = (await laxResponse.json()) as DeployResult;
});
afterAll(async () => {
  await t.close();
  await lax.close();
  mock.close();
});

describe("URL and friends", () => {
  it("parse URLs as the WHATWG URL Standard does", async () => {
    expect(await call(t, p, "url")).toEqual({
      href: "https://user:pw@example.com/b?x=1&y=2&x=3#frag",
      origin: "https://example.com",
      all: ["1", "3"],
      params: "a=1&b=+two&a=3&c=%C3%A9",
      idna: "xn--maana-pta.com",
    });
  });

  it("encode and decode base64 like browsers", async () => {
    expect(await call(t, p, "base64")).toEqual({
      btoa: "/wBhYmM=",
      atob: "abc",
      bad: "InvalidCharacterError",
    });
  });

  it("clone with the structured clone algorithm", async () => {
    expect(await call(t, p, "clone")).toEqual({
      cycle: true,
      date: 5,
      set: [1],
      byte: 7,
      fn: "DataCloneError",
    });
  });

  it("clone into this realm's own kinds, and refuse what cannot be cloned", async () => {
    expect(await call(t, p, "clone_kinds")).toEqual({
      kinds: Array(10).fill(true),
      sharedKept: true,
      oneBuffer: true,
      values: ["9", "/a/gi", "r", "DataCloneError", "3", "s", "2"],
      sparse: [false, 3, 2],
      refused: {
        weakMap: "DataCloneError (DOMException 25)",
        promise: "DataCloneError (DOMException 25)",
        url: "DataCloneError (DOMException 25)",
        headers: "DataCloneError (DOMException 25)",
        symbol: "DataCloneError (DOMException 25)",
        proxiedFunction: "DataCloneError (DOMException 25)",
      },
      transfer: "DataCloneError",
    });
  });
});

describe("crypto", () => {
  it("signs, verifies and digests with real test vectors", async () => {
    const result = await call(t, p, "crypto_apis");
    expect(result).toMatchObject({
      github: "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      verified: true,
      tampered: false,
      sha1: "a9993e364706816aba3e25717850c26c9cd0d89d",
      sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      sha384: "38b060a751ac9638",
      sha512: 128,
      uuid: true,
      random: true,
      equal: [true, false],
    });
    expect(result.tooMuch).toMatch(/^QuotaExceededError: /);
    expect(result.floats).toMatch(/^TypeMismatchError: /);
    expect(result.md5).toMatch(/^NotSupportedError: /);
    expect(result.wrongUsage).toMatch(/^InvalidAccessError: /);
    expect(result.fakeKey).toMatch(/^TypeError: crypto.subtle: key must be a CryptoKey/);
    expect(result.newKey).toBe("TypeError: Illegal constructor");
    expect(result.lengths).toMatch(/^TypeError: /);
  });

  it("verifies Ed25519 signatures made with a key generated here", async () => {
    const { webcrypto } = await import("node:crypto");
    const pair = (await webcrypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ])) as {
      publicKey: import("node:crypto").webcrypto.CryptoKey;
      privateKey: import("node:crypto").webcrypto.CryptoKey;
    };
    const raw = Buffer.from(await webcrypto.subtle.exportKey("raw", pair.publicKey));
    const message = "1700000000" + '{"type":1}';
    const signature = Buffer.from(
      await webcrypto.subtle.sign("Ed25519", pair.privateKey, Buffer.from(message)),
    );
    const body = JSON.stringify({
      key: raw.toString("hex"),
      signature: signature.toString("hex"),
      message,
    });
    expect(await call(t, p, "ed25519", "", body)).toEqual({ good: true, bad: false });
  });

  it("gives each session its own random numbers", async () => {
    const seen = await Promise.all(
      Array.from({ length: 20 }, () => call(t, p, "random_per_session")),
    );
    expect(new Set(seen.map((s) => s.math)).size).toBe(20);
    expect(new Set(seen.map((s) => s.uuid)).size).toBe(20);
  });

  it("logs key material and data by size only", async () => {
    const response = await fetch(t.webhook(p, "crypto_apis"), { method: "POST" });
    const id = response.headers.get("isohook-session-id")!;
    await t.waitForSession(id);
    const imported = (await t.log(id)).filter(
      (l) => l.kind === "call" && l.data.binding === "crypto_import_key",
    );
    expect(imported.map((l) => l.data.args[1])).toEqual([
      "<key material>",
      "<key material>",
      "<key material>",
    ]);
    const log = JSON.stringify(await t.log(id));
    expect(log).not.toContain("Secret to Everybody");
    expect(log).not.toContain("SldLLW1hdGVyaWFsLW5ldmVyLWxvZ2dlZA");
  });
});

describe("fetch", () => {
  it("reaches an allowed host, follows redirects it may follow, and refuses the rest", async () => {
    const result = await call(
      lax,
      laxProject,
      "fetch_apis",
      `?base=${encodeURIComponent(mockBase)}`,
    );
    expect(result.status).toBe(200);
    expect(result.header).toBe("yes");
    expect(result.body).toEqual({ method: "POST", url: "/echo?q=1", body: '{"a":1}' });
    expect(result.url).toBe(`${mockBase}/echo?q=1`);
    expect(result.redirected).toEqual([
      200,
      true,
      JSON.stringify({ method: "GET", url: "/echo", body: "" }),
    ]);
    expect(result.manual).toBe(302);
    expect(result.away).toBe(
      "TypeError: fetch: 10.0.0.1 is not in the project's allow_net (allow_net is " +
        `127.0.0.1:${new URL(mockBase).port})`,
    );
    expect(result.notAllowed).toMatch(
      /^TypeError: fetch: example.org is not in the project's allow_net/,
    );
    expect(result.ftp).toMatch(/^TypeError: fetch: only http and https/);
    expect(result.relative).toMatch(/^TypeError: fetch: "\/relative" is not an absolute URL/);
    expect(result.trace).toMatch(/^TypeError: Request: the method TRACE is not allowed/);
    expect(result.getBody).toMatch(/^TypeError: Request: a GET request cannot have a body/);
    expect(result.big).toMatch(/larger than 65536 bytes/);
  });

  it("holds at most 16 fetches of a session in flight, and sets framing headers itself", async () => {
    const result = await call(
      lax,
      laxProject,
      "fetch_many",
      `?base=${encodeURIComponent(mockBase)}`,
    );
    expect(result.ok).toBe(16);
    expect(result.refused).toEqual(
      Array(4).fill("fetch: a session may have at most 16 fetches in flight"),
    );
    expect(result.echoed).toEqual({ method: "POST", url: "/echo", body: "12345" });
  });

  it("refuses loopback in every spelling, even when allow_net names it, without sending anything", async () => {
    const before = requestsSeen.length;
    const port = new URL(mockBase).port;
    const result = await call(t, p, "fetch_refused", `?port=${port}`);
    for (const [target, outcome] of Object.entries(result)) {
      expect(outcome, target).toMatch(/^TypeError: fetch: /);
      expect(outcome, target).toMatch(/not a public address|not in the project's allow_net/);
    }
    expect(requestsSeen.length).toBe(before);
  });
});
