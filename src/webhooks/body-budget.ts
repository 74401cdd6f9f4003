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

/** See `BodyBudget.open`. */
export interface BodyHold {
  add(bytes: number): void;
  /** Lets go of everything held (once; later calls do nothing). */
  release(): void;
}

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

  /**
   * A hold on memory for one request's body, growing as its bytes arrive: `add` throws a
   * `BodiesBusyError` once the project's share or the server's is used up. The first bytes
   * of every body are free: even the most running sessions of small bodies take little.
   */
  open(project: string): BodyHold {
    const owner = { sessionId: String(this.#nextHolder++), project };
    let seen = 0;
    let held = 0;
    let open = true;
    return {
      add: (bytes) => {
        seen += bytes;
        const counted = Math.max(0, seen - UNCOUNTED_BYTES) - held;
        if (counted <= 0 || !open) return;
        const full = this.#tally.take(owner, counted);
        if (full === "project" || full === "server") {
          throw new BodiesBusyError(full, this.#caps[full], RETRY_AFTER_SECONDS);
        }
        held += counted;
      },
      release: () => {
        if (open && held > 0) this.#tally.give(owner, held);
        open = false;
        held = 0;
      },
    };
  }
}
