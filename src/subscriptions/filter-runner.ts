/**
 * The server's side of the filter worker (`filter-worker.ts`). Evaluations are sent to the
 * worker as soon as they are asked for, and the worker answers them in order; the server never
 * waits for one answer before sending the next, so a busy main thread does not slow the worker.
 *
 * Each evaluation may take at most its time budget (allowing for compiling filters the worker
 * has not seen), counted from when the worker can start it: when it is ready, or when the
 * answer before it arrived. It may also use no more than the worker's memory. An evaluation
 * that runs over either passes nothing: the worker is ended, and a fresh one is given the
 * evaluations that were waiting behind it. The server's main thread never runs CEL, so no
 * filter and no request can hold it up (it answers only filters of string equalities itself,
 * in time bounded by the filter's size: see source-subscriptions.ts).
 */
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { packageRoot } from "../../sandbox/runtime-script";
import { ThrottledWarnings } from "../log-throttle";
import type { FilterEvent, FilterVerdict } from "./filter";
import type { FilterReply, FilterRequest } from "./filter-worker";

/** The most one event's filters may take together, in the worker... */
export const EVALUATION_TIMEOUT_MS = 250;
/** ...plus this much per filter, which may need compiling first. */
const PER_FILTER_MS = 2;
/** The worker's heap: far more than a filter over a 1 MiB body needs. */
const WORKER_HEAP_MB = 192;
/**
 * Body bytes the evaluations waiting for the worker may hold. Past it (filters slower than
 * events arrive), new evaluations fail at once instead of piling up in memory.
 */
const MAX_WAITING_BODY_BYTES = 64 * 1024 * 1024;

interface Job {
  request: FilterRequest;
  /** Who asked, for the log line when the filters are stopped. */
  label: string;
  resolve: (verdicts: FilterVerdict[]) => void;
}

interface FilterThread {
  thread: Worker;
  ready: boolean;
}

// TODO: one worker and one queue serve every project, so a project whose CEL filters keep
// running to their budget delays every event whose filters need CEL (filters of string
// equalities are decided without the worker), and fills the queue's 64 MiB of waiting bodies
// for everyone; queue per project and take turns (or give costly projects a worker of
// their own) when that matters.
export class FilterRunner {
  #worker: FilterThread | null = null;
  /** Sent to the current worker and not answered yet, oldest first: the first is running. */
  readonly #pending: Job[] = [];
  /** The running evaluation's deadline. */
  #clock: NodeJS.Timeout | null = null;
  #nextId = 1;
  #closed = false;
  /** Body bytes held by `#pending`. */
  #waitingBytes = 0;
  readonly #warnings: ThrottledWarnings;

  constructor(logger: Logger) {
    this.#warnings = new ThrottledWarnings(logger);
  }

  /** Whether each filter passes the event; all false for filters that had to be stopped. */
  evaluate(event: FilterEvent, filters: string[], label: string): Promise<FilterVerdict[]> {
    if (filters.length === 0) return Promise.resolve([]);
    if (this.#closed) return Promise.resolve(failed(filters, "the server is shutting down"));
    const bytes = event.body?.length ?? 0;
    if (this.#waitingBytes + bytes > MAX_WAITING_BODY_BYTES) {
      this.#refused(label);
      return Promise.resolve(failed(filters, "too many events are waiting for their filters"));
    }
    return new Promise((resolve) => {
      this.#waitingBytes += bytes;
      const job: Job = {
        request: { id: this.#nextId++, event, filters },
        label,
        resolve: (verdicts) => {
          this.#waitingBytes -= bytes;
          resolve(verdicts);
        },
      };
      this.#pending.push(job);
      const worker = this.#ensureWorker();
      worker.thread.postMessage(job.request);
      if (worker.ready && this.#pending.length === 1) this.#startClock();
    });
  }

  #refused(label: string): void {
    this.#warnings.warn(
      "refused",
      { filters_of: label },
      "events arrive faster than their filters run: the filters of those past the queue's room passed nothing",
    );
  }

  /** Start the worker now, if it is not running, so that the next evaluation does not wait for it. */
  warm(): void {
    if (!this.#closed) this.#ensureWorker();
  }

  close(): void {
    this.#closed = true;
    this.#stopClock();
    for (const job of this.#pending.splice(0))
      job.resolve(failed(job.request.filters, "the server is shutting down"));
    void this.#worker?.thread.terminate();
    this.#worker = null;
  }

  /** The first pending evaluation has the worker's attention: its time starts now. */
  #startClock(): void {
    this.#stopClock();
    const running = this.#pending[0];
    if (running === undefined) return;
    const budgetMs = EVALUATION_TIMEOUT_MS + PER_FILTER_MS * running.request.filters.length;
    this.#clock = setTimeout(() => this.#stopRunning(`took longer than ${budgetMs} ms`), budgetMs);
  }

  #stopClock(): void {
    if (this.#clock !== null) clearTimeout(this.#clock);
    this.#clock = null;
  }

  #ensureWorker(): FilterThread {
    if (this.#worker !== null) return this.#worker;
    const thread = new Worker(path.join(packageRoot(), "dist", "filter-worker.js"), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    const worker: FilterThread = { thread, ready: false };
    thread.unref();
    thread.on("message", (reply: FilterReply) => {
      if (this.#worker !== worker) return;
      if ("ready" in reply) {
        worker.ready = true;
        return this.#startClock();
      }
      const answered = this.#pending[0];
      if (answered === undefined || answered.request.id !== reply.id) return;
      this.#pending.shift();
      answered.resolve(reply.verdicts);
      this.#startClock();
    });
    thread.on("error", (error) => {
      if (this.#worker === worker)
        this.#stopRunning(`stopped the filter worker (${error.message})`);
    });
    thread.on("exit", () => {
      if (this.#worker === worker) this.#stopRunning("stopped the filter worker");
    });
    this.#worker = worker;
    return worker;
  }

  /**
   * The running evaluation passes nothing (say which, and why); its worker goes, and a new one
   * is given the evaluations that were waiting.
   */
  #stopRunning(why: string): void {
    this.#stopClock();
    const stopped = this.#pending.shift();
    if (stopped !== undefined) {
      this.#warnings.warn(
        `stopped ${stopped.label}`,
        // Not the filters' text: a filter may hold a secret.
        { filters: stopped.request.filters.length, event_id: stopped.request.event.id },
        `event filters of ${stopped.label} ${why}; the event passed none of them`,
      );
      stopped.resolve(failed(stopped.request.filters, `the filters were stopped: ${why}`));
    }
    void this.#worker?.thread.terminate();
    this.#worker = null;
    if (this.#closed || this.#pending.length === 0) return;
    const worker = this.#ensureWorker();
    for (const job of this.#pending) worker.thread.postMessage(job.request);
  }
}

/** Every filter fails, for the same reason. */
function failed(filters: string[], error: string): FilterVerdict[] {
  return filters.map(() => ({ pass: false, error }));
}
