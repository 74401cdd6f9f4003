// Sessions of a deployment share one realm, so any object one session can reach and change
// that another session also reaches is a channel between them. Here user code walks everything
// it can reach, from the global object and from values of every kind the runtime hands out,
// and reports what is shared and not frozen; then one session tries to plant a spy in the
// places such leaks were found, and later sessions show it is not there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
import * as autokitteh from "autokitteh";

const MAX_REPORTED = 100;

/** Values of every kind the runtime makes, and of the hidden built-ins user code can reach. */
async function samples(event: unknown): Promise<[string, unknown][]> {
  const caught = (fn: () => unknown) => { try { fn(); return null; } catch (error) { return error; } };
  const url = new URL("https://user:pw@example.com:8080/a/b?x=1&y=2#h");
  const params = new URLSearchParams("a=1&b=2");
  const headers = new Headers({ "x-a": "1", "set-cookie": "c=1" });
  const request = new Request("https://example.com/p", { method: "POST", body: "x", headers: { "x-b": "2" } });
  const response = new Response("body", { status: 201, headers: { "x-c": "3" } });
  const encoder = new TextEncoder();
  const clonedMap = structuredClone(new Map<unknown, unknown>([[1, { a: 1 }], [{ k: 1 }, new Set([1])]])) as Map<unknown, unknown>;
  const clonedSet = structuredClone(new Set([1, 2])) as Set<number>;
  const key = await crypto.subtle.importKey("raw", new Uint8Array(16), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const out: [string, unknown][] = [
    ["event", event],
    ["url", url],
    ["url.searchParams", url.searchParams],
    ["url.searchParams.entries()", url.searchParams.entries()],
    ["url.searchParams.keys()", url.searchParams.keys()],
    ["url.searchParams.values()", url.searchParams.values()],
    ["url.searchParams[Symbol.iterator]()", url.searchParams[Symbol.iterator]()],
    ["new URL(relative, base)", new URL("../c?d=4", url)],
    ["params", params],
    ["new URLSearchParams(record)", new URLSearchParams({ a: "1" })],
    ["new URLSearchParams(pairs)", new URLSearchParams([["a", "1"]])],
    ["params.entries()", params.entries()],
    ["headers", headers],
    ["headers.entries()", headers.entries()],
    ["headers.keys()", headers.keys()],
    ["headers.values()", headers.values()],
    ["headers[Symbol.iterator]()", headers[Symbol.iterator]()],
    ["request", request],
    ["request.headers", request.headers],
    ["request.clone()", request.clone()],
    ["request.text()", request.text()],
    ["response", response],
    ["response.headers", response.headers],
    ["response.clone()", response.clone()],
    ["response.arrayBuffer()", await response.arrayBuffer()],
    ["Response.json()", Response.json({ a: [1] })],
    ["Response.error()", Response.error()],
    ["Response.redirect()", Response.redirect("https://example.com/r", 301)],
    ["encoder", encoder],
    ["encoder.encode()", encoder.encode("é")],
    ["encoder.encodeInto()", encoder.encodeInto("a", new Uint8Array(4))],
    ["decoder", new TextDecoder("utf-8", { fatal: true })],
    ["DOMException", new DOMException("m", "DataCloneError")],
    ["atob error", caught(() => atob("*"))],
    ["URL error", caught(() => new URL("not a url"))],
    ["Headers error", caught(() => new Headers({ "bad name": "x" }))],
    ["structuredClone error", caught(() => structuredClone(() => 1))],
    ["clonedMap", clonedMap],
    ["clonedMap.entries()", clonedMap.entries()],
    ["clonedSet", clonedSet],
    ["clonedSet.values()", clonedSet.values()],
    ["structuredClone(object)", structuredClone({ d: new Date(0), r: /x/g, b: new Uint8Array(2), e: new RangeError("r", { cause: 1 }), a: [1, , 3] })],
    ["crypto.getRandomValues()", crypto.getRandomValues(new Uint8Array(4))],
    ["crypto.subtle.digest()", await crypto.subtle.digest("SHA-256", new Uint8Array(1))],
    ["CryptoKey", key],
    ["key.algorithm", key.algorithm],
    ["fetch error", await fetch("ftp://example.com/").catch((error: unknown) => error)],
    ["next_event error", await autokitteh.next_event("").catch((error: unknown) => error)],
    ["function* instance", function* () { yield 1; }],
    ["generator", (function* () { yield 1; })()],
    ["async function", async () => {}],
    ["async generator", (async function* () {})()],
    ["array iterator", [][Symbol.iterator]()],
    ["map iterator", new Map().entries()],
    ["set iterator", new Set().values()],
    ["string iterator", ""[Symbol.iterator]()],
    ["regexp string iterator", "a".matchAll(/a/g)],
    ["arguments", (function (..._: unknown[]) { return arguments; })(1)],
    ["promise", Promise.resolve(1)],
  ];
  return out;
}

/**
 * Every object and function reachable from the roots through own properties (string and symbol
 * keys, values, getters and setters) and prototypes. An object counts as shared when it is
 * reachable from a shared root, or from two separately made sets of samples; each shared one
 * must be frozen. Returns the paths of those that are not.
 */
function unfrozenShared(groups: [group: string, roots: [string, unknown][]][]) {
  const reached = new Map<object, { groups: Set<string>; path: string }>();
  for (const [group, roots] of groups) {
    const queue: [unknown, string][] = roots.map(([name, value]) => [value, name]);
    const seen = new Set<object>();
    for (let i = 0; i < queue.length; i++) {
      const [value, path] = queue[i]!;
      if (value === null || (typeof value !== "object" && typeof value !== "function")) continue;
      const object = value as object;
      if (seen.has(object)) continue;
      seen.add(object);
      const entry = reached.get(object) ?? { groups: new Set<string>(), path };
      entry.groups.add(group);
      reached.set(object, entry);
      queue.push([Reflect.getPrototypeOf(object), path + ".__proto__"]);
      for (const key of Reflect.ownKeys(object)) {
        if (ArrayBuffer.isView(object) && typeof key === "string") continue;
        const name = path + "." + String(key);
        const descriptor = Reflect.getOwnPropertyDescriptor(object, key)!;
        queue.push([descriptor.value, name], [descriptor.get, name + "<get>"], [descriptor.set, name + "<set>"]);
      }
    }
  }
  const unfrozen: string[] = [];
  for (const [object, { groups, path }] of reached) {
    const shared = groups.has("shared") || groups.size > 1;
    if (shared && !Object.isFrozen(object)) unfrozen.push(path);
  }
  return { walked: reached.size, unfrozen: unfrozen.slice(0, MAX_REPORTED), count: unfrozen.length };
}

export async function walk(event: unknown) {
  return unfrozenShared([
    ["shared", [["globalThis", globalThis], ["autokitteh", (autokitteh as any).default]]],
    // esbuild's namespace object is made per session; the module under it is shared.
    ["first", [["autokitteh namespace", autokitteh], ...(await samples(event))]],
    ["second", await samples(null)],
  ]);
}

/** Where the leaks were: whatwg-url's implementation objects, and the Map that clones were made of. */
function targets() {
  const url = new URL("https://a.example/?q=1");
  const impl = (url as any)[Object.getOwnPropertySymbols(url)[0]!];
  const params = url.searchParams as any;
  return {
    urlImpl: Object.getPrototypeOf(impl),
    paramsImpl: Object.getPrototypeOf(params[Object.getOwnPropertySymbols(params)[0]!]),
    paramsIterator: Object.getPrototypeOf(params.entries()),
    clonedMap: Object.getPrototypeOf(structuredClone(new Map())),
    clonedSet: Object.getPrototypeOf(structuredClone(new Set())),
  } as Record<string, any>;
}

export function tamper() {
  const results: Record<string, string> = {};
  const attempt = (name: string, change: () => void) => {
    try { change(); results[name] = "allowed"; } catch (error) { results[name] = (error as Error).name; }
  };
  const stash: unknown[] = [];
  const found = targets();
  for (const [name, target] of Object.entries(found)) {
    attempt(name + ".stash", () => Object.defineProperty(target, "stash", { value: stash }));
  }
  attempt("urlImpl.href", () => {
    const read = Object.getOwnPropertyDescriptor(found.urlImpl, "href")!.get!;
    Object.defineProperty(found.urlImpl, "href", { configurable: true, get() { const href = read.call(this); stash.push(href); return href; } });
  });
  attempt("paramsIterator.next", () => {
    const next = found.paramsIterator.next;
    found.paramsIterator.next = function (this: unknown) { const step = next.call(this); stash.push(step.value); return step; };
  });
  for (const name of ["clonedMap", "clonedSet"]) {
    const method = name === "clonedMap" ? "set" : "add";
    attempt(name + "." + method, () => {
      const original = found[name][method];
      found[name][method] = function (this: unknown, ...args: unknown[]) { stash.push(args); return original.apply(this, args); };
    });
  }
  return results;
}

export function victim() {
  const url = new URL("https://victim.example/?token=s3cret");
  const entries = [...new URLSearchParams("token=s3cret").entries()];
  const map = structuredClone(new Map([["token", "s3cret"]])) as Map<string, string>;
  const set = structuredClone(new Set(["s3cret"])) as Set<string>;
  // Frozen implementation objects still let a URL of one's own change.
  const edited = new URL("https://victim.example/");
  edited.search = "?token=s3cret";
  edited.searchParams.append("more", "1");
  edited.searchParams.sort();
  edited.pathname = "/p";
  edited.hash = "h";
  return { href: url.href, edited: edited.href, entries, map: [...map], set: [...set], isMap: map instanceof Map, isSet: set instanceof Set };
}

export function collect() {
  const stashes: Record<string, unknown> = {};
  for (const [name, target] of Object.entries(targets())) stashes[name] = target.stash ?? null;
  return stashes;
}
`;

const HANDLERS = ["walk", "tamper", "victim", "collect"];

let t: TestServer;
let p: DeployResult;

async function call(trigger: string): Promise<any> {
  const response = await fetch(t.webhook(p, trigger), { method: "POST" });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text);
}

beforeAll(async () => {
  t = await startTestServer();
  p = await deployProgram(
    t,
    "leaky",
    PROGRAM,
    HANDLERS.map((name) => ({ name, call: `program.ts:${name}`, is_sync: true })),
  );
});
afterAll(() => t.close());

describe("leak via shared object", () => {
  it("walk: everything user code reaches that another session reaches too is frozen", async () => {
    const result = await call("walk");
    expect(result.walked).toBeGreaterThan(1000);
    expect(result.unfrozen, `${result.count} shared objects not frozen`).toEqual([]);
  });

  it("tamper: a spy planted by one session is refused, and later sessions' data stays theirs", async () => {
    const attempts = await call("tamper");
    expect(Object.keys(attempts).length).toBe(9);
    for (const [name, outcome] of Object.entries(attempts)) expect(outcome, name).toBe("TypeError");

    expect(await call("victim")).toEqual({
      href: "https://victim.example/?token=s3cret",
      edited: "https://victim.example/p?more=1&token=s3cret#h",
      entries: [["token", "s3cret"]],
      map: [["token", "s3cret"]],
      set: ["s3cret"],
      isMap: true,
      isSet: true,
    });
    const stashes = await call("collect");
    expect(JSON.stringify(stashes)).not.toContain("s3cret");
    expect(Object.values(stashes)).toEqual([null, null, null, null, null]);
  });
});
