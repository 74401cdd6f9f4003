/**
 * A session's log in SQLite, as `SessionRun` writes it: entries in order, each redacted, then
 * cut, each field to its own size and the whole entry to `MAX_LOG_ENTRY_BYTES` as it is
 * written (log-entry.ts).
 */
import type { LogKind, SessionsStore } from "../store/sessions-store";
import { cut, cutValue, logJson, type CutLimits } from "./log-entry";
import type { Redactor } from "./redactor";

// What the log keeps of each field (outcomes: logged-outcome.ts). Together they fit in a log
// entry (64 KiB); the entry as a whole is bounded when written, whatever its fields hold.
/** Printed text. */
const MAX_LOGGED_PRINT_CHARS = 60 * 1024;
/** Error messages: the error that ended the session, a host call's error. */
const MAX_LOGGED_MESSAGE_CHARS = 16 * 1024;
/** Stacks. */
const MAX_LOGGED_STACK_CHARS = 32 * 1024;
/** A call's arguments and result: each string, each list or object, and their nesting. */
const LOGGED_CALL_LIMITS: CutLimits = { chars: 8 * 1024, items: 100, depth: 8 };

export interface LoggedError {
  name: string;
  message: string;
  stack: string | null;
}

export class SessionLog {
  readonly #store: SessionsStore;
  readonly #sessionId: string;
  readonly #redactor: Redactor;
  #seq: number;

  /** `nextSeq`: where a resumed session's log goes on. */
  constructor(store: SessionsStore, sessionId: string, redactor: Redactor, nextSeq = 0) {
    this.#store = store;
    this.#sessionId = sessionId;
    this.#redactor = redactor;
    this.#seq = nextSeq;
  }

  /** Append an entry; `data` is redacted already, and is cut to the entry bound here. */
  append(kind: LogKind, data: unknown, time = new Date().toISOString()): void {
    this.#store.appendLog({
      session_id: this.#sessionId,
      seq: this.#seq++,
      time,
      kind,
      data: logJson(data),
    });
  }

  /** A note: what the server did about the session (redacted: it may quote data). */
  note(message: string): void {
    this.append("note", { message: this.#redactor.text(message) });
  }

  /** Printed text, redacted and cut; returned as logged, for the server log. */
  print(level: string, text: string): string {
    const clean = cut(this.#redactor.text(text), MAX_LOGGED_PRINT_CHARS);
    this.append("print", { level, text: clean });
    return clean;
  }

  /** A call's entry: redacted, then its arguments and result cut to size. */
  call(entry: { binding: string; args: unknown; result?: unknown; error?: string }): void {
    this.append("call", this.value(entry));
  }

  /** A value as a call's entry holds it: redacted, then cut to size. */
  value(value: unknown): unknown {
    return cutValue(this.#redactor.value(value), LOGGED_CALL_LIMITS);
  }

  /** A message as the log holds it: redacted, then cut to size. */
  message(text: string): string {
    return cut(this.#redactor.text(text), MAX_LOGGED_MESSAGE_CHARS);
  }

  /** The error that ended the session. */
  error(error: LoggedError, time: string): void {
    this.append(
      "error",
      {
        name: cut(this.#redactor.text(error.name), 200),
        message: this.message(error.message),
        stack:
          error.stack === null
            ? null
            : cut(this.#redactor.text(error.stack), MAX_LOGGED_STACK_CHARS),
      },
      time,
    );
  }
}
