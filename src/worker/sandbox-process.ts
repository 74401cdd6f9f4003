/**
 * One sandbox process, as the server sees it: the child process, the sessions and deployments
 * it holds, and the batched messages between them. `SandboxProcesses` (remote-sandbox.ts)
 * decides what goes where and replaces a process that dies.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Logger } from "pino";
import type { StartRequest } from "../../sandbox";
import { packageRoot } from "../../sandbox/runtime-script";
import type { Batch, FromSandbox, ToSandbox } from "./messages";
import type { RemoteDeployment, SessionListener } from "./remote-sandbox";

/** One sandbox process, and the sessions and deployments it holds. */
export class SandboxProcess {
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
        listener.onSubscribe(message.args, message.answer, message.replayed, message.terms);
        break;
      case "entry":
        listener.onEntry(message.entry);
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
  // TODO: durable sessions end here too; those of projects not suspected of the crash could be
  // resumed from their journals in the replacement process, as at a restart.
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
