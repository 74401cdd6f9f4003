/**
 * The running sessions of the server: starting them in their deployment's sandbox, counting
 * them against the limit, and stopping them on request.
 */
import type { Logger } from "pino";
import type { Agent } from "undici";
import type { SandboxSession, WireEventData } from "../../sandbox";
import type { LiveTrigger } from "../deploy/live-deployments";
import type { Limits } from "../config";
import { newId } from "../ids";
import type { SessionsStore } from "../store/sessions-store";
import type { SubscriptionHub } from "../subscriptions/subscription-hub";
import { SessionRun } from "./session-run";

/** How long one `fetch` (all its redirects included) may take. */
const FETCH_TIMEOUT_MS = 30_000;

interface Running {
  run: SessionRun;
  sandbox: SandboxSession;
}

export class SessionManager {
  readonly #running = new Map<string, Running>();
  readonly #store: SessionsStore;
  readonly #subscriptions: SubscriptionHub;
  readonly #fetch: { agent: Agent; allowPrivate: boolean };
  readonly #limits: Limits;
  readonly #logger: Logger;

  constructor(options: {
    store: SessionsStore;
    subscriptions: SubscriptionHub;
    fetch: { agent: Agent; allowPrivate: boolean };
    limits: Limits;
    logger: Logger;
  }) {
    this.#store = options.store;
    this.#subscriptions = options.subscriptions;
    this.#fetch = options.fetch;
    this.#limits = options.limits;
    this.#logger = options.logger;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  get atCapacity(): boolean {
    return this.#running.size >= this.#limits.maxRunning;
  }

  /** Start a session of `live`'s handler for an event already stored. */
  start(live: LiveTrigger, event: { id: string; data: WireEventData }): SessionRun {
    const { trigger, deployment } = live;
    const id = newId("ses");
    const run = new SessionRun({
      id,
      eventId: event.id,
      project: deployment.project,
      trigger: trigger.name,
      deploymentId: deployment.id,
      isSync: trigger.is_sync,
      isDurable: trigger.is_durable,
      syncTimeoutMs: trigger.timeout_ms ?? this.#limits.syncTimeoutMs,
      store: this.#store,
      host: {
        project: deployment.project,
        triggers: deployment.manifest.project.triggers.map((t) => t.name),
        subscriptions: this.#subscriptions,
        fetchAgent: this.#fetch.agent,
        fetchPolicy: {
          allowNet: deployment.manifest.project.allow_net,
          allowPrivate: this.#fetch.allowPrivate,
          timeoutMs: FETCH_TIMEOUT_MS,
          maxResponseBytes: this.#limits.maxBodyBytes,
        },
      },
      redactor: deployment.redactor,
      logger: this.#logger,
      onDone: (done) => this.#running.delete(done.id),
    });
    const call = trigger.call!;
    const sandbox = deployment.sandbox.start(
      {
        sessionId: id,
        handler: deployment.handlerKeys.get(trigger.name)!,
        call: `${call.file}:${call.export}`,
        event: {
          event_id: event.id,
          session_id: id,
          event_type: event.data.method.toLowerCase(),
          trigger: trigger.name,
          data: event.data,
        },
      },
      run,
    );
    this.#running.set(id, { run, sandbox });
    run.running();
    return run;
  }

  /** Stop a running session; resolves once it has ended, false when it was not running. */
  async stop(id: string, reason: string): Promise<boolean> {
    const running = this.#running.get(id);
    if (running === undefined) return false;
    running.sandbox.stop(reason);
    await running.run.done;
    return true;
  }
}
