/**
 * The server's side of the filter worker (`filter-worker.ts`): evaluations go to the worker
 * one at a time, in the order asked for, and each may take at most its time budget (counted
 * from when the worker is ready, and allowing for compiling filters it has not seen) and the
 * worker's memory. A filter that runs over either passes nothing: the worker is ended
 * (taking that evaluation with it) and the next evaluation starts a fresh one. The server's
 * main thread never runs a filter, so no filter and no request can hold it up.
 */
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { packageRoot } from "../../sandbox/runtime-script";
import type { FilterEvent } from "./filter";
import type { FilterReply, FilterRequest } from "./filter-worker";

/** The most one event's filters may take together, in the worker... */
export const EVALUATION_TIMEOUT_MS = 250;
/** ...plus this much per filter, which may need compiling first. */
const PER_FILTER_MS = 2;
/** The worker's heap: far more than a filter over a 1 MiB body needs. */
const WORKER_HEAP_MB = 192;

interface Job {
  request: FilterRequest;
  /** Who asked, for the log line when the filters are stopped. */
  label: string;
  resolve: (verdicts: boolean[]) => void;
}

// TODO: one worker and one queue serve every project, so a project whose filters keep running
// to their budget delays everyone's filtered events; queue per project and take turns (or give
// costly projects a worker of their own) when that matters.
export class FilterRunner {
  readonly #logger: Logger;
  #worker: { thread: Worker; ready: boolean } | null = null;
  readonly #queue: Job[] = [];
  #current: { job: Job; timer: NodeJS.Timeout | null } | null = null;
  #nextId = 1;
  #closed = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Whether each filter passes the event; all false for filters that had to be stopped. */
  evaluate(event: FilterEvent, filters: string[], label: string): Promise<boolean[]> {
    if (filters.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      this.#queue.push({ request: { id: this.#nextId++, event, filters }, label, resolve });
      this.#next();
    });
  }

  close(): void {
    this.#closed = true;
    this.#fail("the server is shutting down");
    for (const job of this.#queue.splice(0)) job.resolve(job.request.filters.map(() => false));
    void this.#worker?.thread.terminate();
    this.#worker = null;
  }

  #next(): void {
    if (this.#current !== null || this.#closed) return;
    const job = this.#queue.shift();
    if (job === undefined) return;
    this.#current = { job, timer: null };
    const worker = this.#ensureWorker();
    worker.thread.postMessage(job.request);
    if (worker.ready) this.#startClock();
  }

  /** The evaluation in flight has its worker's attention: its time starts now. */
  #startClock(): void {
    const current = this.#current;
    if (current === null || current.timer !== null) return;
    const budgetMs = EVALUATION_TIMEOUT_MS + PER_FILTER_MS * current.job.request.filters.length;
    current.timer = setTimeout(() => {
      this.#fail(`took longer than ${budgetMs} ms`);
      this.#restart();
    }, budgetMs);
  }

  #ensureWorker(): { thread: Worker; ready: boolean } {
    if (this.#worker !== null) return this.#worker;
    const thread = new Worker(path.join(packageRoot(), "dist", "filter-worker.js"), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    const worker = { thread, ready: false };
    thread.unref();
    thread.on("message", (reply: FilterReply) => {
      if ("ready" in reply) {
        worker.ready = true;
        if (this.#worker === worker) this.#startClock();
        return;
      }
      const current = this.#current;
      if (current === null || current.job.request.id !== reply.id) return;
      clearTimeout(current.timer ?? undefined);
      this.#current = null;
      current.job.resolve(reply.verdicts);
      this.#next();
    });
    thread.on("error", (error) => {
      if (this.#worker !== worker) return;
      this.#fail(`stopped the filter worker (${error.message})`);
      this.#restart();
    });
    thread.on("exit", () => {
      if (this.#worker !== worker) return;
      this.#fail("stopped the filter worker");
      this.#restart();
    });
    this.#worker = worker;
    return worker;
  }

  /** The evaluation in flight passes nothing; say which, and why. */
  #fail(why: string): void {
    const current = this.#current;
    if (current === null) return;
    clearTimeout(current.timer ?? undefined);
    this.#current = null;
    this.#logger.warn(
      // Not the filters' text: a filter may hold a secret.
      { filters: current.job.request.filters.length, event_id: current.job.request.event.id },
      `event filters of ${current.job.label} ${why}; the event passed none of them`,
    );
    current.job.resolve(current.job.request.filters.map(() => false));
  }

  #restart(): void {
    const worker = this.#worker;
    this.#worker = null;
    void worker?.thread.terminate();
    this.#next();
  }
}
