// Grouped writes: what is queued within a few milliseconds commits in one transaction, and
// what is queued in one turn of the event loop is never split between two, even past the bound.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "../../src/store/database";
import { MAX_QUEUED_WRITES, WriteQueue } from "../../src/store/write-queue";

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A queue on a fresh database, a write to queue, and how many such writes are committed. */
function openQueue(): { queue: WriteQueue; insert: (n: number) => void; committed: () => number } {
  const folder = mkdtempSync(path.join(os.tmpdir(), "isohook-queue-"));
  folders.push(folder);
  const db: Db = openDatabase(folder);
  db.exec("CREATE TABLE t (n INTEGER)");
  const insert = db.prepare("INSERT INTO t (n) VALUES (?)");
  const count = db.prepare("SELECT count(*) AS n FROM t");
  const queue = new WriteQueue(db, pino({ level: "silent" }));
  return {
    queue,
    insert: (n) => queue.push(() => insert.run(n)),
    committed: () => (count.get() as { n: number }).n,
  };
}

describe("WriteQueue", () => {
  it("commits what one turn queued together, even past its bound, at the end of that turn", async () => {
    const { queue, insert, committed } = openQueue();
    const total = MAX_QUEUED_WRITES + 10;
    for (let n = 0; n < total; n++) insert(n);
    // Nothing is committed while the turn that queued the writes goes on...
    expect(committed()).toBe(0);
    const done = queue.commit();
    await new Promise((resolve) => setImmediate(resolve));
    // ...and all of it is, in one transaction, right after it (not a timer's delay later).
    expect(committed()).toBe(total);
    await done;
  });

  it("commits a few writes a few milliseconds later, and flush commits them at once", async () => {
    const { queue, insert, committed } = openQueue();
    insert(1);
    expect(committed()).toBe(0);
    await queue.commit();
    expect(committed()).toBe(1);
    insert(2);
    queue.flush();
    expect(committed()).toBe(2);
  });
});
