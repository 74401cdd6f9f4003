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
