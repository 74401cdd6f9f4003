/**
 * Opening `<data>/isohook.db`: WAL mode, `synchronous=NORMAL` (a commit survives a crash of
 * the server, not a power cut), and the schema created or migrated in one transaction.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { DATABASE_FILE } from "./database-file";
import { MIGRATIONS, SCHEMA_VERSION } from "./schema";

export type Db = Database.Database;

export { DATABASE_FILE };

export function openDatabase(dataDir: string): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");

  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(
      `${path.join(dataDir, DATABASE_FILE)} was written by a newer isohook (schema ${version}); this one knows ${SCHEMA_VERSION}`,
    );
  }
  if (version < SCHEMA_VERSION) {
    db.transaction(() => {
      for (const migration of MIGRATIONS.slice(version)) db.exec(migration);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }
  return db;
}
