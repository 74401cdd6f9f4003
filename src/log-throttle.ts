/**
 * Warnings that a stranger's requests can cause again and again (a filter that fails on every
 * request, events that arrive faster than their filters run): each kind is logged at most once
 * a minute, with the count of those left out since, so that the log cannot be flooded.
 */
import type { Logger } from "pino";

const QUIET_MS = 60_000;

export class ThrottledWarnings {
  readonly #logger: Logger;
  readonly #quietMs: number;
  /** When each kind was last logged, and how many of it came since. */
  readonly #last = new Map<string, { at: number; unlogged: number }>();

  constructor(logger: Logger, quietMs = QUIET_MS) {
    this.#logger = logger;
    this.#quietMs = quietMs;
  }

  /** Log `message` with `fields`, unless a warning of the same `kind` was logged lately. */
  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const last = this.#last.get(kind);
    if (last !== undefined && now - last.at < this.#quietMs) {
      last.unlogged += 1;
      return;
    }
    // Forget kinds that went quiet, so that the map does not grow with every trigger ever seen.
    if (this.#last.size > 10_000) this.#last.clear();
    this.#last.set(kind, { at: now, unlogged: 0 });
    const unlogged = last?.unlogged ?? 0;
    this.#logger.warn(
      unlogged > 0 ? { ...fields, not_logged_since_last: unlogged } : fields,
      `${message} (logged at most once a minute)`,
    );
  }
}
