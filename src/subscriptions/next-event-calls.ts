/**
 * The `next_event` calls waiting for an event, by session: each waits on a set of its
 * session's subscriptions, until an event for one of them arrives, its timeout passes, or none
 * of its subscriptions is left. A waiting call is a promise and, at most, a timer.
 */
import type { QueuedEvent } from "./subscription-hub";

interface Waiter {
  subscriptions: Set<string>;
  resolve: (event: QueuedEvent | null) => void;
  timer: NodeJS.Timeout | null;
}

export class NextEventCalls {
  readonly #bySession = new Map<string, Waiter[]>();

  /** Wait for an event for one of `subscriptions`, or `null` after `timeoutMs` (`null`: no end). */
  wait(
    sessionId: string,
    subscriptions: readonly string[],
    timeoutMs: number | null,
  ): Promise<QueuedEvent | null> {
    return new Promise((resolve) => {
      const waiter: Waiter = { subscriptions: new Set(subscriptions), resolve, timer: null };
      if (timeoutMs !== null)
        waiter.timer = setTimeout(() => this.#settle(sessionId, waiter, null), timeoutMs);
      const waiters = this.#bySession.get(sessionId) ?? [];
      waiters.push(waiter);
      this.#bySession.set(sessionId, waiters);
    });
  }

  /** Whether a call of the session waits on `subscriptionId`. */
  waitsOn(sessionId: string, subscriptionId: string): boolean {
    return this.#waiterOn(sessionId, subscriptionId) !== undefined;
  }

  /** Hand `event` to the session's call waiting on `subscriptionId`, if one does. */
  give(sessionId: string, subscriptionId: string, event: QueuedEvent): void {
    const waiter = this.#waiterOn(sessionId, subscriptionId);
    if (waiter !== undefined) this.#settle(sessionId, waiter, event);
  }

  #waiterOn(sessionId: string, subscriptionId: string): Waiter | undefined {
    return this.#bySession.get(sessionId)?.find((w) => w.subscriptions.has(subscriptionId));
  }

  /** A subscription went: calls that waited on it alone end with `null`. */
  unsubscribed(sessionId: string, subscriptionId: string): void {
    for (const waiter of [...(this.#bySession.get(sessionId) ?? [])]) {
      waiter.subscriptions.delete(subscriptionId);
      if (waiter.subscriptions.size === 0) this.#settle(sessionId, waiter, null);
    }
  }

  /** The session is over: its calls are dropped, never answered. */
  endSession(sessionId: string): void {
    for (const waiter of this.#bySession.get(sessionId) ?? [])
      clearTimeout(waiter.timer ?? undefined);
    this.#bySession.delete(sessionId);
  }

  #settle(sessionId: string, waiter: Waiter, event: QueuedEvent | null): void {
    clearTimeout(waiter.timer ?? undefined);
    const waiters = this.#bySession.get(sessionId);
    if (waiters !== undefined) {
      const index = waiters.indexOf(waiter);
      if (index !== -1) waiters.splice(index, 1);
      if (waiters.length === 0) this.#bySession.delete(sessionId);
    }
    waiter.resolve(event);
  }
}
