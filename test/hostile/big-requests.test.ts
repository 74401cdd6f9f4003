// Large requests from strangers: what the server does with a body before any user code asks
// for it must not cost more than the bytes themselves.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const PROGRAM = `
import { http_outcome, type Event } from "autokitteh";
export function size(event: Event) {
  http_outcome({ body: String(event.data.body.bytes.length) });
}
export function form(event: Event) {
  const fields = event.data.body.form!;
  http_outcome({ json: { a: fields.a, proto: fields["__proto__"] ?? null, keys: Object.keys(fields).length } });
}
`;

let t: TestServer;
let p: DeployResult;

beforeAll(async () => {
  t = await startTestServer();
  p = await deployProgram(t, "big_requests", PROGRAM, [
    { name: "size", call: "program.ts:size", is_sync: true },
    { name: "form", call: "program.ts:form", is_sync: true },
  ]);
});
afterAll(() => t.close());

it("a 10 MB form of a million fields costs nothing until the handler reads it as a form", async () => {
  const pids = t.server.sandboxPids();
  const fields = Array.from({ length: 1_100_000 }, (_, i) => `k${i}=v`).join("&");
  const body = fields.slice(0, 10 * 1024 * 1024 - 1024);
  const answers = await Promise.all(
    Array.from({ length: 4 }, () =>
      fetch(t.webhook(p, "size"), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      }).then((r) => r.text()),
    ),
  );
  expect(answers).toEqual(Array(4).fill(String(Buffer.byteLength(body))));
  // No sandbox process went down on the way.
  expect(t.server.sandboxPids()).toEqual(pids);
});

it("a form read by the handler keeps repeated fields and a field named __proto__", async () => {
  const response = await fetch(t.webhook(p, "form"), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body: "a=1&__proto__=x&a=2",
  });
  expect(await response.json()).toEqual({ a: "1, 2", proto: "x", keys: 2 });
});
