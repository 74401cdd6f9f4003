// Webhook semantics (SPEC §3): async and sync answers, outcomes, timeouts, failures.
import { request } from "node:http";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram, manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
import { http_outcome, type Event } from "autokitteh";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function echo(event: Event) {
  http_outcome({ json: { event_type: event.event_type, trigger: event.trigger, data: { ...event.data, body: {
    text: event.data.body.text, json: event.data.body.json, form: event.data.body.form,
    bytes: Array.from(event.data.body.bytes) } } } });
}

export function raw(event: Event) {
  http_outcome({ status_code: 200, headers: { "Content-Type": "application/octet-stream" }, body: event.data.body.bytes });
}

export function twice() {
  http_outcome({ status_code: 201, body: "first" });
  http_outcome({ status_code: 202, body: "second" });
}

export function more_then_final() {
  http_outcome({ status_code: 200, body: "progress", more: true });
  http_outcome({ status_code: 200, body: "done" });
}

export async function slow() {
  await sleep(400);
  http_outcome({ body: "too late" });
}

export function fails() {
  throw new Error("boom at /srv/secret/path");
}

export function returns_value() {
  return { ok: true, n: 1 };
}

export function returns_nothing() {}

export async function returns_response() {
  await sleep(1);
  return new Response("created", { status: 201, headers: { "X-Kind": "response" } });
}

export function bad_outcomes() {
  const attempts: Record<string, unknown>[] = [
    { status_code: 99 }, { status_code: 600 }, { status_code: 200.5 }, { status_code: "200" },
    { body: "a", json: {} }, { headers: { "X-Bad": "a\\r\\nInjected: yes" } }, { headers: { "Bad Name": "x" } },
    { more: "yes" }, { statusCode: 200 }, { body: 42 }, { json: () => 1 },
  ];
  const errors = attempts.map((options) => {
    try {
      http_outcome(options as never);
      return "accepted";
    } catch (error) {
      return (error as Error).name + ": " + (error as Error).message;
    }
  });
  http_outcome({ json: errors });
}

export async function background() {
  await sleep(5);
  console.log("background done");
}

export async function waits() {
  await sleep(300);
  http_outcome({ body: "waited" });
}
`;

let t: TestServer;
let project: DeployResult;
const hook = (trigger: string) => t.webhook(project, trigger);

beforeAll(async () => {
  t = await startTestServer({ limits: { maxBodyBytes: 64 * 1024, maxRunning: 50 } });
  const sync = (name: string, extra: object = {}) => ({
    name,
    call: `program.ts:${name}`,
    is_sync: true,
    ...extra,
  });
  project = await deployProgram(t, "webhooks", PROGRAM, [
    sync("echo"),
    sync("raw"),
    sync("twice"),
    sync("more_then_final"),
    sync("slow", { timeout: "150ms" }),
    sync("fails"),
    sync("returns_value"),
    sync("returns_nothing"),
    sync("returns_response"),
    sync("bad_outcomes"),
    sync("waits"),
    { name: "background", call: "program.ts:background" },
    { name: "posts_only", call: "program.ts:background", event_type: "post" },
    { name: "no_call" },
  ]);
});
afterAll(() => t.close());

describe("async webhooks", () => {
  it("answer 202 with empty body and ids, after the event and session are committed", async () => {
    const response = await fetch(hook("background"), { method: "POST", body: "x" });
    expect(response.status).toBe(202);
    expect(await response.text()).toBe("");
    const eventId = response.headers.get("isohook-event-id")!;
    const sessionId = response.headers.get("isohook-session-id")!;
    // Read the file directly, at once: the 202 promised these rows are on disk.
    expect(t.db().prepare("SELECT id FROM events WHERE id = ?").get(eventId)).toEqual({
      id: eventId,
    });
    expect(t.db().prepare("SELECT id FROM sessions WHERE id = ?").get(sessionId)).toEqual({
      id: sessionId,
    });
    await t.waitForSession(sessionId);
    expect(
      (await t.log(sessionId)).some((l) => l.kind === "print" && l.data.text === "background done"),
    ).toBe(true);
  });

  it("a trigger without call only stores the event: 202, no session", async () => {
    const response = await fetch(hook("no_call"), { method: "POST", body: "hello" });
    expect(response.status).toBe(202);
    expect(response.headers.get("isohook-event-id")).toMatch(/^evt_/);
    expect(response.headers.get("isohook-session-id")).toBeNull();
    const count = t
      .db()
      .prepare("SELECT COUNT(*) AS n FROM sessions WHERE event_id = ?")
      .get(response.headers.get("isohook-event-id")) as { n: number };
    expect(count.n).toBe(0);
  });

  it("event_type keeps other methods from starting a session", async () => {
    const get = await fetch(hook("posts_only"));
    expect(get.status).toBe(202);
    expect(get.headers.get("isohook-session-id")).toBeNull();
    const post = await fetch(hook("posts_only"), { method: "POST" });
    expect(post.headers.get("isohook-session-id")).toMatch(/^ses_/);
  });
});

describe("sync webhooks", () => {
  it("deliver the event shape of SPEC §2", async () => {
    const response = await fetch(`${hook("echo")}/a/b%20c?x=1&y=2&x=3`, {
      method: "PUT",
      headers: { "X-Multi": "one", "Content-Type": "application/x-www-form-urlencoded" },
      body: "name=Ada&tag=a&tag=b",
    });
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as Record<string, any>;
    const slug = new URL(hook("echo")).pathname;
    expect(echoed.event_type).toBe("put");
    expect(echoed.trigger).toBe("echo");
    expect(echoed.data.method).toBe("PUT");
    expect(echoed.data.raw_url).toBe(`${slug}/a/b%20c?x=1&y=2&x=3`);
    expect(echoed.data.url).toEqual({
      path: `${slug}/a/b c`,
      query: { x: "1, 3", y: "2" },
      path_suffix: "a/b c",
    });
    expect(echoed.data.headers["x-multi"]).toBe("one");
    expect(echoed.data.body.text).toBe("name=Ada&tag=a&tag=b");
    expect(echoed.data.body.json).toBeNull();
    expect(echoed.data.body.form).toEqual({ name: "Ada", tag: "a, b" });
  });

  it("join repeated headers with a comma and parse JSON whatever the content type", async () => {
    const body = JSON.stringify({ k: [1, 2] });
    const echoed = await new Promise<Record<string, any>>((resolve, reject) => {
      const req = request(
        hook("echo"),
        { method: "POST", headers: { "x-dup": ["a", "b"], "content-type": "text/plain" } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect(echoed.data.headers["x-dup"]).toBe("a, b");
    expect(echoed.data.body.json).toEqual({ k: [1, 2] });
    expect(echoed.data.url.path_suffix).toBe("");
  });

  it("keep the body byte-exact, and text null when it is not UTF-8", async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const response = await fetch(hook("raw"), { method: "POST", body: bytes });
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
    const echoed = (await (
      await fetch(hook("echo"), { method: "POST", body: Buffer.from([0xff, 0xfe, 0x41]) })
    ).json()) as Record<string, any>;
    expect(echoed.data.body.text).toBeNull();
    expect(echoed.data.body.bytes).toEqual([0xff, 0xfe, 0x41]);
  });

  it("reach the program for every method", async () => {
    for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const response = await fetch(hook("returns_value"), { method });
      expect(response.status, method).toBe(200);
      expect(response.headers.get("isohook-session-id"), method).toMatch(/^ses_/);
    }
  });

  it("answer with the first final outcome and log later ones as ignored", async () => {
    const response = await fetch(hook("twice"), { method: "POST" });
    expect(response.status).toBe(201);
    expect(await response.text()).toBe("first");
    expect(response.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const sessionId = response.headers.get("isohook-session-id")!;
    await t.waitForSession(sessionId);
    const outcomes = (await t.log(sessionId))
      .filter((l) => l.kind === "outcome")
      .map((l) => [l.data.body, l.data.disposition]);
    expect(outcomes).toEqual([
      ["first", "sent"],
      ["second", "ignored"],
    ]);
  });

  it("log more: true outcomes without sending them", async () => {
    const response = await fetch(hook("more_then_final"), { method: "POST" });
    expect(await response.text()).toBe("done");
    const sessionId = response.headers.get("isohook-session-id")!;
    await t.waitForSession(sessionId);
    const outcomes = (await t.log(sessionId))
      .filter((l) => l.kind === "outcome")
      .map((l) => [l.data.body, l.data.disposition]);
    expect(outcomes).toEqual([
      ["progress", "intermediate"],
      ["done", "sent"],
    ]);
  });

  it("answer 504 at the trigger's timeout while the session runs on", async () => {
    const started = Date.now();
    const response = await fetch(hook("slow"), { method: "POST" });
    const elapsed = Date.now() - started;
    expect(response.status).toBe(504);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(400);
    const sessionId = response.headers.get("isohook-session-id")!;
    expect(await response.json()).toEqual({
      error: "the session did not respond within 150 ms",
      session_id: sessionId,
    });
    const session = await t.waitForSession(sessionId);
    expect(session.state).toBe("completed");
    const outcome = (await t.log(sessionId)).find((l) => l.kind === "outcome")!;
    expect(outcome.data).toMatchObject({ body: "too late", disposition: "ignored" });
  });

  it("answer 502 naming the session, without stack or path, when it fails first", async () => {
    const response = await fetch(hook("fails"), { method: "POST" });
    expect(response.status).toBe(502);
    const sessionId = response.headers.get("isohook-session-id")!;
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      error: "the session failed before it responded",
      session_id: sessionId,
    });
    expect(text).not.toContain("/srv/secret");
    const session = await t.waitForSession(sessionId);
    expect(session).toMatchObject({ state: "error", error: "Error: boom at /srv/secret/path" });
    const error = (await t.log(sessionId)).find((l) => l.kind === "error")!;
    expect(error.data.stack).toContain("at fails (program.ts:");
  });

  it("answer with a returned value as JSON, undefined as 204, a Response as it is", async () => {
    const value = await fetch(hook("returns_value"), { method: "POST" });
    expect(value.status).toBe(200);
    expect(value.headers.get("content-type")).toBe("application/json");
    expect(await value.text()).toBe('{"ok":true,"n":1}');

    const nothing = await fetch(hook("returns_nothing"), { method: "POST" });
    expect(nothing.status).toBe(204);
    expect(await nothing.text()).toBe("");

    const response = await fetch(hook("returns_response"), { method: "POST" });
    expect(response.status).toBe(201);
    expect(response.headers.get("x-kind")).toBe("response");
    expect(response.headers.get("content-type")).toBe("text/plain;charset=UTF-8");
    expect(await response.text()).toBe("created");
  });

  it("make http_outcome throw a TypeError for every kind of bad argument", async () => {
    const errors = (await (
      await fetch(hook("bad_outcomes"), { method: "POST" })
    ).json()) as string[];
    expect(errors).toHaveLength(11);
    for (const error of errors) expect(error).toMatch(/^TypeError: http_outcome: /);
    expect(errors[0]).toContain("between 100 and 599");
    expect(errors[4]).toContain("not both");
    expect(errors[5]).toContain("not allowed in a header value");
    expect(errors[6]).toContain("invalid header name");
    expect(errors[8]).toContain("unknown option statusCode");
  });

  it("let the session run on when the client disconnects, and log it", async () => {
    const controller = new AbortController();
    const pending = fetch(hook("waits"), { method: "POST", signal: controller.signal }).catch(
      () => null,
    );
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await pending;
    const rows = () =>
      t.db().prepare("SELECT id, state FROM sessions WHERE trigger = 'waits'").all() as {
        id: string;
        state: string;
      }[];
    const [row] = rows();
    const session = await t.waitForSession(row!.id);
    expect(session.state).toBe("completed");
    const log = await t.log(row!.id);
    expect(log.some((l) => l.kind === "note" && /client disconnected/.test(l.data.message))).toBe(
      true,
    );
    expect(log.find((l) => l.kind === "outcome")!.data.disposition).toBe("ignored");
  });
});

describe("refusals", () => {
  it("404 for an unknown slug, storing nothing", async () => {
    const before = (t.db().prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n;
    const response = await fetch(`${t.url}/webhooks/doesnotexist`, { method: "POST", body: "x" });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "no webhook at this address" });
    expect((t.db().prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(
      before,
    );
  });

  it("413 for a declared body over the limit, read by a client still sending", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        hook("echo"),
        { method: "POST", headers: { "content-length": String(4 * 1024 * 1024) } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on("error", reject);
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent < 4 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
  });

  it("413 for a chunked body that grows past the limit", async () => {
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(hook("echo"), { method: "POST" }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }),
        );
      });
      req.on("error", reject);
      for (let i = 0; i < 40; i++) req.write(Buffer.alloc(4096, 2));
      req.end();
    });
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).error).toContain("larger than the limit of 65536 bytes");
  });

  it("decodes gzip, answers 413 to a gzip bomb and 415 to other encodings", async () => {
    const ok = await fetch(hook("echo"), {
      method: "POST",
      headers: { "content-encoding": "gzip" },
      body: gzipSync('{"a":1}'),
    });
    expect(((await ok.json()) as Record<string, any>).data.body.json).toEqual({ a: 1 });

    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const refused = await fetch(hook("echo"), {
      method: "POST",
      headers: { "content-encoding": "gzip" },
      body: bomb,
    });
    expect(refused.status).toBe(413);

    const brotli = await fetch(hook("echo"), {
      method: "POST",
      headers: { "content-encoding": "br" },
      body: "x",
    });
    expect(brotli.status).toBe(415);
  });
});

describe("limits on running sessions", () => {
  it("429 with Retry-After once the server runs its maximum, but each project keeps a reserve", async () => {
    const busy = await startTestServer({ limits: { maxRunning: 2 } });
    try {
      const waits = [{ name: "waits", call: "program.ts:waits", is_sync: true }];
      const flood = await deployProgram(busy, "flood", PROGRAM, waits);
      const other = await deployProgram(busy, "other", PROGRAM, waits);
      // Past the server's maximum, a project may still run 10 sessions of its own.
      const held = Array.from({ length: 10 }, () =>
        fetch(busy.webhook(flood, "waits"), { method: "POST" }),
      );
      await new Promise((r) => setTimeout(r, 100));
      const refused = await fetch(busy.webhook(flood, "waits"), { method: "POST" });
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(await refused.json()).toEqual({
        error: "too many running sessions (limit 2); retry later",
      });
      // The flood does not shut the other project out.
      expect((await fetch(busy.webhook(other, "waits"), { method: "POST" })).status).toBe(200);
      for (const answer of await Promise.all(held)) expect(answer.status).toBe(200);
    } finally {
      await busy.close();
    }
  });
});

describe("shutdown", () => {
  it("answers requests still waiting for their trigger's filter with 503, not a closed connection", async () => {
    const own = await startTestServer();
    const yaml =
      manifest("filtered_stop", [{ name: "slow", call: "program.ts:handle", is_sync: true }]) +
      "      filter: data.body.json.all(x, x.size() >= 0 && string(x).size() >= 0)\n";
    const deployed = await own.deployFiles({
      "autokitteh.yaml": yaml,
      "program.ts": 'export function handle() { return "ran"; }\n',
    });
    expect(deployed.status).toBe(201);
    const url = own.webhook((await deployed.json()) as DeployResult, "slow");
    // Each body keeps the filter worker busy for a while: most wait in its queue.
    const body = JSON.stringify(Array.from({ length: 60_000 }, (_, i) => `item ${i}`));
    const answers = Array.from({ length: 8 }, () =>
      fetch(url, { method: "POST", body }).then(
        (response) => response.status,
        (error: Error) => error.message,
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    await own.close();
    const statuses = await Promise.all(answers);
    for (const status of statuses) expect([200, 503]).toContain(status);
    expect(statuses).toContain(503);
  });

  it("answers sync callers still waiting with 503 before the connections close", async () => {
    const own = await startTestServer();
    const d = await deployProgram(
      own,
      "shutdown",
      'export async function hold() { await new Promise((r) => setTimeout(r, 10_000)); return "late"; }',
      [{ name: "hold", call: "program.ts:hold", is_sync: true }],
    );
    const answer = fetch(own.webhook(d, "hold"), { method: "POST" });
    await new Promise((r) => setTimeout(r, 200));
    await own.close();
    const response = await answer;
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect(await response.json()).toMatchObject({
      error: "the server stopped before the session responded",
    });
  });
});

describe("trigger filters", () => {
  it("decides a trigger filter of string equalities at once, even while the filter worker is busy", async () => {
    const own = await startTestServer();
    try {
      const yaml = manifest("two_filters", [
        { name: "slow", call: "program.ts:handle", is_sync: true },
        { name: "quick", call: "program.ts:handle", is_sync: true },
      ])
        .replace(
          "      call: program.ts:handle\n      is_sync: true\n",
          "      call: program.ts:handle\n      is_sync: true\n" +
            "      filter: data.body.json.all(x, x.size() >= 0 && string(x).size() >= 0)\n",
        )
        .concat('      filter: data.headers["x-kind"] == "go"\n');
      const response = await own.deployFiles({
        "autokitteh.yaml": yaml,
        "program.ts": 'export function handle() { return "ran"; }\n',
      });
      expect(response.status, await response.clone().text()).toBe(201);
      const deployed = (await response.json()) as DeployResult;
      // A queue of slow filters in the filter worker: about 70 ms each here, 2 s in all.
      const body = JSON.stringify(Array.from({ length: 60_000 }, (_, i) => `item ${i}`));
      const slow = Array.from({ length: 30 }, () =>
        fetch(own.webhook(deployed, "slow"), { method: "POST", body }).then((r) => r.status),
      );
      await new Promise((r) => setTimeout(r, 200));
      const started = performance.now();
      const quick = await fetch(own.webhook(deployed, "quick"), {
        method: "POST",
        headers: { "x-kind": "go" },
      });
      const tookMs = performance.now() - started;
      expect(await quick.text()).toBe('"ran"');
      expect(tookMs).toBeLessThan(1000);
      await Promise.all(slow);
    } finally {
      await own.close();
    }
  });
});
