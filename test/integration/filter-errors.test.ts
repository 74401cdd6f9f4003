// A filter that compiles but cannot be evaluated on a request (a header it lacks, a type
// mismatch) lets nothing through; the developer is told where it happens, without a flood.
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
import { next_event, subscribe } from "autokitteh";
export function handle() {
  return { started: true };
}
export async function waits() {
  const sub = subscribe("events", "data.body.json.n > 5");
  return { got: (await next_event(sub, { timeout: 400 }))?.body.json ?? null };
}
`;

let t: TestServer;
let p: DeployResult;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write: (chunk, _encoding, done) => {
      logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  t = await startTestServer({ logger: pino({ level: "warn" }, sink) });
  const yaml = manifest("filter_errors", [
    { name: "no_header", call: "program.ts:handle", is_sync: true },
    { name: "waits", call: "program.ts:waits", is_sync: true },
    { name: "events" },
  ]).replace(
    "      call: program.ts:handle\n",
    '      call: program.ts:handle\n      filter: data.headers["x-kind"] == "push"\n',
  );
  const response = await t.deployFiles({ "autokitteh.yaml": yaml, "program.ts": PROGRAM });
  expect(response.status, await response.clone().text()).toBe(201);
  p = (await response.json()) as DeployResult;
});
afterAll(() => t.close());

it("logs a trigger filter that cannot be evaluated, at most once a minute", async () => {
  for (let i = 0; i < 3; i++) {
    const response = await fetch(t.webhook(p, "no_header"), { method: "POST" });
    expect(response.status).toBe(202);
    expect(response.headers.get("isohook-session-id")).toBeNull();
  }
  const warnings = logLines.filter((line) => line.trigger === "no_header");
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({
    project: "filter_errors",
    msg: expect.stringContaining("filter could not be evaluated"),
    error: expect.stringMatching(/x-kind/),
  });
});

it("notes in the session's log, once, a subscription filter that cannot be evaluated", async () => {
  const answer = fetch(t.webhook(p, "waits"), { method: "POST" });
  await new Promise((r) => setTimeout(r, 100));
  for (const body of ["not json", "[]", '{"n": 9}'])
    await fetch(t.webhook(p, "events"), { method: "POST", body });
  const response = await answer;
  expect(await response.json()).toEqual({ got: { n: 9 } });
  const id = response.headers.get("isohook-session-id")!;
  await t.waitForSession(id);
  const notes = (await t.log(id)).filter(
    (entry) => entry.kind === "note" && /filter/.test(entry.data.message as string),
  );
  expect(notes).toHaveLength(1);
  expect(notes[0]!.data.message).toMatch(
    /^the filter of subscription sub_\w+ could not be evaluated on event evt_\w+ \(.+\); events it cannot be evaluated on are not queued \(said once\)$/,
  );
});
