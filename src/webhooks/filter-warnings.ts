/**
 * Telling the developer that a trigger's filter fails on the requests it gets. A filter that
 * compiles may still not evaluate (a header the request lacks, a type mismatch): such requests start no
 * session and get a plain 202, which looks like a broken webhook unless something says why.
 * The server log says so, once a minute per trigger at most, however many requests fail.
 */
import type { Logger } from "pino";
import { ThrottledWarnings } from "../log-throttle";

export class FilterWarnings {
  readonly #warnings: ThrottledWarnings;

  constructor(logger: Logger) {
    this.#warnings = new ThrottledWarnings(logger);
  }

  /** `error` is redacted already: it may quote the event, and the filter may hold a secret. */
  failed(project: string, trigger: string, eventId: string, error: string): void {
    this.#warnings.warn(
      `${project}\0${trigger}`,
      { project, trigger, event_id: eventId, error },
      "the trigger's filter could not be evaluated on a request, which therefore started no session",
    );
  }
}
