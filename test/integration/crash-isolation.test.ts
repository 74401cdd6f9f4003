// A sandbox process that dies (as it would on a V8 fatal error) costs only its own sessions.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const WAITER = `
import { http_outcome, next_event, subscribe } from "autokitteh";
export async function wait() {
  await next_event(subscribe("never"), { timeout: "30s" });
  http_outcome({ body: "woke" });
}
export function quick() {
  http_outcome({ body: "quick" });
}
`;
const OTHER = `
import { http_outcome } from "autokitteh";
export function hello() {
  http_outcome({ body: "still here" });
}
`;

let t: TestServer;
let victim: DeployResult;
let bystander: DeployResult;

beforeAll(async () => {
  t = await startTestServer();
  victim = await deployProgram(t, "victim", WAITER, [
    { name: "wait", call: "program.ts:wait", is_sync: true },
    { name: "waits_async", call: "program.ts:wait" },
    { name: "quick", call: "program.ts:quick", is_sync: true },
    { name: "never" },
  ]);
  bystander = await deployProgram(t, "bystander", OTHER, [
    { name: "hello", call: "program.ts:hello", is_sync: true },
  ]);
});
afterAll(() => t.close());

it("ends the sessions of a crashed sandbox process as errors, and keeps serving everything else", async () => {
  const victimPid = t.server.sandboxPidOf("victim")!;
  expect(victimPid).not.toBe(t.server.sandboxPidOf("bystander"));

  const waiting = [1, 2, 3].map(() => fetch(t.webhook(victim, "wait"), { method: "POST" }));
  const async = await fetch(t.webhook(victim, "waits_async"), { method: "POST" });
  const asyncSession = async.headers.get("isohook-session-id")!;
  const running = () =>
    t
      .db()
      .prepare("SELECT COUNT(*) AS n FROM sessions WHERE project = 'victim' AND state = 'running'")
      .get() as { n: number };
  while (running().n < 4) await new Promise((r) => setTimeout(r, 20));

  // SIGABRT is what V8 raises on a fatal error.
  process.kill(victimPid, "SIGABRT");
  const answers = await Promise.all(waiting);
  for (const answer of answers) {
    expect(answer.status).toBe(502);
    expect(await answer.json()).toEqual({
      error: "the session failed before it responded",
      session_id: answer.headers.get("isohook-session-id"),
    });
  }
  const session = await t.waitForSession(asyncSession);
  expect(session).toMatchObject({
    state: "error",
    error: "the sandbox process running the session died (killed by SIGABRT)",
  });
  expect(running().n).toBe(0);

  // The other project never noticed; the victim is back in a new process.
  expect(await (await fetch(t.webhook(bystander, "hello"), { method: "POST" })).text()).toBe(
    "still here",
  );
  expect(await (await fetch(t.webhook(victim, "quick"), { method: "POST" })).text()).toBe("quick");
  expect(t.server.sandboxPidOf("victim")).not.toBe(victimPid);
});

it("moves the project whose code was running when its process died to a process of its own", async () => {
  const shared = await startTestServer({ sandboxProcesses: 1 });
  try {
    const CULPRIT = `
export function busy() {
  const until = Date.now() + 1500;
  while (Date.now() < until) {}
  return "done";
}
export function hello() { return "culprit here"; }`;
    const culprit = await deployProgram(shared, "culprit", CULPRIT, [
      { name: "busy", call: "program.ts:busy", is_sync: true },
      { name: "hello", call: "program.ts:hello", is_sync: true },
    ]);
    const innocent = await deployProgram(shared, "innocent", WAITER, [
      { name: "wait", call: "program.ts:wait", is_sync: true },
      { name: "quick", call: "program.ts:quick", is_sync: true },
      { name: "never" },
    ]);
    const pid = shared.server.sandboxPidOf("culprit")!;
    expect(shared.server.sandboxPidOf("innocent")).toBe(pid);

    // The innocent session has waited a while, quietly; the culprit's is running when it dies.
    const waiting = fetch(shared.webhook(innocent, "wait"), { method: "POST" });
    await new Promise((r) => setTimeout(r, 2500));
    const busy = fetch(shared.webhook(culprit, "busy"), { method: "POST" });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, "SIGABRT");
    expect((await busy).status).toBe(502);
    expect((await waiting).status).toBe(502);

    expect(shared.server.quarantined()).toEqual(["culprit"]);
    expect(await (await fetch(shared.webhook(culprit, "hello"), { method: "POST" })).json()).toBe(
      "culprit here",
    );
    const culpritPid = shared.server.sandboxPidOf("culprit")!;
    const innocentPid = shared.server.sandboxPidOf("innocent")!;
    expect(culpritPid).not.toBe(innocentPid);
    expect(shared.server.sandboxPids()).toHaveLength(2);

    // Now the culprit's process dying again costs the innocent nothing.
    const waitingAgain = fetch(shared.webhook(innocent, "wait"), { method: "POST" });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(culpritPid, "SIGABRT");
    await new Promise((r) => setTimeout(r, 300));
    expect(shared.server.sandboxPidOf("innocent")).toBe(innocentPid);
    expect(await (await fetch(shared.webhook(innocent, "quick"), { method: "POST" })).text()).toBe(
      "quick",
    );
    // Its waiting session is still waiting: stopping it ends it as stopped, not as a crash.
    const running = shared
      .db()
      .prepare(
        "SELECT id FROM sessions WHERE project = 'innocent' AND trigger = 'wait' AND state = 'running'",
      )
      .all() as { id: string }[];
    expect(running).toHaveLength(1);
    await shared.api("POST", `/api/sessions/${running[0]!.id}/stop`);
    expect((await waitingAgain).status).toBe(502);
    expect(await shared.waitForSession(running[0]!.id)).toMatchObject({ state: "stopped" });
  } finally {
    await shared.close();
  }
});
