/**
 * Events, sessions and session logs: the hot path. Writes go through the `WriteQueue`, so many
 * sessions share one transaction; reads flush it first, so they see every write made so far.
 */
import type { Statement } from "better-sqlite3";
import type { WireEventData } from "../../sandbox";
import type { WriteQueue } from "./write-queue";

export type SessionState = "created" | "running" | "completed" | "error" | "stopped";

/** Kinds of session log entries; the README documents each one's `data`. */
export type LogKind = "state" | "print" | "outcome" | "call" | "error" | "note";

export interface EventRow {
  id: string;
  project: string;
  trigger: string;
  deployment_id: string;
  created_at: string;
  event_type: string;
  /** JSON: method, raw_url, url, headers (the body is in `body`). */
  data: string;
  body: Buffer;
}

export interface SessionRow {
  id: string;
  project: string;
  trigger: string;
  deployment_id: string;
  event_id: string;
  state: SessionState;
  is_sync: number;
  is_durable: number;
  created_at: string;
  updated_at: string;
  ended_at: string | null;
  error: string | null;
  cpu_ms: number | null;
}

export interface LogRow {
  session_id: string;
  seq: number;
  time: string;
  kind: LogKind;
  data: string;
}

export type UnfinishedDurable = SessionRow & { next_log_seq: number; logged_records: number };

export interface SessionFilter {
  project?: string;
  state?: SessionState;
  /** Only sessions listed after this one (older), to page through a long list. */
  before?: string;
  limit: number;
}

export class SessionsStore {
  readonly #queue: WriteQueue;
  /** Session rows queued for their INSERT and not written yet. */
  readonly #unwritten = new Map<string, SessionRow>();
  readonly #insertEvent: Statement;
  readonly #eventData: Statement<[string], { data: string; body: Buffer }>;
  readonly #insertSession: Statement;
  readonly #updateState: Statement;
  readonly #endSession: Statement;
  readonly #insertLog: Statement;

  constructor(queue: WriteQueue) {
    this.#queue = queue;
    const db = queue.db;
    this.#eventData = db.prepare("SELECT data, body FROM events WHERE id = ?");
    this.#insertEvent = db.prepare(
      `INSERT INTO events (id, project, trigger, deployment_id, created_at, event_type, data, body)
       VALUES (@id, @project, @trigger, @deployment_id, @created_at, @event_type, @data, @body)`,
    );
    this.#insertSession = db.prepare(
      `INSERT INTO sessions (id, project, trigger, deployment_id, event_id, state, is_sync, is_durable,
                             created_at, updated_at, ended_at, error, cpu_ms)
       VALUES (@id, @project, @trigger, @deployment_id, @event_id, @state, @is_sync, @is_durable,
               @created_at, @updated_at, @ended_at, @error, @cpu_ms)`,
    );
    this.#updateState = db.prepare("UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?");
    this.#endSession = db.prepare(
      "UPDATE sessions SET state = ?, updated_at = ?, ended_at = ?, error = ?, cpu_ms = ? WHERE id = ?",
    );
    this.#insertLog = db.prepare(
      "INSERT INTO session_log (session_id, seq, time, kind, data) VALUES (?, ?, ?, ?, ?)",
    );
  }

  insertEvent(row: EventRow): void {
    this.#queue.push(() => this.#insertEvent.run(row));
  }

  /**
   * A session's row is written once, when its batch commits, as it is then: a session that
   * starts and ends within one batch costs one INSERT and no UPDATE.
   */
  insertSession(row: SessionRow): void {
    this.#unwritten.set(row.id, row);
    this.#queue.push(() => {
      this.#unwritten.delete(row.id);
      this.#insertSession.run(row);
    });
  }

  setState(id: string, state: SessionState, time: string): void {
    const row = this.#unwritten.get(id);
    if (row !== undefined) {
      row.state = state;
      row.updated_at = time;
      return;
    }
    this.#queue.push(() => this.#updateState.run(state, time, id));
  }

  endSession(
    id: string,
    state: SessionState,
    time: string,
    error: string | null,
    cpuMs: number,
  ): void {
    const row = this.#unwritten.get(id);
    if (row !== undefined) {
      Object.assign(row, { state, updated_at: time, ended_at: time, error, cpu_ms: cpuMs });
      return;
    }
    this.#queue.push(() => this.#endSession.run(state, time, time, error, cpuMs, id));
  }

  appendLog(row: LogRow): void {
    this.#queue.push(() =>
      this.#insertLog.run(row.session_id, row.seq, row.time, row.kind, row.data),
    );
  }

  /** Resolves once every write queued so far is committed. */
  commit(): Promise<void> {
    return this.#queue.commit();
  }

  session(id: string): SessionRow | undefined {
    this.#queue.flush();
    return this.#queue.db
      .prepare<[string], SessionRow>("SELECT * FROM sessions WHERE id = ?")
      .get(id);
  }

  sessions(filter: SessionFilter): SessionRow[] {
    this.#queue.flush();
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.project !== undefined) {
      where.push("project = ?");
      params.push(filter.project);
    }
    if (filter.state !== undefined) {
      where.push("state = ?");
      params.push(filter.state);
    }
    if (filter.before !== undefined) {
      where.push("(created_at, id) < (SELECT created_at, id FROM sessions WHERE id = ?)");
      params.push(filter.before);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    return this.#queue.db
      .prepare<(string | number)[], SessionRow>(
        `SELECT * FROM sessions ${clause} ORDER BY created_at DESC, id DESC LIMIT ?`,
      )
      .all(...params, filter.limit);
  }

  log(sessionId: string): LogRow[] {
    this.#queue.flush();
    return this.#queue.db
      .prepare<[string], LogRow>("SELECT * FROM session_log WHERE session_id = ? ORDER BY seq")
      .all(sessionId);
  }

  /** Whether the session's log has a note that holds `text`. */
  hasNote(sessionId: string, text: string): boolean {
    this.#queue.flush();
    return (
      this.#queue.db
        .prepare<[string, string], { found: number }>(
          "SELECT 1 AS found FROM session_log WHERE session_id = ? AND kind = 'note' AND instr(data, ?) > 0 LIMIT 1",
        )
        .get(sessionId, text) !== undefined
    );
  }

  /**
   * A stored event as its session sees it (`event.data`), or `null` when there is none. Reads
   * what is committed: the queue is flushed first when the event may still be in it.
   */
  eventData(id: string): WireEventData | null {
    let row = this.#eventData.get(id);
    if (row === undefined) {
      this.#queue.flush();
      row = this.#eventData.get(id);
    }
    if (row === undefined) return null;
    const described = JSON.parse(row.data) as Omit<WireEventData, "body">;
    return { ...described, body: { bytes: new Uint8Array(row.body) } };
  }

  /** Whether an event of this id is stored. */
  hasEvent(id: string): boolean {
    this.#queue.flush();
    return (
      this.#queue.db
        .prepare<[string], { one: number }>("SELECT 1 AS one FROM events WHERE id = ?")
        .get(id) !== undefined
    );
  }

  /** One stored event, its body included. */
  event(id: string): EventRow | undefined {
    this.#queue.flush();
    return this.#queue.db.prepare<[string], EventRow>("SELECT * FROM events WHERE id = ?").get(id);
  }

  /**
   * The latest events first, `before` one event to page back. Without a project they are read
   * in the order they arrived (their rowid's: events have no index on their time alone); a
   * project's through its index, by time.
   */
  events(filter: { project?: string; before?: string; limit: number }): Omit<EventRow, "body">[] {
    this.#queue.flush();
    const columns = "id, project, trigger, deployment_id, created_at, event_type, data";
    const byProject = filter.project !== undefined;
    const where: string[] = byProject ? ["project = ?"] : [];
    const params: (string | number)[] = byProject ? [filter.project!] : [];
    if (filter.before !== undefined) {
      where.push(
        byProject
          ? "(created_at, rowid) < (SELECT created_at, rowid FROM events WHERE id = ?)"
          : "rowid < (SELECT rowid FROM events WHERE id = ?)",
      );
      params.push(filter.before);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const order = byProject ? "created_at DESC, rowid DESC" : "rowid DESC";
    return this.#queue.db
      .prepare<(string | number)[], Omit<EventRow, "body">>(
        `SELECT ${columns} FROM events ${clause} ORDER BY ${order} LIMIT ?`,
      )
      .all(...params, filter.limit);
  }

  /**
   * After a crash or restart: non-durable sessions that were `created` or `running` cannot go
   * on (their isolates are gone); end them as `error`, with the reason in their log. Durable
   * ones are left for `unfinishedDurable`, with their subscriptions.
   */
  failInterrupted(reason: string, time: string): number {
    const db = this.#queue.db;
    this.#queue.flush();
    return db.transaction(() => {
      const ids = db
        .prepare<[], { id: string }>(
          "SELECT id FROM sessions WHERE state IN ('created', 'running') AND is_durable = 0",
        )
        .all();
      for (const { id } of ids) this.#fail(id, reason, time);
      const unfinished = "SELECT id FROM sessions WHERE state IN ('created', 'running')";
      db.prepare(
        `UPDATE subscriptions SET ended_at = ? WHERE ended_at IS NULL AND session_id NOT IN (${unfinished})`,
      ).run(time);
      // Journals whose session ended without the delete being written.
      db.prepare(`DELETE FROM session_journal WHERE session_id NOT IN (${unfinished})`).run();
      return ids.length;
    })();
  }

  /**
   * Durable sessions a crash or restart left unfinished, oldest first; with where their log
   * goes on, and how many of its entries came from a sandbox record each (prints, outcomes,
   * and the calls answered in the sandbox or at once: see `SessionRun`'s `#alreadyLogged`).
   */
  unfinishedDurable(): UnfinishedDurable[] {
    this.#queue.flush();
    return this.#queue.db
      .prepare<[], UnfinishedDurable>(
        `SELECT s.*,
           COALESCE((SELECT MAX(seq) FROM session_log l WHERE l.session_id = s.id), -1) + 1
             AS next_log_seq,
           (SELECT COUNT(*) FROM session_log l WHERE l.session_id = s.id AND (
              l.kind IN ('print', 'outcome') OR (l.kind = 'call' AND json_extract(l.data, '$.binding')
                IN ('getenv', 'set_timer', 'clear_timer', 'unsubscribe', 'subscribe'))))
             AS logged_records
         FROM sessions s WHERE s.state IN ('created', 'running') AND s.is_durable = 1
         ORDER BY s.created_at, s.rowid`,
      )
      .all();
  }

  /** End an unfinished session as `error` at once, with `reason` in its log. */
  failUnfinished(id: string, reason: string, time: string): void {
    this.#queue.flush();
    this.#queue.db.transaction(() => {
      this.#fail(id, reason, time);
      this.#queue.db
        .prepare("UPDATE subscriptions SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL")
        .run(time, id);
      this.#queue.db.prepare("DELETE FROM session_journal WHERE session_id = ?").run(id);
    })();
  }

  #fail(id: string, reason: string, time: string): void {
    const { next } = this.#queue.db
      .prepare<[string], { next: number }>(
        "SELECT COALESCE(MAX(seq), -1) + 1 AS next FROM session_log WHERE session_id = ?",
      )
      .get(id)!;
    const error = JSON.stringify({ name: "Error", message: reason, stack: null });
    this.#insertLog.run(id, next, time, "error", error);
    this.#insertLog.run(id, next + 1, time, "state", JSON.stringify({ state: "error", reason }));
    this.#endSession.run("error", time, time, reason, null, id);
  }
}
