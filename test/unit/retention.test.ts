// Pruning the database: what is past the retention period goes, with everything that hangs
// off it; what a running session still needs stays, whatever its age.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "../../src/store/database";
import { Retention } from "../../src/store/retention";

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.parse("2026-12-04T12:00:00.000Z");
const ago = (ms: number) => new Date(NOW - ms).toISOString();

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "isohook-retention-"));
  db = openDatabase(dir);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function event(id: string, at: string): void {
  db.prepare(
    `INSERT INTO events (id, project, trigger, deployment_id, created_at, event_type, data, body)
     VALUES (?, 'p', 't', 'dep', ?, 'post', '{}', x'00')`,
  ).run(id, at);
}

/** A session with its event, three log entries and a subscription with one queued event. */
function session(id: string, state: string, at: string): void {
  event(`evt_${id}`, at);
  db.prepare(
    `INSERT INTO sessions (id, project, trigger, deployment_id, event_id, state, is_sync,
       is_durable, created_at, updated_at)
     VALUES (?, 'p', 't', 'dep', ?, ?, 1, 0, ?, ?)`,
  ).run(id, `evt_${id}`, state, at, at);
  for (let seq = 0; seq < 3; seq++)
    db.prepare(
      "INSERT INTO session_log (session_id, seq, time, kind, data) VALUES (?, ?, ?, 'print', '{}')",
    ).run(id, seq, at);
  db.prepare(
    `INSERT INTO subscriptions (id, session_id, project, source, filter, created_at)
     VALUES (?, ?, 'p', 'second', NULL, ?)`,
  ).run(`sub_${id}`, id, at);
  db.prepare(
    "INSERT INTO subscription_events (subscription_id, event_id, queued_at) VALUES (?, ?, ?)",
  ).run(`sub_${id}`, `evt_${id}`, at);
}

const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
const ids = (table: string) =>
  (db.prepare(`SELECT id FROM ${table} ORDER BY id`).all() as { id: string }[]).map((r) => r.id);

function retention(keepMs = 30 * DAY): Retention {
  return new Retention({ db, keepMs, logger: pino({ level: "silent" }) });
}

describe("Retention", () => {
  it("removes ended sessions and events past the period, with their logs and subscriptions", async () => {
    // Rows go in as the server writes them: in the order they happen.
    session("ses_old_done", "completed", ago(40 * DAY));
    event("evt_old_no_session", ago(35 * DAY));
    session("ses_old_error", "error", ago(31 * DAY));
    session("ses_recent", "completed", ago(29 * DAY));
    event("evt_recent_no_session", ago(1 * DAY));

    const result = await retention().prune(NOW);

    expect(result).toEqual({ sessions: 2, events: 3 });
    expect(ids("sessions")).toEqual(["ses_recent"]);
    expect(ids("events")).toEqual(["evt_recent_no_session", "evt_ses_recent"]);
    expect(count("SELECT COUNT(*) AS n FROM session_log WHERE session_id != 'ses_recent'")).toBe(0);
    expect(count("SELECT COUNT(*) AS n FROM session_log")).toBe(3);
    expect(ids("subscriptions")).toEqual(["sub_ses_recent"]);
    expect(count("SELECT COUNT(*) AS n FROM subscription_events")).toBe(1);
  });

  it("keeps unfinished sessions of any age, their events, and every event after theirs", async () => {
    event("evt_older_still", ago(50 * DAY));
    session("ses_waiting", "running", ago(45 * DAY));
    event("evt_after_waiting", ago(44 * DAY));
    session("ses_done", "completed", ago(40 * DAY));

    expect(await retention().prune(NOW)).toEqual({ sessions: 1, events: 1 });
    expect(ids("sessions")).toEqual(["ses_waiting"]);
    expect(ids("events")).toEqual(["evt_after_waiting", "evt_ses_done", "evt_ses_waiting"]);
    expect(count("SELECT COUNT(*) AS n FROM session_log")).toBe(3);

    // Once it has ended, the next prune takes it and what it held back.
    db.prepare("UPDATE sessions SET state = 'stopped' WHERE id = 'ses_waiting'").run();
    expect(await retention().prune(NOW)).toEqual({ sessions: 1, events: 3 });
    expect(count("SELECT COUNT(*) AS n FROM events")).toBe(0);
  });

  it("works through a backlog larger than one batch", async () => {
    db.transaction(() => {
      for (let i = 0; i < 1000; i++)
        session(`ses_${String(i).padStart(4, "0")}`, "completed", ago(60 * DAY - i * 1000));
    })();
    session("ses_kept", "completed", ago(DAY));

    expect(await retention().prune(NOW)).toEqual({ sessions: 1000, events: 1000 });
    expect(ids("sessions")).toEqual(["ses_kept"]);
    expect(count("SELECT COUNT(*) AS n FROM session_log")).toBe(3);
  });

  it("runs one prune at a time, and stops when closed", async () => {
    session("ses_old", "completed", ago(40 * DAY));
    const pruner = retention();
    const [first, second] = await Promise.all([pruner.prune(NOW), pruner.prune(NOW)]);
    expect(first).toEqual({ sessions: 1, events: 1 });
    expect(second).toBe(first);

    session("ses_old_2", "completed", ago(40 * DAY));
    await pruner.close();
    expect(await pruner.prune(NOW)).toEqual({ sessions: 0, events: 0 });
    expect(ids("sessions")).toEqual(["ses_old_2"]);
  });
});
