/**
 * Which session is running, and the records it produces.
 *
 * One isolate serves many sessions of one deployment, but runs one thing at a time: every
 * call into the isolate (an entry) is for exactly one session, and the microtasks it leaves
 * are drained before the next entry starts. So "the current session" is well defined for all
 * code that runs, including promise continuations, and the globals (`console`, timers) use it
 * to attribute their calls.
 */
import type { BindingName, Bindings, RecordBatch, SandboxRecord } from "../sandbox/protocol";

export interface Session {
  readonly id: string;
  /** Pending timers: id → callback to run when the host fires it. */
  readonly timers: Map<number, TimerEntry>;
  /** A `more: false` outcome was recorded; later ones are still recorded (the host ignores them). */
  finalOutcomeRecorded: boolean;
  ended: boolean;
}

export interface TimerEntry {
  readonly callback: (...args: unknown[]) => void;
  readonly args: unknown[];
  readonly repeat: boolean;
  readonly delayMs: number;
}

type Emit = (batch: RecordBatch) => void;

// Captured now, before any user code exists, so nothing can swap them later.
const resolvedPromise = Promise.resolve();
const promiseThen = Promise.prototype.then;
const reflectApply = Reflect.apply;

export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  readonly #emit: Emit;
  readonly #maxBuffered: number;
  #current: Session | null = null;
  #buffer: SandboxRecord[] = [];
  #seq = 0;
  #flushScheduled = false;
  #inEntry = false;

  constructor(emit: Emit, maxBuffered: number) {
    this.#emit = emit;
    this.#maxBuffered = maxBuffered;
  }

  create(id: string): Session {
    const session: Session = { id, timers: new Map(), finalOutcomeRecorded: false, ended: false };
    this.#sessions.set(id, session);
    return session;
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  delete(id: string): void {
    this.#sessions.delete(id);
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

  /** Record one binding call of the current session. */
  recordCall<B extends BindingName>(
    session: Session,
    binding: B,
    args: Bindings[B]["args"],
    result: Bindings[B]["result"],
  ): void {
    this.push({ type: "call", session_id: session.id, binding, args, result } as SandboxRecord);
  }

  push(record: SandboxRecord): void {
    this.#buffer.push(record);
    if (this.#buffer.length >= this.#maxBuffered) {
      this.flush();
    } else if (!this.#inEntry) {
      this.#scheduleFlush();
    }
  }

  /** Send what is buffered now, for records the host must not wait for. */
  flush(): void {
    if (this.#buffer.length === 0) return;
    const batch: RecordBatch = { seq: this.#seq++, records: this.#buffer };
    this.#buffer = [];
    this.#emit(batch);
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
