/**
 * The running sessions of the server: starting them in their deployment's sandbox, counting
 * them against the limit, and stopping them on request; for durable ones, resuming them after
 * a restart and letting go of them at a shutdown.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { CryptoSlots } from "../bindings/crypto-queue";
import type { Fetcher } from "../bindings/host-fetch";
import type { DurableStart, WireEventData } from "../../sandbox";
import type { RemoteSession } from "../worker/remote-sandbox";
import type { LiveDeployment, LiveTrigger } from "../deploy/live-deployments";
import type { Trigger } from "../deploy/manifest";
import type { Journal, JournalStore } from "../store/journal-store";
import type { Limits } from "../config";
import { newId } from "../ids";
import type { SessionsStore, UnfinishedDurable } from "../store/sessions-store";
import type { SubscriptionHub } from "../subscriptions/subscription-hub";
import { SessionRun } from "./session-run";

/** Sessions each project may start even when the server runs its maximum. */
const RESERVED_SESSIONS_PER_PROJECT = 10;

/** How long one `fetch` (all its redirects included) may take. */
const FETCH_TIMEOUT_MS = 30_000;

/** Seed of a durable session's random numbers, chosen here so that its journal has it. */
const ENTROPY_BYTES = 32;

interface Running {
  run: SessionRun;
  sandbox: RemoteSession;
}

export class SessionManager {
  readonly #running = new Map<string, Running>();
  readonly #byProject = new Map<string, number>();
  readonly #store: SessionsStore;
  readonly #journal: JournalStore;
  readonly #subscriptions: SubscriptionHub;
  readonly #fetch: { fetcher: Fetcher; allowPrivate: boolean };
  readonly #cryptoSlots: CryptoSlots;
  readonly #limits: Limits;
  readonly #logger: Logger;
  #stopping = false;

  constructor(options: {
    store: SessionsStore;
    journal: JournalStore;
    subscriptions: SubscriptionHub;
    fetch: { fetcher: Fetcher; allowPrivate: boolean };
    cryptoSlots: CryptoSlots;
    limits: Limits;
    logger: Logger;
  }) {
    this.#store = options.store;
    this.#journal = options.journal;
    this.#subscriptions = options.subscriptions;
    this.#fetch = options.fetch;
    this.#cryptoSlots = options.cryptoSlots;
    this.#limits = options.limits;
    this.#logger = options.logger;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  /**
   * True when `project` may not start another session: the server runs its maximum, and the
   * project already runs its reserve. The reserve keeps one project that floods the server
   * (or holds sessions that never end) from shutting every other project out.
   */
  atCapacity(project: string): boolean {
    if (this.#running.size < this.#limits.maxRunning) return false;
    return (this.#byProject.get(project) ?? 0) >= RESERVED_SESSIONS_PER_PROJECT;
  }

  /** Start a session of `live`'s handler for an event already stored. */
  start(live: LiveTrigger, event: { id: string; data: WireEventData }): SessionRun {
    const { trigger, deployment } = live;
    const id = newId("ses");
    let durable: DurableStart | undefined;
    if (trigger.is_durable) {
      durable = {
        entropy: randomBytes(ENTROPY_BYTES),
        clockMs: Date.now(),
        replay: null,
        hostCalls: [],
      };
      this.#journal.start(id, durable.entropy, durable.clockMs);
    }
    const run = this.#run(id, deployment, trigger, event.id);
    this.#launch(run, deployment, trigger, event, durable);
    run.running();
    return run;
  }

  /**
   * Resume a durable session a restart left unfinished, on the deployment it started on: it
   * is replayed from its journal, then goes on.
   */
  async resume(
    row: UnfinishedDurable,
    deployment: LiveDeployment,
    journal: Journal,
    event: WireEventData,
  ): Promise<SessionRun> {
    const trigger = deployment.manifest.project.triggers.find((t) => t.name === row.trigger)!;
    const run = this.#run(row.id, deployment, trigger, row.event_id, {
      nextLogSeq: row.next_log_seq,
      loggedRecords: row.logged_records,
      entries: journal.replay.length + journal.subscribes.length,
    });
    await run.restoreKeys(journal.keyImports);
    if (row.state === "created") this.#store.setState(row.id, "running", new Date().toISOString());
    const durable: DurableStart = {
      entropy: journal.entropy,
      clockMs: journal.clockMs,
      replay: journal.replay,
      hostCalls: journal.subscribes,
    };
    this.#launch(run, deployment, trigger, { id: row.event_id, data: event }, durable);
    return run;
  }

  /** True once the server has begun to stop: webhooks are refused from then on. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** The server begins to stop: no new sessions. */
  refuseNew(): void {
    this.#stopping = true;
    for (const { run } of this.#running.values()) run.serverStopping();
  }

  /**
   * The server is stopping: durable sessions are let go of without ending, to resume when it
   * starts again (their rows stay `running`).
   */
  suspendDurable(): void {
    for (const { run } of this.#running.values()) if (run.isDurable) run.suspend();
  }

  #run(
    id: string,
    deployment: LiveDeployment,
    trigger: Trigger,
    eventId: string,
    resumed?: { nextLogSeq: number; entries: number; loggedRecords: number },
  ): SessionRun {
    return new SessionRun({
      id,
      eventId,
      project: deployment.project,
      trigger: trigger.name,
      deploymentId: deployment.id,
      isSync: trigger.is_sync,
      isDurable: trigger.is_durable,
      syncTimeoutMs: trigger.timeout_ms ?? this.#limits.syncTimeoutMs,
      store: this.#store,
      journal: trigger.is_durable ? this.#journal : null,
      resumed,
      host: {
        project: deployment.project,
        subscriptions: this.#subscriptions,
        fetcher: this.#fetch.fetcher,
        fetchPolicy: {
          allowNet: deployment.manifest.project.allow_net,
          allowPrivate: this.#fetch.allowPrivate,
          timeoutMs: FETCH_TIMEOUT_MS,
          maxResponseBytes: this.#limits.maxBodyBytes,
        },
        cryptoSlots: this.#cryptoSlots,
        cpuBudgetMs: this.#limits.sessionCpuMs,
      },
      redactor: deployment.redactor,
      logger: this.#logger,
      onDone: (done) => {
        this.#running.delete(done.id);
        this.#count(deployment.project, -1);
      },
    });
  }

  #launch(
    run: SessionRun,
    deployment: LiveDeployment,
    trigger: Trigger,
    event: { id: string; data: WireEventData },
    durable: DurableStart | undefined,
  ): void {
    const call = trigger.call!;
    const sandbox = deployment.sandbox.start(
      {
        sessionId: run.id,
        handler: deployment.handlerKeys.get(trigger.name)!,
        call: `${call.file}:${call.export}`,
        event: {
          event_id: event.id,
          session_id: run.id,
          event_type: event.data.method.toLowerCase(),
          trigger: trigger.name,
          data: event.data,
        },
        durable,
      },
      run,
    );
    this.#running.set(run.id, { run, sandbox });
    this.#count(deployment.project, +1);
  }

  #count(project: string, change: number): void {
    const count = (this.#byProject.get(project) ?? 0) + change;
    if (count > 0) this.#byProject.set(project, count);
    else this.#byProject.delete(project);
  }

  /** Add a note to a running session's log (what the server did about it). */
  note(id: string, message: string): void {
    this.#running.get(id)?.run.note(message);
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
