// The `isohook` command as a user runs it: a real server process, the CLI against it, a crash.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLES } from "../helpers/test-server";

const BIN = fileURLToPath(new URL("../../bin/isohook.js", import.meta.url));
const run = promisify(execFile);

let dataDir: string;
let server: ChildProcess | undefined;
let banner = "";

function isohook(...args: string[]) {
  return run(process.execPath, [BIN, ...args, "--data", dataDir]).catch(
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

async function startServe(): Promise<string> {
  rmSync(path.join(dataDir, "server.json"), { force: true });
  banner = "";
  // Started with the flag itself, so this pid is the server's: the SIGKILL below really kills it.
  server = spawn(
    process.execPath,
    [
      "--no-node-snapshot",
      BIN,
      "serve",
      "--port",
      "0",
      "--data",
      dataDir,
      "--deploy",
      path.join(EXAMPLES, "simple_api"),
    ],
    {
      env: { ...process.env, ISOHOOK_TOKEN: "", ISOHOOK_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  server.stdout!.on("data", (chunk: Buffer) => (banner += chunk.toString()));
  server.stderr!.on("data", (chunk: Buffer) => (banner += chunk.toString()));
  const deadline = Date.now() + 20_000;
  while (!existsSync(path.join(dataDir, "server.json")) || !banner.includes("curl")) {
    if (Date.now() > deadline) throw new Error(`server did not start:\n${banner}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return (JSON.parse(readFileSync(path.join(dataDir, "server.json"), "utf8")) as { url: string })
    .url;
}

beforeAll(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), "isohook-cli-"));
});
afterAll(() => {
  server?.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("isohook CLI", () => {
  let simpleApiUrl: string;

  it("serve starts, deploys, and prints each webhook with a curl line and the new token", async () => {
    await startServe();
    const match = /api \(sync\): (http:\/\/127\.0\.0\.1:\d+\/webhooks\/\S+)/.exec(banner);
    expect(match).not.toBeNull();
    simpleApiUrl = match![1]!;
    expect(banner).toContain(
      `curl -i -X POST ${simpleApiUrl} -H 'Content-Type: application/json' --data-raw '{"name":"Alice"}'`,
    );
    expect(banner).toMatch(/API token \(saved in .*token, shown once\): \S+/);
    expect(
      os.platform() === "win32"
        ? 0
        : (await import("node:fs")).statSync(path.join(dataDir, "token")).mode & 0o777,
    ).toBe(os.platform() === "win32" ? 0 : 0o600);

    const response = await fetch(simpleApiUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '{"name": "Alice"}',
    });
    expect(await response.text()).toBe('{"message":"Hello, Alice!"}');
  });

  it("deploy, sessions, session log and events print readable output", async () => {
    const deployed = await isohook("deploy", path.join(EXAMPLES, "rest_validation"));
    expect(deployed.stdout).toMatch(
      /^deployed rest_validation \(dep_[0-9a-z]+\)\nTRIGGER\s+RUNS\s+WEBHOOK URL\ncreate_user\s+sync\s+http:/,
    );

    const sessions = await isohook("sessions", "--project", "simple_api");
    const lines = sessions.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+PROJECT\s+TRIGGER\s+STATE\s+CREATED\s+ERROR$/);
    expect(lines[1]).toMatch(/^ses_[0-9a-z]{26}\s+simple_api\s+api\s+completed\s+\d{4}-/);
    const id = lines[1]!.split(/\s+/)[0]!;

    const log = (await isohook("session", "log", id)).stdout.trim().split("\n");
    expect(log[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}state {4}created$/);
    expect(log).toContainEqual(
      expect.stringMatching(/ {2}outcome {2}200 sent \{"message":"Hello, Alice!"\}$/),
    );
    expect(log.at(-1)).toMatch(/ {2}state {4}completed$/);

    // The global options go before the command's name as well as after it.
    const before = await run(process.execPath, [
      BIN,
      "--data",
      dataDir,
      "sessions",
      "--project",
      "simple_api",
    ]);
    expect(before.stdout).toBe(sessions.stdout);

    const events = (await isohook("events")).stdout;
    expect(events).toMatch(/evt_[0-9a-z]{26}\s+simple_api\s+api\s+POST/);

    const eventId = /(evt_[0-9a-z]{26})\s+simple_api/.exec(events)![1]!;
    const event = (await isohook("event", eventId)).stdout.trim().split("\n");
    expect(event[0]).toMatch(new RegExp(`^${eventId} {2}simple_api/api {2}\\d{4}-`));
    expect(event[1]).toMatch(/^POST \/webhooks\/[\w-]+$/);
    expect(event).toContainEqual("content-type: application/json");
    expect(event.at(-1)).toBe('{"name": "Alice"}');

    // A large body is cut unless --full asks for all of it.
    const big = await fetch(simpleApiUrl, { method: "POST", body: "x".repeat(100_000) });
    const bigId = big.headers.get("isohook-event-id")!;
    const cut = (await isohook("event", bigId)).stdout.trim().split("\n");
    expect(cut.at(-1)).toBe(`(… ${100_000 - 65_536} more characters; --full prints them)`);
    expect((await isohook("event", bigId, "--full")).stdout.trim().split("\n").at(-1)).toBe(
      "x".repeat(100_000),
    );
  });

  it("deploys every folder of a project, data and dist included", async () => {
    const dir = path.join(dataDir, "with_data");
    for (const sub of ["data", "dist"]) mkdirSync(path.join(dir, sub), { recursive: true });
    writeFileSync(
      path.join(dir, "autokitteh.yaml"),
      "version: v2\nproject:\n  name: with_data\n  triggers:\n    - name: api\n      type: webhook\n      is_sync: true\n      call: program.ts:handle\n",
    );
    writeFileSync(path.join(dir, "data", "lookup.json"), '{"a": 1}');
    writeFileSync(path.join(dir, "dist", "d.json"), '{"b": 2}');
    writeFileSync(
      path.join(dir, "program.ts"),
      'import lookup from "./data/lookup.json";\nimport d from "./dist/d.json";\nexport function handle() {\n  return { ...lookup, ...d };\n}\n',
    );
    const deployed = await isohook("deploy", dir);
    const url = /api\s+sync\s+(\S+)/.exec(deployed.stdout)![1]!;
    expect(await (await fetch(url, { method: "POST" })).json()).toEqual({ a: 1, b: 2 });
  });

  it("reports deploy errors with file, line and column, and exits 1", async () => {
    const broken = path.join(dataDir, "broken");
    mkdirSync(broken);
    writeFileSync(
      path.join(broken, "autokitteh.yaml"),
      "version: v2\nproject:\n  name: broken\n  triggers:\n    - name: api\n      type: webhook\n      call: program.ts:handle\n",
    );
    writeFileSync(path.join(broken, "program.ts"), "export function handle() {\n  return (;\n}\n");
    const result = (await isohook("deploy", broken)) as { code?: number; stderr: string };
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("error: the project's code does not build");
    expect(result.stderr).toMatch(/program\.ts:2:\d+ Unexpected/);
  });

  it("after a crash, sessions left running end as errors, and webhooks keep their URLs", async () => {
    const waiting = path.join(dataDir, "waiting");
    mkdirSync(waiting);
    writeFileSync(
      path.join(waiting, "autokitteh.yaml"),
      "version: v2\nproject:\n  name: waiting\n  triggers:\n    - name: hook\n      type: webhook\n      call: program.ts:handle\n",
    );
    writeFileSync(
      path.join(waiting, "program.ts"),
      "export async function handle() {\n  await new Promise((r) => setTimeout(r, 60_000));\n}\n",
    );
    const deployed = await isohook("deploy", waiting);
    const url = /hook\s+async\s+(\S+)/.exec(deployed.stdout)![1]!;
    const accepted = await fetch(url, { method: "POST" });
    expect(accepted.status).toBe(202);
    const sessionId = accepted.headers.get("isohook-session-id")!;

    const toStop = (await fetch(url, { method: "POST" })).headers.get("isohook-session-id")!;
    const stopped = await isohook("session", "stop", toStop);
    expect(stopped.stdout.trim()).toBe(`${toStop}: stopped`);
    const again = (await isohook("session", "stop", toStop)) as { code?: number; stderr: string };
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`session ${toStop} is not running (it is stopped)`);

    server!.kill("SIGKILL");
    await new Promise((r) => server!.once("exit", r));
    await startServe();
    expect(banner).toContain("simple_api (unchanged)");
    // The port is new (the test asks for any free one); the slug is the same.
    const slugPath = new URL(simpleApiUrl).pathname;
    const restartedUrl = /api \(sync\): (\S+)/.exec(banner)![1]!;
    expect(new URL(restartedUrl).pathname).toBe(slugPath);

    const errors = (await isohook("sessions", "--state", "error")).stdout;
    expect(errors).toContain(sessionId);
    expect(errors).toContain("the server stopped while the session was running");
    const response = await fetch(restartedUrl, { method: "POST", body: '{"name": "again"}' });
    expect(await response.text()).toBe('{"message":"Hello, again!"}');
  });
});
