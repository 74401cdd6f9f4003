// The shipped examples, deployed over HTTP and called like a user would call them.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { parseManifest } from "../../src/deploy/manifest";
import { parseDuration } from "../../src/duration";
import { EXAMPLES, startTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
const deployed: Record<string, DeployResult> = {};

beforeAll(async () => {
  t = await startTestServer();
  for (const name of ["simple_api", "rest_validation", "order_accepted"]) {
    deployed[name] = await t.deployDir(path.join(EXAMPLES, name));
  }
});
afterAll(() => t.close());

describe("simple_api", () => {
  it("answers the reference's curl example byte for byte", async () => {
    const url = t.webhook(deployed.simple_api!, "api");
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '{"name": "Alice"}',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.text()).toBe('{"message":"Hello, Alice!"}');

    const eventId = response.headers.get("isohook-event-id")!;
    const sessionId = response.headers.get("isohook-session-id")!;
    expect(eventId).toMatch(/^evt_[0-9a-z]{26}$/);
    expect(sessionId).toMatch(/^ses_[0-9a-z]{26}$/);

    await t.waitForSession(sessionId);
    const row = t.db().prepare("SELECT * FROM sessions WHERE id = ?").get(sessionId) as Record<
      string,
      unknown
    >;
    expect(row).toMatchObject({
      project: "simple_api",
      trigger: "api",
      state: "completed",
      event_id: eventId,
      is_sync: 1,
    });
    expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const event = t.db().prepare("SELECT * FROM events WHERE id = ?").get(eventId) as Record<
      string,
      unknown
    >;
    expect(event).toMatchObject({ project: "simple_api", trigger: "api", event_type: "post" });
    expect(Buffer.from(event.body as Uint8Array).toString()).toBe('{"name": "Alice"}');

    const log = t
      .db()
      .prepare("SELECT kind, data FROM session_log WHERE session_id = ? ORDER BY seq")
      .all(sessionId) as { kind: string; data: string }[];
    expect(log.map((l) => l.kind)).toEqual(["state", "state", "outcome", "state"]);
    expect(log.map((l) => JSON.parse(l.data).state).filter(Boolean)).toEqual([
      "created",
      "running",
      "completed",
    ]);
    expect(JSON.parse(log[2]!.data)).toMatchObject({
      status_code: 200,
      disposition: "sent",
      body: '{"message":"Hello, Alice!"}',
      more: false,
    });
  });
});

describe("rest_validation", () => {
  const post = (body: string) =>
    fetch(t.webhook(deployed.rest_validation!, "create_user"), { method: "POST", body });

  it("creates a user: 201 with a Location", async () => {
    const response = await post('{"email": "ada@example.com", "name": "Ada"}');
    expect(response.status).toBe(201);
    const body = (await response.json()) as { id: string; email: string; name: string };
    expect(body).toMatchObject({ email: "ada@example.com", name: "Ada" });
    expect(response.headers.get("location")).toBe(`/api/users/${body.id}`);
  });

  it("refuses missing fields with 400", async () => {
    const response = await post('{"email": "ada@example.com"}');
    expect(response.status).toBe(400);
    expect(await response.text()).toBe('{"error":"Missing required fields"}');
  });

  it("refuses bad JSON with 400", async () => {
    const response = await post("{not json");
    expect(response.status).toBe(400);
    expect(await response.text()).toBe('{"error":"Invalid JSON"}');
  });
});

describe("order_accepted", () => {
  it("answers 202 at once and logs its completion after the response", async () => {
    const started = Date.now();
    const response = await fetch(t.webhook(deployed.order_accepted!, "orders"), {
      method: "POST",
      body: JSON.stringify({ id: "ord_1", items: ["book", "pen"] }),
    });
    const answeredMs = Date.now() - started;
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ order_id: "ord_1", status: "accepted" });
    // The work after the response takes 100 ms of timers; the answer did not wait for it.
    expect(answeredMs).toBeLessThan(100);

    const sessionId = response.headers.get("isohook-session-id")!;
    const sessionAtAnswer = (await (await t.api("GET", `/api/sessions/${sessionId}`)).json()) as {
      state: string;
    };
    expect(sessionAtAnswer.state).toBe("running");

    const session = await t.waitForSession(sessionId);
    expect(session.state).toBe("completed");
    const log = await t.log(sessionId);
    const outcomes = log.filter((l) => l.kind === "outcome").map((l) => l.data);
    expect(outcomes).toMatchObject([
      { status_code: 202, disposition: "sent", more: false },
      {
        status_code: 200,
        disposition: "intermediate",
        more: true,
        body: "payment for ord_1 processed",
      },
    ]);
    const sent = log.findIndex((l) => l.kind === "outcome");
    const completion = log.findIndex(
      (l) => l.kind === "print" && l.data.text === "order ord_1 completed: 2 item(s) shipped",
    );
    expect(completion).toBeGreaterThan(sent);
  });
});

describe("expense_approval", () => {
  it("waits for its decision across a restart of the server", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "isohook-expense-"));
    let server = await startTestServer({ dataDir });
    try {
      const result = await server.deployDir(path.join(EXAMPLES, "expense_approval"));
      const submitted = await fetch(server.webhook(result, "submit"), {
        method: "POST",
        body: JSON.stringify({ id: "exp-1", what: "train ticket", amount: 42.5 }),
      });
      expect(submitted.status).toBe(202);
      const id = submitted.headers.get("isohook-session-id")!;
      const deadline = Date.now() + 10_000;
      while (!(await server.log(id)).some((e) => e.data.binding === "subscribe")) {
        if (Date.now() > deadline) throw new Error("the session did not subscribe");
        await new Promise((r) => setTimeout(r, 20));
      }
      await server.close();

      server = await startTestServer({ dataDir });
      const decide = server.url + new URL(server.webhook(result, "decide")).pathname;
      const decided = await fetch(`${decide}/approve?expense=exp-1`, {
        method: "POST",
        headers: { "x-user": "ann" },
      });
      expect(decided.status).toBe(202);
      const session = await server.waitForSession(id);
      expect(session.state).toBe("completed");
      const prints = (await server.log(id))
        .filter((e) => e.kind === "print")
        .map((e) => e.data.text as string);
      expect(prints[0]).toMatch(/^expense exp-1: train ticket, 42.5, at \d{4}-/);
      expect(prints.at(-1)).toMatch(/^expense exp-1 approved by ann after \d+ s$/);
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("every example", () => {
  // A sync trigger whose script waits longer than the trigger's timeout answers 504 instead of
  // the script's own "no event in time" answer.
  it("waits less than its sync triggers' timeout", () => {
    const DEFAULT_SYNC_TIMEOUT_MS = 30_000;
    for (const name of readdirSync(EXAMPLES)) {
      const manifestPath = path.join(EXAMPLES, name, "autokitteh.yaml");
      let text: string;
      try {
        text = readFileSync(manifestPath, "utf8");
      } catch {
        continue;
      }
      const parsed = parseManifest(text);
      if (!parsed.ok) throw new Error(`${name}: ${JSON.stringify(parsed)}`);
      const wait = parsed.manifest.project.vars.find((v) => v.name === "WAIT_TIMEOUT");
      if (wait === undefined) continue;
      for (const trigger of parsed.manifest.project.triggers.filter((t) => t.is_sync)) {
        const timeout = trigger.timeout_ms ?? DEFAULT_SYNC_TIMEOUT_MS;
        expect(parseDuration(wait.value), `${name}/${trigger.name}`).toBeLessThan(timeout);
      }
    }
  });
});
