/**
 * One server per data folder. A second server started on a folder in use would take the
 * first one's running sessions for ones a crash left behind: it would end them as errors in
 * SQLite while they run, and resume durable ones a second time.
 *
 * The lock is an exclusive SQLite lock on `<data>/server.lock`, held from before the database
 * is opened until the server has closed it. The operating system lets go of it when the
 * process ends, however it ends (a SIGKILL included), so it is never left stale and a restart
 * never waits for it.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";

export const LOCK_FILE = "server.lock";

export class DataFolderInUseError extends Error {}

export interface DataFolderLock {
  release(): void;
}

export function lockDataFolder(dataDir: string): DataFolderLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, LOCK_FILE);
  // No waiting: a folder in use stays in use for as long as its server runs.
  const db = new Database(file, { timeout: 0 });
  try {
    db.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
    throw new DataFolderInUseError(
      `another isohook server is using the data folder ${dataDir} (it holds ${file}); ` +
        "stop that one first, or give this one a folder of its own with --data",
    );
  }
  return {
    release: () => {
      if (db.open) db.close();
    },
  };
}
