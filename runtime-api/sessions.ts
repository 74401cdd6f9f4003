/**
 * Which session is running, and the records it produces.
 *
 * One isolate serves many sessions of one deployment, but runs one thing at a time: every
 * call into the isolate (an entry) is for exactly one session, and the microtasks it leaves
 * are drained before the next entry starts. So "the current session" is well defined for all
 * code that runs, including promise continuations, and the globals (`console`, timers) use it
 * to attribute their calls.
 */
import type {
  AsyncBindingName,
  AsyncBindings,
  BindingName,
  Bindings,
  HostAnswer,
  HostBindingName,
  HostBindings,
  RecordBatch,
  SandboxRecord,
} from "../sandbox/protocol";

export interface Session {
  readonly id: string;
  /** The session's own random numbers, seeded by the host. */
  readonly random: SessionRandom;
  /** Pending timers: id → callback to run when the host fires it. */
  readonly timers: Map<number, TimerEntry>;
  /** Async host calls waiting for their `settle` entry: call id → the caller's promise. */
  readonly pending: Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >;
  /** A `more: false` outcome was recorded; later ones are still recorded (the host ignores them). */
  finalOutcomeRecorded: boolean;
  ended: boolean;
  /** Timer ids count per session, so that no session can learn another's from them. */
  nextTimerId: number;
  /** What is left of the session's print budget, in characters. */
  printBudget: number;
  /** Calls across the line made so far. */
  calls: number;
  /** Bytes sent across the line so far (an estimate: string lengths and byte lengths). */
  outputBytes: number;
  /** Subscriptions open now. */
  subscriptions: number;
  /** Async host calls made so far; ids count per session, so a replay makes the same ones. */
  nextCallId: number;
  /**
   * A durable session's clock: the time its current entry was delivered, in milliseconds since
   * the epoch. It does not move while code runs, so a replay reads the same times. `null`
   * for other sessions, which read the real clock.
   */
  clock: number | null;
}

export interface TimerEntry {
  readonly callback: (...args: unknown[]) => void;
  readonly args: unknown[];
  readonly repeat: boolean;
  readonly delayMs: number;
}

import { SessionRandom } from "./web/random";
import { DOMException } from "./web/dom-exception";

type Emit = (batch: RecordBatch) => void;

export interface RegistryLimits {
  /** Records buffered before they are sent early. */
  maxBuffered: number;
  /** Characters a session may print in all. */
  maxPrintChars: number;
  /** Calls across the line a session may make. */
  maxCalls: number;
  /** Bytes a session may send across the line in all (bodies, prints, arguments). */
  maxOutputBytes: number;
}

/** A session went past one of its limits. */
export class LimitError extends Error {
  override get name(): string {
    return "LimitError";
  }
}

/** The host's synchronous callback: records made so far, then the call. */
export type HostCall = (
  batch: RecordBatch | null,
  sessionId: string,
  binding: HostBindingName,
  args: unknown[],
) => HostAnswer;

// Captured now, before any user code exists, so nothing can swap them later.
const resolvedPromise = Promise.resolve();
const promiseThen = Promise.prototype.then;
const reflectApply = Reflect.apply;
const ErrorConstructor = Error;

export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  readonly #emit: Emit;
  readonly #hostCall: HostCall;
  readonly #limits: RegistryLimits;
  #current: Session | null = null;
  #buffer: SandboxRecord[] = [];
  #seq = 0;
  #flushScheduled = false;
  #inEntry = false;

  constructor(emit: Emit, hostCall: HostCall, limits: RegistryLimits) {
    this.#emit = emit;
    this.#hostCall = hostCall;
    this.#limits = limits;
  }

  create(id: string, entropy: Uint8Array, clock: number | null): Session {
    const session: Session = {
      id,
      random: new SessionRandom(entropy),
      timers: new Map(),
      pending: new Map(),
      finalOutcomeRecorded: false,
      ended: false,
      nextTimerId: 1,
      printBudget: this.#limits.maxPrintChars,
      calls: 0,
      outputBytes: 0,
      subscriptions: 0,
      nextCallId: 1,
      clock,
    };
    this.#sessions.set(id, session);
    return session;
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  delete(id: string): void {
    this.#sessions.delete(id);
  }

  /** The running session, or `null` between entries (for globals that work either way). */
  currentOrNull(): Session | null {
    return this.#current !== null && !this.#current.ended ? this.#current : null;
  }

  /** The session whose code is running; bindings called outside any session throw. */
  current(what: string): Session {
    const session = this.#current;
    if (session === null || session.ended) {
      throw new Error(`${what} can only be called while a session is running`);
    }
    return session;
  }

  /**
   * Run one entry for `session`. Records made while it runs are sent when it returns;
   * records made later in the same turn (promise continuations) are sent by a flush queued
   * behind them.
   */
  enter(session: Session, run: () => void): void {
    this.#current = session;
    this.#inEntry = true;
    try {
      run();
    } finally {
      this.#inEntry = false;
      this.flush();
    }
  }

  /** No session is running: what runs now (leftovers of a stopped entry) can call nothing. */
  leave(): void {
    this.#current = null;
  }

  /** Record one binding call of the current session. */
  recordCall<B extends BindingName>(
    session: Session,
    binding: B,
    args: Bindings[B]["args"],
    result: Bindings[B]["result"],
  ): void {
    this.#count(session, args, result);
    this.push({ type: "call", session_id: session.id, binding, args, result } as SandboxRecord);
  }

  /** Count what the session's end carries (its handler's return value) against its limits. */
  countReturned(session: Session, returned: unknown): void {
    this.#count(session, returned);
  }

  /**
   * Count a call, and what it sends, against the session's limits; past them, the call throws
   * a `LimitError`. What crosses the line is bounded, so no session can flood the host.
   */
  #count(session: Session, ...sent: unknown[]): void {
    session.calls += 1;
    if (session.calls > this.#limits.maxCalls) {
      throw new LimitError(
        `call limit: the session made more than ${this.#limits.maxCalls} calls across the sandbox boundary`,
      );
    }
    session.outputBytes += sizeOf(sent, 0);
    if (session.outputBytes > this.#limits.maxOutputBytes) {
      throw new LimitError(
        `output limit: the session sent more than ${this.#limits.maxOutputBytes} bytes across the sandbox boundary`,
      );
    }
  }

  /** Ask the host now; what was recorded before goes along first, so the log stays in order. */
  callHost<B extends HostBindingName>(
    session: Session,
    binding: B,
    args: HostBindings[B]["args"],
  ): HostBindings[B]["result"] {
    this.#count(session, args);
    const answer = this.#hostCall(this.#takeBatch(), session.id, binding, args);
    if (!answer.ok) throw toError(answer.name, answer.message);
    return answer.value as HostBindings[B]["result"];
  }

  /** Ask the host for an answer that comes later, in a `settle` entry. */
  callHostAsync<B extends AsyncBindingName>(
    session: Session,
    binding: B,
    args: AsyncBindings[B]["args"],
  ): Promise<AsyncBindings[B]["result"]> {
    this.#count(session, args);
    const callId = session.nextCallId++;
    const promise = new Promise<AsyncBindings[B]["result"]>((resolve, reject) => {
      session.pending.set(callId, { resolve: resolve as (value: unknown) => void, reject });
    });
    this.push({
      type: "async_call",
      session_id: session.id,
      call_id: callId,
      binding,
      args,
    } as SandboxRecord);
    // The host may answer as soon as it knows (an event already queued): do not make it wait.
    this.flush();
    return promise;
  }

  /** The host answered an async call. */
  settle(session: Session, callId: number, answer: HostAnswer): void {
    const pending = session.pending.get(callId);
    if (pending === undefined) return;
    session.pending.delete(callId);
    if (answer.ok) pending.resolve(answer.value);
    else pending.reject(toError(answer.name, answer.message));
  }

  push(record: SandboxRecord): void {
    this.#buffer.push(record);
    if (this.#buffer.length >= this.#limits.maxBuffered) {
      this.flush();
    } else if (!this.#inEntry) {
      this.#scheduleFlush();
    }
  }

  /** Send what is buffered now, for records the host must not wait for. */
  flush(): void {
    const batch = this.#takeBatch();
    if (batch !== null) this.#emit(batch);
  }

  #takeBatch(): RecordBatch | null {
    if (this.#buffer.length === 0) return null;
    const batch: RecordBatch = { seq: this.#seq++, records: this.#buffer };
    this.#buffer = [];
    return batch;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    reflectApply(promiseThen, resolvedPromise, [
      () => {
        this.#flushScheduled = false;
        this.flush();
      },
    ]);
  }
}

const ERRORS: Record<string, new (message: string) => Error> = {
  Error: ErrorConstructor,
  TypeError,
  RangeError,
  SyntaxError,
};

/** An error the host reported, as the exception the web APIs would throw. */
function toError(name: string | undefined, message: string): Error {
  const Constructor = ERRORS[name ?? "Error"];
  return Constructor !== undefined ? new Constructor(message) : new DOMException(message, name);
}

/** Roughly how many bytes a value takes when it crosses the line. */
function sizeOf(value: unknown, depth: number): number {
  if (typeof value === "string") return value.length;
  if (value instanceof Uint8Array) return value.byteLength;
  if (depth > 8 || value === null || typeof value !== "object") return 8;
  let total = 8;
  for (const item of Array.isArray(value) ? value : Object.values(value))
    total += sizeOf(item, depth + 1);
  return total;
}
