/**
 * Subscriptions and the events queued for them, written through the `WriteQueue` like the
 * rest of the hot path. The queue in memory (`SubscriptionHub`) serves `next_event`; these
 * rows record what was queued for whom and when it was delivered.
 */
import type { Statement } from "better-sqlite3";
import type { WriteQueue } from "./write-queue";

export interface SubscriptionRow {
  id: string;
  session_id: string;
  project: string;
  source: string;
  filter: string | null;
  created_at: string;
}

export class SubscriptionsStore {
  readonly #queue: WriteQueue;
  readonly #insert: Statement;
  readonly #end: Statement;
  readonly #endForSession: Statement;
  readonly #queueEvent: Statement;
  readonly #deliver: Statement;

  constructor(queue: WriteQueue) {
    this.#queue = queue;
    const db = queue.db;
    this.#insert = db.prepare(
      `INSERT INTO subscriptions (id, session_id, project, source, filter, created_at, ended_at)
       VALUES (@id, @session_id, @project, @source, @filter, @created_at, NULL)`,
    );
    this.#end = db.prepare(
      "UPDATE subscriptions SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
    );
    this.#endForSession = db.prepare(
      "UPDATE subscriptions SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL",
    );
    this.#queueEvent = db.prepare(
      "INSERT INTO subscription_events (subscription_id, event_id, queued_at, delivered_at) VALUES (?, ?, ?, ?)",
    );
    this.#deliver = db.prepare(
      "UPDATE subscription_events SET delivered_at = ? WHERE subscription_id = ? AND event_id = ?",
    );
  }

  insert(row: SubscriptionRow): void {
    this.#queue.push(() => this.#insert.run(row));
  }

  end(id: string, time: string): void {
    this.#queue.push(() => this.#end.run(time, id));
  }

  endForSession(sessionId: string, time: string): void {
    this.#queue.push(() => this.#endForSession.run(time, sessionId));
  }

  /** An event queued for a subscription; `deliveredAt` when it went straight to a waiting caller. */
  queued(subscriptionId: string, eventId: string, time: string, deliveredAt: string | null): void {
    this.#queue.push(() => this.#queueEvent.run(subscriptionId, eventId, time, deliveredAt));
  }

  delivered(subscriptionId: string, eventId: string, time: string): void {
    this.#queue.push(() => this.#deliver.run(time, subscriptionId, eventId));
  }

  /** Ids of the session's subscriptions that have not ended. */
  openOf(sessionId: string): Set<string> {
    this.#queue.flush();
    const rows = this.#queue.db
      .prepare<[string], { id: string }>(
        "SELECT id FROM subscriptions WHERE session_id = ? AND ended_at IS NULL",
      )
      .all(sessionId);
    return new Set(rows.map((row) => row.id));
  }

  /** Events queued for these subscriptions and not delivered, in the order they arrived. */
  waiting(
    subscriptionIds: string[],
  ): { subscriptionId: string; eventId: string; trigger: string }[] {
    if (subscriptionIds.length === 0) return [];
    this.#queue.flush();
    return this.#queue.db
      .prepare<string[], { subscriptionId: string; eventId: string; trigger: string }>(
        `SELECT se.subscription_id AS subscriptionId, se.event_id AS eventId, e.trigger AS trigger
         FROM subscription_events se JOIN events e ON e.id = se.event_id
         WHERE se.delivered_at IS NULL
           AND se.subscription_id IN (SELECT value FROM json_each(?))
         ORDER BY e.rowid`,
      )
      .all(JSON.stringify(subscriptionIds));
  }
}
