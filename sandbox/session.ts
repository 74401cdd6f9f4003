/**
 * The host's side of one session in the sandbox: its CPU budget, its wall-clock limit, the
 * clocks behind its timers, and the translation of its records into what the server sees.
 */
import { randomBytesPooled } from "./random-pool";
import {
  hostCallDiverges,
  Replay,
  type DurableStart,
  type JournalEntry,
  type RecordedHostCall,
} from "./replay";
import type {
  AsyncCallRecord,
  CallRecord,
  Entry,
  HostAnswer,
  HostBindingName,
  ReturnedValue,
  SandboxRecord,
  WireEvent,
} from "./protocol";
import type { Culprit, EntryResult, SandboxIsolate } from "./isolate";
import type { StackMapper } from "./stack-map";

export interface SessionLimits {
  cpuMs: number;
  wallMs: number;
  memoryLimitMb: number;
}

/** What the server hears about a session. */
export interface SessionObserver {
  /**
   * One call user code made across the line, answered in the sandbox, in order. A durable
   * session's replay makes its calls again: the host tells them apart by counting (see
   * `SessionRun`), since a crash may have cut its log anywhere.
   */
  onCall(record: CallRecord): void;
  /**
   * A call the host answers at once (`subscribe`); an error answer throws in the caller. When
   * a durable session makes it again after a restart, `recorded` is the answer it had then,
   * and the caller gets that one.
   */
  onHostCall(binding: HostBindingName, args: unknown[], recorded: HostAnswer | null): HostAnswer;
  /** A call the host answers later (`next_event`, `fetch`, `crypto.subtle`). */
  onAsyncCall(record: AsyncCallRecord): Promise<HostReply>;
  /** A durable session was given an entry (after its start): the host journals its order. */
  onEntry(entry: JournalEntry): void;
  /** The session is over; nothing more will be heard of it. */
  onEnd(end: SessionEnd): void;
}

/** The host's answer to an async call, and the CPU time it spent for the session meanwhile. */
export interface HostReply {
  answer: HostAnswer;
  /**
   * Milliseconds of the host's own work for the session (`crypto.subtle`) not charged yet: they
   * count against the session's CPU budget, as its isolate's time does.
   */
  cpuMs: number;
}

export type SessionEnd = (
  | { ok: true; returned: ReturnedValue; droppedTimers: number }
  | { ok: false; failure: SessionFailure }
) & {
  /** CPU time the session's code used, in milliseconds. */
  cpuMs: number;
};

export interface SessionFailure {
  /**
   * - `error`: user code threw;
   * - `limit`: the session hit a limit (`reason` names it);
   * - `stopped`: someone stopped it;
   * - `sandbox`: the isolate it ran in failed (another session exhausted it, or a bug).
   */
  kind: "error" | "limit" | "stopped" | "sandbox";
  /** Short and stable: "cpu time limit", "memory limit", "timeout", or the error's first line. */
  reason: string;
  /** A sentence for the log saying what happened. */
  detail?: string;
  /** For `error`: the user's error, its stack mapped to their files. */
  error?: { name: string; message: string; stack: string | null };
}

export interface StartRequest {
  sessionId: string;
  handler: string;
  call: string;
  event: WireEvent;
  /** Only for durable sessions. */
  durable?: DurableStart;
}

const MIN_INTERVAL_MS = 1;
/** Seed of each session's random numbers in the sandbox. */
const ENTROPY_BYTES = 32;
/** The stop entry runs only runtime code; it needs no more than this. */
const STOP_ENTRY_TIMEOUT_MS = 1000;

export class SandboxSession {
  readonly id: string;
  #isolate: SandboxIsolate | null = null;
  readonly #request: StartRequest;
  readonly #observer: SessionObserver;
  readonly #limits: SessionLimits;
  readonly #stacks: StackMapper;
  readonly #onDone: (session: SandboxSession) => void;
  readonly #timers = new Map<number, NodeJS.Timeout>();
  readonly #wallTimer: NodeJS.Timeout;
  #cpuUsedMs = 0;
  /** Set once the end is decided; records still arriving for it are kept until `#ended`. */
  #ending = false;
  #ended = false;
  /** The sandbox reported the end; it is final once the entry that reported it is charged. */
  #reportedEnd: SessionEnd | null = null;
  /** A durable session's replay, while it runs; `null` otherwise. */
  #replay: Replay | null = null;
  /** A durable session's `subscribe` calls from before a restart, not made again yet. */
  readonly #hostCalls: RecordedHostCall[];

  constructor(options: {
    request: StartRequest;
    observer: SessionObserver;
    limits: SessionLimits;
    stacks: StackMapper;
    onDone: (session: SandboxSession) => void;
  }) {
    this.id = options.request.sessionId;
    this.#request = options.request;
    this.#observer = options.observer;
    this.#limits = options.limits;
    this.#stacks = options.stacks;
    this.#onDone = options.onDone;
    this.#hostCalls = [...(options.request.durable?.hostCalls ?? [])];
    this.#wallTimer = setTimeout(
      () =>
        this.#fail({
          kind: "limit",
          reason: "timeout",
          detail: `the session ran longer than ${options.limits.wallMs} ms`,
        }),
      options.limits.wallMs,
    );
  }

  get ended(): boolean {
    return this.#ended;
  }

  get cpuUsedMs(): number {
    return this.#cpuUsedMs;
  }

  /** Begin running in `isolate`; the session stays there for the rest of its life. */
  startIn(isolate: SandboxIsolate): void {
    if (this.#ending) return;
    this.#isolate = isolate;
    isolate.sessions.add(this.id);
    const { sessionId, handler, call, event, durable } = this.#request;
    if (durable === undefined) {
      const entropy = randomBytesPooled(ENTROPY_BYTES);
      this.#run({ kind: "start", session_id: sessionId, handler, call, event, entropy });
      return;
    }
    const { entropy, clockMs } = durable;
    const start = { kind: "start", session_id: sessionId, handler, call, event, entropy } as const;
    let last = this.#run({ ...start, clock_ms: clockMs });
    if (durable.replay === null) return;
    // The start is replayed too. Every entry goes into the isolate's queue now, in its order:
    // each one's cause (the call it answers, the timer it fires) comes from an entry before it,
    // as it did the first time.
    const replay = new Replay(durable.replay);
    for (const { entry, unjournaled } of replay.toEntries(sessionId)) {
      if (unjournaled !== null) this.#observer.onEntry(unjournaled);
      last = this.#run(entry);
    }
    this.#replay = replay;
    void last.then(() => this.#endReplay());
  }

  /**
   * The replay has run: the session is live from here. Timers it set and that had not fired
   * are armed again, each with its whole delay.
   */
  #endReplay(): void {
    const replay = this.#replay;
    // A session that ended during its replay arms nothing.
    if (replay === null || this.#ending) return;
    this.#replay = null;
    const unset = replay.firedUnset();
    if (unset !== null) return this.#diverged(`set no timer ${unset}, yet the journal has it fire`);
    for (const [timerId, { delayMs, repeat }] of replay.pendingTimers())
      this.#armTimer(timerId, delayMs, repeat);
  }

  /** End the session from outside: by a user's request, or because its deployment went away. */
  stop(reason: string): void {
    this.#fail({ kind: "stopped", reason });
  }

  /**
   * The isolate holding this session died. `limit` when this session broke it (ran it out of
   * memory, or ran past a deadline that could not be enforced otherwise): then it ends at that
   * limit even if it had reported its end (work it left running after it broke the isolate).
   */
  lost(reason: string, culprit: Pick<Culprit, "limit" | "cpuMs"> | null): void {
    const limit = culprit?.limit ?? null;
    if (culprit !== null && !this.#ended) {
      this.#cpuUsedMs += culprit.cpuMs;
      this.#reportedEnd = null;
      this.#ending = false;
    }
    if (limit === "memory limit") {
      const detail = `the isolate ran out of memory (limit ${this.#limits.memoryLimitMb} MiB)`;
      this.#fail({ kind: "limit", reason: limit, detail });
    } else if (limit === "cpu time limit") {
      this.#fail({ kind: "limit", reason: limit, detail: this.#cpuDetail() });
    } else {
      this.#fail({ kind: "sandbox", reason });
    }
  }

  /** A call of this session that the host answers at once. */
  hostCall(binding: HostBindingName, args: unknown[]): HostAnswer {
    if (this.#ending) return { ok: false, message: "the session is ending" };
    const recorded = this.#hostCalls.shift();
    if (recorded === undefined) return this.#observer.onHostCall(binding, args, null);
    const diverged = hostCallDiverges(binding, args, recorded);
    if (diverged !== null) {
      this.#diverged(diverged);
      return { ok: false, message: "the session is ending" };
    }
    return this.#observer.onHostCall(binding, args, recorded.answer);
  }

  /**
   * The replay did not do what the session did the first time (its code reads something
   * outside its entries): its answers would go to the wrong calls, so it ends here.
   */
  #diverged(what: string): void {
    this.#fail({
      kind: "error",
      reason: "the replay diverged from the journal",
      detail: `after the restart the session ${what}; a durable session must do the same when given the same entries`,
    });
  }

  /** One record the sandbox made for this session. */
  receive(record: SandboxRecord): void {
    if (this.#ended) return;
    if (record.type === "async_call") {
      const callId = record.call_id;
      // Answered before the restart: the answer is in the isolate's queue already.
      const replayed = this.#replay?.asyncCall(record) ?? { kind: "live" };
      if (replayed.kind === "diverged") return this.#diverged(replayed.what);
      if (replayed.kind === "answered") return;
      void this.#observer
        .onAsyncCall(record)
        .catch((error: unknown) => ({
          answer: { ok: false as const, message: (error as Error).message },
          cpuMs: 0,
        }))
        .then(({ answer, cpuMs }) => {
          if (this.#chargeHost(cpuMs))
            void this.#run({ kind: "settle", session_id: this.id, call_id: callId, answer });
        });
      return;
    }
    if (record.type === "end") {
      const { result } = record;
      if (result.ok) {
        this.#reportedEnd = {
          ok: true,
          returned: result.returned,
          droppedTimers: record.dropped_timers,
          cpuMs: 0,
        };
      } else {
        const error = { ...result.error, stack: this.#mapStack(result.error.stack) };
        this.#reportedEnd = {
          ok: false,
          failure: { kind: "error", reason: describe(error), error },
          cpuMs: 0,
        };
      }
      this.#stopClocks();
      return;
    }
    // While a replay runs, timers fire from the journal; those left pending are armed after it.
    if (this.#replay !== null) {
      this.#replay.call(record);
    } else if (record.binding === "set_timer") {
      this.#armTimer(record.result, ...record.args);
    } else if (record.binding === "clear_timer") {
      this.#disarmTimer(record.args[0]);
    }
    this.#observer.onCall(record);
  }

  /**
   * Run an entry of this session in its isolate; resolves once it ran (or never will). A
   * durable session's live entries get its clock here, and are journaled in this order.
   */
  #run(entry: Entry): Promise<void> {
    const isolate = this.#isolate;
    if (isolate === null || this.#ending) return Promise.resolve();
    if (this.#request.durable !== undefined) entry = this.#journaled(entry);
    // The budget is read when the entry's turn comes: entries queued earlier may spend it.
    return isolate
      .run(entry, () => this.#limits.cpuMs - this.#cpuUsedMs)
      .then((result) => this.#charge(result));
  }

  /** A durable session's live timer or settle entry, with its clock, reported for the journal. */
  #journaled(entry: Entry): Entry {
    if (entry.kind === "timer" && entry.clock_ms === undefined) {
      const clockMs = Date.now();
      this.#observer.onEntry({ kind: "timer", timerId: entry.timer_id, clockMs });
      return { ...entry, clock_ms: clockMs };
    }
    if (entry.kind === "settle" && entry.clock_ms === undefined) {
      const clockMs = Date.now();
      this.#observer.onEntry({ kind: "settle", callId: entry.call_id, clockMs });
      return { ...entry, clock_ms: clockMs };
    }
    return entry;
  }

  #charge(result: EntryResult): void {
    this.#cpuUsedMs += result.cpuMs;
    if (this.#ended || (!result.ok && result.failure === "dropped")) return;
    // Past its CPU budget, a session ends at the limit, whether the entry was stopped at its
    // deadline or ran to its end over the budget, and even if the session had reported its
    // end (it went on running after it: a promise chain that never stops, say).
    const overBudget = this.#cpuUsedMs > this.#limits.cpuMs;
    if ((!result.ok && result.failure === "cpu_limit") || overBudget) {
      this.#reportedEnd = null;
      this.#ending = false;
      return this.#fail({ kind: "limit", reason: "cpu time limit", detail: this.#cpuDetail() });
    }
    if (this.#reportedEnd !== null) return this.#finish(this.#reportedEnd);
    if (result.ok || this.#ending) return;
    switch (result.failure) {
      case "memory_limit":
      case "dead":
        this.#fail({ kind: "sandbox", reason: result.message });
        break;
      case "internal":
        this.#fail({ kind: "sandbox", reason: `sandbox runtime failed: ${result.message}` });
        break;
    }
  }

  /**
   * Charge CPU time the host spent for the session; false when that ends it. The host works
   * outside any entry's deadline, so its time is charged when its answer comes, and the
   * session ends at the limit as it would for the isolate's time.
   */
  #chargeHost(cpuMs: number): boolean {
    this.#cpuUsedMs += cpuMs;
    if (this.#ended || this.#ending) return false;
    if (this.#cpuUsedMs <= this.#limits.cpuMs) return true;
    this.#fail({ kind: "limit", reason: "cpu time limit", detail: this.#cpuDetail() });
    return false;
  }

  #cpuDetail(): string {
    return `the session used more than ${this.#limits.cpuMs} ms of CPU time`;
  }

  /**
   * An interval is armed again only once its last firing has run, so a session's timers never
   * pile up entries in the isolate's queue, however short their delay.
   */
  #armTimer(timerId: number, delayMs: number, repeat: boolean): void {
    if (this.#ending) return;
    const delay = repeat ? Math.max(delayMs, MIN_INTERVAL_MS) : delayMs;
    const fire = () => {
      if (this.#ending || !this.#timers.has(timerId)) return;
      if (!repeat) this.#timers.delete(timerId);
      void this.#run({ kind: "timer", session_id: this.id, timer_id: timerId }).then(() => {
        if (repeat && this.#timers.has(timerId) && !this.#ending) {
          this.#timers.set(timerId, setTimeout(fire, delay));
        }
      });
    };
    this.#timers.set(timerId, setTimeout(fire, delay));
  }

  #disarmTimer(timerId: number): void {
    clearTimeout(this.#timers.get(timerId));
    this.#timers.delete(timerId);
  }

  /**
   * End the session from the host's side. The sandbox is told to forget it first, which also
   * hands over what it still had buffered (prints made just before a loop that hit the CPU
   * limit, say), so the log keeps them.
   */
  #fail(failure: SessionFailure): void {
    if (this.#ending) return;
    this.#stopClocks();
    const isolate = this.#isolate;
    if (isolate === null || isolate.dead) {
      this.#finish({ ok: false, failure, cpuMs: 0 });
      return;
    }
    // Its waiting entries never run; the stop goes ahead of everything else.
    isolate.drop(this.id);
    void isolate
      .run({ kind: "stop", session_id: this.id }, () => STOP_ENTRY_TIMEOUT_MS, true)
      .then(() => this.#finish(this.#reportedEnd ?? { ok: false, failure, cpuMs: 0 }));
  }

  #finish(end: SessionEnd): void {
    if (this.#ended) return;
    this.#stopClocks();
    this.#ended = true;
    this.#isolate?.sessions.delete(this.id);
    this.#observer.onEnd({ ...end, cpuMs: this.#cpuUsedMs });
    this.#onDone(this);
  }

  #stopClocks(): void {
    this.#ending = true;
    clearTimeout(this.#wallTimer);
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #mapStack(stack: string | null): string | null {
    if (stack === null) return null;
    try {
      return this.#stacks.map(stack);
    } catch {
      return stack;
    }
  }
}

function describe(error: { name: string; message: string }): string {
  return error.message ? `${error.name}: ${error.message}` : error.name;
}
