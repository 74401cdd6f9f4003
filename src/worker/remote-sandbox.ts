/**
 * The server's side of the sandbox processes.
 *
 * Each deployment lives in one sandbox process (the one with the fewest deployments when it
 * was deployed). When a process dies (a V8 fatal error, an out-of-memory abort, a kill), every
 * session that ran in it ends as `error`, a new process takes its place, and its live
 * deployments are deployed there again; sessions that start meanwhile wait for it. Nothing
 * else on the server notices.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Logger } from "pino";
import type {
  AsyncCallRecord,
  CallRecord,
  HostAnswer,
  HostReply,
  SessionEnd,
  StartRequest,
} from "../../sandbox";
import { packageRoot } from "../../sandbox/runtime-script";
import type { Batch, DeploymentSpec, FromSandbox, ToSandbox } from "./messages";

/** What the server hears about a session running in a sandbox process. */
export interface SessionListener {
  onCall(record: CallRecord): void;
  /** The sandbox process answered `subscribe(source, filter)` with `answer`. */
  onSubscribe(args: [source: string, filter: string | null], answer: HostAnswer): void;
  onAsyncCall(record: AsyncCallRecord): Promise<HostReply>;
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

/** One sandbox process, and the sessions and deployments it holds. */
class SandboxProcess {
  readonly startedAt = Date.now();
  readonly deployments = new Set<RemoteDeployment>();
  readonly #child: ChildProcess;
  readonly #logger: Logger;
  readonly #sessions = new Map<string, SessionListener>();
  /** Each running session's project, and when it last had something to do. */
  readonly #activity = new Map<string, { project: string; at: number }>();
  /** Set as the process dies: the projects whose sessions it was running. */
  #running: { project: string; at: number }[] = [];
  readonly #byDeployment = new Map<string, RemoteDeployment>();
  readonly #drains = new Map<string, () => void>();
  #outbox: ToSandbox[] = [];
  #dead = false;
  /** Set when the server stops the process: what its sessions are told. */
  #stopReason: string | null = null;

  constructor(
    logger: Logger,
    logLevel: string,
    onDeath: (dead: SandboxProcess, why: string) => void,
  ) {
    this.#logger = logger;
    this.#child = fork(path.join(packageRoot(), "dist", "sandbox-main.js"), [], {
      // ISOHOOK_SANDBOX_NODE_FLAGS adds Node flags for these processes (to profile them, say).
      execArgv: [
        "--no-node-snapshot",
        ...(process.env.ISOHOOK_SANDBOX_NODE_FLAGS ?? "").split(" ").filter(Boolean),
      ],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ISOHOOK_LOG_LEVEL: logLevel },
    });
    this.#child.on("message", (message: Batch<FromSandbox>) => {
      for (const item of message.batch) this.#receive(item);
    });
    this.#child.on("exit", (code, signal) => {
      const why = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      this.#die(why);
      onDeath(this, why);
    });
    this.#child.on("error", (error) => this.#logger.error({ err: error }, "sandbox process error"));
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  deploy(deployment: RemoteDeployment): Promise<void> {
    this.deployments.add(deployment);
    this.#byDeployment.set(deployment.id, deployment);
    this.#send({ type: "deploy", spec: deployment.spec });
    return deployment.ready;
  }

  start(deploymentId: string, request: StartRequest, listener: SessionListener): void {
    if (this.#dead) {
      listener.onEnd({
        ok: false,
        failure: { kind: "sandbox", reason: "the sandbox process is gone" },
        cpuMs: 0,
      });
      return;
    }
    this.#sessions.set(request.sessionId, listener);
    const project = this.#byDeployment.get(deploymentId)?.spec.config.project ?? "";
    this.#activity.set(request.sessionId, { project, at: Date.now() });
    this.#send({ type: "start", deploymentId, request });
  }

  /**
   * After the process died: the projects of the sessions that had something to do within
   * `withinMs` of the end (started, got an answer, sent a record), or, if none had, of every
   * session that was running (a slow leak shows no last burst of activity).
   */
  suspects(withinMs: number): Set<string> {
    const since = Date.now() - withinMs;
    const recent = this.#running.filter((session) => session.at >= since);
    return new Set((recent.length > 0 ? recent : this.#running).map((s) => s.project));
  }

  #touch(sessionId: string): void {
    const activity = this.#activity.get(sessionId);
    if (activity !== undefined) activity.at = Date.now();
  }

  stop(sessionId: string, reason: string): void {
    if (this.#sessions.has(sessionId)) this.#send({ type: "stop", sessionId, reason });
  }

  drain(deploymentId: string): Promise<void> {
    if (this.#dead) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drains.set(deploymentId, resolve);
      this.#send({ type: "drain", deploymentId });
    });
  }

  close(deploymentId: string, reason: string): void {
    this.#forgetDeployment(deploymentId);
    this.#send({ type: "close", deploymentId, reason });
  }

  kill(reason: string): Promise<void> {
    if (this.#dead) return Promise.resolve();
    this.#stopReason = reason;
    return new Promise((resolve) => {
      this.#child.once("exit", () => resolve());
      this.#child.kill("SIGTERM");
    });
  }

  #receive(message: FromSandbox): void {
    switch (message.type) {
      case "deployed":
        this.#byDeployment.get(message.deploymentId)?.settled(null);
        return;
      case "deploy_failed": {
        const deployment = this.#byDeployment.get(message.deploymentId);
        this.#forgetDeployment(message.deploymentId);
        deployment?.settled(new Error(message.message));
        return;
      }
      case "drained":
        this.#forgetDeployment(message.deploymentId);
        this.#drains.get(message.deploymentId)?.();
        this.#drains.delete(message.deploymentId);
        return;
    }
    const listener = this.#sessions.get(message.sessionId);
    if (listener === undefined) return;
    this.#touch(message.sessionId);
    switch (message.type) {
      case "call":
        listener.onCall(message.record);
        break;
      case "host_call":
        listener.onSubscribe(message.args, message.answer);
        break;
      case "async_call": {
        const { sessionId } = message;
        const callId = message.record.call_id;
        void listener.onAsyncCall(message.record).then(({ answer, cpuMs }) => {
          if (this.#sessions.has(sessionId)) {
            this.#touch(sessionId);
            this.#send({ type: "settle", sessionId, callId, answer, cpuMs });
          }
        });
        break;
      }
      case "end":
        this.#sessions.delete(message.sessionId);
        this.#activity.delete(message.sessionId);
        listener.onEnd(message.end);
        break;
    }
  }

  #forgetDeployment(deploymentId: string): void {
    const deployment = this.#byDeployment.get(deploymentId);
    if (deployment !== undefined) this.deployments.delete(deployment);
    this.#byDeployment.delete(deploymentId);
  }

  /** The process is gone: every session in it ends as an error; retired deployments go too. */
  #die(why: string): void {
    this.#dead = true;
    // Stopped by the server (a shutdown) is not a crash: nobody is to blame.
    if (this.#stopReason === null) this.#running = [...this.#activity.values()];
    this.#activity.clear();
    const reason = this.#stopReason ?? `the sandbox process running the session died (${why})`;
    for (const listener of this.#sessions.values()) {
      listener.onEnd({ ok: false, failure: { kind: "sandbox", reason }, cpuMs: 0 });
    }
    this.#sessions.clear();
    for (const resolve of this.#drains.values()) resolve();
    this.#drains.clear();
    for (const deployment of [...this.deployments])
      if (deployment.retired) this.deployments.delete(deployment);
  }

  #send(message: ToSandbox): void {
    if (this.#dead) return;
    // One write per turn of the event loop: under load, many messages share it.
    if (this.#outbox.length === 0) setImmediate(() => this.#flush());
    this.#outbox.push(message);
  }

  #flush(): void {
    const batch: Batch<ToSandbox> = { batch: this.#outbox };
    this.#outbox = [];
    if (!this.#dead && this.#child.connected) this.#child.send(batch);
  }
}
