/**
 * Telling the developer that a trigger's filter fails on the requests it gets. A filter that
 * compiles may still not evaluate (a misspelt field, a type mismatch): such requests start no
 * session and get a plain 202, which looks like a broken webhook unless something says why.
 * The server log says so, once a minute per trigger at most, however many requests fail.
 */
import type { Logger } from "pino";

const QUIET_MS = 60_000;

export class FilterWarnings {
  readonly #logger: Logger;
  /** When each trigger's failure was last logged, and how many failed since. */
  readonly #last = new Map<string, { at: number; unlogged: number }>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** `error` is redacted already: it may quote the event, and the filter may hold a secret. */
  failed(project: string, trigger: string, eventId: string, error: string): void {
    const key = `${project}\0${trigger}`;
    const now = Date.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last.at < QUIET_MS) {
      last.unlogged += 1;
      return;
    }
    this.#last.set(key, { at: now, unlogged: 0 });
    this.#logger.warn(
      {
        project,
        trigger,
        event_id: eventId,
        error,
        ...(last !== undefined && last.unlogged > 0
          ? { failed_since_last_warning: last.unlogged }
          : {}),
      },
      "the trigger's filter could not be evaluated on a request, which therefore started no session (logged at most once a minute)",
    );
  }
}
