/**
 * The server's side of the sandbox processes.
 *
 * Each deployment lives in one sandbox process (the one with the fewest deployments when it
 * was deployed). When a process dies (a V8 fatal error, an out-of-memory abort, a kill), every
 * session that ran in it ends as `error`, a new process takes its place, and its live
 * deployments are deployed there again; sessions that start meanwhile wait for it. Nothing
 * else on the server notices.
 */
import type { Logger } from "pino";
import type {
  AsyncCallRecord,
  CallRecord,
  HostAnswer,
  HostReply,
  JournalEntry,
  SessionEnd,
  StartRequest,
} from "../../sandbox";
import type { DeploymentSpec } from "./messages";
import { SandboxProcess } from "./sandbox-process";
import type { EqualityTerm } from "../subscriptions/equality-shortcut";

/** What the server hears about a session running in a sandbox process. */
export interface SessionListener {
  onCall(record: CallRecord): void;
  /**
   * The sandbox process answered `subscribe(source, filter)` with `answer`; `terms`: the
   * filter's equality terms, when that is all it is.
   */
  onSubscribe(
    args: [source: string, filter: string | null],
    answer: HostAnswer,
    replayed: boolean,
    terms: EqualityTerm[] | null,
  ): void;
  onAsyncCall(record: AsyncCallRecord): Promise<HostReply>;
  /** A durable session was given an entry, to be journaled in this order. */
  onEntry(entry: JournalEntry): void;
  /** The session ended, whatever ended it; nothing more will be heard of it. */
  onEnd(end: SessionEnd): void;
}

export interface RemoteSession {
  stop(reason: string): void;
}

/** Respawns within this long of a start count as a crash loop, and back off. */
const CRASH_LOOP_MS = 2_000;
const MAX_BACKOFF_MS = 5_000;
/**
 * Sessions that had something to do this recently when their process died are suspects: a
 * crash comes from code that runs, not from sessions waiting for an event.
 */
const SUSPECT_ACTIVITY_MS = 2_000;
/** Processes of their own for projects whose sessions were running when one died. */
const MAX_QUARANTINE_PROCESSES = 4;

/**
 * The sandbox processes: a fixed number that deployments share, and up to a few more, each for
 * projects quarantined after a process died while their code was running. A project that
 * brings its process down once thus cannot do it again to the projects it shared it with.
 */
export class SandboxProcesses {
  readonly #logger: Logger;
  readonly #shared: SandboxProcess[] = [];
  /** Quarantined project → the process its deployments now go to. */
  readonly #quarantine = new Map<string, SandboxProcess>();
  readonly #logLevel: string;
  #closing = false;

  constructor(options: { count: number; logger: Logger; logLevel: string }) {
    this.#logger = options.logger;
    this.#logLevel = options.logLevel;
    for (let i = 0; i < options.count; i++) this.#shared.push(this.#spawnShared(i, 0));
  }

  /**
   * Deploy into the project's quarantine process, if it has one, or else the least busy shared
   * process; resolves once its isolates are warm.
   */
  async deploy(spec: DeploymentSpec): Promise<RemoteDeployment> {
    const target =
      this.#quarantine.get(spec.config.project) ??
      this.#shared.reduce((a, b) => (b.deployments.size < a.deployments.size ? b : a));
    const deployment = new RemoteDeployment(spec, target);
    await target.deploy(deployment);
    return deployment;
  }

  /** Process ids, for tests and metrics. */
  get pids(): number[] {
    return [...this.#shared, ...new Set(this.#quarantine.values())].map((p) => p.pid);
  }

  /** Projects in quarantine, for tests and metrics. */
  get quarantined(): string[] {
    return [...this.#quarantine.keys()].sort();
  }

  /** Stop every process; the sessions still running end as errors with `reason`. */
  async close(reason: string): Promise<void> {
    this.#closing = true;
    const all = [...this.#shared, ...new Set(this.#quarantine.values())];
    await Promise.all(all.map((p) => p.kill(reason)));
  }

  #spawnShared(slot: number, backoffMs: number): SandboxProcess {
    return new SandboxProcess(this.#logger, this.#logLevel, (dead, why) =>
      this.#replaceShared(slot, dead, why, backoffMs),
    );
  }

  #spawnQuarantine(backoffMs: number): SandboxProcess {
    return new SandboxProcess(this.#logger, this.#logLevel, (dead, why) =>
      this.#replaceQuarantine(dead, why, backoffMs),
    );
  }

  #replaceShared(slot: number, dead: SandboxProcess, why: string, backoffMs: number): void {
    if (this.#closing) return;
    const delay = restartDelay(dead, backoffMs);
    const suspects = dead.suspects(SUSPECT_ACTIVITY_MS);
    this.#logger.error(
      { pid: dead.pid, why, restart_in_ms: delay, quarantined: [...suspects] },
      "a sandbox process died; replacing it",
    );
    const next = this.#spawnShared(slot, delay);
    this.#shared[slot] = next;
    for (const deployment of dead.deployments) {
      const project = deployment.spec.config.project;
      const target = suspects.has(project) ? this.#quarantineFor(project) : next;
      this.#redeploy(deployment, target, delay);
    }
  }

  #replaceQuarantine(dead: SandboxProcess, why: string, backoffMs: number): void {
    if (this.#closing) return;
    const delay = restartDelay(dead, backoffMs);
    const projects = [...this.#quarantine].filter(([, p]) => p === dead).map(([name]) => name);
    this.#logger.error(
      { pid: dead.pid, why, restart_in_ms: delay, projects },
      "a quarantine sandbox process died; replacing it",
    );
    const next = this.#spawnQuarantine(delay);
    for (const project of projects) this.#quarantine.set(project, next);
    for (const deployment of dead.deployments) this.#redeploy(deployment, next, delay);
  }

  /**
   * The process `project` is quarantined in: a new one while there are fewer than the most,
   * else the quarantine process holding the fewest deployments.
   */
  #quarantineFor(project: string): SandboxProcess {
    const existing = this.#quarantine.get(project);
    if (existing !== undefined) return existing;
    const processes = [...new Set(this.#quarantine.values())];
    const target =
      processes.length < MAX_QUARANTINE_PROCESSES
        ? this.#spawnQuarantine(0)
        : processes.reduce((a, b) => (b.deployments.size < a.deployments.size ? b : a));
    this.#quarantine.set(project, target);
    return target;
  }

  #redeploy(deployment: RemoteDeployment, target: SandboxProcess, delayMs: number): void {
    deployment.moveTo(target);
    setTimeout(() => void target.deploy(deployment).catch(() => undefined), delayMs);
  }
}

/** No delay after a process that lived a while; growing delays for one that keeps dying. */
function restartDelay(dead: SandboxProcess, backoffMs: number): number {
  const crashLoop = Date.now() - dead.startedAt < CRASH_LOOP_MS;
  return crashLoop ? Math.min(MAX_BACKOFF_MS, Math.max(100, backoffMs * 2)) : 0;
}

/** One deployment, in whichever sandbox process holds it now. */
export class RemoteDeployment {
  readonly spec: DeploymentSpec;
  #process: SandboxProcess;
  #ready: Promise<void>;
  #markReady!: () => void;
  #failReady!: (error: Error) => void;
  #retired = false;

  constructor(spec: DeploymentSpec, process: SandboxProcess) {
    this.spec = spec;
    this.#process = process;
    this.#ready = this.#newReady();
  }

  get id(): string {
    return this.spec.deploymentId;
  }

  /** The pid of the sandbox process holding the deployment now. */
  get pid(): number {
    return this.#process.pid;
  }

  /** Start a session as soon as the deployment is ready in its process. */
  start(request: StartRequest, listener: SessionListener): RemoteSession {
    let stopped: string | null = null;
    let started: SandboxProcess | null = null;
    void this.#ready.then(
      () => {
        if (stopped !== null)
          return listener.onEnd({
            ok: false,
            failure: { kind: "stopped", reason: stopped },
            cpuMs: 0,
          });
        started = this.#process;
        started.start(this.id, request, listener);
      },
      (error: Error) =>
        listener.onEnd({
          ok: false,
          failure: { kind: "sandbox", reason: error.message },
          cpuMs: 0,
        }),
    );
    return {
      stop: (reason) => {
        if (started !== null) started.stop(request.sessionId, reason);
        else stopped = reason;
      },
    };
  }

  /** No new sessions; resolves once the running ones ended, and the isolates are freed. */
  drain(): Promise<void> {
    this.#retired = true;
    return this.#process.drain(this.id);
  }

  close(reason: string): void {
    this.#retired = true;
    this.#process.close(this.id, reason);
  }

  get retired(): boolean {
    return this.#retired;
  }

  /** Resolves once the deployment is up in its current process. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** @internal The process said the deployment is up (or could not come up). */
  settled(error: Error | null): void {
    if (error === null) this.#markReady();
    else this.#failReady(error);
  }

  /** @internal Its process died; it will be deployed again in `next`. */
  moveTo(next: SandboxProcess): void {
    this.#process = next;
    this.#ready = this.#newReady();
  }

  #newReady(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.#markReady = resolve;
      this.#failReady = reject;
    });
    ready.catch(() => undefined);
    return ready;
  }
}
