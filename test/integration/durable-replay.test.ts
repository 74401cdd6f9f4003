// A durable session's replay, driven directly in one deployment's sandbox: what is journaled,
// what is asked of the host again, and what happens when a replay is cut short or diverges.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DeploymentSandbox,
  type CallRecord,
  type DurableStart,
  type HostAnswer,
  type JournalEntry,
  type ReplayEntry,
  type SessionEnd,
} from "../../sandbox";
import { argsDigest } from "../../sandbox/args-digest";
import { bundleProject } from "../../src/deploy/bundle";

// Two digests with a timer between them, then a wait for a third; each step prints.
const PROGRAM = `
const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].join(",");
const digest = async (text: string) =>
  hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));

export async function run() {
  console.log("start " + Date.now() + " " + Math.random());
  console.log("one " + (await digest("a")) + " " + Date.now());
  await new Promise((resolve) => setTimeout(resolve, 5));
  console.log("two " + (await digest("b")) + " " + Date.now());
  console.log("three " + (await digest("c")));
  return Math.random();
}
`;

let sandbox: DeploymentSandbox;

beforeAll(async () => {
  const built = await bundleProject(new Map([["program.ts", Buffer.from(PROGRAM)]]), [
    { key: "h0", file: "program.ts", exportName: "run", trigger: "start" },
  ]);
  if (!built.ok) throw new Error(JSON.stringify(built.problems));
  sandbox = await DeploymentSandbox.create({
    deploymentId: "replay",
    bundleCode: built.code,
    sourceMap: built.sourceMap,
    config: {
      project: "replay",
      handlers: ["h0"],
      vars: {},
      max_timers_per_session: 100,
      max_buffered_records: 256,
      max_print_bytes_per_session: 1024 * 1024,
      max_calls_per_session: 1000,
      max_output_bytes_per_session: 1024 * 1024,
      max_body_bytes: 1024 * 1024,
    },
    limits: {
      cpuMs: 5000,
      wallMs: 60_000,
      memoryLimitMb: 64,
      minIsolates: 1,
      maxIsolates: 1,
      maxSessionsPerIsolate: 100,
    },
    logger: pino({ level: "silent" }),
  });
});

afterAll(() => sandbox.close("the test is over"));

interface Observed {
  /** Printed text. */
  prints: string[];
  /** Async calls sent to the host (not answered from the journal). */
  asked: { callId: number; binding: string }[];
  /** The digest of each asked call's arguments. */
  digests: Map<number, string>;
  entries: JournalEntry[];
  end: Promise<SessionEnd>;
}

let sessions = 0;

/**
 * Run the program as a durable session; `answer` decides each call the host is asked (null:
 * leave it unanswered).
 */
function runSession(
  durable: DurableStart,
  answer: (callId: number) => HostAnswer | null,
): Observed {
  const sessionId = `ses_${++sessions}`;
  const observed: Omit<Observed, "end"> = {
    prints: [],
    asked: [],
    digests: new Map(),
    entries: [],
  };
  const end = new Promise<SessionEnd>((resolve) => {
    sandbox.start(
      {
        sessionId,
        handler: "h0",
        call: "program.ts:run",
        event: {
          event_id: "evt_1",
          session_id: sessionId,
          event_type: "post",
          trigger: "start",
          data: {
            method: "POST",
            raw_url: "/",
            url: { path: "/", query: {}, path_suffix: "" },
            headers: {},
            body: { bytes: new Uint8Array() },
          },
        },
        durable,
      },
      {
        onCall: (record: CallRecord) => {
          if (record.binding !== "print") return;
          observed.prints.push(record.args[1]);
        },
        onHostCall: () => ({ ok: false, message: "no host calls here" }),
        onAsyncCall: (record) => {
          observed.asked.push({ callId: record.call_id, binding: record.binding });
          observed.digests.set(record.call_id, argsDigest(record.args));
          const given = answer(record.call_id);
          return given === null
            ? new Promise(() => undefined)
            : Promise.resolve({ answer: given, cpuMs: 0 });
        },
        onEntry: (entry) => observed.entries.push(entry),
        onEnd: resolve,
      },
    );
  });
  return { ...observed, end };
}

const bytes = (n: number): HostAnswer => ({ ok: true, value: new Uint8Array([n, n]) });
const START = { entropy: new Uint8Array(32).fill(7), clockMs: 1_700_000_000_000, hostCalls: [] };

/** The replay of what a first run was given, as the journal would give it back. */
function replayOf(
  entries: JournalEntry[],
  answers: Map<number, HostAnswer>,
  digests: Map<number, string>,
): ReplayEntry[] {
  return entries.map((entry) =>
    entry.kind === "timer"
      ? entry
      : {
          kind: "settle",
          callId: entry.callId,
          binding: "crypto_digest",
          argsDigest: digests.get(entry.callId)!,
          clockMs: entry.clockMs,
          answer: answers.get(entry.callId)!,
          journaled: true,
        },
  );
}

describe("a durable session's replay", () => {
  it("journals the order of what it is given, and a replay of it does the same without asking", async () => {
    const answers = new Map([1, 2, 3].map((n) => [n, bytes(n)]));
    const first = runSession({ ...START, replay: null }, (id) => answers.get(id)!);
    const firstEnd = await first.end;
    expect(firstEnd.ok).toBe(true);
    expect(first.entries.map((e) => e.kind)).toEqual(["settle", "timer", "settle", "settle"]);
    expect(first.asked.map((a) => a.callId)).toEqual([1, 2, 3]);

    const again = runSession(
      { ...START, replay: replayOf(first.entries, answers, first.digests) },
      () => {
        throw new Error("a replay must not ask");
      },
    );
    const againEnd = await again.end;
    expect(againEnd).toEqual({ ...firstEnd, cpuMs: againEnd.cpuMs });
    expect(again.asked).toEqual([]);
    expect(again.entries).toEqual([]);
    expect(again.prints).toEqual(first.prints);
  });

  it("journals an answer it is given only in the replay, so that a second restart replays it in place", async () => {
    // The first run was stopped after call 2 was answered but before the answer was given.
    const answers = new Map([1, 2, 3].map((n) => [n, bytes(n)]));
    const first = runSession({ ...START, replay: null }, (id) =>
      id === 2 ? null : answers.get(id)!,
    );
    await waitFor(() => first.asked.length === 2);
    sandbox.session(`ses_${sessions}`)!.stop("the server stopped");
    await first.end;
    const cut: ReplayEntry[] = [
      ...replayOf(first.entries, answers, first.digests),
      {
        kind: "settle",
        callId: 2,
        binding: "crypto_digest",
        argsDigest: first.digests.get(2)!,
        clockMs: START.clockMs + 99,
        answer: answers.get(2)!,
        journaled: false,
      },
    ];
    // Resumed once: it is given answer 2 last, journals that, and is stopped before call 3.
    const second = runSession({ ...START, replay: cut }, () => null);
    await waitFor(() => second.asked.length === 1);
    expect(second.asked).toEqual([{ callId: 3, binding: "crypto_digest" }]);
    expect(second.entries).toEqual([{ kind: "settle", callId: 2, clockMs: START.clockMs + 99 }]);
    sandbox.session(`ses_${sessions}`)!.stop("the server stopped again");
    await second.end;

    // Resumed again, from everything journaled in both runs: it finishes.
    const journaled = [...first.entries, ...second.entries];
    const third = runSession(
      { ...START, replay: replayOf(journaled, answers, first.digests) },
      (id) => answers.get(id)!,
    );
    const end = await third.end;
    expect(end.ok, JSON.stringify(end)).toBe(true);
    expect(third.prints.map((p) => p.split(" ")[0])).toEqual(["start", "one", "two", "three"]);
    // Only the call left unanswered is asked again.
    expect(third.asked).toEqual([{ callId: 3, binding: "crypto_digest" }]);
  });

  it("ends a replay that makes a different call than the journal has", async () => {
    const answers = new Map([1, 2, 3].map((n) => [n, bytes(n)]));
    const first = runSession({ ...START, replay: null }, (id) => answers.get(id)!);
    await first.end;
    const wrong = replayOf(first.entries, answers, first.digests).map((entry) =>
      entry.kind === "settle" && entry.callId === 2
        ? { ...entry, binding: "fetch" as const }
        : entry,
    );
    const diverged = runSession({ ...START, replay: wrong }, () => null);
    const end = await diverged.end;
    expect(end.ok).toBe(false);
    if (!end.ok) {
      expect(end.failure.reason).toBe("the replay diverged from the journal");
      expect(end.failure.detail).toContain(
        "made host call number 2 (crypto_digest) where the journal has fetch",
      );
    }
  });

  it("ends a replay that makes a call with other arguments, or leaves a journaled timer unset", async () => {
    const answers = new Map([1, 2, 3].map((n) => [n, bytes(n)]));
    const first = runSession({ ...START, replay: null }, (id) => answers.get(id)!);
    await first.end;
    const replay = replayOf(first.entries, answers, first.digests);
    const otherArgs = replay.map((entry) =>
      entry.kind === "settle" && entry.callId === 3 ? { ...entry, argsDigest: "other" } : entry,
    );
    const other = await runSession({ ...START, replay: otherArgs }, () => null).end;
    expect(!other.ok && other.failure.detail).toContain(
      "made host call number 3 (crypto_digest) with other arguments than the journal has",
    );
    // Cut before the last answer, so that the session is still running when the replay ends.
    const strayTimer = [...replay.slice(0, 3), { kind: "timer" as const, timerId: 99, clockMs: 5 }];
    const stray = await runSession({ ...START, replay: strayTimer }, () => null).end;
    expect(!stray.ok && stray.failure.detail).toContain(
      "set no timer 99, yet the journal has it fire",
    );
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}
