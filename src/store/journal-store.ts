/**
 * Durable sessions' journals. A durable session is decided by what it is given: its event and
 * random seed, then timers and answers in the order they came. The journal keeps those, so
 * that after a restart the session can be run again on the same code and given the same
 * things (a replay), which brings it back to where it was; then it goes on.
 *
 * Rows, in the order they are written (their rowid):
 * - `start`: the seed (`data`) and the clock of the first entry;
 * - `answer`: the host's answer to async call `ref`, written as it is sent;
 * - `settle`, `timer`: the session was given answer or timer `ref`, at `clock_ms`;
 * - `host_answer`: a `subscribe` call's arguments and answer, in the order they were made.
 * Values are kept as V8 serializes them (byte arrays stay byte arrays). A journal is deleted
 * when its session ends. It holds what the session was given unredacted (fetched bodies, the
 * filter text it subscribed with): the database already holds the project's secrets in its
 * deployments, so it needs no less care than before.
 */
import type { Statement } from "better-sqlite3";
import { deserialize, serialize } from "node:v8";
import type {
  AsyncBindingName,
  AsyncBindings,
  HostAnswer,
  JournalEntry,
  ReplayEntry,
} from "../../sandbox";
import type { WriteQueue } from "./write-queue";

/** A `subscribe` call as the journal keeps it. */
export interface JournaledSubscribe {
  args: [source: string, filter: string | null];
  answer: HostAnswer;
}

/** A key a session imported: imported again on resume, since keys stay in the host. */
export interface JournaledKeyImport {
  args: AsyncBindings["crypto_import_key"]["args"];
  answer: HostAnswer;
}

/** What a durable session needs to be replayed. */
export interface Journal {
  entropy: Uint8Array;
  clockMs: number;
  replay: ReplayEntry[];
  subscribes: JournaledSubscribe[];
  /** In the order they were answered. */
  keyImports: JournaledKeyImport[];
}

/** An `answer` row's data. */
interface JournaledAnswer {
  binding: AsyncBindingName;
  /** See `argsDigest`. */
  argsDigest: string;
  answer: HostAnswer;
  keyArgs: JournaledKeyImport["args"] | null;
}

type Kind = "start" | "timer" | "settle" | "answer" | "host_answer";

/**
 * A running session's journal writes. A session that ends before any of its rows was committed
 * (most do: a webhook answered within a write batch) has them dropped instead, and costs the
 * database nothing.
 */
interface Writes {
  /** The session ended: rows not committed yet are not written. */
  dropped: boolean;
  /** Some row is committed, so ending takes a DELETE. */
  committed: boolean;
}

interface JournalRow {
  rowid: number;
  kind: Kind;
  ref: number | null;
  clock_ms: number | null;
  data: Buffer | null;
}

export class JournalStore {
  readonly #queue: WriteQueue;
  readonly #insert: Statement<[string, Kind, number | null, number | null, Buffer | null]>;
  readonly #delete: Statement<[string]>;
  readonly #read: Statement<[string], JournalRow>;
  readonly #readSubscribes: Statement<[string], { data: Buffer }>;
  readonly #deleteRows: Statement<[string]>;
  readonly #writes = new Map<string, Writes>();

  constructor(queue: WriteQueue) {
    this.#queue = queue;
    const db = queue.db;
    this.#insert = db.prepare(
      "INSERT INTO session_journal (session_id, kind, ref, clock_ms, data) VALUES (?, ?, ?, ?, ?)",
    );
    this.#delete = db.prepare("DELETE FROM session_journal WHERE session_id = ?");
    this.#deleteRows = db.prepare(
      "DELETE FROM session_journal WHERE rowid IN (SELECT value FROM json_each(?))",
    );
    this.#readSubscribes = db.prepare(
      "SELECT data FROM session_journal WHERE session_id = ? AND kind = 'host_answer' ORDER BY rowid",
    );
    this.#read = db.prepare(
      "SELECT rowid, kind, ref, clock_ms, data FROM session_journal WHERE session_id = ? ORDER BY rowid",
    );
  }

  start(sessionId: string, entropy: Uint8Array, clockMs: number): void {
    this.#write(sessionId, "start", null, clockMs, Buffer.from(entropy));
  }

  /**
   * `keyArgs`: a key import's arguments (see `JournaledKeyImport`).
   *
   * TODO: a `next_event` answer is journaled whole, so an event's body is stored twice while
   * its session runs (in `events` too); journal the event's id and read it back on replay once
   * journals of long waits on large events show up.
   */
  answer(
    sessionId: string,
    callId: number,
    call: { binding: AsyncBindingName; argsDigest: string },
    answer: HostAnswer,
    keyArgs: JournaledKeyImport["args"] | null,
  ): void {
    const data: JournaledAnswer = { ...call, answer, keyArgs };
    this.#write(sessionId, "answer", callId, null, serialize(data));
  }

  entry(sessionId: string, entry: JournalEntry): void {
    const ref = entry.kind === "timer" ? entry.timerId : entry.callId;
    this.#write(sessionId, entry.kind, ref, entry.clockMs, null);
  }

  subscribed(sessionId: string, subscribe: JournaledSubscribe): void {
    this.#write(sessionId, "host_answer", null, null, serialize(subscribe));
  }

  /** Its journal is deleted already (the session failed at a restart): nothing to track. */
  forget(sessionId: string): void {
    this.#writes.delete(sessionId);
  }

  /** The session's `subscribe` calls and answers, in order (without reading the rest). */
  subscribes(sessionId: string): JournaledSubscribe[] {
    this.#queue.flush();
    return this.#readSubscribes
      .all(sessionId)
      .map((row) => deserialize(row.data) as JournaledSubscribe);
  }

  /** The session ended: its journal goes. */
  delete(sessionId: string): void {
    const writes = this.#writes.get(sessionId);
    this.#writes.delete(sessionId);
    if (writes !== undefined) writes.dropped = true;
    if (writes?.committed !== false) this.#queue.push(() => this.#delete.run(sessionId));
  }

  /**
   * The session's journal, or `null` when it has no start. Answers that were sent but not yet
   * given to the session when the server stopped are given after everything else (at
   * `nowMs`): the session would have had them next. An entry whose answer is missing (or that
   * repeats one) ends the replay there; what came after it is done again, live, and its rows
   * are deleted here, to be journaled anew.
   */
  read(sessionId: string, nowMs: number): Journal | null {
    this.#queue.flush();
    const rows = this.#read.all(sessionId);
    const start = rows.find((row) => row.kind === "start");
    if (start === undefined || start.data === null) return null;
    // It goes on writing to rows already committed: its end must delete them.
    this.#writes.set(sessionId, { dropped: false, committed: true });
    const answers = new Map<number, JournaledAnswer>();
    for (const row of rows)
      if (row.kind === "answer") answers.set(row.ref!, deserialize(row.data!) as JournaledAnswer);

    const replay: ReplayEntry[] = [];
    const given = new Set<number>();
    let cut: JournalRow | null = null;
    for (const row of rows) {
      if (row.kind === "timer") {
        replay.push({ kind: "timer", timerId: row.ref!, clockMs: row.clock_ms! });
      } else if (row.kind === "settle") {
        const answered = answers.get(row.ref!);
        if (answered === undefined || given.has(row.ref!)) {
          cut = row;
          break;
        }
        given.add(row.ref!);
        const { binding, argsDigest, answer } = answered;
        const entry = { kind: "settle", callId: row.ref!, binding, argsDigest, answer } as const;
        replay.push({ ...entry, clockMs: row.clock_ms!, journaled: true });
      }
    }
    if (cut === null) {
      // Each of these calls was made in an entry above (its answer was sent after it), so the
      // replay makes it again before its answer comes. Past a cut, that no longer holds.
      const later = [...answers].filter(([callId]) => !given.has(callId)).sort(([a], [b]) => a - b);
      for (const [callId, { binding, argsDigest, answer }] of later) {
        const entry = { kind: "settle", callId, binding, argsDigest, answer } as const;
        replay.push({ ...entry, clockMs: nowMs, journaled: false });
        given.add(callId);
      }
    } else {
      // What came after the cut is done again, live, and journaled again: its old rows go, so
      // that a later restart does not replay them. `subscribe` answers stay: the calls made
      // again get them (and their subscriptions keep their ids and queued events).
      const stale = rows.filter(
        (row) =>
          (row.rowid >= cut.rowid && row.kind !== "host_answer") ||
          (row.kind === "answer" && !given.has(row.ref!)),
      );
      this.#deleteRows.run(JSON.stringify(stale.map((row) => row.rowid)));
    }

    const keyImports: JournaledKeyImport[] = [];
    for (const callId of given) {
      const { keyArgs, answer } = answers.get(callId)!;
      if (keyArgs !== null) keyImports.push({ args: keyArgs, answer });
    }
    const subscribes = rows
      .filter((row) => row.kind === "host_answer")
      .map((row) => deserialize(row.data!) as JournaledSubscribe);
    return {
      entropy: new Uint8Array(start.data),
      clockMs: start.clock_ms!,
      replay,
      subscribes,
      keyImports,
    };
  }

  #write(
    sessionId: string,
    kind: Kind,
    ref: number | null,
    clockMs: number | null,
    data: Buffer | null,
  ): void {
    let writes = this.#writes.get(sessionId);
    if (writes === undefined) {
      writes = { dropped: false, committed: false };
      this.#writes.set(sessionId, writes);
    }
    const mine = writes;
    this.#queue.push(() => {
      if (mine.dropped) return;
      mine.committed = true;
      this.#insert.run(sessionId, kind, ref, clockMs, data);
    });
  }
}
