/**
 * The isolates of one deployment, and the sessions running in them.
 *
 * An isolate runs one entry at a time, so one session busy on the CPU would hold up every
 * other session pinned to the same isolate. New sessions therefore wait in one queue for
 * the first idle isolate, and the pool grows (up to `maxIsolates`) while all are busy. A
 * session stays in the isolate it started in; timers and other entries for it queue there.
 * An isolate that dies (out of memory) takes its sessions with it and is replaced.
 */
import type { Logger } from "pino";
import { SandboxIsolate, type Culprit, type IsolateEvents } from "./isolate";
import type { RecordBatch, SandboxConfig } from "./protocol";
import {
  SandboxSession,
  type SessionLimits,
  type SessionObserver,
  type StartRequest,
} from "./session";
import { StackMapper } from "./stack-map";

export interface DeploymentSandboxOptions {
  deploymentId: string;
  bundleCode: string;
  sourceMap: string;
  config: SandboxConfig;
  limits: SessionLimits & {
    memoryLimitMb: number;
    minIsolates: number;
    maxIsolates: number;
    /** Sessions one isolate holds before new ones wait for room. */
    maxSessionsPerIsolate: number;
  };
  logger: Logger;
}

export class DeploymentSandbox {
  readonly deploymentId: string;
  readonly #options: DeploymentSandboxOptions;
  readonly #logger: Logger;
  readonly #stacks: StackMapper;
  readonly #isolates = new Set<SandboxIsolate>();
  readonly #sessions = new Map<string, SandboxSession>();
  readonly #waiting: SandboxSession[] = [];
  readonly #events: IsolateEvents;
  #creating = 0;
  #closed = false;
  #onEmpty: (() => void) | null = null;

  private constructor(options: DeploymentSandboxOptions) {
    this.deploymentId = options.deploymentId;
    this.#options = options;
    this.#logger = options.logger.child({ deployment_id: options.deploymentId });
    this.#stacks = new StackMapper(options.sourceMap);
    this.#events = {
      onBatch: (_isolate, batch) => this.#route(batch),
      onHostCall: (sessionId, binding, args) =>
        this.#sessions.get(sessionId)?.hostCall(binding, args) ?? {
          ok: false,
          message: "the session is over",
        },
      onIdle: (isolate) => this.#feed(isolate),
      onDeath: (isolate, reason, culprit) => this.#bury(isolate, reason, culprit),
    };
  }

  /** A sandbox with its first isolates warm; fails if the bundle cannot even load. */
  static async create(options: DeploymentSandboxOptions): Promise<DeploymentSandbox> {
    const sandbox = new DeploymentSandbox(options);
    const warm = Math.max(1, options.limits.minIsolates);
    const isolates = await Promise.all(Array.from({ length: warm }, () => sandbox.#spawn()));
    for (const isolate of isolates) sandbox.#isolates.add(isolate);
    return sandbox;
  }

  get runningSessions(): number {
    return this.#sessions.size;
  }

  get isolateCount(): number {
    return this.#isolates.size;
  }

  /** Start a session; it runs as soon as an isolate is free. */
  start(request: StartRequest, observer: SessionObserver): SandboxSession {
    if (this.#closed) throw new Error("this deployment's sandbox is closed");
    const session = new SandboxSession({
      request,
      observer,
      limits: this.#options.limits,
      stacks: this.#stacks,
      onDone: (done) => this.#forget(done),
    });
    this.#sessions.set(session.id, session);
    this.#waiting.push(session);
    this.#dispatchWaiting();
    return session;
  }

  session(id: string): SandboxSession | undefined {
    return this.#sessions.get(id);
  }

  /** Take no new sessions; resolve once the running ones have ended, then free the isolates. */
  drain(): Promise<void> {
    this.#closed = true;
    return new Promise((resolve) => {
      this.#onEmpty = () => {
        this.#disposeAll("deployment retired");
        resolve();
      };
      if (this.#sessions.size === 0) this.#onEmpty();
    });
  }

  /** Stop every session now and free the isolates. */
  close(reason: string): void {
    this.#closed = true;
    for (const session of [...this.#sessions.values()]) session.lost(reason, null);
    this.#disposeAll(reason);
  }

  async heapUsedBytes(): Promise<number> {
    const sizes = await Promise.all([...this.#isolates].map((i) => i.heapUsedBytes()));
    return sizes.reduce((a, b) => a + b, 0);
  }

  #dispatchWaiting(): void {
    for (const isolate of this.#isolates) {
      if (this.#waiting.length === 0) return;
      if (isolate.load === 0) this.#feed(isolate);
    }
    if (this.#waiting.length > 0) this.#grow();
  }

  // TODO: sessions share an isolate whatever their request's size, so a few large requests
  // parsed at once can run it out of memory and end the small sessions beside them (the
  // server lets a project have 64 MiB of bodies in progress, about half an isolate's default
  // memory, before parsing copies). Weigh the body bytes each isolate holds when placing a
  // session (or give large ones an isolate of their own) once the cost of the extra isolates
  // is measured.
  /** Give an idle isolate the next waiting session. */
  #feed(isolate: SandboxIsolate): void {
    if (isolate.dead || isolate.load > 0) return;
    if (isolate.sessions.size >= this.#options.limits.maxSessionsPerIsolate) return;
    const session = this.#waiting.shift();
    if (session === undefined) return;
    if (session.ended) return this.#feed(isolate);
    session.startIn(isolate);
  }

  #grow(): void {
    const { maxIsolates } = this.#options.limits;
    if (this.#closed || this.#isolates.size + this.#creating >= maxIsolates) return;
    this.#creating++;
    this.#spawn().then(
      (isolate) => {
        this.#creating--;
        if (this.#closed) return isolate.dispose("deployment retired");
        this.#isolates.add(isolate);
        this.#feed(isolate);
        this.#dispatchWaiting();
      },
      (error: unknown) => {
        this.#creating--;
        this.#logger.error({ err: error }, "could not start another isolate");
      },
    );
  }

  #spawn(): Promise<SandboxIsolate> {
    const { bundleCode, config, limits } = this.#options;
    return SandboxIsolate.create({
      memoryLimitMb: limits.memoryLimitMb,
      config,
      bundleCode,
      events: this.#events,
      logger: this.#logger,
    });
  }

  #route(batch: RecordBatch): void {
    for (const record of batch.records) {
      this.#sessions.get(record.session_id)?.receive(record);
    }
  }

  #bury(isolate: SandboxIsolate, reason: string, culprit: Culprit | null): void {
    this.#isolates.delete(isolate);
    if (!this.#closed) this.#logger.warn({ isolate: isolate.id, reason, culprit }, "isolate died");
    const cause = `${reason} (while running session ${culprit?.sessionId ?? "unknown"})`;
    for (const id of [...isolate.sessions]) {
      this.#sessions.get(id)?.lost(cause, id === culprit?.sessionId ? culprit : null);
    }
    if (!this.#closed && this.#isolates.size + this.#creating < this.#options.limits.minIsolates) {
      this.#grow();
    }
    this.#dispatchWaiting();
  }

  #forget(session: SandboxSession): void {
    this.#sessions.delete(session.id);
    if (this.#sessions.size === 0) this.#onEmpty?.();
    // A full isolate may have room again.
    if (this.#waiting.length > 0) this.#dispatchWaiting();
  }

  #disposeAll(reason: string): void {
    for (const isolate of this.#isolates) isolate.dispose(reason);
    this.#isolates.clear();
  }
}
