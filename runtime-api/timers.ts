/**
 * `setTimeout`, `setInterval` and their `clear*`: the sandbox keeps the callbacks, the host
 * keeps the clock. Setting a timer records a `set_timer` call; the host fires it back into
 * the isolate as a `timer` entry for the session that set it. Timers die with their session.
 */
import type { Session, SessionRegistry } from "./sessions";

const MAX_DELAY_MS = 2 ** 31 - 1;

export interface Timers {
  setTimeout(callback: unknown, delay?: unknown, ...args: unknown[]): number;
  setInterval(callback: unknown, delay?: unknown, ...args: unknown[]): number;
  clearTimeout(id: unknown): void;
  clearInterval(id: unknown): void;
}

export function createTimers(registry: SessionRegistry, maxPerSession: number): Timers {
  function set(what: string, repeat: boolean, callback: unknown, delay: unknown, args: unknown[]) {
    const session = registry.current(what);
    if (typeof callback !== "function") {
      throw new TypeError(`${what}: the callback must be a function`);
    }
    if (session.timers.size >= maxPerSession) {
      throw new RangeError(`${what}: a session may have at most ${maxPerSession} pending timers`);
    }
    const delayMs = clampDelay(delay);
    const id = session.nextTimerId++;
    session.timers.set(id, {
      callback: callback as (...a: unknown[]) => void,
      args,
      repeat,
      delayMs,
    });
    registry.recordCall(session, "set_timer", [delayMs, repeat], id);
    return id;
  }

  function clear(what: string, id: unknown): void {
    const session = registry.current(what);
    if (typeof id !== "number" || !session.timers.delete(id)) return;
    registry.recordCall(session, "clear_timer", [id], null);
  }

  return {
    setTimeout: (callback, delay, ...args) => set("setTimeout", false, callback, delay, args),
    setInterval: (callback, delay, ...args) => set("setInterval", true, callback, delay, args),
    clearTimeout: (id) => clear("clearTimeout", id),
    clearInterval: (id) => clear("clearInterval", id),
  };
}

/**
 * Run the callback of a timer the host fired. An interval stays armed (the host re-arms its
 * clock when it sees `repeat`); a timeout is forgotten first, so it may set itself again.
 */
export function fireTimer(session: Session, id: number): void {
  const timer = session.timers.get(id);
  if (timer === undefined) return;
  if (!timer.repeat) session.timers.delete(id);
  timer.callback(...timer.args);
}

function clampDelay(delay: unknown): number {
  const ms = Number(delay);
  if (!Number.isFinite(ms) || ms < 0) return 0;
  return Math.min(Math.trunc(ms), MAX_DELAY_MS);
}
