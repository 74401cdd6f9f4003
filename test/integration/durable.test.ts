// Durable sessions (SPEC §6): stopped by a shutdown or killed with the server, they come back
// when it starts again, replayed from their journal, and go on where they were.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { deployProgram, manifest } from "../helpers/projects";
import type { DeployResult } from "../../src/deploy/deployer";
import { startTestServer, type TestServer } from "../helpers/test-server";

const BIN = fileURLToPath(new URL("../../bin/isohook.js", import.meta.url));

// What the session prints before and after its waits: the clock, random numbers and a UUID it
// read at the start must come out the same after a replay. The clock of a durable session does
// not move within an entry, so `frozen` is true.
const PROGRAM = `
import { next_event, subscribe } from "autokitteh";

export async function on_start(event: any) {
  const t = Date.now();
  // Real time passes here (a few milliseconds of work); the session's clock does not.
  let spin = 0;
  for (let i = 0; i < 3_000_000; i++) spin += i % 7;
  const first = {
    t,
    frozen: Date.now() === t && new Date().getTime() === t,
    iso: new Date().toISOString(),
    r: Math.random(),
    u: crypto.randomUUID(),
  };
  console.log("first " + JSON.stringify(first));
  const sub = subscribe("evt");
  const a = await next_event(sub);
  console.log("got " + a!.body.json.n);
  const sleep = Number(event.data.url.query.sleep ?? 0);
  if (sleep > 0) await new Promise((resolve) => setTimeout(resolve, sleep));
  const b = await next_event(sub);
  const later = Date.now();
  console.log("got " + b!.body.json.n + " " + JSON.stringify(first) + " " + (later >= t && spin > 0));
  return "done";
}
`;

const TRIGGERS = [
  { name: "start", call: "program.ts:on_start", is_sync: false, is_durable: true },
  { name: "evt" },
];

type Log = Awaited<ReturnType<TestServer["log"]>>;

const prints = (log: Log) =>
  log.filter((e) => e.kind === "print").map((e) => e.data.text as string);
const notes = (log: Log) =>
  log.filter((e) => e.kind === "note").map((e) => e.data.message as string);

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** POST to a trigger that starts a session; the session's id. */
async function startSession(url: string): Promise<string> {
  return (await fetch(url, { method: "POST" })).headers.get("isohook-session-id")!;
}

/** Wait until the log `read` returns shows the session's `subscribe`. */
const untilSubscribed = (read: () => Promise<Log>) =>
  until("the subscription", read, (log) =>
    log.some((e) => e.kind === "call" && e.data.binding === "subscribe"),
  );

/** Wait until the log `read` returns shows `text` printed. */
const untilPrinted = (read: () => Promise<Log>, text: string) =>
  until(`the print ${JSON.stringify(text)}`, read, (log) => prints(log).includes(text));

/** The same webhook path on a server that now listens elsewhere. */
const on = (base: string, webhookUrl: string) => base + new URL(webhookUrl).pathname;

/** Checks the whole log of a session that was resumed once and then completed. */
function expectReplayed(log: Log, lastEvent: number) {
  const printed = prints(log);
  expect(printed).toHaveLength(3);
  const first = JSON.parse(printed[0]!.slice("first ".length)) as { frozen: boolean };
  expect(first.frozen).toBe(true);
  expect(printed[1]).toBe("got 1");
  // Computed again in the replay: the same clock, random numbers and UUID as the first time.
  expect(printed[2]).toBe(`got ${lastEvent} ${JSON.stringify(first)} true`);
  expect(
    notes(log).some((n) =>
      /^resumed after the server restarted: replaying its start and \d+/.test(n),
    ),
  ).toBe(true);
  // Each call is logged once: the replay's own calls are not logged again.
  expect(log.filter((e) => e.kind === "call" && e.data.binding === "subscribe")).toHaveLength(1);
  expect(log.filter((e) => e.kind === "call" && e.data.binding === "next_event")).toHaveLength(2);
  const states = log.filter((e) => e.kind === "state").map((e) => e.data.state as string);
  expect(states).toEqual(["created", "running", "completed"]);
  const seqs = log.map((e) => e.seq);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A temporary folder, removed after the tests. */
/** Two sessions of PROGRAM, each waiting for its second event once it has printed its first. */
async function twoPastTheirFirstEvent(
  t: TestServer,
  deployed: DeployResult,
): Promise<[string, string]> {
  const ids: [string, string] = [
    await startSession(t.webhook(deployed, "start")),
    await startSession(t.webhook(deployed, "start")),
  ];
  for (const id of ids) await untilSubscribed(() => t.log(id));
  await fetch(t.webhook(deployed, "evt"), { method: "POST", body: '{"n": 1}' });
  for (const id of ids) await untilPrinted(() => t.log(id), "got 1");
  return ids;
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

describe("durable sessions", () => {
  it("resume after a shutdown, with the event that waited and the timer that was pending", async () => {
    const dataDir = tempDir("isohook-durable-");
    let t = await startTestServer({ dataDir });
    try {
      const deployed = await deployProgram(t, "durable", PROGRAM, TRIGGERS);
      const startUrl = t.webhook(deployed, "start");
      const evtUrl = t.webhook(deployed, "evt");
      const accepted = await fetch(`${startUrl}?sleep=1000`, { method: "POST" });
      expect(accepted.status).toBe(202);
      const id = accepted.headers.get("isohook-session-id")!;
      await untilSubscribed(() => t.log(id));
      await fetch(evtUrl, { method: "POST", body: '{"n": 1}' });
      await untilPrinted(() => t.log(id), "got 1");
      // It sleeps in a timer now; this event waits in its queue, across the restart.
      await fetch(evtUrl, { method: "POST", body: '{"n": 2}' });
      await t.close();

      t = await startTestServer({ dataDir });
      const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
      const log = await t.log(id);
      expect(ended.state, JSON.stringify(log)).toBe("completed");
      expectReplayed(log, 2);
      expect(notes(log)).toContain(
        "the server is stopping; the session will resume when it starts again",
      );
      const journal = t
        .db()
        .prepare("SELECT COUNT(*) AS n FROM session_journal WHERE session_id = ?")
        .get(id) as { n: number };
      expect(journal.n).toBe(0);
      // The webhook still works on the restarted server, and the subscription is over.
      const after = await fetch(on(t.url, evtUrl), { method: "POST", body: '{"n": 3}' });
      expect(after.status).toBe(202);
      const open = t
        .db()
        .prepare(
          "SELECT COUNT(*) AS n FROM subscriptions WHERE session_id = ? AND ended_at IS NULL",
        )
        .get(id) as { n: number };
      expect(open.n).toBe(0);
      const queued = t
        .db()
        .prepare("SELECT COUNT(*) AS n FROM subscription_events WHERE event_id = ?")
        .get(after.headers.get("isohook-event-id")) as { n: number };
      expect(queued.n).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("resumes on the deployment it started on, after a newer one became active", async () => {
    const dataDir = tempDir("isohook-durable-");
    const version = (v: string) => `
      import { next_event, subscribe } from "autokitteh";
      export async function on_start() {
        const event = await next_event(subscribe("evt"));
        console.log("${v} " + event!.body.json.n);
      }`;
    let t = await startTestServer({ dataDir });
    try {
      const first = await deployProgram(t, "versions", version("v1"), TRIGGERS);
      const accepted = await fetch(t.webhook(first, "start"), { method: "POST" });
      const id = accepted.headers.get("isohook-session-id")!;
      await untilSubscribed(() => t.log(id));
      await deployProgram(t, "versions", version("v2"), TRIGGERS);
      await t.close();

      t = await startTestServer({ dataDir });
      await fetch(on(t.url, t.webhook(first, "evt")), { method: "POST", body: '{"n": 4}' });
      const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
      const log = await t.log(id);
      expect(ended.state, JSON.stringify(log)).toBe("completed");
      expect(prints(log)).toEqual(["v1 4"]);
      // New sessions run the active deployment.
      const next = await fetch(on(t.url, t.webhook(first, "start")), { method: "POST" });
      const nextId = next.headers.get("isohook-session-id")!;
      await untilSubscribed(() => t.log(nextId));
      await fetch(on(t.url, t.webhook(first, "evt")), { method: "POST", body: '{"n": 5}' });
      await t.waitForSession(nextId, ["completed"]);
      expect(prints(await t.log(nextId))).toEqual(["v2 5"]);
    } finally {
      await t.close();
    }
  });

  it("gives a replay its fetch responses and keys from the journal, and Date stays a Date", async () => {
    let hits = 0;
    const origin = createServer((_req, res) => res.end(`hit-${++hits}`));
    await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
    const target = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`;
    const program = `
      import { next_event, subscribe } from "autokitteh";
      export async function on_start(event: any) {
        const fetched = await (await fetch(event.data.url.query.target)).text();
        const key = await crypto.subtle.importKey(
          "raw", new TextEncoder().encode("key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
        const sign = async () =>
          btoa(String.fromCharCode(...new Uint8Array(
            await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("text")))));
        class Later extends Date {}
        const dates = {
          instance: new Date() instanceof Date,
          subclass: new Later(0) instanceof Date && new Later(0).getTime() === 0,
          utc: Date.UTC(2020, 0, 1),
          parse: Date.parse("2020-01-01T00:00:00Z"),
          called: typeof Date(),
          name: Date.name,
          length: Date.length,
          given: new Date(5).getTime(),
          intl: (() => {
            // To the millisecond, after some work: the real clock would have moved.
            const options = {
              timeZone: "UTC",
              hour: "2-digit",
              minute: "2-digit",
              second: "2-digit",
              fractionalSecondDigits: 3,
            } as const;
            const format = new Intl.DateTimeFormat("en-US", options);
            const now = new Date();
            let spin = 0;
            for (let i = 0; i < 3_000_000; i++) spin += i % 7;
            if (spin === 0) return false;
            return (
              format instanceof Intl.DateTimeFormat &&
              format.format() === format.format(now) &&
              Intl.DateTimeFormat("en-US", options).format() === format.format(now) &&
              JSON.stringify(format.formatToParts()) === JSON.stringify(format.formatToParts(now)) &&
              format.format === format.format
            );
          })(),
        };
        console.log("before " + fetched + " " + (await sign()) + " " + JSON.stringify(dates));
        const next = await next_event(subscribe("evt"));
        console.log("after " + fetched + " " + (await sign()) + " " + next!.body.json.n);
      }`;
    const dataDir = tempDir("isohook-durable-");
    let t = await startTestServer({ dataDir, fetchAllowPrivate: true });
    try {
      const response = await t.deployFiles({
        "autokitteh.yaml": manifest("fetches", TRIGGERS, '  allow_net: ["127.0.0.1"]'),
        "program.ts": program,
      });
      expect(response.status).toBe(201);
      const deployed = (await response.json()) as Parameters<TestServer["webhook"]>[0];
      const startUrl = `${t.webhook(deployed, "start")}?target=${encodeURIComponent(target)}`;
      const id = await startSession(startUrl);
      await untilSubscribed(() => t.log(id));
      await t.close();

      t = await startTestServer({ dataDir, fetchAllowPrivate: true });
      await fetch(on(t.url, t.webhook(deployed, "evt")), { method: "POST", body: '{"n": 9}' });
      const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
      const log = await t.log(id);
      expect(ended.state, JSON.stringify(log)).toBe("completed");
      const [before, after] = prints(log);
      const [, fetched, signature, dates] = before!.split(" ");
      expect(fetched).toBe("hit-1");
      expect(JSON.parse(dates!)).toEqual({
        instance: true,
        subclass: true,
        utc: 1577836800000,
        parse: 1577836800000,
        called: "string",
        name: "Date",
        length: 7,
        given: 5,
        intl: true,
      });
      // The replay got the journaled response (the origin saw one request) and the key again.
      expect(after).toBe(`after hit-1 ${signature} 9`);
      expect(hits).toBe(1);
    } finally {
      await t.close();
      origin.close();
    }
  });

  it("answers 202 for an event only once it is queued for the subscriptions it passes", async () => {
    const t = await startTestServer();
    try {
      const program = `
        import { next_event, subscribe } from "autokitteh";
        export async function on_start() {
          const sub = subscribe("evt", 'data.url.query.id == "42"');
          await new Promise((resolve) => setTimeout(resolve, 2000));
          await next_event(sub);
        }`;
      const deployed = await deployProgram(t, "acked", program, TRIGGERS);
      const accepted = await fetch(t.webhook(deployed, "start"), { method: "POST" });
      const id = accepted.headers.get("isohook-session-id")!;
      await untilSubscribed(() => t.log(id));
      const acked = await fetch(`${t.webhook(deployed, "evt")}?id=42`, { method: "POST" });
      expect(acked.status).toBe(202);
      const eventId = acked.headers.get("isohook-event-id")!;
      // Read at once, from the file, as a restart would.
      const queued = t
        .db()
        .prepare("SELECT COUNT(*) AS n FROM subscription_events WHERE event_id = ?")
        .get(eventId) as { n: number };
      expect(queued.n).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("logs each thing once when a crash cut the log and the journal at different points", async () => {
    const dataDir = tempDir("isohook-durable-");
    let t = await startTestServer({ dataDir });
    try {
      const deployed = await deployProgram(t, "cuts", PROGRAM, TRIGGERS);
      const [behind, ahead] = await twoPastTheirFirstEvent(t, deployed);
      await t.close();

      // As a crash could leave them: one log lost its last print; the other's journal lost the
      // entry that led to its last print (the answer was written, its place in the order not).
      const db = new Database(path.join(dataDir, "isohook.db"));
      db.prepare(
        `DELETE FROM session_log WHERE session_id = ? AND kind = 'print' AND data LIKE '%got 1%'`,
      ).run(behind);
      const settles = db
        .prepare("DELETE FROM session_journal WHERE session_id = ? AND kind = 'settle' AND ref = 1")
        .run(ahead);
      expect(settles.changes).toBe(1);
      db.close();

      t = await startTestServer({ dataDir });
      await fetch(on(t.url, t.webhook(deployed, "evt")), { method: "POST", body: '{"n": 2}' });
      for (const id of [behind, ahead]) {
        const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
        const log = await t.log(id);
        expect(ended.state, JSON.stringify(log)).toBe("completed");
        expectReplayed(log, 2);
      }
    } finally {
      await t.close();
    }
  });

  it("refuses a webhook whose body ends after the server began to stop, and keeps those before", async () => {
    const dataDir = tempDir("isohook-durable-");
    let t = await startTestServer({ dataDir });
    try {
      const deployed = await deployProgram(t, "stopping", PROGRAM, TRIGGERS);
      const id = await startSession(t.webhook(deployed, "start"));
      await untilSubscribed(() => t.log(id));
      // An event whose body is still arriving when the server begins to stop.
      const body = '{"n": 1}';
      let resolveAnswer!: (answer: { status: number; retryAfter?: string }) => void;
      const answer = new Promise<{ status: number; retryAfter?: string }>(
        (resolve) => (resolveAnswer = resolve),
      );
      const req = request(
        t.webhook(deployed, "evt"),
        { method: "POST", headers: { "content-length": String(body.length) } },
        (res) => {
          res.resume();
          resolveAnswer({ status: res.statusCode!, retryAfter: res.headers["retry-after"] });
        },
      );
      await new Promise<void>((resolve) => req.write(body.slice(0, 1), () => resolve()));
      // Time for the server to take the connection and read the head, then it begins to stop
      // and the rest of the body arrives.
      await new Promise((r) => setTimeout(r, 50));
      const closed = t.close();
      setTimeout(() => req.end(body.slice(1)), 30);
      expect(await answer).toEqual({ status: 503, retryAfter: "1" });
      await closed;

      t = await startTestServer({ dataDir });
      await fetch(on(t.url, t.webhook(deployed, "evt")), { method: "POST", body: '{"n": 1}' });
      await fetch(on(t.url, t.webhook(deployed, "evt")), { method: "POST", body: '{"n": 2}' });
      const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
      const log = await t.log(id);
      expect(ended.state, JSON.stringify(log)).toBe("completed");
      expectReplayed(log, 2);
    } finally {
      await t.close();
    }
  });

  it("logs host calls that return while the server stops once, after the resume", async () => {
    const dataDir = tempDir("isohook-durable-");
    // Many sessions whose waits end every few milliseconds: some end while the server stops.
    const program = `
      import { next_event, subscribe } from "autokitteh";
      export async function on_start() {
        const sub = subscribe("evt");
        for (let i = 0; i < 150; i++) await next_event(sub, { timeout: 2 });
      }`;
    let t = await startTestServer({ dataDir });
    try {
      const deployed = await deployProgram(t, "waits", program, TRIGGERS);
      const ids = await Promise.all(
        Array.from({ length: 8 }, () => startSession(t.webhook(deployed, "start"))),
      );
      await until(
        "a few waits",
        () => t.log(ids[0]!),
        (log) => log.filter((e) => e.data.binding === "next_event").length > 10,
      );
      await t.close();
      t = await startTestServer({ dataDir });
      for (const id of ids) {
        const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
        const log = await t.log(id);
        expect(ended.state).toBe("completed");
        const waits = log.filter((e) => e.kind === "call" && e.data.binding === "next_event");
        expect(waits, id).toHaveLength(150);
      }
    } finally {
      await t.close();
    }
  });

  it("fails a session whose journal cannot be read at a restart, and resumes the others", async () => {
    const dataDir = tempDir("isohook-durable-");
    let t = await startTestServer({ dataDir });
    try {
      const deployed = await deployProgram(t, "corrupt", PROGRAM, TRIGGERS);
      const [broken, fine] = await twoPastTheirFirstEvent(t, deployed);
      await t.close();

      const db = new Database(path.join(dataDir, "isohook.db"));
      const garbled = db
        .prepare(
          "UPDATE session_journal SET data = x'ff00' WHERE session_id = ? AND kind = 'answer'",
        )
        .run(broken);
      expect(garbled.changes).toBe(1);
      db.close();

      t = await startTestServer({ dataDir });
      const failed = await t.waitForSession(broken, ["completed", "error", "stopped"]);
      expect(failed.state).toBe("error");
      expect(failed.error).toMatch(/^it could not be resumed: /);
      await fetch(on(t.url, t.webhook(deployed, "evt")), { method: "POST", body: '{"n": 2}' });
      const ended = await t.waitForSession(fine, ["completed", "error", "stopped"]);
      expect(ended.state).toBe("completed");
      const left = t
        .db()
        .prepare("SELECT COUNT(*) AS n FROM session_journal WHERE session_id = ?")
        .get(broken) as { n: number };
      expect(left.n).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("leaves no journal behind a session that ends with a fetch still in flight", async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const target = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    const t = await startTestServer({ fetchAllowPrivate: true });
    try {
      const program = `
        export async function on_start(event: any) {
          void fetch(event.data.url.query.target).catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }`;
      const response = await t.deployFiles({
        "autokitteh.yaml": manifest("inflight", TRIGGERS, '  allow_net: ["127.0.0.1"]'),
        "program.ts": program,
      });
      const deployed = (await response.json()) as Parameters<TestServer["webhook"]>[0];
      const url = `${t.webhook(deployed, "start")}?target=${encodeURIComponent(target)}`;
      const id = await startSession(url);
      expect((await t.waitForSession(id)).state).toBe("completed");
      // The fetch is aborted at the end; its (cancelled) answer must not be journaled.
      await new Promise((r) => setTimeout(r, 200));
      await t.api("GET", `/api/sessions/${id}`);
      const rows = t
        .db()
        .prepare("SELECT COUNT(*) AS n FROM session_journal WHERE session_id = ?")
        .get(id) as { n: number };
      expect(rows.n).toBe(0);
    } finally {
      await t.close();
      silent.closeAllConnections();
      silent.close();
    }
  });

  it("says once, restarts included, that a subscription's filter could not be evaluated", async () => {
    const dataDir = tempDir("isohook-durable-");
    let t = await startTestServer({ dataDir });
    try {
      const program = `
import { next_event, subscribe } from "autokitteh";
export async function waits() {
  const sub = subscribe("evt", 'data.headers["x-kind"] == "go"');
  await next_event(sub, { timeout: "20s" });
}
`;
      const deployed = await deployProgram(t, "said_once", program, [
        { name: "waits", call: "program.ts:waits", is_durable: true },
        { name: "evt" },
      ]);
      const id = await startSession(t.webhook(deployed, "waits"));
      await untilSubscribed(() => t.log(id));
      const told = (log: Log) => notes(log).filter((n) => n.includes("could not be evaluated"));
      // No x-kind header: CEL cannot evaluate the filter.
      await fetch(t.webhook(deployed, "evt"), { method: "POST" });
      await until(
        "the note",
        () => t.log(id),
        (log) => told(log).length === 1,
      );
      await t.close();

      t = await startTestServer({ dataDir });
      await until(
        "the resume",
        () => t.log(id),
        (log) => notes(log).some((n) => n.startsWith("resumed after the server restarted")),
      );
      const evt = on(t.url, t.webhook(deployed, "evt"));
      await fetch(evt, { method: "POST" });
      await fetch(evt, { method: "POST", headers: { "x-kind": "go" } });
      const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
      expect(ended.state).toBe("completed");
      expect(told(await t.log(id))).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("tells the sync callers still waiting when the server stops to try again (503)", async () => {
    const t = await startTestServer();
    try {
      const program = `
import { http_outcome, next_event, subscribe } from "autokitteh";
export async function waits() {
  const event = await next_event(subscribe("evt"), { timeout: "20s" });
  http_outcome({ body: event === null ? "timeout" : "woken" });
}
`;
      const deployed = await deployProgram(t, "sync_stop", program, [
        { name: "durable", call: "program.ts:waits", is_sync: true, is_durable: true },
        { name: "plain", call: "program.ts:waits", is_sync: true, is_durable: false },
        { name: "evt" },
      ]);
      const ask = async (trigger: string) => {
        const response = await fetch(t.webhook(deployed, trigger), { method: "POST" });
        return {
          status: response.status,
          retryAfter: response.headers.get("retry-after"),
          body: (await response.json()) as { error: string },
        };
      };
      const durable = ask("durable");
      const plain = ask("plain");
      const deadline = Date.now() + 10_000;
      const subscribed = t.db().prepare("SELECT count(*) AS n FROM subscriptions");
      while ((subscribed.get() as { n: number }).n < 2) {
        if (Date.now() > deadline) throw new Error("the sessions did not subscribe");
        await new Promise((r) => setTimeout(r, 20));
      }
      await t.close();
      expect(await durable).toMatchObject({
        status: 503,
        retryAfter: "1",
        body: { error: "the server is stopping" },
      });
      expect(await plain).toMatchObject({
        status: 503,
        retryAfter: "1",
        body: { error: "the server stopped before the session responded" },
      });
    } finally {
      await t.close();
    }
  });

  it("a non-durable session of the same kind ends as error at a restart", async () => {
    const dataDir = tempDir("isohook-durable-");
    let t = await startTestServer({ dataDir });
    try {
      const triggers = [{ ...TRIGGERS[0]!, is_durable: false }, TRIGGERS[1]!];
      const deployed = await deployProgram(t, "fleeting", PROGRAM, triggers);
      const accepted = await fetch(t.webhook(deployed, "start"), { method: "POST" });
      const id = accepted.headers.get("isohook-session-id")!;
      await untilSubscribed(() => t.log(id));
      await t.close();
      t = await startTestServer({ dataDir });
      const ended = await t.waitForSession(id, ["completed", "error", "stopped"]);
      expect(ended.state).toBe("error");
    } finally {
      await t.close();
    }
  });

  describe("when the server process is killed or interrupted", () => {
    let server: ChildProcess | undefined;
    afterAll(() => {
      if (server?.exitCode === null) process.kill(-server.pid!, "SIGKILL");
    });

    /**
     * `isohook serve` in a process group of its own, as a terminal runs it. `wrapped`: through
     * `bin/isohook.js` as a user starts it (it starts the server again with the flag isolated-vm
     * needs, and passes signals on); otherwise the server itself, so that a kill kills it.
     */
    async function serve(dataDir: string, projectDir: string, wrapped = false): Promise<string> {
      rmSync(path.join(dataDir, "server.json"), { force: true });
      let output = "";
      const node = wrapped ? [BIN] : ["--no-node-snapshot", BIN];
      server = spawn(
        process.execPath,
        [...node, "serve", "--port", "0", "--data", dataDir, "--deploy", projectDir],
        {
          env: { ...process.env, ISOHOOK_TOKEN: "", ISOHOOK_LOG_LEVEL: "warn" },
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        },
      );
      server.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      server.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const file = path.join(dataDir, "server.json");
      const deadline = Date.now() + 20_000;
      while (!existsSync(file) || !output.includes("curl")) {
        if (Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return (JSON.parse(readFileSync(file, "utf8")) as { url: string }).url;
    }

    function projectFolder(name: string): { dataDir: string; projectDir: string } {
      const dataDir = tempDir("isohook-durable-");
      const projectDir = tempDir("isohook-durable-project-");
      writeFileSync(path.join(projectDir, "autokitteh.yaml"), manifest(name, TRIGGERS));
      writeFileSync(path.join(projectDir, "program.ts"), PROGRAM);
      return { dataDir, projectDir };
    }

    it("a terminal's Ctrl-C stops the server once, and lets go of durable sessions", async () => {
      const { dataDir, projectDir } = projectFolder("interrupted");
      const url = await serve(dataDir, projectDir, true);
      const hooks = (await (
        await fetch(`${url}/api/projects/interrupted`, {
          headers: {
            authorization: `Bearer ${readFileSync(path.join(dataDir, "token"), "utf8").trim()}`,
          },
        })
      ).json()) as { triggers: { name: string; webhook_url: string }[] };
      const startUrl = hooks.triggers.find((x) => x.name === "start")!.webhook_url;
      const id = await startSession(startUrl);
      const db = () => new Database(path.join(dataDir, "isohook.db"), { readonly: true });
      await until(
        "the subscription",
        async () => {
          const file = db();
          const rows = file
            .prepare("SELECT data FROM session_log WHERE session_id = ? AND kind = 'call'")
            .all(id) as { data: string }[];
          file.close();
          return rows;
        },
        (rows) => rows.some((row) => row.data.includes('"subscribe"')),
      );

      // Ctrl-C: SIGINT to every process of the group, the server's sandbox processes included.
      const exited = new Promise<number | null>((resolve) => server!.once("exit", resolve));
      process.kill(-server!.pid!, "SIGINT");
      expect(await exited).toBe(0);
      expect(existsSync(path.join(dataDir, "server.json"))).toBe(false);
      const file = db();
      const row = file.prepare("SELECT state FROM sessions WHERE id = ?").get(id) as {
        state: string;
      };
      const stopping = file
        .prepare("SELECT data FROM session_log WHERE session_id = ? AND kind = 'note'")
        .all(id) as { data: string }[];
      file.close();
      expect(row.state).toBe("running");
      expect(stopping.map((n) => JSON.parse(n.data).message)).toContain(
        "the server is stopping; the session will resume when it starts again",
      );
    });

    it("resumes the session from its journal and goes on", async () => {
      const { dataDir, projectDir } = projectFolder("crashy");

      let url = await serve(dataDir, projectDir);
      const token = readFileSync(path.join(dataDir, "token"), "utf8").trim();
      const api = async (route: string) =>
        (await (
          await fetch(url + route, { headers: { authorization: `Bearer ${token}` } })
        ).json()) as Record<string, any>;
      const hooks = await api("/api/projects/crashy");
      const hook = (name: string) =>
        new URL(hooks.triggers.find((x: { name: string }) => x.name === name).webhook_url).pathname;
      const log = async (id: string) => (await api(`/api/sessions/${id}/log`)).log as Log;

      const id = await startSession(url + hook("start"));
      await untilSubscribed(() => log(id));
      await fetch(url + hook("evt"), { method: "POST", body: '{"n": 1}' });
      await untilPrinted(() => log(id), "got 1");

      server!.kill("SIGKILL");
      await new Promise((r) => server!.once("exit", r));
      url = await serve(dataDir, projectDir);
      await until(
        "the resume",
        () => log(id),
        (l) => notes(l).some((n) => n.startsWith("resumed after the server restarted")),
      );
      await fetch(url + hook("evt"), { method: "POST", body: '{"n": 7}' });
      const ended = await until(
        "the end",
        () => api(`/api/sessions/${id}`),
        (s) => ["completed", "error", "stopped"].includes(s.state as string),
      );
      const final = await log(id);
      expect(ended.state, JSON.stringify(final)).toBe("completed");
      expectReplayed(final, 7);
    });
  });
});
