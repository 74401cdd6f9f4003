// Load: 200 sessions waiting in next_event at once, each woken by its own second request.
// Loopback only, bounded; prints its figures.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { cpuMsOf, rssOf } from "../../bench/processes";
import { startTestServer, type TestServer } from "../helpers/test-server";

const WAITING = 200;

const PROGRAM = `
import { http_outcome, next_event, subscribe, type Event } from "autokitteh";

export async function wait_for_mine(event: Event) {
  const id = event.data.url.query.id;
  const sub = subscribe("second", "data.url.query.id == " + JSON.stringify(id));
  const second = await next_event(sub, { timeout: "30s" });
  http_outcome({ body: second === null ? id + ":timeout" : id + ":" + second.body.text });
}
`;

let t: TestServer;
/** The server's memory: this process (the server runs in it) and its sandbox processes. */
const rss = () => rssOf([process.pid, ...t.server.sandboxPids()]);
let p: DeployResult;

beforeAll(async () => {
  t = await startTestServer({ limits: { maxRunning: 1000 } });
  p = await deployProgram(t, "crowd", PROGRAM, [
    { name: "first", call: "program.ts:wait_for_mine", is_sync: true },
    { name: "second" },
  ]);
});
afterAll(() => t.close());

it(`wakes ${WAITING} waiting sessions, each with its own event, using no CPU while they wait`, async () => {
  const rssBefore = rss();
  let rssPeak = rssBefore;
  const sample = setInterval(() => (rssPeak = Math.max(rssPeak, rss())), 20);
  const started = performance.now();

  const answers = Array.from({ length: WAITING }, (_, i) =>
    fetch(`${t.webhook(p, "first")}?id=${i}`, { method: "POST" }).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    })),
  );
  const open = () =>
    (
      t.db().prepare("SELECT COUNT(*) AS n FROM subscriptions WHERE ended_at IS NULL").get() as {
        n: number;
      }
    ).n;
  while (open() < WAITING) await new Promise((r) => setTimeout(r, 20));
  const allWaitingMs = performance.now() - started;

  // All are waiting now: the server and its sandbox processes should be idle, not polling.
  const pids = [process.pid, ...t.server.sandboxPids()];
  const cpuBefore = cpuMsOf(pids);
  await new Promise((r) => setTimeout(r, 500));
  const idleCpuMs = cpuMsOf(pids) - cpuBefore;

  const wakeStarted = performance.now();
  const order = Array.from({ length: WAITING }, (_, i) => i).sort(
    (a, b) => ((a * 7919) % WAITING) - ((b * 7919) % WAITING),
  );
  await Promise.all(
    order.map((i) =>
      fetch(`${t.webhook(p, "second")}?id=${i}`, { method: "POST", body: `wake-${i}` }),
    ),
  );
  const results = await Promise.all(answers);
  const wokenMs = performance.now() - wakeStarted;
  clearInterval(sample);

  results.forEach((result, i) => {
    expect(result.status).toBe(200);
    expect(result.text).toBe(`${i}:wake-${i}`);
  });
  expect(idleCpuMs).toBeLessThan(100);
  expect(rssPeak - rssBefore).toBeLessThan(300 * 1024 * 1024);
  // Each session ends just after its answer; give the last ones a moment to be recorded.
  const states = () =>
    t.db().prepare("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state").all();
  for (
    let i = 0;
    i < 100 && JSON.stringify(states()) !== JSON.stringify([{ state: "completed", n: WAITING }]);
    i++
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(states()).toEqual([{ state: "completed", n: WAITING }]);

  console.log(
    `${WAITING} waiting sessions: all subscribed after ${allWaitingMs.toFixed(0)} ms; ` +
      `CPU while all waited ${idleCpuMs.toFixed(1)} ms over 500 ms; ` +
      `all woken and answered ${wokenMs.toFixed(0)} ms after the first wake request; ` +
      `RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB`,
  );
});
