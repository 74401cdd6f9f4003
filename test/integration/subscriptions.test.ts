// subscribe / next_event / unsubscribe, trigger filters, and stopping a waiting session.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram, manifest } from "../helpers/projects";
import { EXAMPLES, startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
import { http_outcome, next_event, subscribe, unsubscribe } from "autokitteh";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (e: { body: { text: string | null } } | null) => (e === null ? null : e.body.text);

export async function late() {
  await sleep(200);
  const sub = subscribe("second");
  return { got: text(await next_event(sub, { timeout: 300 })) };
}

export async function busy() {
  const sub = subscribe("second");
  const until = Date.now() + 150;
  while (Date.now() < until) {}
  await sleep(150);
  const got = [];
  for (let i = 0; i < 4; i++) got.push(text(await next_event(sub, { timeout: 0 })));
  return { got };
}

export async function two() {
  const a = subscribe("second");
  const b = subscribe("third");
  await sleep(200);
  const first = await next_event([a, b], { timeout: "1s" });
  const second = await next_event([a, b], { timeout: "1s" });
  return { got: [first?.url.path_suffix, second?.url.path_suffix] };
}

export async function filtered() {
  const sub = subscribe("second", 'data.url.path_suffix == "yes" && data.body.json.n > 1');
  return { got: text(await next_event(sub, { timeout: "2s" })) };
}

export function bad_filter() {
  const errors: string[] = [];
  for (const [source, filter] of [["second", "data.url =="], ["second", "nope == 1"], ["nowhere", undefined], ["second", 'data.url.pth == "/x"']] as const) {
    try {
      subscribe(source, filter);
      errors.push("accepted");
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  return { errors };
}

export async function bad_next() {
  const errors: string[] = [];
  for (const call of [
    () => next_event("sub_nope", { timeout: 10 }),
    () => next_event(subscribe("second"), { timeout: "soon" }),
    () => next_event([], { timeout: 10 }),
  ]) {
    try {
      await call();
      errors.push("accepted");
    } catch (error) {
      errors.push((error as Error).name + ": " + (error as Error).message);
    }
  }
  return { errors };
}

export async function unsubscribed() {
  const sub = subscribe("second");
  unsubscribe(sub);
  await sleep(150);
  try {
    await next_event(sub, { timeout: 10 });
    return { got: "delivered" };
  } catch (error) {
    return { got: (error as Error).message };
  }
}

export async function forever() {
  const sub = subscribe("second");
  await next_event(sub);
  http_outcome({ body: "woken" });
}
`;

let t: TestServer;
let p: DeployResult;
const hook = (trigger: string, suffix = "") => t.webhook(p, trigger) + suffix;
const post = (trigger: string, body?: string, suffix = "") =>
  fetch(hook(trigger, suffix), { method: "POST", body });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await startTestServer();
  const calls = [
    "late",
    "busy",
    "two",
    "filtered",
    "bad_filter",
    "bad_next",
    "unsubscribed",
    "forever",
  ];
  p = await deployProgram(t, "subs", PROGRAM, [
    ...calls.map((name) => ({ name, call: `program.ts:${name}`, is_sync: true })),
    { name: "second" },
    { name: "third" },
  ]);
});
afterAll(() => t.close());

describe("the sync_webhook example", () => {
  it("answers the first caller with the second request's body", async () => {
    const d = await t.deployDir(path.join(EXAMPLES, "sync_webhook"));
    const first = fetch(t.webhook(d, "first"), { method: "POST" });
    await sleep(100);
    const second = await fetch(t.webhook(d, "second"), {
      method: "POST",
      body: "hello from second",
    });
    expect(second.status).toBe(202);
    expect(second.headers.get("isohook-session-id")).toBeNull();
    const answer = await first;
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe("Got second webhook: hello from second");

    const sessionId = answer.headers.get("isohook-session-id")!;
    await t.waitForSession(sessionId);
    const subscription = t
      .db()
      .prepare("SELECT * FROM subscriptions WHERE session_id = ?")
      .get(sessionId) as Record<string, string>;
    expect(subscription).toMatchObject({ project: "sync_webhook", source: "second", filter: null });
    expect(subscription.ended_at).not.toBeNull();
    const queued = t
      .db()
      .prepare("SELECT * FROM subscription_events WHERE subscription_id = ?")
      .all(subscription.id) as Record<string, string>[];
    expect(queued).toEqual([
      expect.objectContaining({ event_id: second.headers.get("isohook-event-id") }),
    ]);
    expect(queued[0]!.delivered_at).not.toBeNull();
  });

  it("answers 408 when no second request comes within the timeout", async () => {
    const yaml = readFileSync(path.join(EXAMPLES, "sync_webhook/autokitteh.yaml"), "utf8").replace(
      "value: 1m",
      "value: 300ms",
    );
    const response = await t.deployFiles({
      "autokitteh.yaml": yaml,
      "program.ts": readFileSync(path.join(EXAMPLES, "sync_webhook/program.ts"), "utf8"),
    });
    const d = (await response.json()) as DeployResult;
    const started = Date.now();
    const answer = await fetch(t.webhook(d, "first"), { method: "POST" });
    const elapsed = Date.now() - started;
    expect(answer.status).toBe(408);
    expect(await answer.text()).toBe("Timeout waiting for second webhook");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(600);
  });
});

describe("next_event", () => {
  it("does not see events sent before subscribe", async () => {
    const answer = post("late");
    await sleep(50);
    await post("second", "too early");
    expect(await (await answer).json()).toEqual({ got: null });
  });

  it("queues events while the session is busy and hands them over in order, once each", async () => {
    const answer = post("busy");
    await sleep(30);
    for (const body of ["one", "two", "three"]) await post("second", body);
    expect(await (await answer).json()).toEqual({ got: ["one", "two", "three", null] });
  });

  it("waits on two subscriptions at once, earliest event first", async () => {
    const answer = post("two");
    await sleep(50);
    await post("third", "", "/t");
    await post("second", "", "/s");
    expect(await (await answer).json()).toEqual({ got: ["t", "s"] });
  });

  it("queues only events for which the filter is exactly true", async () => {
    const answer = post("filtered");
    await sleep(50);
    await post("second", '{"n": 5}', "/no");
    await post("second", '{"n": 1}', "/yes");
    await post("second", "not json", "/yes");
    await post("second", '{"n": 2}', "/yes");
    expect(await (await answer).json()).toEqual({ got: '{"n": 2}' });
  });

  it("makes subscribe throw for a filter that does not compile or an unknown trigger", async () => {
    const { errors } = (await (await post("bad_filter")).json()) as { errors: string[] };
    expect(errors[0]).toMatch(/^subscribe: filter "data.url ==" does not compile: 1:\d+: /);
    expect(errors[1]).toBe(
      'subscribe: filter "nope == 1" uses "nope"; filters can use data and event_type',
    );
    expect(errors[2]).toBe(
      'subscribe: "nowhere" is not a trigger of project subs; its triggers are "late", "busy", "two", "filtered", "bad_filter", "bad_next", "unsubscribed", "forever", "second", "third"',
    );
    expect(errors[3]).toBe(
      'subscribe: filter "data.url.pth == \\"/x\\"" reads a field events never have: data.url has no field "pth"; its fields are path, query, path_suffix',
    );
  });

  it("rejects unknown subscriptions and bad timeouts", async () => {
    const { errors } = (await (await post("bad_next")).json()) as { errors: string[] };
    expect(errors).toEqual([
      'Error: next_event: "sub_nope" is not a subscription of this session',
      'TypeError: next_event: timeout must be milliseconds or a duration such as "30s", got the string "soon"',
      "TypeError: next_event: give a subscription id from subscribe(), or a list of them",
    ]);
  });

  it("stops queueing after unsubscribe", async () => {
    const answer = post("unsubscribed");
    await sleep(50);
    await post("second", "ignored");
    expect(await (await answer).json()).toEqual({
      got: expect.stringContaining("is not a subscription of this session"),
    });
  });
});

describe("stopping a waiting session", () => {
  it("ends it as stopped, answers its sync caller 502, and logs the reason", async () => {
    const answer = post("forever");
    let sessionId: string | undefined;
    for (let i = 0; i < 50 && sessionId === undefined; i++) {
      await sleep(20);
      const row = t
        .db()
        .prepare("SELECT id FROM sessions WHERE trigger = 'forever' AND state = 'running'")
        .get() as { id: string } | undefined;
      sessionId = row?.id;
    }
    const stopped = await t.api("POST", `/api/sessions/${sessionId}/stop`);
    expect(stopped.status).toBe(200);
    expect(await stopped.json()).toMatchObject({
      id: sessionId,
      state: "stopped",
      error: "stopped through the API",
    });
    const response = await answer;
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      error: "the session was stopped before it responded",
      session_id: sessionId,
    });
    const log = await t.log(sessionId!);
    expect(log.at(-1)).toMatchObject({
      kind: "state",
      data: { state: "stopped", reason: "stopped through the API" },
    });
    expect((await t.api("POST", `/api/sessions/${sessionId}/stop`)).status).toBe(409);
    // Its subscription is gone: a later event is queued for no one.
    await post("second", "after stop");
    const open = t
      .db()
      .prepare("SELECT COUNT(*) AS n FROM subscriptions WHERE session_id = ? AND ended_at IS NULL")
      .get(sessionId) as { n: number };
    expect(open.n).toBe(0);
  });
});

describe("trigger filters", () => {
  it("start a session only for matching requests; other events still reach subscribers", async () => {
    const files = {
      "autokitteh.yaml": manifest("gated", []).replace(
        "  triggers:\n",
        '  triggers:\n    - name: pushes\n      type: webhook\n      call: program.ts:on_push\n      filter: data.headers["x-github-event"] == "push"\n',
      ),
      "program.ts": "export function on_push() {}\n",
    };
    const response = await t.deployFiles(files);
    expect(response.status).toBe(201);
    const url = ((await response.json()) as DeployResult).triggers[0]!.webhook_url;
    const push = await fetch(url, { method: "POST", headers: { "X-GitHub-Event": "push" } });
    expect(push.headers.get("isohook-session-id")).toMatch(/^ses_/);
    const ping = await fetch(url, { method: "POST", headers: { "X-GitHub-Event": "ping" } });
    expect(ping.status).toBe(202);
    expect(ping.headers.get("isohook-session-id")).toBeNull();
    expect(ping.headers.get("isohook-event-id")).toMatch(/^evt_/);
  });

  /** The problems a deploy whose one trigger has `filter` answers with (it must be a 400). */
  async function filterProblems(project: string, filter: string) {
    const yaml =
      manifest(project, [{ name: "hook", call: "program.ts:on_push" }]) +
      `      filter: ${filter}\n`;
    const response = await t.deployFiles({
      "autokitteh.yaml": yaml,
      "program.ts": "export function on_push() {}\n",
    });
    expect(response.status).toBe(400);
    return ((await response.json()) as { details: { line: number; message: string }[] }).details;
  }

  it("that read a field events never have fail the deploy, naming the fields there are", async () => {
    expect(await filterProblems("gated3", 'data.mthod == "POST"')).toEqual([
      expect.objectContaining({
        line: 8,
        message:
          'trigger "hook": filter "data.mthod == \\"POST\\"" reads a field events never have: data has no field "mthod"; its fields are method, raw_url, url, headers, body',
      }),
    ]);
  });

  it("that do not compile fail the deploy at their line", async () => {
    expect(await filterProblems("gated2", "data.x ==")).toEqual([
      expect.objectContaining({
        line: 8,
        message: expect.stringContaining('trigger "hook": filter "data.x ==" does not compile'),
      }),
    ]);
  });
});

describe("the approval example", () => {
  it("answers 200 on approve and 403 on reject, matching decisions to their request", async () => {
    const d = await t.deployDir(path.join(EXAMPLES, "approval"));
    const request = (id: string) =>
      fetch(t.webhook(d, "request"), {
        method: "POST",
        body: JSON.stringify({ id, what: "deploy" }),
      });
    const decide = (suffix: string, user: string) =>
      fetch(t.webhook(d, "decide") + suffix, { method: "POST", headers: { "X-User": user } });

    const a = request("req-a");
    const b = request("req-b");
    await sleep(100);
    await decide("/approve?request=req-other", "mallory");
    await decide("/reject?request=req-b", "bob");
    await decide("/approve?request=req-a", "alice");
    const [answerA, answerB] = await Promise.all([a, b]);
    expect(answerA.status).toBe(200);
    expect(await answerA.json()).toEqual({ id: "req-a", status: "approved", by: "alice" });
    expect(answerB.status).toBe(403);
    expect(await answerB.json()).toEqual({ id: "req-b", status: "rejected", by: "bob" });
  });
});

describe("filters cannot hold up the server", () => {
  it("bounds the subscriptions a project's sessions hold together", async () => {
    const program = `import { http_outcome, next_event, subscribe } from "autokitteh";
export async function hold() {
  const ids: string[] = [];
  try {
    for (let i = 0; i < 100; i++) ids.push(subscribe("feed"));
  } catch (error) {
    http_outcome({ status_code: 429, body: String((error as Error).message) });
    return;
  }
  http_outcome({ body: String(ids.length) });
  await next_event(ids, { timeout: 5000 });
}
`;
    const project = await deployProgram(t, "many_subscriptions", program, [
      { name: "hold", call: "program.ts:hold", is_sync: true },
      { name: "feed" },
    ]);
    const url = t.webhook(project, "hold");
    const held = await Promise.all(
      Array.from({ length: 10 }, () => fetch(url, { method: "POST" }).then((r) => r.text())),
    );
    expect(held).toEqual(Array(10).fill("100"));
    const refused = await fetch(url, { method: "POST" });
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain("hold 1000 subscriptions already");

    // Once the holders end, their subscriptions no longer count.
    await fetch(t.webhook(project, "feed"), { method: "POST" });
    const deadline = Date.now() + 10_000;
    let again: Response;
    do {
      again = await fetch(url, { method: "POST" });
    } while (again.status === 429 && Date.now() < deadline);
    expect(await again.text()).toBe("100");
  });

  it("refuses a macro nested in another, or a filter too long, at subscribe and at deploy", async () => {
    const nested = "[0,1,2,3,4,5,6,7,8,9].all(a, [0,1,2,3,4,5,6,7,8,9].all(b, true))";
    const yaml =
      manifest("nested_filter", [{ name: "hook", call: "program.ts:on_push" }]) +
      `      filter: "${nested}"\n`;
    const response = await t.deployFiles({
      "autokitteh.yaml": yaml,
      "program.ts": "export function on_push() {}\n",
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain("nests a macro");
    const { compileFilter } = await import("../../src/subscriptions/filter");
    expect(() => compileFilter(nested)).toThrow(/nests a macro/);
    expect(() => compileFilter("data.x == 1 && " + "true && ".repeat(200) + "true")).toThrow(
      /at most 1000 characters|too complex/,
    );
  });

  it("shows filters no body over 1 MiB", async () => {
    const { compileFilter, filterSubject, toFilterEvent } =
      await import("../../src/subscriptions/filter");
    const data = (text: string) => ({
      method: "POST",
      raw_url: "/",
      url: { path: "/", query: {}, path_suffix: "" },
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: { bytes: new TextEncoder().encode(text) },
    });
    const filter = compileFilter(
      "data.body.text == null && data.body.bytes == null && data.body.form == null",
    );
    expect(filter(filterSubject(toFilterEvent("evt_big", data("a=1&".repeat(300_000))))).pass).toBe(
      true,
    );
    const small = filterSubject(toFilterEvent("evt_small", data("a=1&b=2&a=3")));
    expect(compileFilter('data.body.form.a == "1, 3" && data.body.form.b == "2"')(small).pass).toBe(
      true,
    );
    expect(filter(small).pass).toBe(false);
  });

  it("stops a filter that runs too long or grows too big: it passes nothing, and the server goes on", async () => {
    const text = "data.body.text";
    const yaml = manifest("costly_filters", [
      { name: "concat", call: "program.ts:handle", is_sync: true },
      { name: "regex", call: "program.ts:handle", is_sync: true },
      { name: "light", call: "program.ts:handle", is_sync: true },
    ])
      .replace(
        "      call: program.ts:handle\n      is_sync: true\n",
        `      call: program.ts:handle\n      is_sync: true\n      filter: "size(${Array(16).fill(text).join(" + ")}) == 1"\n`,
      )
      .replace(
        "    - name: regex\n      type: webhook\n      call: program.ts:handle\n      is_sync: true\n",
        `    - name: regex\n      type: webhook\n      call: program.ts:handle\n      is_sync: true\n      filter: 'data.body.text.matches("[ab]{900}[ac]$")'\n`,
      )
      .replace(
        "    - name: light\n      type: webhook\n      call: program.ts:handle\n      is_sync: true\n",
        "    - name: light\n      type: webhook\n      call: program.ts:handle\n      is_sync: true\n      filter: data.body.json.ok == true\n",
      );
    const response = await t.deployFiles({
      "autokitteh.yaml": yaml,
      "program.ts": `import { http_outcome } from "autokitteh";\nexport function handle() { http_outcome({ body: "ran" }); }\n`,
    });
    expect(response.status, await response.clone().text()).toBe(201);
    const project = (await response.json()) as DeployResult;
    const big = "ab".repeat(512 * 1024 - 8);

    const order: string[] = [];
    const costlyCalls = Promise.all([
      fetch(t.webhook(project, "concat"), { method: "POST", body: big }),
      fetch(t.webhook(project, "regex"), { method: "POST", body: big }),
    ]).finally(() => order.push("filters"));
    // While the filters run (they are given 250 ms), the server answers others: they do not
    // run on its main thread.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const health = await fetch(`${t.url}/healthz`).finally(() => order.push("healthz"));
    expect(health.status).toBe(200);
    const costly = await costlyCalls;
    expect(order).toEqual(["healthz", "filters"]);
    // The filters were stopped: no session, the event is recorded (202).
    expect(costly.map((r) => r.status)).toEqual([202, 202]);
    expect(costly.every((r) => r.headers.get("isohook-session-id") === null)).toBe(true);

    const light = await fetch(t.webhook(project, "light"), {
      method: "POST",
      body: JSON.stringify({ ok: true }),
    });
    expect(light.status).toBe(200);
    expect(await light.text()).toBe("ran");
  });
});

describe("events waiting in a queue", () => {
  it("are handed over byte for byte, headers and query included, however large", async () => {
    const program = `
import { next_event, subscribe } from "autokitteh";
export async function collect() {
  const sub = subscribe("drop");
  const until = Date.now() + 300;
  while (Date.now() < until) {}
  const got = [];
  for (let i = 0; i < 2; i++) {
    const event = await next_event(sub, { timeout: 0 });
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", event!.body.bytes));
    got.push({
      sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
      size: event!.body.bytes.length,
      tag: event!.headers["x-tag"],
      q: event!.url.query.q,
    });
  }
  return got;
}`;
    const d = await deployProgram(t, "queued_bytes", program, [
      { name: "collect", call: "program.ts:collect", is_sync: true },
      { name: "drop" },
    ]);
    const answer = fetch(t.webhook(d, "collect"), { method: "POST" });
    await sleep(100);
    const bodies = [randomBytes(700_000), randomBytes(3)];
    for (const [i, body] of bodies.entries()) {
      const response = await fetch(`${t.webhook(d, "drop")}?q=${i}`, {
        method: "POST",
        headers: { "x-tag": `tag-${i}`, "content-encoding": "gzip" },
        body: gzipSync(body),
      });
      expect(response.status).toBe(202);
    }
    expect(await (await answer).json()).toEqual(
      bodies.map((body, i) => ({
        sha256: createHash("sha256").update(body).digest("hex"),
        size: body.length,
        tag: `tag-${i}`,
        q: String(i),
      })),
    );
  });
});
