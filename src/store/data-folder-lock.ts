/**
 * One server per data folder. A second server started on a folder in use would take the
 * first one's running sessions for ones a crash left behind: it would end them as errors in
 * SQLite while they run, and resume durable ones a second time.
 *
 * The lock is an exclusive SQLite lock on `<data>/server.lock`, held from before the database
 * is opened until the server has closed it. The operating system lets go of it when the
 * process ends, however it ends (a SIGKILL included), so it is never left stale and a restart
 * never waits for it. A lock file removed or replaced while the server runs would let another
 * server in: the server checks every few seconds that its file is still there, and locks the
 * new one if it can.
 */
import Database from "better-sqlite3";
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";

export const LOCK_FILE = "server.lock";
const CHECK_EVERY_MS = 2000;

export class DataFolderInUseError extends Error {}

export interface DataFolderLock {
  release(): void;
}

export function lockDataFolder(
  dataDir: string,
  logger?: Logger,
  checkEveryMs = CHECK_EVERY_MS,
): DataFolderLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, LOCK_FILE);
  let held = takeLock(dataDir, file);
  /** The file found in place of ours (`null`: none) that could not be locked, said once. */
  let reported: number | null | undefined;
  const check = setInterval(() => {
    if (inodeOf(file) === held.inode) return;
    try {
      const again = takeLock(dataDir, file);
      held.db.close();
      held = again;
      logger?.warn({ file }, "the data folder's lock file was removed or replaced; locked again");
    } catch (error) {
      if (reported === inodeOf(file)) return;
      reported = inodeOf(file);
      logger?.error(
        { file, err: error },
        "the data folder's lock file was replaced by one this server cannot lock: another server may be using this data folder",
      );
    }
  }, checkEveryMs);
  check.unref();
  return {
    release: () => {
      clearInterval(check);
      if (held.db.open) held.db.close();
    },
  };
}

interface HeldLock {
  db: Database.Database;
  inode: number;
}

function takeLock(dataDir: string, file: string): HeldLock {
  let db: Database.Database;
  try {
    // No waiting: a folder in use stays in use for as long as its server runs.
    db = new Database(file, { timeout: 0 });
  } catch (error) {
    throw unusable(file, error);
  }
  try {
    db.exec("BEGIN EXCLUSIVE");
    // A write: on a file opened read-only, BEGIN alone succeeds without locking anything.
    db.pragma("user_version = 1");
    return { db, inode: statSync(file).ino };
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === "SQLITE_BUSY") {
      throw new DataFolderInUseError(
        `another isohook server is using the data folder ${dataDir}; stop that one first ` +
          "(server.json there names its pid and address), or give this one a folder of its own with --data",
      );
    }
    throw unusable(file, error);
  }
}

function unusable(file: string, error: unknown): Error {
  return new Error(
    `the data folder cannot be locked with ${file} (${(error as Error).message}); ` +
      "it must be a writable file that isohook made: when no isohook server is running, remove it",
    { cause: error },
  );
}

function inodeOf(file: string): number | null {
  try {
    return statSync(file).ino;
  } catch {
    return null;
  }
}
