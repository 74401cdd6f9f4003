/**
 * Grouping writes into few transactions: what is queued within a few milliseconds is committed
 * together, so under load many sessions share one commit.
 *
 * `commit()` resolves once everything queued before it is on disk (as durable as
 * `synchronous=NORMAL` makes it): an async webhook answers 202 only after that.
 */
import type { Logger } from "pino";
import type { Db } from "./database";

type Write = () => void;

/**
 * How long writes wait for company before they are committed. A few milliseconds lets most
 * sessions' first and last writes share one transaction (and their row be written once); an
 * async 202, which waits for the commit, is that much later.
 */
const FLUSH_DELAY_MS = 2;
/**
 * Past this many queued writes, commit at the end of this turn of the event loop, to bound
 * what waits in memory. Not at once: writes queued in one turn belong together (a durable
 * session's journaled `subscribe` and its subscription's row), and are committed together.
 */
export const MAX_QUEUED_WRITES = 5000;

export class WriteQueue {
  readonly #db: Db;
  readonly #logger: Logger;
  #writes: Write[] = [];
  #waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #scheduled: NodeJS.Timeout | null = null;
  #full: NodeJS.Immediate | null = null;
  readonly #runAll: (writes: Write[]) => void;

  constructor(db: Db, logger: Logger) {
    this.#db = db;
    this.#logger = logger;
    this.#runAll = db.transaction((writes: Write[]) => {
      for (const write of writes) {
        // A failed statement undoes only itself; the others in the batch still commit.
        try {
          write();
        } catch (error) {
          this.#logger.error({ err: error }, "a database write failed");
        }
      }
    });
  }

  push(write: Write): void {
    this.#writes.push(write);
    if (this.#writes.length >= MAX_QUEUED_WRITES) this.#full ??= setImmediate(() => this.flush());
    else this.#scheduled ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
  }

  /** Resolves when everything queued so far is committed; rejects if that commit failed. */
  commit(): Promise<void> {
    if (this.#writes.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Commit now; used before reads that must see every write, and at shutdown. */
  flush(): void {
    if (this.#scheduled !== null) {
      clearTimeout(this.#scheduled);
      this.#scheduled = null;
    }
    if (this.#full !== null) {
      clearImmediate(this.#full);
      this.#full = null;
    }
    if (this.#writes.length === 0) return;
    const writes = this.#writes;
    const waiters = this.#waiters;
    this.#writes = [];
    this.#waiters = [];
    try {
      this.#runAll(writes);
    } catch (error) {
      this.#logger.error(
        { err: error, writes: writes.length },
        "a batch of database writes failed",
      );
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    for (const waiter of waiters) waiter.resolve();
  }

  get db(): Db {
    return this.#db;
  }
}
