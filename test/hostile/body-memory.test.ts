// Callers cannot make the server hold (or store) much more than they send, nor take the memory
// other projects need: gzip bodies that inflate far beyond what real payloads do are refused,
// and bodies in progress are held against a cap per project and one for the server.
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const MiB = 1024 * 1024;

const PROGRAM = `
import { next_event, subscribe, type Event } from "autokitteh";
export async function hold(event: Event) {
  // Holds its body until "release" is called, or for two seconds at most.
  const sub = subscribe("release");
  await next_event(sub, { timeout: "2s" });
  return { bytes: event.data.body.bytes.length };
}
export function size(event: Event) {
  return { bytes: event.data.body.bytes.length };
}
`;
const TRIGGERS = [
  { name: "hold", call: "program.ts:hold", is_sync: true },
  { name: "size", call: "program.ts:size", is_sync: true },
  { name: "release" },
];

let t: TestServer;
let greedy: DeployResult;
let other: DeployResult;

beforeAll(async () => {
  t = await startTestServer({
    limits: { maxBodyBytes: 8 * MiB },
    bodyCaps: { project: 3 * MiB, server: 5 * MiB },
  });
  greedy = await deployProgram(t, "greedy", PROGRAM, TRIGGERS);
  other = await deployProgram(t, "other_bodies", PROGRAM, TRIGGERS);
});
afterAll(() => t.close());

const post = (url: string, body: Uint8Array, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", body, headers });

it("refuses a gzip body that inflates more than real payloads do, and stores nothing", async () => {
  const eventsBefore = t.db().prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number };
  const bomb = gzipSync(Buffer.alloc(4 * MiB));
  expect(bomb.length).toBeLessThan(8 * 1024);
  const refused = await post(t.webhook(greedy, "size"), bomb, { "content-encoding": "gzip" });
  expect(refused.status).toBe(413);
  expect(((await refused.json()) as { error: string }).error).toBe(
    `the request body inflates to more than 200 times the ${bomb.length} bytes sent; send it uncompressed`,
  );
  const eventsAfter = t.db().prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number };
  expect(eventsAfter.n).toBe(eventsBefore.n);

  // A first megabyte may inflate freely, and real payloads are well within the ratio.
  const small = await post(t.webhook(greedy, "size"), gzipSync(Buffer.alloc(MiB)), {
    "content-encoding": "gzip",
  });
  expect(await small.json()).toEqual({ bytes: MiB });
  const json = Buffer.from(
    JSON.stringify(Array.from({ length: 60_000 }, (_, i) => ({ id: i, name: `item ${i}` }))),
  );
  expect(json.length).toBeGreaterThan(MiB);
  const real = await post(t.webhook(greedy, "size"), gzipSync(json), {
    "content-encoding": "gzip",
  });
  expect(await real.json()).toEqual({ bytes: json.length });
});

it("answers 503 once a project's bodies in progress reach its cap, and serves other projects", async () => {
  const body = new Uint8Array(MiB);
  const held = [post(t.webhook(greedy, "hold"), body), post(t.webhook(greedy, "hold"), body)];
  await new Promise((r) => setTimeout(r, 200));
  // 2 MiB held; one more fits (3 MiB), the next does not.
  const third = post(t.webhook(greedy, "hold"), body);
  await new Promise((r) => setTimeout(r, 200));
  const refused = await post(t.webhook(greedy, "size"), body);
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).toBe("1");
  expect(await refused.json()).toEqual({
    error: `the request bodies in progress for this project take ${3 * MiB} bytes already; retry later`,
  });
  // Another project has room until the server's cap (5 MiB) is reached.
  expect(await (await post(t.webhook(other, "size"), body)).json()).toEqual({ bytes: MiB });
  const second = post(t.webhook(other, "hold"), body);
  await new Promise((r) => setTimeout(r, 200));
  expect((await post(t.webhook(other, "size"), new Uint8Array(2 * MiB))).status).toBe(503);

  // Once the sessions holding them end, the bodies' memory is free again.
  await post(t.webhook(greedy, "release"), new Uint8Array(0));
  await post(t.webhook(other, "release"), new Uint8Array(0));
  for (const answer of await Promise.all([...held, third, second]))
    expect(await answer.json()).toEqual({ bytes: MiB });
  expect(await (await post(t.webhook(greedy, "size"), new Uint8Array(2 * MiB))).json()).toEqual({
    bytes: 2 * MiB,
  });
});

it("refuses a body as soon as its bytes pass the share, while the caller is still sending", async () => {
  const { port } = new URL(t.url);
  const socket = connect(Number(port), "127.0.0.1");
  const answer = new Promise<string>((resolve) => {
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n")) resolve(text);
    });
    socket.on("error", () => resolve(text));
  });
  const path = new URL(t.webhook(greedy, "size")).pathname;
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${6 * MiB}\r\n\r\n`);
  // 4 MiB of the 6 MiB promised, then nothing: more than the project's 3 MiB share.
  for (let i = 0; i < 4; i++) socket.write(Buffer.alloc(MiB, 1));
  expect((await answer).split("\r\n")[0]).toBe("HTTP/1.1 503 Service Unavailable");
  socket.destroy();
  // The refused body holds nothing once refused.
  expect(await (await post(t.webhook(greedy, "size"), new Uint8Array(2 * MiB))).json()).toEqual({
    bytes: 2 * MiB,
  });
});
