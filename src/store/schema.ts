/**
 * The SQLite schema. It is part of the product's contract (users query it directly), so it is
 * documented in the README; change both together, and add a migration for existing files.
 */

const SCHEMA_V1 = `
CREATE TABLE projects (
  name                  TEXT PRIMARY KEY,
  active_deployment_id  TEXT,
  created_at            TEXT NOT NULL,
  updated_at            TEXT NOT NULL
);

CREATE TABLE deployments (
  id          TEXT PRIMARY KEY,
  project     TEXT NOT NULL REFERENCES projects(name),
  created_at  TEXT NOT NULL,
  manifest    TEXT NOT NULL,
  bundle      TEXT NOT NULL,
  source_map  TEXT NOT NULL,
  source_hash TEXT NOT NULL
);
CREATE INDEX deployments_by_project ON deployments(project, created_at);

CREATE TABLE triggers (
  project     TEXT NOT NULL REFERENCES projects(name),
  name        TEXT NOT NULL,
  slug        TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (project, name)
);

CREATE TABLE events (
  id             TEXT PRIMARY KEY,
  project        TEXT NOT NULL,
  trigger        TEXT NOT NULL,
  deployment_id  TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  event_type     TEXT NOT NULL,
  data           TEXT NOT NULL,
  body           BLOB NOT NULL
);
CREATE INDEX events_by_project ON events(project, created_at);

CREATE TABLE sessions (
  id             TEXT PRIMARY KEY,
  project        TEXT NOT NULL,
  trigger        TEXT NOT NULL,
  deployment_id  TEXT NOT NULL,
  event_id       TEXT NOT NULL,
  state          TEXT NOT NULL
                 CHECK (state IN ('created', 'running', 'completed', 'error', 'stopped')),
  is_sync        INTEGER NOT NULL,
  is_durable     INTEGER NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL,
  ended_at       TEXT,
  error          TEXT,
  cpu_ms         REAL
);
CREATE INDEX sessions_by_created ON sessions(created_at);
CREATE INDEX sessions_by_project ON sessions(project, created_at);
CREATE INDEX sessions_by_state ON sessions(state);

CREATE TABLE session_log (
  session_id  TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  time        TEXT NOT NULL,
  kind        TEXT NOT NULL,
  data        TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
`;

const SCHEMA_V2 = `
CREATE TABLE subscriptions (
  id          TEXT PRIMARY KEY,
  session_id  TEXT NOT NULL,
  project     TEXT NOT NULL,
  source      TEXT NOT NULL,
  filter      TEXT,
  created_at  TEXT NOT NULL,
  ended_at    TEXT
);
CREATE INDEX subscriptions_by_session ON subscriptions(session_id);

CREATE TABLE subscription_events (
  subscription_id  TEXT NOT NULL,
  event_id         TEXT NOT NULL,
  queued_at        TEXT NOT NULL,
  delivered_at     TEXT,
  PRIMARY KEY (subscription_id, event_id)
) WITHOUT ROWID;
`;

// Only unfinished sessions need finding by state (at start, to fail what a crash left
// running); a partial index holds just those, so a session that starts and ends within one
// write batch never enters it, and one that ends leaves it.
const SCHEMA_V3 = `
DROP INDEX sessions_by_state;
CREATE INDEX sessions_unfinished ON sessions(state) WHERE state IN ('created', 'running');
`;

// A durable session's journal: what it was given, so that it can be replayed after a restart
// (see journal-store.ts). Rows live while their session runs, and go when it ends.
const SCHEMA_V4 = `
CREATE TABLE session_journal (
  session_id  TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('start', 'timer', 'settle', 'answer', 'host_answer')),
  ref         INTEGER,
  clock_ms    INTEGER,
  data        BLOB
);
CREATE INDEX session_journal_by_session ON session_journal(session_id);
`;

/** Each entry moves a database from the version before it to its own; index + 1 = version. */
export const MIGRATIONS: readonly string[] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4];

export const SCHEMA_VERSION = MIGRATIONS.length;
