/**
 * Keeping the database from growing without bound: sessions that ended longer ago than the
 * retention period go, with their log and subscriptions, and so do events that old.
 *
 * Work is done in small transactions (200 rows, or 5 ms) with the event loop free in between,
 * so that pruning a large backlog holds up webhooks for a few milliseconds at a time (one
 * very large row, a 10 MiB body, may take longer to free on its own). Nothing a
 * running session needs is touched: unfinished sessions stay whatever their age, and so does
 * every event from the oldest unfinished session's own on.
 */
import type { Statement } from "better-sqlite3";
import type { Logger } from "pino";
import type { Db } from "./database";

/** How often the database is pruned (and once, soon after the server starts). */
const PRUNE_EVERY_MS = 10 * 60 * 1000;
const FIRST_PRUNE_AFTER_MS = 10 * 1000;
/** Sessions, or events, removed per transaction at most... */
const BATCH_ROWS = 200;
/**
 * ...and for this long at most: a row may be large (an event's body, a session's log), and
 * freeing its pages takes time on the main thread, which webhooks wait on.
 */
const BATCH_MS = 5;
/**
 * An event is written a moment before the session it starts: events are kept this much longer
 * than sessions, so that a kept session's event is kept too.
 */
const EVENT_MARGIN_MS = 60 * 1000;

export interface PruneResult {
  sessions: number;
  events: number;
}

export class Retention {
  readonly #db: Db;
  readonly #keepMs: number;
  readonly #logger: Logger;
  readonly #oldSessions: Statement<[string, number], { id: string }>;
  readonly #deleteSession: (id: string) => void;
  readonly #oldestUnfinishedEvent: Statement<[], { created_at: string | null }>;
  readonly #firstEvents: Statement<[number], { rowid: number; created_at: string }>;
  readonly #deleteEvent: Statement<[number]>;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<PruneResult> | null = null;
  #closed = false;

  constructor(options: { db: Db; keepMs: number; logger: Logger }) {
    this.#db = options.db;
    this.#keepMs = options.keepMs;
    this.#logger = options.logger;
    const db = options.db;
    this.#oldSessions = db.prepare(
      `SELECT id FROM sessions
       WHERE created_at < ? AND state NOT IN ('created', 'running')
       ORDER BY created_at LIMIT ?`,
    );
    const deleteLog = db.prepare("DELETE FROM session_log WHERE session_id = ?");
    const deleteQueued = db.prepare(
      `DELETE FROM subscription_events
       WHERE subscription_id IN (SELECT id FROM subscriptions WHERE session_id = ?)`,
    );
    const deleteSubscriptions = db.prepare("DELETE FROM subscriptions WHERE session_id = ?");
    const deleteRow = db.prepare("DELETE FROM sessions WHERE id = ?");
    this.#deleteSession = (id) => {
      deleteLog.run(id);
      deleteQueued.run(id);
      deleteSubscriptions.run(id);
      deleteRow.run(id);
    };
    this.#oldestUnfinishedEvent = db.prepare(
      `SELECT MIN(e.created_at) AS created_at FROM sessions s JOIN events e ON e.id = s.event_id
       WHERE s.state IN ('created', 'running')`,
    );
    // Events are read in the order they were written, which is the order they arrived in: the
    // oldest are first, and the scan stops at the first one to keep (no index on their time).
    this.#firstEvents = db.prepare("SELECT rowid, created_at FROM events ORDER BY rowid LIMIT ?");
    this.#deleteEvent = db.prepare("DELETE FROM events WHERE rowid = ?");
  }

  /** Prune now and then from now on, until `close`. */
  start(): void {
    const schedule = (delay: number) => {
      this.#timer = setTimeout(() => {
        void this.prune()
          .catch((error: unknown) =>
            this.#logger.error({ err: error }, "pruning the database failed"),
          )
          .finally(() => {
            if (!this.#closed) schedule(PRUNE_EVERY_MS);
          });
      }, delay);
      this.#timer.unref();
    };
    schedule(FIRST_PRUNE_AFTER_MS);
  }

  /** Stop pruning; resolves once a prune under way has stopped. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  /** Remove what is older than the retention period as of `now`. */
  prune(now = Date.now()): Promise<PruneResult> {
    this.#running ??= this.#prune(now).finally(() => (this.#running = null));
    return this.#running;
  }

  async #prune(now: number): Promise<PruneResult> {
    const sessionCutoff = new Date(now - this.#keepMs).toISOString();
    const result: PruneResult = { sessions: 0, events: 0 };

    for (;;) {
      if (this.#closed) return result;
      const { removed, more } = this.#db.transaction(() => {
        const started = performance.now();
        const ids = this.#oldSessions.all(sessionCutoff, BATCH_ROWS);
        let count = 0;
        for (const { id } of ids) {
          this.#deleteSession(id);
          count++;
          if (performance.now() - started > BATCH_MS) break;
        }
        return { removed: count, more: count < ids.length || ids.length === BATCH_ROWS };
      })();
      result.sessions += removed;
      if (!more) break;
      await yieldToEventLoop();
    }

    const oldestNeeded = this.#oldestUnfinishedEvent.get()?.created_at ?? null;
    let eventCutoff = new Date(now - this.#keepMs - EVENT_MARGIN_MS).toISOString();
    if (oldestNeeded !== null && oldestNeeded < eventCutoff) eventCutoff = oldestNeeded;
    for (;;) {
      if (this.#closed) return result;
      const { removed, more } = this.#db.transaction(() => {
        const started = performance.now();
        const rows = this.#firstEvents.all(BATCH_ROWS);
        let count = 0;
        for (const row of rows) {
          if (row.created_at >= eventCutoff) return { removed: count, more: false };
          this.#deleteEvent.run(row.rowid);
          count++;
          if (performance.now() - started > BATCH_MS) return { removed: count, more: true };
        }
        return { removed: count, more: rows.length === BATCH_ROWS };
      })();
      result.events += removed;
      if (!more) break;
      await yieldToEventLoop();
    }

    if (result.sessions > 0 || result.events > 0) {
      this.#logger.info(
        { ...result, older_than: sessionCutoff },
        "pruned sessions and events past the retention period",
      );
    }
    return result;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
