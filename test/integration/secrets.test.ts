// Secret vars never reach the session log, the API or the server log, however a script prints them.
import { execFile } from "node:child_process";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadSettings } from "../../src/config";
import type { DeployResult } from "../../src/deploy/deployer";
import { startServer, type RunningServer } from "../../src/server";
import { manifest } from "../helpers/projects";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const SECRET = "s3cr3t'value\nwith-newline";
const PROGRAM = `
import { getenv, http_outcome } from "autokitteh";
export async function leak() {
  const secret = getenv("TOKEN")!;
  console.log(secret);
  console.log({ secret, nested: [secret] });
  console.log("%j", { secret });
  console.log({ body: JSON.stringify({ password: secret }) }, JSON.stringify(JSON.stringify(secret)));
  try { JSON.parse(secret); } catch (e) { console.log((e as Error).message); }
  console.log(new TextEncoder().encode(secret), String(new TextEncoder().encode(secret)));
  console.log("env", process.env);
  console.log("x".repeat(60 * 1024 - 5) + secret);
  try { http_outcome({ status_code: ("z".repeat(30) + secret) as never }); } catch (e) { console.log((e as Error).message); }
  http_outcome({ body: new Uint8Array([0xff, ...new TextEncoder().encode(secret)]), more: true });
  for (const kib of [64, 128]) http_outcome({ body: "y".repeat(kib * 1024 - 6) + secret, more: true });
  try { await fetch("https://example.com/x?key=" + secret, { headers: { Authorization: "Basic " + btoa("user:" + secret.replace(/[^\x00-\xff]/g, "")) } }); } catch {}
  console.log("x".repeat(1024 * 1024 - 10));
  console.log(secret);
  throw new Error("failed with " + secret);
}
`;

let server: RunningServer;
let project: DeployResult;
let serverLog = "";
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), "isohook-secrets-"));
  const settings = loadSettings({}, { host: "127.0.0.1", port: 0, dataDir, token: "t" });
  const sink = new Writable({
    write: (chunk, _encoding, done) => ((serverLog += chunk.toString()), done()),
  });
  server = await startServer({ settings, logger: pino({ level: "debug" }, sink) });
  const yaml = manifest(
    "leaky",
    [{ name: "leak", call: "program.ts:leak", is_sync: true }],
    `  vars:\n    - name: TOKEN\n      value: ${JSON.stringify(SECRET)}\n      secret: true`,
  );
  const form = new FormData();
  form.append("file", new Blob([yaml]), "autokitteh.yaml");
  form.append("file", new Blob([PROGRAM]), "program.ts");
  const response = await fetch(`${server.url}/api/deploy`, {
    method: "POST",
    body: form,
    headers: { authorization: "Bearer t" },
  });
  expect(response.status).toBe(201);
  project = (await response.json()) as DeployResult;
});
afterAll(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

it("keeps the secret out of the log, the API and the server log, in every form printed", async () => {
  const response = await fetch(project.triggers[0]!.webhook_url, { method: "POST" });
  const sessionId = response.headers.get("isohook-session-id")!;
  for (let i = 0; i < 100; i++) {
    const session = (await (
      await fetch(`${server.url}/api/sessions/${sessionId}`, {
        headers: { authorization: "Bearer t" },
      })
    ).json()) as { state: string };
    if (session.state === "error") break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const log = await (
    await fetch(`${server.url}/api/sessions/${sessionId}/log`, {
      headers: { authorization: "Bearer t" },
    })
  ).text();
  const session = await (
    await fetch(`${server.url}/api/sessions/${sessionId}`, {
      headers: { authorization: "Bearer t" },
    })
  ).text();
  const project_ = await (
    await fetch(`${server.url}/api/projects/leaky`, { headers: { authorization: "Bearer t" } })
  ).text();

  const forms = [
    SECRET,
    SECRET.slice(0, 6),
    "0: 115, 1: 51, 2: 99",
    "115,51,99,114,51,116",
    JSON.stringify(SECRET).slice(1, -1),
    "s3cr3t\\'value",
    "s3cr3t'value",
    Buffer.from(SECRET).toString("base64").slice(0, 12),
    new URL("http://x/?k=" + SECRET).search.slice(3),
    Buffer.from("user:" + SECRET)
      .toString("base64")
      .slice(8, 20),
  ];
  for (const [where, text] of Object.entries({ log, session, project: project_, serverLog })) {
    for (const form of forms)
      expect(text, `${where} holds ${JSON.stringify(form)}`).not.toContain(form);
  }
  expect(log).toContain("<secret>");
  // Prints cut for the log are cut after redaction: no half secret at the cut.
  expect(log).not.toContain("s3cr3t");
});

// What a webhook's caller sends, and what the runtime lower-cases (header names, URL hosts).
const CALLER_SECRET = "sup3rS3cretValue-XYZ123";
const CALLER_PROGRAM = `
import { getenv, http_outcome } from "autokitteh";
export async function echo() {
  const secret = getenv("SECRET")!;
  console.log(Array.from(new TextEncoder().encode(secret)).map(String));
  try { await fetch("https://" + secret + ".example/"); } catch (e) { console.log((e as Error).message); }
  http_outcome({ headers: { [secret]: "1" }, body: "ok" });
}
`;

it("keeps secrets a webhook's caller sent out of the events API and the CLI, in any case", async () => {
  const yaml = manifest(
    "sec",
    [{ name: "ok", call: "program.ts:echo", is_sync: true }],
    `  vars:\n    - name: SECRET\n      value: ${CALLER_SECRET}\n      secret: true`,
  );
  const form = new FormData();
  form.append("file", new Blob([yaml]), "autokitteh.yaml");
  form.append("file", new Blob([CALLER_PROGRAM]), "program.ts");
  const auth = { authorization: "Bearer t" };
  const deployed = await fetch(`${server.url}/api/deploy`, {
    method: "POST",
    body: form,
    headers: auth,
  });
  expect(deployed.status).toBe(201);
  const url = ((await deployed.json()) as DeployResult).triggers[0]!.webhook_url;

  const lower = CALLER_SECRET.toLowerCase();
  const response = await fetch(`${url}/ok?token=${CALLER_SECRET}&${lower}=1`, {
    headers: { "X-Token": CALLER_SECRET, [CALLER_SECRET]: "1" },
  });
  expect(response.status).toBe(200);
  const sessionId = response.headers.get("isohook-session-id")!;
  const get = async (route: string) => (await fetch(server.url + route, { headers: auth })).text();
  for (let i = 0; i < 100 && !(await get(`/api/sessions/${sessionId}`)).includes("completed"); i++)
    await new Promise((r) => setTimeout(r, 20));

  const events = await get("/api/events?project=sec&limit=1");
  const cli = await promisify(execFile)(process.execPath, [
    fileURLToPath(new URL("../../bin/isohook.js", import.meta.url)),
    "events",
    "--project",
    "sec",
    "--url",
    server.url,
    "--token",
    "t",
  ]);
  const log = await get(`/api/sessions/${sessionId}/log`);
  const listings = { events, cli: cli.stdout, log, serverLog };
  for (const [where, text] of Object.entries(listings)) {
    expect(text.toLowerCase(), where).not.toContain("s3cretvalue");
    expect(text.replace(/[\s'"]+/g, ""), where).not.toContain("115,117,112,51,114");
  }
  expect(JSON.parse(events)).toMatchObject({
    events: [
      {
        data: {
          raw_url: expect.stringContaining("?token=<secret>&<secret>=1"),
          url: { query: { token: "<secret>", "<secret>": "1" } },
          headers: { "x-token": "<secret>", "<secret>": "1" },
        },
      },
    ],
  });
  expect(cli.stdout).toContain("/ok?token=<secret>&<secret>=1");
});

it("keeps a secret out of an event's URL however the caller percent-encodes it", async () => {
  const auth = { authorization: "Bearer t" };
  const project = (await (
    await fetch(`${server.url}/api/projects/sec`, { headers: auth })
  ).json()) as { triggers: { webhook_url: string }[] };
  const encoded = [...CALLER_SECRET]
    .map((c, i) => (i % 2 === 0 ? `%${c.charCodeAt(0).toString(16).toUpperCase()}` : c))
    .join("");
  expect((await fetch(`${project.triggers[0]!.webhook_url}/${encoded}?q=${encoded}`)).status).toBe(
    200,
  );
  const events = await (
    await fetch(`${server.url}/api/events?project=sec&limit=1`, { headers: auth })
  ).text();
  expect(events).not.toContain(encoded);
  expect(events.toLowerCase()).not.toContain("s3cretvalue");
  expect(JSON.parse(events)).toMatchObject({
    events: [{ data: { raw_url: expect.stringMatching(/\/<secret>\?q=<secret>$/) } }],
  });
});

it("shows an event's body through the API with a caller's secret redacted, text or bytes", async () => {
  const auth = { authorization: "Bearer t" };
  const project = (await (
    await fetch(`${server.url}/api/projects/sec`, { headers: auth })
  ).json()) as { triggers: { webhook_url: string }[] };
  const hook = project.triggers[0]!.webhook_url;
  const bodies = [
    `{"token": "${CALLER_SECRET}"}`,
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(CALLER_SECRET)]),
  ];
  for (const body of bodies) {
    const response = await fetch(hook, { method: "POST", body });
    expect(response.status).toBe(200);
    const eventId = response.headers.get("isohook-event-id")!;
    const shown = (await (
      await fetch(`${server.url}/api/events/${eventId}`, { headers: auth })
    ).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ id: eventId, project: "sec", body_bytes: body.length });
    if (typeof body === "string") expect(shown.body).toBe('{"token": "<secret>"}');
    else
      expect(Buffer.from(shown.body_base64 as string, "base64").toString("latin1")).toBe(
        "\xff\xfe<secret>",
      );
  }
  expect((await fetch(`${server.url}/api/events/evt_nope`, { headers: auth })).status).toBe(404);
});
