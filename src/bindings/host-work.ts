/**
 * What the host holds for sessions while it works for them (fetches in flight, their bytes),
 * counted per session, per project and for the whole server, each with a cap: one session
 * cannot take its project's share, nor one project the server's. Work still pending when its
 * session ends is cancelled with a `HostWorkCancelledError`.
 */

/** Host work was given up: its session ended, or has no CPU time left for it. */
export class HostWorkCancelledError extends Error {
  override get name(): string {
    return "HostWorkCancelledError";
  }
}

/** Whose work it is. */
export interface WorkOwner {
  sessionId: string;
  project: string;
}

/** Where a cap was reached. */
export type TallyLevel = "session" | "project" | "server";

export type TallyCaps = Record<TallyLevel, number>;

/** Amounts held per session, per project and by the server, each level with a cap. */
export class Tally {
  readonly #caps: TallyCaps;
  readonly #bySession = new Map<string, number>();
  readonly #byProject = new Map<string, number>();
  #server = 0;

  constructor(caps: TallyCaps) {
    this.#caps = caps;
  }

  /** What the whole server holds now. */
  get held(): number {
    return this.#server;
  }

  /** Hold `amount` more for `owner`: `null` when taken, else the level whose cap it would pass. */
  take(owner: WorkOwner, amount: number): TallyLevel | null {
    const session = this.#bySession.get(owner.sessionId) ?? 0;
    const project = this.#byProject.get(owner.project) ?? 0;
    if (session + amount > this.#caps.session) return "session";
    if (project + amount > this.#caps.project) return "project";
    if (this.#server + amount > this.#caps.server) return "server";
    this.#bySession.set(owner.sessionId, session + amount);
    this.#byProject.set(owner.project, project + amount);
    this.#server += amount;
    return null;
  }

  /** Give back what `take` held. */
  give(owner: WorkOwner, amount: number): void {
    lower(this.#bySession, owner.sessionId, amount);
    lower(this.#byProject, owner.project, amount);
    this.#server -= amount;
  }
}

function lower(counts: Map<string, number>, key: string, amount: number): void {
  const left = (counts.get(key) ?? 0) - amount;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
