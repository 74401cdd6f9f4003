/**
 * `npm run bench`: isohook against a bare Koa handler doing the same job, in one run, on this
 * machine. The servers run in their own processes; this process is the load generator
 * (autocannon, and a small client for the first/second round trip). Every answer's body is
 * checked, so a fast wrong answer does not count.
 *
 * Prints one table (req/s, p50, p99, peak RSS, ratio to bare Koa), then the targets and
 * whether they are met. `--profile` also writes CPU profiles of the server and its sandbox
 * processes to bench/profiles/ and prints the five functions that took the most time.
 */
import autocannon from "autocannon";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { summarizeProfiles } from "./profile";
import { childPids, cpuMsOf, rssOf } from "./processes";
import { SubscribedSignals } from "./subscribed-signals";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PROFILE = process.argv.includes("--profile");
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 50;
const WAITING_SESSIONS = 1000;
const WAKE_SAMPLES = 200;
const TOKEN = "bench-token";
const BODY = '{"name": "Alice"}';
const EXPECTED = '{"message":"Hello, Alice!"}';

interface Row {
  name: string;
  rps: number | null;
  p50: number | null;
  p99: number | null;
  rssMiB: number | null;
  /** CPU time the server's processes spent per request (all of them), in microseconds. */
  cpuUs?: number | null;
  errors: number;
  note?: string;
}

const rows: Row[] = [];
const children: ChildProcess[] = [];
const dataDir = mkdtempSync(path.join(os.tmpdir(), "isohook-bench-"));
const profileDir = path.join(ROOT, "bench", "profiles");

try {
  const koa = await startBareKoa();
  const floor = await startBareKoa(["--session-rows", path.join(dataDir, "floor")]);
  const isohook = await startIsohook();
  const hooks = await webhookUrls(isohook.url);

  console.error("measuring bare Koa…");
  const koaLoad = await load("bare Koa handler", koa.url, {
    pids: [koa.pid],
    expectBody: EXPECTED,
  });
  const koaOne = await sequential("bare Koa, 1 connection", koa.url, [koa.pid]);
  const floorLoad = await load("floor: bare Koa + session rows", floor.url, {
    pids: [floor.pid],
    expectBody: EXPECTED,
  });
  floorLoad.note =
    "bare Koa writing the SQLite rows of a basic session (event, session, 4 log entries) through isohook's store, no sandbox: what recording alone costs, the most isohook's sync path could reach";

  console.error("measuring isohook…");
  const pids = () => [isohook.pid, ...childPids(isohook.pid)];
  const sync = await load("isohook sync webhook", hooks.sync, { pids, expectBody: EXPECTED });
  const syncOne = await sequential("isohook sync, 1 connection", hooks.sync, pids());
  const asyncLoad = await load("isohook async webhook (202)", hooks.async, {
    pids,
    expectBody: "",
    expectStatus: 202,
  });
  await load("isohook sync, is_durable: true", hooks.durable, { pids, expectBody: EXPECTED });
  const signals = await SubscribedSignals.start();
  const roundTrip = await roundTrips(hooks, signals, pids);
  const wake = await wakeLatency(hooks, signals, pids);
  const waiting = await waitingMemory(hooks, pids);
  signals.close();

  printTable(koaLoad);
  printTargets({ koaLoad, koaOne, floorLoad, sync, syncOne, asyncLoad, roundTrip, wake, waiting });
} finally {
  for (const child of children) child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 1500));
  for (const child of children) child.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
}

if (PROFILE) {
  console.log("\nCPU profiles (bench/profiles/), self time of the top functions:");
  console.log(summarizeProfiles(profileDir, 5));
}

// ---- servers ----

async function startBareKoa(args: string[] = []): Promise<{ url: string; pid: number }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "bench", "bare-koa.ts"), ...args],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(child);
  const port = await new Promise<string>((resolve) =>
    child.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim())),
  );
  return { url: `http://127.0.0.1:${port}/`, pid: child.pid! };
}

async function startIsohook(): Promise<{ url: string; pid: number }> {
  const deploy = [
    "examples/simple_api",
    "bench/projects/bench_async",
    "bench/projects/bench_roundtrip",
  ].map((p) => path.join(ROOT, p));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ISOHOOK_TOKEN: TOKEN,
    ISOHOOK_LOG_LEVEL: "warn",
    ISOHOOK_MAX_RUNNING: "5000",
    // The round-trip sessions tell the benchmark, on 127.0.0.1, that they have subscribed.
    ISOHOOK_FETCH_ALLOW_PRIVATE: "1",
  };
  const profiling = PROFILE ? [`--cpu-prof`, `--cpu-prof-dir=${profileDir}`] : [];
  if (PROFILE) {
    rmSync(profileDir, { recursive: true, force: true });
    env.ISOHOOK_SANDBOX_NODE_FLAGS = profiling.join(" ");
  }
  const child = spawn(
    process.execPath,
    [
      "--no-node-snapshot",
      ...profiling,
      path.join(ROOT, "bin", "isohook.js"),
      "serve",
      "--port",
      "0",
      "--data",
      dataDir,
      "--deploy",
      ...deploy,
    ],
    {
      env,
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  children.push(child);
  const serverFile = path.join(dataDir, "server.json");
  for (let i = 0; i < 300 && !existsSync(serverFile); i++)
    await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(serverFile)) throw new Error("isohook did not start within 30 s");
  const { url } = JSON.parse(readFileSync(serverFile, "utf8")) as { url: string };
  return { url, pid: child.pid! };
}

async function webhookUrls(base: string) {
  const get = async (project: string) => {
    const response = await fetch(`${base}/api/projects/${project}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = (await response.json()) as { triggers: { name: string; webhook_url: string }[] };
    return Object.fromEntries(body.triggers.map((t) => [t.name, t.webhook_url]));
  };
  const simple = await get("simple_api");
  const asyncProject = await get("bench_async");
  const roundTrip = await get("bench_roundtrip");
  return {
    sync: simple.api!,
    durable: asyncProject.durable!,
    async: asyncProject.hello!,
    first: roundTrip.first!,
    second: roundTrip.second!,
  };
}

// ---- load ----

interface LoadOptions {
  pids: number[] | (() => number[]);
  expectBody: string;
  expectStatus?: number;
  connections?: number;
  seconds?: number;
}

async function load(name: string, url: string, options: LoadOptions): Promise<Row> {
  const connections = options.connections ?? CONNECTIONS;
  const base = {
    url,
    method: "POST" as const,
    body: BODY,
    headers: { "content-type": "application/json" },
    connections,
  };
  await autocannon({ ...base, duration: WARMUP_SECONDS });
  const pids = typeof options.pids === "function" ? options.pids : () => options.pids as number[];
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pids()))), 100);
  const cpuBefore = cpuMsOf(pids());
  const result = await autocannon({
    ...base,
    duration: options.seconds ?? LOAD_SECONDS,
    expectBody: options.expectBody,
  });
  clearInterval(sampler);
  const cpuUs = ((cpuMsOf(pids()) - cpuBefore) * 1000) / Math.max(1, result.requests.total);
  const expected = options.expectStatus ?? 200;
  const wrongStatus =
    expected === 200
      ? result.non2xx
      : result.requests.total - (result.statusCodeStats?.[expected]?.count ?? 0);
  const row: Row = {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    rssMiB: peak / 2 ** 20,
    cpuUs,
    errors: result.errors + result.timeouts + (result.mismatches ?? 0) + wrongStatus,
  };
  rows.push(row);
  return row;
}

/**
 * One connection, one request at a time, timed here with sub-millisecond resolution
 * (autocannon's histogram counts whole milliseconds).
 */
async function sequential(name: string, url: string, pids: number[]): Promise<Row> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const warmUntil = Date.now() + WARMUP_SECONDS * 1000;
  while (Date.now() < warmUntil) await post(url, BODY, agent);
  const latencies: number[] = [];
  let errors = 0;
  let peak = 0;
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    const started = performance.now();
    const text = await post(url, BODY, agent);
    latencies.push(performance.now() - started);
    if (text !== EXPECTED) errors++;
    if (latencies.length % 500 === 0) peak = Math.max(peak, rssOf(pids));
  }
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const row: Row = {
    name,
    rps: latencies.length / 5,
    p50: latencies[Math.floor(latencies.length / 2)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
    rssMiB: peak / 2 ** 20,
    errors,
  };
  rows.push(row);
  return row;
}

interface RoundTripHooks {
  first: string;
  second: string;
}

/**
 * A first request that waits in next_event, and its second: `first?id=n` subscribes, says so
 * (`notify`), and waits for `second?id=n`, which is sent once it has subscribed. Resolves to
 * the first's answer; `sent` is when the second went.
 */
async function pair(
  hooks: RoundTripHooks,
  signals: SubscribedSignals,
  id: string,
  agent: Agent,
): Promise<{ answer: string; sent: number }> {
  const subscribed = signals.subscribed(id);
  const notify = encodeURIComponent(signals.url);
  const answer = post(`${hooks.first}?id=${encodeURIComponent(id)}&notify=${notify}`, "", agent);
  // A first that fails before it subscribes answers without ever signalling.
  const early = await Promise.race([subscribed.then(() => null), answer]);
  if (early !== null) return { answer: early, sent: performance.now() };
  const sent = performance.now();
  void post(`${hooks.second}?id=${encodeURIComponent(id)}`, "wake", agent);
  return { answer: await answer, sent };
}

/** Pairs at 50 connections: pairs a second, and each pair's time from first sent to answer. */
async function roundTrips(
  hooks: RoundTripHooks,
  signals: SubscribedSignals,
  pids: () => number[],
): Promise<Row> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS * 2 });
  const latencies: number[] = [];
  let errors = 0;
  let peak = 0;
  let next = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pids()))), 100);
  const cpuBefore = cpuMsOf(pids());
  const until = Date.now() + LOAD_SECONDS * 1000;
  const worker = async () => {
    while (Date.now() < until) {
      const id = `rt${next++}`;
      const started = performance.now();
      const { answer } = await pair(hooks, signals, id, agent);
      if (answer === `${id}:wake`) latencies.push(performance.now() - started);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const cpuUs = ((cpuMsOf(pids()) - cpuBefore) * 1000) / Math.max(1, latencies.length);
  clearInterval(sampler);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const row: Row = {
    name: "isohook first/second round trip",
    rps: latencies.length / LOAD_SECONDS,
    p50: latencies[Math.floor(latencies.length / 2)] ?? null,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? null,
    rssMiB: peak / 2 ** 20,
    cpuUs,
    errors,
    note: "pairs/s; latency and CPU of the pair, first request to its answer (the first also tells the benchmark it has subscribed, with a fetch)",
  };
  rows.push(row);
  return row;
}

/**
 * How soon a waiting session answers once its event arrives: one session at a time waits in
 * `next_event`, then the second request is sent; measured from sending it to the first
 * caller's answer.
 */
async function wakeLatency(
  hooks: RoundTripHooks,
  signals: SubscribedSignals,
  pids: () => number[],
): Promise<Row> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const latencies: number[] = [];
  let errors = 0;
  for (let i = 0; i < WAKE_SAMPLES; i++) {
    const id = `wake${i}`;
    const { answer, sent } = await pair(hooks, signals, id, agent);
    if (answer === `${id}:wake`) latencies.push(performance.now() - sent);
    else errors++;
  }
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const row: Row = {
    name: "isohook wake-up (1 waiting)",
    rps: null,
    p50: latencies[Math.floor(latencies.length / 2)] ?? null,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? null,
    rssMiB: rssOf(pids()) / 2 ** 20,
    errors,
    note: "second request sent → first caller answered",
  };
  rows.push(row);
  return row;
}

/**
 * RSS of the server and its sandbox processes with 1,000 sessions waiting in next_event. They
 * are given 3 s to subscribe (they cannot all say so: a project has 64 fetches in flight at
 * most); a second sent before its first subscribed goes unseen, and the first times out.
 */
async function waitingMemory(hooks: RoundTripHooks, pids: () => number[]) {
  const agent = new Agent({ keepAlive: true, maxSockets: WAITING_SESSIONS + 10 });
  await new Promise((r) => setTimeout(r, 500));
  const before = rssOf(pids());
  const ids = Array.from({ length: WAITING_SESSIONS }, (_, i) => `waiting${i}`);
  const answers = ids.map((id) => post(`${hooks.first}?id=${id}`, "", agent));
  await new Promise((r) => setTimeout(r, 3000));
  const during = rssOf(pids());
  for (const id of ids) void post(`${hooks.second}?id=${id}`, "wake", agent);
  const results = await Promise.all(answers);
  agent.destroy();
  const answered = results.filter((text, i) => text === `${ids[i]}:wake`).length;
  return { beforeMiB: before / 2 ** 20, duringMiB: during / 2 ** 20, answered };
}

function post(url: string, body: string, agent: Agent): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { method: "POST", agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks).toString()));
    });
    req.on("error", () => resolve("<error>"));
    req.end(body);
  });
}

// ---- output ----

function printTable(koa: Row): void {
  const fmt = (n: number | null, digits = 0) => (n === null ? "n/a" : n.toFixed(digits));
  const header = [
    "scenario",
    "req/s",
    "p50 ms",
    "p99 ms",
    "peak RSS MiB",
    "ratio to Koa",
    "CPU µs/req",
    "errors",
  ];
  const lines = rows.map((r) => [
    r.name,
    fmt(r.rps),
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    fmt(r.rssMiB),
    r.rps === null || koa.rps === null ? "n/a" : (r.rps / koa.rps).toFixed(2),
    r.cpuUs === undefined ? "" : fmt(r.cpuUs),
    String(r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  console.log(
    `\nisohook benchmark, ${new Date().toISOString()}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}`,
  );
  console.log(
    `${CONNECTIONS} connections unless noted, ${LOAD_SECONDS} s per scenario after ${WARMUP_SECONDS} s of warm-up\n`,
  );
  console.log(show(header));
  console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
  for (const line of lines) console.log(show(line));
  for (const r of rows) if (r.note) console.log(`  ${r.name}: ${r.note}`);
  console.log(
    "  CPU µs/req: CPU time of the server's processes (isohook: the server and its sandbox processes) per request under load (it grows when other work shares the machine)",
  );
}

function printTargets(r: {
  koaLoad: Row;
  koaOne: Row;
  floorLoad: Row;
  sync: Row;
  syncOne: Row;
  asyncLoad: Row;
  roundTrip: Row;
  wake: Row;
  waiting: { beforeMiB: number; duringMiB: number; answered: number };
}): void {
  const ratio = (row: Row) => (row.rps ?? 0) / (r.koaLoad.rps ?? 1);
  const p99Ratio = (row: Row) => (row.p99 ?? 0) / (r.koaLoad.p99 || 1);
  const floor = `the floor, Koa + session rows alone: ${ratio(r.floorLoad).toFixed(2)}×`;
  const targets: [string, boolean, string][] = [
    [
      "sync throughput ≥ 0.6× bare Koa",
      ratio(r.sync) >= 0.6,
      `${ratio(r.sync).toFixed(2)}× (${floor})`,
    ],
    [
      "async throughput ≥ 0.7× bare Koa",
      ratio(r.asyncLoad) >= 0.7,
      `${ratio(r.asyncLoad).toFixed(2)}× (${floor})`,
    ],
    [
      "sync p99 at 50 connections ≤ 3× bare Koa's",
      (r.sync.p99 ?? Infinity) <= 3 * (r.koaLoad.p99 ?? 0),
      `${r.sync.p99} ms vs ${r.koaLoad.p99} ms (${p99Ratio(r.sync).toFixed(1)}×; the floor's ${p99Ratio(r.floorLoad).toFixed(1)}×)`,
    ],
    [
      "sync p50 at 1 connection < 1 ms",
      (r.syncOne.p50 ?? Infinity) < 1,
      `${r.syncOne.p50?.toFixed(2) ?? "n/a"} ms`,
    ],
    [
      "wake-up of a waiting session < 5 ms (p50)",
      (r.wake.p50 ?? Infinity) < 5,
      `${r.wake.p50?.toFixed(2) ?? "n/a"} ms (p99 ${r.wake.p99?.toFixed(2) ?? "n/a"} ms)`,
    ],
    [
      `${WAITING_SESSIONS} sessions waiting in next_event cost < 300 MiB of RSS`,
      r.waiting.duringMiB - r.waiting.beforeMiB < 300 && r.waiting.answered === WAITING_SESSIONS,
      `+${(r.waiting.duringMiB - r.waiting.beforeMiB).toFixed(0)} MiB (${r.waiting.beforeMiB.toFixed(0)} → ${r.waiting.duringMiB.toFixed(0)} MiB in all), ${r.waiting.answered}/${WAITING_SESSIONS} answered`,
    ],
    [
      "every answer correct",
      rows.every((row) => row.errors === 0),
      rows.map((row) => row.errors).join(", "),
    ],
  ];
  console.log("\ntargets:");
  for (const [name, met, value] of targets)
    console.log(`  ${met ? "met    " : "NOT MET"}  ${name}: ${value}`);
}
