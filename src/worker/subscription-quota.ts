/**
 * How many subscriptions a deployment's sessions hold together, kept where `subscribe` is
 * answered. Every event of a trigger is checked against, and recorded for, each of its
 * subscriptions, so the total per deployment is what bounds the cost of one event.
 */
export const MAX_DEPLOYMENT_SUBSCRIPTIONS = 1000;

export class SubscriptionQuota {
  /** Session id → the ids of its live subscriptions. */
  readonly #bySession = new Map<string, Set<string>>();
  #total = 0;

  /** Throws when the deployment holds as many as it may. */
  check(): void {
    if (this.#total >= MAX_DEPLOYMENT_SUBSCRIPTIONS) {
      throw new QuotaError(
        `subscribe: the project's sessions hold ${MAX_DEPLOYMENT_SUBSCRIPTIONS} subscriptions already, the most they may hold together`,
      );
    }
  }

  added(sessionId: string, id: string): void {
    let ids = this.#bySession.get(sessionId);
    if (ids === undefined) this.#bySession.set(sessionId, (ids = new Set()));
    if (!ids.has(id)) this.#total += 1;
    ids.add(id);
  }

  removed(sessionId: string, id: string): void {
    if (this.#bySession.get(sessionId)?.delete(id)) this.#total -= 1;
  }

  sessionEnded(sessionId: string): void {
    this.#total -= this.#bySession.get(sessionId)?.size ?? 0;
    this.#bySession.delete(sessionId);
  }
}

export class QuotaError extends Error {}
