/**
 * One session, from the server's side: its row and its log in SQLite (session-log.ts), and for
 * a sync webhook the HTTP answer, decided by the first of: a final outcome, the handler's
 * return value, a failure (502; 503 when the server's stop cut it short) or the sync timeout
 * (504).
 */
import type { Logger } from "pino";
import type {
  AsyncCallRecord,
  CallRecord,
  HostAnswer,
  HostReply,
  JournalEntry,
  Outcome,
  SessionEnd,
} from "../../sandbox";
import type { JournalStore } from "../store/journal-store";
import { argsDigest } from "../../sandbox/args-digest";
import type { SessionListener } from "../worker/remote-sandbox";
import {
  argsForLog,
  HostCalls,
  userFacing,
  type Answered,
  type HostCallContext,
} from "./host-calls";
import type { SessionState, SessionsStore } from "../store/sessions-store";
import type { Redactor } from "./redactor";
import { toAnswer, jsonAnswer, stoppingAnswer, type HttpAnswer } from "./answer";
import { cut } from "./log-entry";
import { loggedOutcome } from "./logged-outcome";
import type { EqualityTerm } from "../subscriptions/equality-shortcut";
import { SessionLog } from "./session-log";
import { SyncAnswer } from "./sync-answer";

/** The server log level of each `console` method's output. */
const PRINT_LOG_LEVELS = {
  log: "info",
  info: "info",
  debug: "debug",
  warn: "warn",
  error: "error",
} as const;

/** The `error` column of a session: the first line of what ended it. */
const MAX_REASON_CHARS = 1000;
/** What a call still pending when its session ended is logged with. */
const CANCELLED_MESSAGE = "the session ended before the host answered";

export interface SessionRunOptions {
  id: string;
  eventId: string;
  project: string;
  trigger: string;
  deploymentId: string;
  isSync: boolean;
  isDurable: boolean;
  syncTimeoutMs: number;
  store: SessionsStore;
  /** A durable session's journal (see journal-store.ts); `null` for other sessions. */
  journal: JournalStore | null;
  /**
   * A durable session resumed after a restart: its row exists, its log goes on from entry
   * `nextLogSeq`, and the HTTP caller of a sync webhook is gone. `entries`: what its journal
   * holds past its start (answers, timers, subscribes). `loggedRecords`: how many of its
   * sandbox records its log holds (see `#alreadyLogged`).
   */
  resumed?: { nextLogSeq: number; entries: number; loggedRecords: number };
  /** What the session's host calls need: its subscriptions, its network policy. */
  host: Omit<HostCallContext, "sessionId">;
  redactor: Redactor;
  logger: Logger;
  onDone: (run: SessionRun) => void;
}

/**
 * - `sent`: this outcome is the sync webhook's answer;
 * - `intermediate`: `more: true`, kept in the log only;
 * - `ignored`: a final outcome after the answer was decided (or the caller left);
 * - `recorded`: an async session's outcome;
 * - `refused`: a 1xx final outcome, which cannot end a request (the caller gets 502).
 */
type Disposition = "sent" | "intermediate" | "ignored" | "recorded" | "refused";

/** A host call not answered yet, as its log entry will show it. */
interface PendingCall {
  binding: string;
  args: unknown;
}

export class SessionRun implements SessionListener {
  readonly id: string;
  readonly isDurable: boolean;
  readonly #options: SessionRunOptions;
  #sessionLogger: Logger | null = null;
  readonly #calls: HostCalls;
  /** Host calls not answered yet; those still here at the end are logged as cancelled. */
  readonly #pending = new Set<PendingCall>();
  readonly #log: SessionLog;
  /** Resolves `answer` (a sync webhook); `null` once the answer is decided. */
  /** For a sync webhook not resumed after a restart: what its caller waits for. */
  readonly #sync: SyncAnswer | null;
  /** The server is stopping and lets go of this durable session, to resume it when it starts. */
  #suspended = false;
  /** The server is stopping: a sync caller whose session its end stops is told so (503). */
  #serverStopping = false;
  /** Its end was heard: host calls still finishing (cancelled) are neither logged nor journaled. */
  #ended = false;
  /**
   * Records from the sandbox so far that are logged as one entry each: prints, outcomes, the
   * calls answered in the sandbox, and `subscribe`.
   */
  #records = 0;
  /**
   * A resumed session does again what it did before, and its records come again in the same
   * order: the first this-many are in its log already. Counting them, rather than trusting the
   * replay's end, logs each record once even when the log and the journal were cut at
   * different points by a crash.
   */
  readonly #alreadyLogged: number;
  /** Resolves when the session has ended and its end is logged. */
  readonly done: Promise<void>;
  #markDone!: () => void;

  constructor(options: SessionRunOptions) {
    this.id = options.id;
    this.isDurable = options.isDurable;
    this.#options = options;
    const { resumed } = options;
    this.#sync = options.isSync && resumed === undefined ? new SyncAnswer() : null;
    this.#calls = new HostCalls({ ...options.host, sessionId: options.id });
    this.done = new Promise((resolve) => (this.#markDone = resolve));
    this.#alreadyLogged = resumed?.loggedRecords ?? 0;
    this.#log = new SessionLog(options.store, options.id, options.redactor, resumed?.nextLogSeq);

    if (resumed !== undefined) {
      this.note(
        `resumed after the server restarted: replaying its start and ${resumed.entries} recorded ` +
          `entr${resumed.entries === 1 ? "y" : "ies"} (what it does again is answered from the ` +
          "record, and not logged again)",
      );
      return;
    }
    const now = new Date().toISOString();
    options.store.insertSession({
      id: options.id,
      project: options.project,
      trigger: options.trigger,
      deployment_id: options.deploymentId,
      event_id: options.eventId,
      state: "created",
      is_sync: options.isSync ? 1 : 0,
      is_durable: options.isDurable ? 1 : 0,
      created_at: now,
      updated_at: now,
      ended_at: null,
      error: null,
      cpu_ms: null,
    });
    this.#log.append("state", { state: "created" }, now);
  }

  /** For a sync webhook: the HTTP answer, once decided. */
  get answer(): Promise<HttpAnswer> | null {
    return this.#sync?.promise ?? null;
  }

  /** The session was handed to the sandbox. */
  running(): void {
    const now = new Date().toISOString();
    this.#options.store.setState(this.id, "running", now);
    this.#log.append("state", { state: "running" }, now);
    const timeoutMs = this.#options.syncTimeoutMs;
    this.#sync?.decideAfter(timeoutMs, () => {
      this.note(`no response within the sync timeout of ${timeoutMs} ms; answered 504`);
      return jsonAnswer(504, {
        error: `the session did not respond within ${timeoutMs} ms`,
        session_id: this.id,
      });
    });
  }

  /**
   * The caller of a sync webhook hung up before its answer; the session runs on, and its
   * outcomes from now on are logged as ignored.
   */
  clientGone(): void {
    if (!this.#awaited()) return;
    this.note("the client disconnected before the response; the session runs on");
    this.#decide(jsonAnswer(499, { error: "the client disconnected", session_id: this.id }));
  }

  onCall(record: CallRecord): void {
    if (this.#suspended) return;
    if (this.#records++ < this.#alreadyLogged) {
      // Logged before the restart; only what it does to the server's state is done again.
      if (record.binding === "unsubscribe")
        this.#options.host.subscriptions.unsubscribe(this.id, record.args[0]);
      return;
    }
    switch (record.binding) {
      case "print": {
        const [level, text] = record.args;
        const clean = this.#log.print(level, text);
        this.#logger()[PRINT_LOG_LEVELS[level]]({ console: level }, clean);
        break;
      }
      case "http_outcome":
        this.#outcome(record.args[0]);
        break;
      case "unsubscribe":
        this.#options.host.subscriptions.unsubscribe(this.id, record.args[0]);
        this.#log.call({ binding: record.binding, args: record.args, result: null });
        break;
      default:
        this.#log.call({ binding: record.binding, args: record.args, result: record.result });
    }
  }

  onSubscribe(
    args: [source: string, filter: string | null],
    answer: HostAnswer,
    replayed: boolean,
    terms: EqualityTerm[] | null,
  ): void {
    if (this.#suspended) return;
    const alreadyLogged = this.#records++ < this.#alreadyLogged;
    // A replayed subscription was restored with the session, with the events queued for it.
    if (!replayed) {
      this.#options.journal?.subscribed(this.id, { args, answer });
      if (answer.ok) {
        const [source, text] = args;
        const filter =
          text === null ? null : { text, recorded: this.#options.redactor.text(text), terms };
        this.#calls.subscribed(answer.value as string, source, filter);
      }
    }
    if (alreadyLogged) return;
    if (answer.ok) this.#log.call({ binding: "subscribe", args, result: answer.value });
    else this.#log.call({ binding: "subscribe", args, error: answer.message });
  }

  async onAsyncCall(record: AsyncCallRecord): Promise<HostReply> {
    // Not made now: made again, live, when the session resumes.
    if (this.#suspended || this.#ended)
      return { answer: { ok: false, message: "the server is stopping" }, cpuMs: 0 };
    const answer = await this.#runHostCall(record.binding, record.args, () =>
      this.#calls.answer(record),
    );
    // Journaled as it is sent (also while the server stops: it was logged, and a replay must
    // give it rather than ask again). Key imports keep their arguments too, so that the key
    // can be imported again on resume.
    if (this.#options.journal !== null && !this.#ended) {
      const keyArgs = record.binding === "crypto_import_key" ? record.args : null;
      const call = { binding: record.binding, argsDigest: argsDigest(record.args) };
      this.#options.journal.answer(this.id, record.call_id, call, answer, keyArgs);
    }
    return { answer, cpuMs: this.#calls.takeCpuMs() };
  }

  onEntry(entry: JournalEntry): void {
    if (!this.#suspended) this.#options.journal?.entry(this.id, entry);
  }

  /** Keys the session imported before a restart, imported again (see journal-store.ts). */
  restoreKeys(imports: Parameters<HostCalls["restoreKeys"]>[0]): Promise<void> {
    return this.#calls.restoreKeys(imports);
  }

  /**
   * The server is stopping: let go of this durable session without ending it. Its row stays
   * `running` and its journal stays, so it resumes when the server starts again; what the
   * sandbox says of it from now on is not recorded.
   */
  suspend(): void {
    if (this.#suspended) return;
    this.note("the server is stopping; the session will resume when it starts again");
    this.#suspended = true;
  }

  /** The server has begun to stop; sessions still running when it does are ended with it. */
  serverStopping(): void {
    this.#serverStopping = true;
  }

  onEnd(end: SessionEnd): void {
    this.#ended = true;
    if (this.#suspended) {
      this.#calls.end(true);
      this.#pending.clear();
      this.#decide(stoppingAnswer("the server is stopping", this.id));
      this.#options.onDone(this);
      this.#markDone();
      return;
    }
    // Pending host work stops here: fetches are aborted, queued crypto work dropped.
    this.#calls.end();
    for (const pending of this.#pending)
      this.#log.append("call", { ...pending, error: CANCELLED_MESSAGE });
    this.#pending.clear();
    const now = new Date().toISOString();
    let state: SessionState;
    let reason: string | null = null;
    if (end.ok) {
      state = "completed";
      if (end.droppedTimers > 0) {
        this.note(
          `${end.droppedTimers} pending timer(s) dropped: the handler returned without waiting for them`,
        );
      }
      if (this.#awaited()) {
        this.note(`answered with the handler's return value (${end.returned.kind})`);
        this.#decide(toAnswer(end.returned));
      }
    } else {
      const { failure } = end;
      state = failure.kind === "stopped" ? "stopped" : "error";
      reason = cut(this.#options.redactor.text(failure.reason), MAX_REASON_CHARS);
      const message = failure.detail === undefined ? reason : `${reason}: ${failure.detail}`;
      const error = failure.error ?? { name: errorName(failure.kind), message, stack: null };
      this.#log.error(error, now);
      this.#decide(
        this.#serverStopping && failure.kind === "sandbox"
          ? stoppingAnswer("the server stopped before the session responded", this.id)
          : jsonAnswer(502, {
              error:
                failure.kind === "stopped"
                  ? "the session was stopped before it responded"
                  : "the session failed before it responded",
              session_id: this.id,
            }),
      );
    }
    this.#options.store.endSession(
      this.id,
      state,
      now,
      reason,
      Math.round(end.cpuMs * 1000) / 1000,
    );
    this.#options.journal?.delete(this.id);
    this.#log.append("state", reason === null ? { state } : { state, reason }, now);
    if (this.#options.logger.isLevelEnabled("debug")) {
      this.#logger().debug({ state, reason, cpu_ms: end.cpuMs }, "session ended");
    }
    this.#options.onDone(this);
    this.#markDone();
  }

  #outcome(outcome: Outcome): void {
    let disposition: Disposition;
    if (outcome.more) disposition = "intermediate";
    else if (!this.#awaited()) disposition = this.#options.isSync ? "ignored" : "recorded";
    else if (outcome.status_code < 200) disposition = "refused";
    else disposition = "sent";

    this.#log.append("outcome", {
      ...loggedOutcome(outcome, this.#options.redactor),
      disposition,
    });
    if (disposition === "refused") {
      this.note(`status ${outcome.status_code} cannot end a request; answered 502`);
      this.#decide(
        jsonAnswer(502, {
          error: `the session answered with status ${outcome.status_code}, which cannot end a request`,
          session_id: this.id,
        }),
      );
    } else if (disposition === "sent") {
      const answer = toAnswer({ kind: "response", response: outcome });
      for (const dropped of answer.dropped) {
        this.note(`header ${dropped} is set by the server; the outcome's value was not sent`);
      }
      this.#decide(answer);
    }
  }

  /**
   * Run a host call and log it, its result or its error; a server fault stays unexplained. A
   * call still pending when the session ends is logged then, as cancelled, and not again.
   */
  async #runHostCall(
    binding: string,
    args: unknown[],
    run: () => Promise<Answered>,
  ): Promise<HostAnswer> {
    const pending: PendingCall = { binding, args: this.#log.value(argsForLog(binding, args)) };
    this.#pending.add(pending);
    let answer: HostAnswer;
    let outcome: { result: unknown } | { error: string };
    try {
      const { value, logged: result } = await run();
      answer = { ok: true, value };
      outcome = { result: this.#log.value(result) };
    } catch (error) {
      const failure = userFacing(error);
      if (failure === null) {
        // The server's own fault, but its message may quote the call's arguments (a URL).
        const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
        const redact = this.#options.redactor;
        this.#logger().error(
          {
            err: { type: name, message: redact.text(message), stack: redact.text(stack ?? "") },
            binding,
          },
          "a host call failed",
        );
      }
      answer = failure ?? { ok: false, message: `${binding} failed inside the server` };
      outcome = { error: this.#log.message(answer.message) };
    }
    // A call still pending at the session's end was logged (as cancelled) then, or, when the
    // session was let go of at a shutdown, is made again after the resume and logged then.
    if (this.#pending.delete(pending)) this.#log.append("call", { ...pending, ...outcome });
    return answer;
  }

  /** A sync caller waits for an answer not decided yet. */
  #awaited(): boolean {
    return this.#sync?.open === true;
  }

  #decide(answer: HttpAnswer): void {
    this.#sync?.decide(answer);
  }

  /** The server log, tagged with the session; made on first use (most sessions log nothing). */
  #logger(): Logger {
    const { logger, id, project, trigger } = this.#options;
    this.#sessionLogger ??= logger.child({ session_id: id, project, trigger });
    return this.#sessionLogger;
  }

  /** A note in the log: what the server did about the session (redacted: it may quote data). */
  note(message: string): void {
    this.#log.note(message);
  }
}

function errorName(kind: string): string {
  if (kind === "limit") return "LimitError";
  if (kind === "stopped") return "StoppedError";
  return "SandboxError";
}
