/**
 * `npm run bench:sandbox`: the sandbox side of a session alone. One deployment's sandbox
 * (examples/simple_api, two isolates) is driven directly in this process, with no HTTP, no
 * IPC and no SQLite, by `SESSIONS_IN_FLIGHT` callers at once; prints sessions a second and the
 * CPU time each session cost, in all and by thread (the main thread, isolated-vm's threads
 * that run the isolates, V8's helpers). It is where to measure a change to sandbox/ or
 * runtime-api/ before `npm run bench` measures the whole path.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { DeploymentSandbox, type StartRequest } from "../sandbox";
import { bundleProject } from "../src/deploy/bundle";
import { threadCpuMs } from "./processes";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20_000);
const WARMUP_SESSIONS = 500;
const SESSIONS_IN_FLIGHT = 20;
const BODY = '{"name": "Alice"}';
const EXPECTED = '{"message":"Hello, Alice!"}';

/** Threads Node starts with (V8's helpers, mostly the garbage collector's); later ones are isolated-vm's. */
const startupThreads = new Set(readdirSync("/proc/self/task"));

const program = readFileSync(path.join(ROOT, "examples", "simple_api", "program.ts"));
const built = await bundleProject(new Map([["program.ts", program]]), [
  { key: "h0", file: "program.ts", exportName: "handle_request", trigger: "api" },
]);
if (!built.ok) throw new Error(`the example does not build: ${JSON.stringify(built.problems)}`);

const sandbox = await DeploymentSandbox.create({
  deploymentId: "bench",
  bundleCode: built.code,
  sourceMap: built.sourceMap,
  config: {
    project: "simple_api",
    handlers: ["h0"],
    vars: {},
    max_timers_per_session: 1000,
    max_buffered_records: 256,
    max_print_bytes_per_session: 1024 * 1024,
    max_calls_per_session: 20_000,
    max_output_bytes_per_session: 64 * 1024 * 1024,
    max_body_bytes: 10 * 1024 * 1024,
  },
  limits: {
    cpuMs: 5000,
    wallMs: 60_000,
    memoryLimitMb: 128,
    minIsolates: 2,
    maxIsolates: 2,
    maxSessionsPerIsolate: 100,
  },
  logger: pino({ level: "warn" }),
});

let started = 0;
let wrong = 0;

/** One session of the basic job; resolves when it has ended. */
function session(): Promise<void> {
  const sessionId = `ses_${started++}`;
  const request: StartRequest = {
    sessionId,
    handler: "h0",
    call: "program.ts:handle_request",
    event: {
      event_id: `evt_${sessionId}`,
      session_id: sessionId,
      event_type: "post",
      trigger: "api",
      data: {
        method: "POST",
        raw_url: "/webhooks/bench",
        url: { path: "/webhooks/bench", query: {}, path_suffix: "" },
        headers: { "content-type": "application/json", host: "127.0.0.1" },
        body: { bytes: new TextEncoder().encode(BODY) },
      },
    },
  };
  return new Promise((resolve) => {
    let answer: string | null = null;
    sandbox.start(request, {
      onCall: (record) => {
        if (record.binding === "http_outcome") answer = String(record.args[0].body);
      },
      onHostCall: () => ({ ok: false, message: "not in this benchmark" }),
      onAsyncCall: () =>
        Promise.resolve({ answer: { ok: false, message: "not in this benchmark" }, cpuMs: 0 }),
      onEntry: () => undefined,
      onEnd: (end) => {
        if (!end.ok || answer !== EXPECTED) wrong++;
        resolve();
      },
    });
  });
}

async function caller(sessions: number): Promise<void> {
  for (let i = 0; i < sessions; i++) await session();
}

function threadKind(task: string): string {
  if (task === String(process.pid)) return "main thread";
  return startupThreads.has(task) ? "V8 helpers" : "isolate threads";
}

await caller(WARMUP_SESSIONS);
const threadsBefore = threadCpuMs();
const cpuBefore = process.cpuUsage();
const startedAt = performance.now();
await Promise.all(
  Array.from({ length: SESSIONS_IN_FLIGHT }, () => caller(SESSIONS / SESSIONS_IN_FLIGHT)),
);
const seconds = (performance.now() - startedAt) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const threadsAfter = threadCpuMs();

console.log(
  `${SESSIONS} sessions of the basic job, ${SESSIONS_IN_FLIGHT} in flight: ` +
    `${Math.round(SESSIONS / seconds)} sessions/s, ` +
    `${((cpu.user + cpu.system) / SESSIONS).toFixed(0)} µs of CPU per session` +
    (wrong > 0 ? `, ${wrong} WRONG` : ""),
);
const byThread = new Map<string, number>();
for (const [task, after] of threadsAfter) {
  const kind = threadKind(task);
  byThread.set(kind, (byThread.get(kind) ?? 0) + after - (threadsBefore.get(task) ?? 0));
}
for (const [name, ms] of byThread) {
  if (ms > 0) console.log(`  ${name.padEnd(16)} ${((ms * 1000) / SESSIONS).toFixed(0)} µs/session`);
}
process.exit(wrong > 0 ? 1 : 0);
