/**
 * Memory held by webhook bodies in progress, with a cap per project and one for the server.
 *
 * A body is held from the moment it is read until its request is answered or, when it starts
 * a session, until that session ends (the body lives on in the session's isolate, and on its
 * way there). Past a cap, the request is refused at once with 503 and `Retry-After`, before
 * anything is stored: callers of one project sending many large bodies (or small gzip bodies
 * that inflate to large ones) cannot take the memory every other project needs.
 */
import { BodiesBusyError } from "../errors";
import { Tally } from "../bindings/host-work";

/** Bodies below this are not counted: even the most running sessions of them take little. */
const UNCOUNTED_BYTES = 16 * 1024;
const RETRY_AFTER_SECONDS = 1;

export interface BodyCaps {
  project: number;
  server: number;
}

/** The caps for a body limit: room for a few bodies of the largest size at least. */
export function bodyCapsFor(maxBodyBytes: number): BodyCaps {
  return {
    project: Math.max(64 * 1024 * 1024, 4 * maxBodyBytes),
    server: Math.max(256 * 1024 * 1024, 16 * maxBodyBytes),
  };
}

export class BodyBudget {
  readonly #tally: Tally;
  readonly #caps: BodyCaps;
  #nextHolder = 0;

  constructor(caps: BodyCaps) {
    this.#caps = caps;
    this.#tally = new Tally({ session: Infinity, ...caps });
  }

  /** Bytes held now, by every project. */
  get held(): number {
    return this.#tally.held;
  }

  /** Hold `bytes` for a request of `project`; the function returned lets go (once). */
  hold(project: string, bytes: number): () => void {
    if (bytes < UNCOUNTED_BYTES) return () => undefined;
    const owner = { sessionId: String(this.#nextHolder++), project };
    const full = this.#tally.take(owner, bytes);
    if (full === "project" || full === "server") {
      throw new BodiesBusyError(full, this.#caps[full], RETRY_AFTER_SECONDS);
    }
    let held = true;
    return () => {
      if (held) this.#tally.give(owner, bytes);
      held = false;
    };
  }
}
