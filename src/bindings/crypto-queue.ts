/**
 * When `crypto.subtle` work runs, and what it costs its session. Node's Web Crypto does the
 * work in the server process, on libuv's thread pool (four threads, shared with DNS lookups
 * and file work) or, for some key imports, on the main thread. Left to itself, one session
 * could queue hundreds of expensive operations that run on after it ends and are charged to
 * nobody. So:
 *
 * - a session's operations run one at a time, in the order called (`CryptoQueue`); those still
 *   waiting when the session ends, or once it has spent its CPU budget here, never run;
 * - the server runs at most `CRYPTO_SLOTS` operations at once (`CryptoSlots`), leaving the
 *   other threads of the pool free, so an operation, once started, has a thread to itself;
 * - a free slot goes to the waiting project that holds the fewest, then to its session that
 *   holds the fewest (`FairLine`), so an operation of a project with nothing running waits
 *   for the next slot to free, not behind all that a flooding project has queued;
 * - each operation is timed from its start to its end, and the time is charged to its session
 *   as CPU time, against the same budget as its isolate's (see `takeSpentMs`).
 *
 * The time is wall-clock time: Node does not say how much CPU one job of the pool took. With a
 * thread to itself it is close to the CPU time; a busy main thread can add to it.
 */
import { FairLine } from "./fair-line";
import { HostWorkCancelledError, type WorkOwner } from "./host-work";

/** Crypto operations the server runs at once: half of libuv's default pool. */
export const CRYPTO_SLOTS = 2;

/** The server's crypto slots: operations beyond them wait, in turns fair between projects. */
export class CryptoSlots {
  #free: number;
  readonly #line = new FairLine();

  constructor(slots = CRYPTO_SLOTS) {
    this.#free = slots;
  }

  /** Run `owner`'s `work` once a slot is its (or give up when `signal` aborts first); time it. */
  async run<T>(
    owner: WorkOwner,
    work: () => Promise<T>,
    signal: AbortSignal,
    spent: (ms: number) => void,
  ): Promise<T> {
    await this.#acquire(owner, signal);
    const started = performance.now();
    try {
      return await work();
    } finally {
      spent(performance.now() - started);
      this.#release(owner);
    }
  }

  /** Nobody waits while a slot is free, so a free slot can be taken at once. */
  #acquire(owner: WorkOwner, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#free > 0) {
      this.#free -= 1;
      this.#line.take(owner);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const abandoned = () => {
        leaveLine();
        reject(signal.reason as Error);
      };
      const leaveLine = this.#line.join(owner, () => {
        signal.removeEventListener("abort", abandoned);
        resolve();
      });
      signal.addEventListener("abort", abandoned, { once: true });
    });
  }

  /** A finished operation's slot goes straight to whoever's turn is next. */
  #release(owner: WorkOwner): void {
    this.#line.give(owner);
    const next = this.#line.next();
    if (next !== undefined) next();
    else this.#free += 1;
  }
}

/** One session's crypto operations: one at a time, timed, within its CPU budget. */
export class CryptoQueue {
  readonly #slots: CryptoSlots;
  readonly #owner: WorkOwner;
  readonly #budgetMs: number;
  readonly #signal: AbortSignal;
  #tail: Promise<unknown> = Promise.resolve();
  #spentMs = 0;
  #unchargedMs = 0;

  /** `owner` is the session whose queue this is; `signal` aborts when it ends. */
  constructor(slots: CryptoSlots, owner: WorkOwner, budgetMs: number, signal: AbortSignal) {
    this.#slots = slots;
    this.#owner = owner;
    this.#budgetMs = budgetMs;
    this.#signal = signal;
  }

  /** Run `work` after the session's earlier operations have finished. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#tail.then(() => this.#start(work));
    this.#tail = turn.catch(() => undefined);
    return turn;
  }

  /** Time spent since the last call: what is still to be charged to the session. */
  takeSpentMs(): number {
    const ms = this.#unchargedMs;
    this.#unchargedMs = 0;
    return ms;
  }

  #start<T>(work: () => Promise<T>): Promise<T> {
    this.#signal.throwIfAborted();
    // The session ends at its budget once the charge reaches its sandbox; meanwhile its
    // queued work does not run.
    if (this.#spentMs > this.#budgetMs) {
      throw new HostWorkCancelledError(
        "crypto.subtle: the session has used up its CPU time (ISOHOOK_SESSION_CPU_MS)",
      );
    }
    return this.#slots.run(this.#owner, work, this.#signal, (ms) => {
      this.#spentMs += ms;
      this.#unchargedMs += ms;
    });
  }
}
