/**
 * A sandbox process: the isolates of the deployments the server gives it, and nothing else.
 * It is started by the server (`SandboxProcess`) with an IPC channel, and exits when the
 * channel closes. If V8 brings it down, the server loses only the sessions that ran here.
 *
 * `subscribe` is answered here, at once (the isolate's thread waits for it); the server learns
 * of it from a `host_call` message and starts queueing events for it.
 */
import type { Logger } from "pino";
import {
  DeploymentSandbox,
  type AsyncCallRecord,
  type HostAnswer,
  type HostBindingName,
  type HostReply,
  type SandboxSession,
} from "../../sandbox";
import { createLogger } from "../log";
import { checkSubscription, SubscriptionError } from "../subscriptions/check-subscription";
import type { Batch, DeploymentSpec, FromSandbox, ToSandbox } from "./messages";
import { QuotaError, SubscriptionQuota } from "./subscription-quota";
import type { EqualityTerm } from "../subscriptions/equality-shortcut";

interface Deployment {
  sandbox: DeploymentSandbox;
  spec: DeploymentSpec;
  subscriptions: SubscriptionQuota;
}

const deployments = new Map<string, Deployment>();
const sessions = new Map<string, SandboxSession>();
const pendingCalls = new Map<string, (reply: HostReply) => void>();
const logger: Logger = createLogger(process.env.ISOHOOK_LOG_LEVEL ?? "info").child({
  sandbox_process: process.pid,
});

let outbox: FromSandbox[] = [];
function send(message: FromSandbox): void {
  // One write per turn of the event loop: under load, many messages share it.
  if (outbox.length === 0) setImmediate(flush);
  outbox.push(message);
}
function flush(): void {
  const batch: Batch<FromSandbox> = { batch: outbox };
  outbox = [];
  if (process.connected) process.send!(batch);
}

async function deploy(spec: DeploymentSpec): Promise<void> {
  try {
    const sandbox = await DeploymentSandbox.create({ ...spec, logger });
    deployments.set(spec.deploymentId, { sandbox, spec, subscriptions: new SubscriptionQuota() });
    send({ type: "deployed", deploymentId: spec.deploymentId });
  } catch (error) {
    send({
      type: "deploy_failed",
      deploymentId: spec.deploymentId,
      message: (error as Error).message,
    });
  }
}

function start(
  deploymentId: string,
  request: Extract<ToSandbox, { type: "start" }>["request"],
): void {
  const deployment = deployments.get(deploymentId);
  const sessionId = request.sessionId;
  if (deployment === undefined) {
    const failure = {
      kind: "sandbox" as const,
      reason: "the deployment is not in this sandbox process",
    };
    return send({ type: "end", sessionId, end: { ok: false, failure, cpuMs: 0 } });
  }
  const { project } = deployment.spec.config;
  const quota = deployment.subscriptions;
  const session = deployment.sandbox.start(request, {
    onCall: (record) => {
      if (record.binding === "unsubscribe") quota.removed(sessionId, record.args[0] as string);
      send({ type: "call", sessionId, record });
    },
    onHostCall: (
      binding: HostBindingName,
      args: unknown[],
      recorded: HostAnswer | null,
    ): HostAnswer => {
      const [source, filter] = args as [string, string | null];
      if (recorded !== null) {
        if (recorded.ok) quota.added(sessionId, recorded.value as string);
        send({
          type: "host_call",
          sessionId,
          binding,
          args: [source, filter],
          answer: recorded,
          replayed: true,
          terms: null,
        });
        return recorded;
      }
      let answer: HostAnswer;
      let terms: EqualityTerm[] | null = null;
      try {
        quota.check();
        const accepted = checkSubscription(project, deployment.spec.triggers, source, filter);
        quota.added(sessionId, accepted.id);
        answer = { ok: true, value: accepted.id };
        terms = accepted.terms;
      } catch (error) {
        if (!(error instanceof SubscriptionError) && !(error instanceof QuotaError)) throw error;
        answer = { ok: false, message: error.message };
      }
      send({
        type: "host_call",
        sessionId,
        binding,
        args: [source, filter],
        answer,
        replayed: false,
        terms,
      });
      return answer;
    },
    onEntry: (entry) => send({ type: "entry", sessionId, entry }),
    onAsyncCall: (record: AsyncCallRecord) =>
      new Promise<HostReply>((resolve) => {
        pendingCalls.set(`${sessionId}:${record.call_id}`, resolve);
        send({ type: "async_call", sessionId, record });
      }),
    onEnd: (end) => {
      sessions.delete(sessionId);
      quota.sessionEnded(sessionId);
      for (const key of pendingCalls.keys())
        if (key.startsWith(`${sessionId}:`)) pendingCalls.delete(key);
      send({ type: "end", sessionId, end });
    },
  });
  sessions.set(sessionId, session);
}

function handle(message: ToSandbox): void {
  switch (message.type) {
    case "deploy":
      void deploy(message.spec);
      break;
    case "start":
      start(message.deploymentId, message.request);
      break;
    case "stop":
      sessions.get(message.sessionId)?.stop(message.reason);
      break;
    case "settle": {
      const key = `${message.sessionId}:${message.callId}`;
      const resolve = pendingCalls.get(key);
      pendingCalls.delete(key);
      resolve?.({ answer: message.answer, cpuMs: message.cpuMs });
      break;
    }
    case "drain": {
      const deployment = deployments.get(message.deploymentId);
      if (deployment === undefined)
        return send({ type: "drained", deploymentId: message.deploymentId });
      void deployment.sandbox.drain().then(() => {
        deployments.delete(message.deploymentId);
        send({ type: "drained", deploymentId: message.deploymentId });
      });
      break;
    }
    case "close":
      deployments.get(message.deploymentId)?.sandbox.close(message.reason);
      deployments.delete(message.deploymentId);
      break;
  }
}

process.on("message", (message: Batch<ToSandbox>) => {
  for (const item of message.batch) handle(item);
});
// The server is gone (or let go of us), or asks us to stop: so we do. A process with isolates
// can hang in `process.exit` (seen once: isolated-vm's threads waiting on each other, the
// process orphaned and deaf to SIGTERM), and it has nothing to save, so it ends itself with
// SIGKILL; only when profiling does it exit, for --cpu-prof to write its files.
const profiling = process.execArgv.some((flag) => flag.startsWith("--cpu-prof"));
const leave = () => (profiling ? process.exit(0) : process.kill(process.pid, "SIGKILL"));
process.on("disconnect", leave);
process.on("SIGTERM", leave);
// Ctrl-C in a terminal reaches the whole process group; the server decides when its sandbox
// processes stop (it lets go of durable sessions first), so an interrupt is not for us.
process.on("SIGINT", () => undefined);
process.on("uncaughtException", (error) => {
  logger.fatal({ err: error }, "sandbox process failed");
  process.exit(70);
});
