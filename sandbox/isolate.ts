/**
 * One V8 isolate with one hardened context, serving sessions of one deployment.
 *
 * Entries run one at a time, off the main thread (isolated-vm's async `apply`). Running them
 * one at a time is what lets the host charge each entry's CPU time to its session, from the
 * isolate's own CPU clock, and stop an entry that would overrun its session's budget.
 */
import ivm from "isolated-vm";
import type { Logger } from "pino";
import type { Entry, HostAnswer, HostBindingName, RecordBatch, SandboxConfig } from "./protocol";
import { BUNDLE_FILENAME } from "./stack-map";
import { RUNTIME_FILENAME, runtimeScript } from "./runtime-script";

export type EntryResult =
  | { ok: true; cpuMs: number }
  | { ok: false; cpuMs: number; failure: EntryFailure; message: string };

/**
 * - `cpu_limit`: the entry ran past its budget and was stopped; the isolate lives on.
 * - `memory_limit`: the isolate ran out of memory and is gone, with all its sessions.
 * - `dead`: the isolate was already gone when the entry's turn came.
 * - `dropped`: its session ended before the entry's turn came; it never ran.
 * - `internal`: the runtime itself threw; a bug in isohook, not in user code.
 */
export type EntryFailure = "cpu_limit" | "memory_limit" | "dead" | "dropped" | "internal";

export interface IsolateEvents {
  /** Records, in the order the sandbox made them. */
  onBatch(isolate: SandboxIsolate, batch: RecordBatch): void;
  /** A call the host answers at once, made by a session of this isolate. */
  onHostCall(sessionId: string, binding: HostBindingName, args: unknown[]): HostAnswer;
  /** The isolate has nothing queued and nothing running. */
  onIdle(isolate: SandboxIsolate): void;
  /**
   * The isolate is gone; every session pinned to it is lost. `culprit` is the session whose
   * entry was running when it went, if any, and `limit` the limit it broke.
   */
  onDeath(isolate: SandboxIsolate, reason: string, culprit: Culprit | null): void;
}

/** The session an isolate died of, the limit it broke, and what its last entry spent. */
export interface Culprit {
  sessionId: string;
  limit: "memory limit" | "cpu time limit";
  /** Charged to the session as it ends (its entry's own result comes after that end). */
  cpuMs: number;
}

interface QueuedEntry {
  entry: Entry;
  /** The entry's deadline, read when its turn comes (the session's budget may have shrunk). */
  budgetMs: () => number;
  done: (result: EntryResult) => void;
}

/** A stopped entry's leftover microtasks get this long to run out, a few times over. */
const QUIESCE_TIMEOUT_MS = 50;
const QUIESCE_ATTEMPTS = 3;
/** An entry still running this long after its deadline means the deadline failed. */
const WATCHDOG_GRACE_MS = 2_000;

export interface IsolateOptions {
  memoryLimitMb: number;
  config: SandboxConfig;
  bundleCode: string;
  events: IsolateEvents;
  logger: Logger;
}

let nextIsolateNumber = 1;

export class SandboxIsolate {
  readonly id = nextIsolateNumber++;
  readonly sessions = new Set<string>();
  readonly #isolate: ivm.Isolate;
  readonly #dispatch: ivm.Reference<(entry: Entry) => void>;
  readonly #events: IsolateEvents;
  readonly #logger: Logger;
  readonly #queue: QueuedEntry[] = [];
  #running = false;
  #dead = false;
  #expectedSeq = 0;

  private constructor(
    isolate: ivm.Isolate,
    dispatch: ivm.Reference<(entry: Entry) => void>,
    options: IsolateOptions,
  ) {
    this.#isolate = isolate;
    this.#dispatch = dispatch;
    this.#events = options.events;
    this.#logger = options.logger;
  }

  static async create(options: IsolateOptions): Promise<SandboxIsolate> {
    const isolate = new ivm.Isolate({ memoryLimit: options.memoryLimitMb });
    try {
      const context = await isolate.createContext();
      const bundle = await isolate.compileScript(options.bundleCode, { filename: BUNDLE_FILENAME });
      const factory = await bundle.run(context, { reference: true, timeout: 1000 });
      bundle.release();

      // Batches can only come once the runtime runs user code, after `self` is set; the
      // holder exists because the callback must be made before the isolate object is.
      const holder: { self?: SandboxIsolate } = {};
      const emit = new ivm.Callback(
        (batch: RecordBatch) => {
          if (holder.self !== undefined) holder.self.#receive(batch);
        },
        { ignored: true },
      );
      // Runs on the main thread while the isolate's thread waits for the answer.
      const hostCall = new ivm.Callback(
        (
          batch: RecordBatch | null,
          sessionId: string,
          binding: HostBindingName,
          args: unknown[],
        ): HostAnswer => {
          if (holder.self === undefined) return { ok: false, message: "the sandbox is not ready" };
          if (batch !== null) holder.self.#receive(batch);
          return options.events.onHostCall(sessionId, binding, args);
        },
      );
      const dispatch = (await context.evalClosure(
        await runtimeScript(),
        [emit, hostCall, new ivm.ExternalCopy(options.config).copyInto(), factory.derefInto()],
        { filename: RUNTIME_FILENAME, timeout: 5000, result: { reference: true } },
      )) as ivm.Reference<(entry: Entry) => void>;
      factory.release();
      if (dispatch.typeof !== "function") throw new Error("the runtime did not set up");

      holder.self = new SandboxIsolate(isolate, dispatch, options);
      return holder.self;
    } catch (error) {
      if (!isolate.isDisposed) isolate.dispose();
      throw error;
    }
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Entries waiting or running: the isolate's load. */
  get load(): number {
    return this.#queue.length + (this.#running ? 1 : 0);
  }

  /**
   * Queue an entry; when its turn comes it may run for `budgetMs()` before it is stopped (and
   * does not run at all when that is not positive). `first` puts it ahead of the others (a
   * stop must not wait behind the session's own timers).
   */
  run(entry: Entry, budgetMs: () => number, first = false): Promise<EntryResult> {
    return new Promise((done) => {
      if (this.#dead) {
        done({ ok: false, cpuMs: 0, failure: "dead", message: "the isolate is gone" });
        return;
      }
      const queued = { entry, budgetMs, done };
      if (first) this.#queue.unshift(queued);
      else this.#queue.push(queued);
      this.#pump();
    });
  }

  /** Forget the session's entries still waiting: it has ended, and may run nothing more. */
  drop(sessionId: string): void {
    const kept: QueuedEntry[] = [];
    for (const queued of this.#queue) {
      const entry = queued.entry;
      if (entry.kind !== "quiesce" && entry.kind !== "stop" && entry.session_id === sessionId) {
        queued.done({ ok: false, cpuMs: 0, failure: "dropped", message: "the session ended" });
      } else {
        kept.push(queued);
      }
    }
    this.#queue.splice(0, this.#queue.length, ...kept);
  }

  async heapUsedBytes(): Promise<number> {
    if (this.#dead) return 0;
    return (await this.#isolate.getHeapStatistics()).used_heap_size;
  }

  dispose(reason: string, culprit: Culprit | null = null): void {
    if (this.#dead) return;
    this.#dead = true;
    if (!this.#isolate.isDisposed) this.#isolate.dispose();
    for (const queued of this.#queue.splice(0)) {
      queued.done({ ok: false, cpuMs: 0, failure: "dead", message: reason });
    }
    this.#events.onDeath(this, reason, culprit);
  }

  #pump(): void {
    if (this.#running || this.#dead) return;
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#events.onIdle(this);
      return;
    }
    this.#running = true;
    void this.#execute(next).then((result) => {
      this.#running = false;
      next.done(result);
      this.#pump();
    });
  }

  async #execute({ entry, budgetMs }: QueuedEntry): Promise<EntryResult> {
    const timeoutMs = budgetMs();
    if (timeoutMs <= 0) {
      return { ok: false, cpuMs: 0, failure: "cpu_limit", message: "no CPU time left" };
    }
    const cpuBefore = this.#isolate.cpuTime;
    const started = performance.now();
    // A disposed isolate's CPU time cannot be read; the entry's wall time is an upper bound of
    // it (the isolate runs on one thread) and is what it is charged then.
    const cpuSince = () =>
      this.#isolate.isDisposed
        ? performance.now() - started
        : Number(this.#isolate.cpuTime - cpuBefore) / 1e6;
    const sessionId = entry.kind === "quiesce" ? null : entry.session_id;
    const blame = (limit: Culprit["limit"], cpuMs = cpuSince()): Culprit | null =>
      sessionId === null ? null : { sessionId, limit, cpuMs };
    // isolated-vm stops an entry at its timeout; should that ever fail, the isolate goes.
    const watchdog = setTimeout(
      () =>
        this.dispose(
          "an entry ran past its deadline and could not be stopped",
          blame("cpu time limit"),
        ),
      timeoutMs + WATCHDOG_GRACE_MS,
    );
    try {
      await this.#dispatch.apply(undefined, [entryWithOwnBuffers(entry)], {
        arguments: { copy: true },
        timeout: Math.max(1, Math.ceil(timeoutMs)),
      });
      return { ok: true, cpuMs: cpuSince() };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const cpuMs = cpuSince();
      if (/timed out/i.test(message)) {
        await this.#quiesce(blame("cpu time limit"));
        return { ok: false, cpuMs, failure: "cpu_limit", message };
      }
      if (/memory limit/i.test(message) || this.#isolate.isDisposed) {
        this.dispose("the isolate ran out of memory", blame("memory limit", cpuMs));
        // Charged through the culprit already.
        return { ok: false, cpuMs: 0, failure: "memory_limit", message };
      }
      return { ok: false, cpuMs, failure: "internal", message };
    } finally {
      clearTimeout(watchdog);
    }
  }

  /**
   * An entry stopped at its deadline leaves its microtasks in V8's queue, and they would run in
   * the next entry, in the next session's name. Run them now, in no session's name (so they can
   * call nothing), before anything else; if they will not run out, the isolate goes.
   */
  async #quiesce(culprit: Culprit | null): Promise<void> {
    for (let attempt = 0; attempt < QUIESCE_ATTEMPTS; attempt++) {
      if (this.#dead) return;
      try {
        await this.#dispatch.apply(undefined, [{ kind: "quiesce" }], {
          arguments: { copy: true },
          timeout: QUIESCE_TIMEOUT_MS,
        });
        return;
      } catch {
        // Still running: try again, then give up on the isolate.
      }
    }
    this.dispose("a stopped session left code that would not stop running", culprit);
  }

  #receive(batch: RecordBatch): void {
    if (batch.seq !== this.#expectedSeq) {
      // Batches leave the isolate in order through one channel; a gap means records were
      // lost or reordered, which the records themselves cannot show, so say it loudly.
      this.#logger.error(
        { isolate: this.id, expected: this.#expectedSeq, got: batch.seq },
        "sandbox record batches out of order",
      );
      this.#expectedSeq = batch.seq;
    }
    this.#expectedSeq++;
    this.#events.onBatch(this, batch);
  }
}

/**
 * `entry` ready to be copied into the isolate (see `ownBuffers`). A session's start is the
 * hot path and has a known shape: its only byte arrays are the entropy and the body, so only
 * those are copied, not the whole entry walked.
 */
function entryWithOwnBuffers(entry: Entry): Entry {
  if (entry.kind !== "start") return ownBuffers(entry);
  const { data } = entry.event;
  return {
    ...entry,
    entropy: ownBuffers(entry.entropy),
    event: { ...entry.event, data: { ...data, body: { bytes: ownBuffers(data.body.bytes) } } },
  };
}

/**
 * `value` with every byte array given a buffer of its own. Copying a view into an isolate
 * copies its whole buffer, and the buffers the host holds are often shared: Node's pool for
 * small Buffers, or the IPC message a batch arrived in. A view into one would carry other
 * requests' bytes into the sandbox.
 */
export function ownBuffers<T>(value: T): T {
  if (ArrayBuffer.isView(value)) {
    const view = value as ArrayBufferView;
    const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
    return (
      whole && view instanceof Uint8Array
        ? view
        : new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice()
    ) as T;
  }
  if (Array.isArray(value)) return value.map(ownBuffers) as T;
  if (value !== null && typeof value === "object") {
    // fromEntries defines each key as an own property: a query parameter or header named
    // `__proto__` stays one, where assigning it would set the copy's prototype
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, ownBuffers(item)]),
    ) as T;
  }
  return value;
}
