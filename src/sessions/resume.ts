/**
 * Bringing back durable sessions after a restart (SPEC §6). Each one a crash or a shutdown
 * left unfinished is started again on the deployment it began on, and replayed from its
 * journal: given the same event, seed, timers and answers in the same order, it does the same
 * and reaches where it was; then it goes on. Its subscriptions come back first, with the
 * events they had queued, so that nothing that arrives meanwhile is missed.
 *
 * A session that cannot come back (its deployment is gone or will not start, its journal or
 * event is missing) ends as `error`, saying why.
 */
import type { Logger } from "pino";
import type { LiveDeployment, LiveDeployments } from "../deploy/live-deployments";
import type { JournalStore } from "../store/journal-store";
import type { ProjectsStore } from "../store/projects-store";
import type { SessionRow, SessionsStore, UnfinishedDurable } from "../store/sessions-store";
import type { SubscriptionsStore } from "../store/subscriptions-store";
import { filterFailureNote, type SubscriptionHub } from "../subscriptions/subscription-hub";
import type { SessionManager } from "./session-manager";

export interface ResumeContext {
  sessions: SessionsStore;
  journal: JournalStore;
  subscriptionsStore: SubscriptionsStore;
  subscriptions: SubscriptionHub;
  projects: ProjectsStore;
  live: LiveDeployments;
  running: SessionManager;
  logger: Logger;
}

interface Plan {
  row: UnfinishedDurable;
  deployment: LiveDeployment;
}

/** Resume every unfinished durable session; resolves once each is started again (or failed). */
export async function resumeDurableSessions(context: ResumeContext): Promise<number> {
  const { sessions, journal, running, subscriptions, logger } = context;
  const rows = sessions.unfinishedDurable();
  if (rows.length === 0) return 0;
  const time = new Date().toISOString();
  const fail = (row: UnfinishedDurable, reason: string) => {
    sessions.failUnfinished(row.id, reason, time);
    journal.forget(row.id);
    // Its subscriptions may be back in the hub already; they end with it (in SQLite, above).
    subscriptions.endSession(row.id, false);
    logger.warn({ session_id: row.id, reason }, "a durable session could not be resumed");
  };
  const deployments = new DeploymentsForResume(context);
  const plans: Plan[] = [];
  for (const row of rows) {
    const found = await deployments.get(row);
    if (typeof found === "string") fail(row, found);
    else if (!sessions.hasEvent(row.event_id))
      fail(row, "the server stopped before the session's event was written; it cannot be resumed");
    else plans.push({ row, deployment: found });
  }
  restoreSubscriptions(context, plans);
  let resumed = 0;
  // Each journal is read just before its session resumes: they can be large.
  for (const { row, deployment } of plans) {
    try {
      const recorded = journal.read(row.id, Date.now());
      if (recorded === null) {
        fail(
          row,
          "the server stopped before the session's journal was written; it cannot be resumed",
        );
        continue;
      }
      await running.resume(row, deployment, recorded, sessions.eventData(row.event_id)!);
      resumed += 1;
    } catch (error) {
      // One session whose journal cannot be read must not keep the server from starting.
      fail(row, `it could not be resumed: ${(error as Error).message}`);
    }
  }
  deployments.retireExtras();
  if (resumed > 0) logger.info({ sessions: resumed }, "durable sessions resumed");
  return resumed;
}

/** The sessions' open subscriptions, back in the hub with what was queued for them. */
function restoreSubscriptions(context: ResumeContext, plans: Plan[]): void {
  const restored = plans.flatMap(({ row }) => {
    const open = context.subscriptionsStore.openOf(row.id);
    return context.journal.subscribes(row.id).flatMap(({ args: [source, filter], answer }) =>
      answer.ok && open.has(answer.value as string)
        ? [
            {
              sessionId: row.id,
              project: row.project,
              id: answer.value as string,
              source,
              filter,
              // Said once: not again after a restart.
              toldFilterFailed: context.sessions.hasNote(
                row.id,
                filterFailureNote(answer.value as string),
              ),
            },
          ]
        : [],
    );
  });
  const waiting = context.subscriptionsStore.waiting(restored.map((s) => s.id));
  context.subscriptions.restore(restored, waiting);
}

/**
 * The deployment each session began on: the project's active one, or an older one started
 * again only for its resumed sessions (it takes no webhooks, and retires once they end).
 */
class DeploymentsForResume {
  readonly #context: ResumeContext;
  readonly #extras = new Map<string, Promise<LiveDeployment | string>>();

  constructor(context: ResumeContext) {
    this.#context = context;
  }

  /** The deployment, or why there is none. */
  get(row: SessionRow): Promise<LiveDeployment | string> {
    const active = this.#context.live.deployment(row.project);
    if (active?.id === row.deployment_id) return Promise.resolve(active);
    let extra = this.#extras.get(row.deployment_id);
    if (extra === undefined) {
      extra = this.#prepare(row);
      this.#extras.set(row.deployment_id, extra);
    }
    return extra;
  }

  async #prepare(row: SessionRow): Promise<LiveDeployment | string> {
    const { projects, live } = this.#context;
    const code = projects.deployment(row.deployment_id);
    if (code === undefined) return `its deployment ${row.deployment_id} is not stored any more`;
    try {
      return await live.prepare(
        { id: code.id, manifest: code.manifest, bundle: code.bundle, sourceMap: code.source_map },
        projects.slugs(row.project),
      );
    } catch (error) {
      return `its deployment ${row.deployment_id} could not be started again: ${(error as Error).message}`;
    }
  }

  /** Older deployments take no new sessions: each goes once its resumed sessions end. */
  retireExtras(): void {
    for (const extra of this.#extras.values())
      void extra.then((deployment) => {
        if (typeof deployment !== "string") void deployment.sandbox.drain();
      });
  }
}
