/**
 * A durable session's replay after a restart (ARCHITECTURE.md, "Durable sessions"): the entries
 * it is given again, in order, and what the host does differently while they run. Calls with
 * an answer in the journal are not made again (the answer is queued already), and timers fire
 * from the journal rather than from clocks; the timers still pending when it ends are armed
 * then.
 */
import { argsDigest } from "./args-digest";
import type { AsyncBindingName, AsyncCallRecord, CallRecord, Entry, HostAnswer } from "./protocol";

/** An entry a durable session was given after its start, as its journal keeps it. */
export type JournalEntry =
  | { kind: "timer"; timerId: number; clockMs: number }
  | { kind: "settle"; callId: number; clockMs: number };

/** An entry to give a durable session again when it is replayed. */
export type ReplayEntry =
  | { kind: "timer"; timerId: number; clockMs: number }
  | {
      kind: "settle";
      callId: number;
      /** The call it answers, which the replay must make again: its binding and arguments. */
      binding: AsyncBindingName;
      argsDigest: string;
      clockMs: number;
      answer: HostAnswer;
      /**
       * False for an answer that was sent but not yet given when the server stopped: it is
       * given now, last, and this time its place in the order is journaled.
       */
      journaled: boolean;
    };

/** A `subscribe` call as it was made before a restart, and its answer. */
export interface RecordedHostCall {
  args: unknown[];
  answer: HostAnswer;
}

/**
 * How a durable session starts: its seed and first clock, chosen (and journaled) by the host.
 * A session resumed after a restart also gets what it was given before, which it runs through
 * again (a replay) before it goes on: the same code given the same entries does the same.
 */
export interface DurableStart {
  entropy: Uint8Array;
  clockMs: number;
  /** A resumed session's entries since its start, in the order it had them; `null` if new. */
  replay: ReplayEntry[] | null;
  /** Its `subscribe` calls and their answers, in the order it made them. */
  hostCalls: RecordedHostCall[];
}

/** What the host does with an async call made during the replay. */
export type ReplayedCall =
  { kind: "live" } | { kind: "answered" } | { kind: "diverged"; what: string };

export class Replay {
  /** Calls whose answers are given again, and the call each answered. */
  readonly #answered = new Map<number, { binding: AsyncBindingName; argsDigest: string }>();
  /** Timers that fire again from the journal. */
  readonly #fired = new Set<number>();
  /** Timers the replay set. */
  readonly #set = new Set<number>();
  /** Timers set in the replay and still pending. */
  readonly #pending = new Map<number, { delayMs: number; repeat: boolean }>();

  constructor(readonly entries: readonly ReplayEntry[]) {
    for (const entry of entries) {
      if (entry.kind === "settle") this.#answered.set(entry.callId, entry);
      else this.#fired.add(entry.timerId);
    }
  }

  /** The entries to queue for the session, each with its journal entry if it has none yet. */
  *toEntries(sessionId: string): Generator<{ entry: Entry; unjournaled: JournalEntry | null }> {
    for (const replayed of this.entries) {
      const { clockMs } = replayed;
      if (replayed.kind === "timer") {
        const entry: Entry = {
          kind: "timer",
          session_id: sessionId,
          timer_id: replayed.timerId,
          clock_ms: clockMs,
        };
        yield { entry, unjournaled: null };
      } else {
        const { callId, answer } = replayed;
        const entry: Entry = {
          kind: "settle",
          session_id: sessionId,
          call_id: callId,
          answer,
          clock_ms: clockMs,
        };
        yield {
          entry,
          unjournaled: replayed.journaled ? null : { kind: "settle", callId, clockMs },
        };
      }
    }
  }

  asyncCall(record: AsyncCallRecord): ReplayedCall {
    const journaled = this.#answered.get(record.call_id);
    if (journaled === undefined) return { kind: "live" };
    const made = `made host call number ${record.call_id} (${record.binding})`;
    if (journaled.binding !== record.binding) {
      return { kind: "diverged", what: `${made} where the journal has ${journaled.binding}` };
    }
    if (journaled.argsDigest !== argsDigest(record.args)) {
      return { kind: "diverged", what: `${made} with other arguments than the journal has` };
    }
    return { kind: "answered" };
  }

  /** A call answered in the sandbox, made during the replay: timers are only noted. */
  call(record: CallRecord): void {
    if (record.binding === "set_timer") {
      this.#set.add(record.result);
      const [delayMs, repeat] = record.args;
      if (repeat || !this.#fired.has(record.result))
        this.#pending.set(record.result, { delayMs, repeat });
    }
    if (record.binding === "clear_timer") this.#pending.delete(record.args[0]);
  }

  /** A timer the journal fired that the replay never set, if any: a sign it diverged. */
  firedUnset(): number | null {
    for (const timerId of this.#fired) if (!this.#set.has(timerId)) return timerId;
    return null;
  }

  /** Timers the replay left pending: to be armed, each with its whole delay. */
  pendingTimers(): Iterable<[timerId: number, timer: { delayMs: number; repeat: boolean }]> {
    return this.#pending;
  }
}

/** Whether a `subscribe` made again is the one the journal has next; a reason if not. */
export function hostCallDiverges(
  binding: string,
  args: unknown[],
  recorded: RecordedHostCall,
): string | null {
  const made = JSON.stringify(args);
  const journaled = JSON.stringify(recorded.args);
  if (made === journaled) return null;
  return `called ${binding}(${made}) where the journal has ${binding}(${journaled})`;
}
