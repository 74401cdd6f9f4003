/**
 * The running sessions of the server: starting them in their deployment's sandbox, counting
 * them against the limit, and stopping them on request.
 */
import type { Logger } from "pino";
import type { SandboxSession, WireEventData } from "../../sandbox";
import type { LiveTrigger } from "../deploy/live-deployments";
import type { Limits } from "../config";
import { newId } from "../ids";
import type { SessionsStore } from "../store/sessions-store";
import type { SubscriptionHub } from "../subscriptions/subscription-hub";
import { SessionRun } from "./session-run";

interface Running {
  run: SessionRun;
  sandbox: SandboxSession;
}

export class SessionManager {
  readonly #running = new Map<string, Running>();
  readonly #store: SessionsStore;
  readonly #subscriptions: SubscriptionHub;
  readonly #limits: Limits;
  readonly #logger: Logger;

  constructor(options: {
    store: SessionsStore;
    subscriptions: SubscriptionHub;
    limits: Limits;
    logger: Logger;
  }) {
    this.#store = options.store;
    this.#subscriptions = options.subscriptions;
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
      subscriptions: this.#subscriptions,
      triggers: deployment.manifest.project.triggers.map((t) => t.name),
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
