import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DATABASE_FILE, openDatabase } from "../../src/store/database";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/schema";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "isohook-db-"));
  dirs.push(dir);
  return dir;
}

function insertSession(db: Database.Database, id: string, state: string): void {
  db.prepare(
    `INSERT INTO sessions (id, project, trigger, deployment_id, event_id, state, is_sync,
       is_durable, created_at, updated_at)
     VALUES (?, 'p', 't', 'dep_1', 'evt_1', ?, 1, 0, '2026-12-04T00:00:00.000Z', '2026-12-04T00:00:00.000Z')`,
  ).run(id, state);
}

function indexes(db: Database.Database): string[] {
  return db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name",
    )
    .all()
    .map((row) => row.name);
}

describe("openDatabase", () => {
  it("creates the current schema in a new folder", () => {
    const db = openDatabase(dataDir());
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(indexes(db)).toEqual([
      "sessions_by_created",
      "sessions_by_project",
      "sessions_unfinished",
    ]);
    db.close();
  });

  it("migrates a version 2 file, keeping its rows", () => {
    const dir = dataDir();
    const old = new Database(path.join(dir, DATABASE_FILE));
    for (const migration of MIGRATIONS.slice(0, 2)) old.exec(migration);
    old.pragma("user_version = 2");
    insertSession(old, "ses_done", "completed");
    insertSession(old, "ses_left", "running");
    old.close();

    const db = openDatabase(dir);
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(indexes(db)).not.toContain("sessions_by_state");
    expect(db.prepare("SELECT id, state FROM sessions ORDER BY id").all()).toEqual([
      { id: "ses_done", state: "completed" },
      { id: "ses_left", state: "running" },
    ]);
    // What a restart looks for: found through the partial index, not a scan of every session.
    const plan = db
      .prepare("EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE state IN ('created', 'running')")
      .all() as { detail: string }[];
    expect(plan.map((step) => step.detail).join(" ")).toContain("sessions_unfinished");
    db.close();
  });

  it("refuses a file written by a newer version, and leaves it as it was", () => {
    const dir = dataDir();
    const newer = new Database(path.join(dir, DATABASE_FILE));
    newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    expect(() => openDatabase(dir)).toThrow(/newer isohook/);
    const again = new Database(path.join(dir, DATABASE_FILE));
    expect(again.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION + 1);
    again.close();
  });
});
