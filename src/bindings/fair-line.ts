/**
 * Who goes next when sessions wait for a few shared slots. First come first served would let
 * one project that queues many operations (many sessions, each calling in a loop) make every
 * other project wait behind all of them. So the next free slot goes to the waiting project
 * that holds the fewest slots, and among those to the one served longest ago (a project that
 * was idle counts as never served); within that project the same rule picks the session; a
 * session's own waiters go in the order they came. A project with nothing running thus waits
 * for one slot to free, however many operations others have queued, and projects that all
 * want more take turns.
 */
import type { WorkOwner } from "./host-work";

/** What a project or a session holds of the slots. */
interface Share {
  running: number;
  /** The grant it last had, counted over the line's grants: 0 if none since it was idle. */
  servedAt: number;
}

interface SessionShare extends Share {
  /** Its waiters' grants, in the order they came. */
  waiting: (() => void)[];
}

interface ProjectShare extends Share {
  /** Its sessions that run or wait, in the order they came. */
  sessions: Map<string, SessionShare>;
  /** Its sessions' waiters, all told. */
  waiting: number;
}

/** Slot holders and waiters, per project and session, and whom the next free slot goes to. */
export class FairLine {
  readonly #projects = new Map<string, ProjectShare>();
  #grants = 0;

  /** `owner` takes a slot now, without waiting. */
  take(owner: WorkOwner): void {
    const { project, session } = this.#shares(owner);
    this.#grant(project, session);
  }

  /** `owner` gives back a slot it took or was granted. */
  give(owner: WorkOwner): void {
    const { project, session } = this.#shares(owner);
    project.running -= 1;
    session.running -= 1;
    this.#forgetIfIdle(owner, project, session);
  }

  /** Put `grant` in line for `owner`; the function returned takes it out again, if still there. */
  join(owner: WorkOwner, grant: () => void): () => void {
    const { project, session } = this.#shares(owner);
    session.waiting.push(grant);
    project.waiting += 1;
    return () => {
      const at = session.waiting.indexOf(grant);
      if (at === -1) return;
      session.waiting.splice(at, 1);
      project.waiting -= 1;
      this.#forgetIfIdle(owner, project, session);
    };
  }

  /**
   * Take the next waiter out of line, holding a slot for it: its grant, for the caller to call;
   * `undefined` if nobody waits.
   */
  next(): (() => void) | undefined {
    const project = neediest(this.#projects.values(), (share) => share.waiting > 0);
    if (project === undefined) return undefined;
    const session = neediest(project.sessions.values(), (share) => share.waiting.length > 0)!;
    const grant = session.waiting.shift()!;
    project.waiting -= 1;
    this.#grant(project, session);
    return grant;
  }

  #grant(project: ProjectShare, session: SessionShare): void {
    this.#grants += 1;
    project.running += 1;
    project.servedAt = this.#grants;
    session.running += 1;
    session.servedAt = this.#grants;
  }

  #shares(owner: WorkOwner): { project: ProjectShare; session: SessionShare } {
    let project = this.#projects.get(owner.project);
    if (project === undefined) {
      project = { running: 0, servedAt: 0, sessions: new Map(), waiting: 0 };
      this.#projects.set(owner.project, project);
    }
    let session = project.sessions.get(owner.sessionId);
    if (session === undefined) {
      session = { running: 0, servedAt: 0, waiting: [] };
      project.sessions.set(owner.sessionId, session);
    }
    return { project, session };
  }

  /** Shares that hold and wait for nothing go, so the line keeps no trace of ended sessions. */
  #forgetIfIdle(owner: WorkOwner, project: ProjectShare, session: SessionShare): void {
    if (session.running > 0 || session.waiting.length > 0) return;
    project.sessions.delete(owner.sessionId);
    if (project.running === 0 && project.sessions.size === 0) this.#projects.delete(owner.project);
  }
}

/** Of the shares that wait, the one holding the fewest slots; on a tie, the one served longest ago. */
function neediest<T extends Share>(shares: Iterable<T>, waits: (share: T) => boolean) {
  let best: T | undefined;
  for (const share of shares) {
    if (!waits(share)) continue;
    if (
      best === undefined ||
      share.running < best.running ||
      (share.running === best.running && share.servedAt < best.servedAt)
    ) {
      best = share;
    }
  }
  return best;
}
