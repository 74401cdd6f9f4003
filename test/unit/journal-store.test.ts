// What a durable session's journal gives back for its replay, whatever point a crash cut it at.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "../../src/store/database";
import { JournalStore } from "../../src/store/journal-store";
import { WriteQueue } from "../../src/store/write-queue";

const dirs: string[] = [];
const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A journal store on a new database, with its write queue and the database itself. */
function openJournal(): { journal: JournalStore; queue: WriteQueue; db: Db } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "isohook-journal-"));
  dirs.push(dir);
  const db = openDatabase(dir);
  dbs.push(db);
  const queue = new WriteQueue(db, pino({ level: "silent" }));
  return { journal: new JournalStore(queue), queue, db };
}

const journalStore = (): JournalStore => openJournal().journal;

const yes = { ok: true as const, value: "yes" };
const bytes = { ok: true as const, value: new Uint8Array([1, 2, 3]) };

describe("JournalStore", () => {
  it("gives back the start, the entries in order with their answers, and the subscribes", () => {
    const journal = journalStore();
    journal.start("ses_a", new Uint8Array([9, 9]), 1000);
    journal.answer("ses_a", 1, { binding: "fetch", argsDigest: "d1" }, yes, null);
    journal.entry("ses_a", { kind: "settle", callId: 1, clockMs: 1010 });
    journal.entry("ses_a", { kind: "timer", timerId: 4, clockMs: 1020 });
    journal.subscribed("ses_a", {
      args: ["evt", 'data.method == "POST"'],
      answer: { ok: true, value: "sub_1" },
    });
    journal.answer("ses_a", 2, { binding: "fetch", argsDigest: "d2" }, bytes, null);
    journal.entry("ses_a", { kind: "settle", callId: 2, clockMs: 1030 });
    journal.start("ses_other", new Uint8Array([1]), 5);

    const read = journal.read("ses_a", 9999)!;
    expect(read.entropy).toEqual(new Uint8Array([9, 9]));
    expect(read.clockMs).toBe(1000);
    expect(read.replay).toEqual([
      {
        kind: "settle",
        callId: 1,
        binding: "fetch",
        argsDigest: "d1",
        clockMs: 1010,
        answer: yes,
        journaled: true,
      },
      { kind: "timer", timerId: 4, clockMs: 1020 },
      {
        kind: "settle",
        callId: 2,
        binding: "fetch",
        argsDigest: "d2",
        clockMs: 1030,
        answer: bytes,
        journaled: true,
      },
    ]);
    // Byte arrays come back as byte arrays.
    expect((read.replay[2] as { answer: typeof bytes }).answer.value).toBeInstanceOf(Uint8Array);
    expect(read.subscribes).toEqual([
      { args: ["evt", 'data.method == "POST"'], answer: { ok: true, value: "sub_1" } },
    ]);
    expect(read.keyImports).toEqual([]);
  });

  it("gives answers sent but not yet given last, at the time of the read, in call order", () => {
    const journal = journalStore();
    journal.start("ses_a", new Uint8Array([1]), 1000);
    journal.answer("ses_a", 3, { binding: "fetch", argsDigest: "d3" }, yes, null);
    journal.answer("ses_a", 2, { binding: "fetch", argsDigest: "d2" }, bytes, null);
    journal.entry("ses_a", { kind: "timer", timerId: 1, clockMs: 1100 });
    expect(journal.read("ses_a", 5000)!.replay).toEqual([
      { kind: "timer", timerId: 1, clockMs: 1100 },
      {
        kind: "settle",
        callId: 2,
        binding: "fetch",
        argsDigest: "d2",
        clockMs: 5000,
        answer: bytes,
        journaled: false,
      },
      {
        kind: "settle",
        callId: 3,
        binding: "fetch",
        argsDigest: "d3",
        clockMs: 5000,
        answer: yes,
        journaled: false,
      },
    ]);
  });

  it("ends the replay at an entry whose answer is missing, and gives nothing after it", () => {
    const journal = journalStore();
    journal.start("ses_a", new Uint8Array([1]), 1000);
    journal.entry("ses_a", { kind: "timer", timerId: 1, clockMs: 1100 });
    journal.entry("ses_a", { kind: "settle", callId: 1, clockMs: 1200 });
    journal.entry("ses_a", { kind: "timer", timerId: 2, clockMs: 1300 });
    journal.answer("ses_a", 2, { binding: "fetch", argsDigest: "d2" }, yes, null);
    expect(journal.read("ses_a", 5000)!.replay).toEqual([
      { kind: "timer", timerId: 1, clockMs: 1100 },
    ]);
    // The rows past the cut went; what the session does again is journaled after the rest.
    journal.answer("ses_a", 1, { binding: "fetch", argsDigest: "d1" }, yes, null);
    journal.entry("ses_a", { kind: "settle", callId: 1, clockMs: 6000 });
    expect(journal.read("ses_a", 7000)!.replay).toEqual([
      { kind: "timer", timerId: 1, clockMs: 1100 },
      {
        kind: "settle",
        callId: 1,
        binding: "fetch",
        argsDigest: "d1",
        clockMs: 6000,
        answer: yes,
        journaled: true,
      },
    ]);
  });

  it("keeps key imports' arguments, and forgets a session's journal when asked", () => {
    const journal = journalStore();
    journal.start("ses_a", new Uint8Array([1]), 1000);
    const args = [
      "raw",
      new Uint8Array([7]),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    ] as const;
    const info = { ok: true as const, value: { handle: 1 } };
    journal.answer("ses_a", 1, { binding: "crypto_import_key", argsDigest: "d1" }, info, [
      ...args,
    ] as never);
    expect(journal.read("ses_a", 0)!.keyImports).toEqual([{ args: [...args], answer: info }]);
    journal.delete("ses_a");
    expect(journal.read("ses_a", 0)).toBeNull();
  });

  it("writes nothing for a session that ends before its rows are committed", () => {
    const { journal, queue, db } = openJournal();
    const count = () =>
      (db.prepare("SELECT COUNT(*) AS n FROM session_journal").get() as { n: number }).n;

    journal.start("ses_quick", new Uint8Array([1]), 1000);
    journal.answer("ses_quick", 1, { binding: "fetch", argsDigest: "d1" }, yes, null);
    journal.delete("ses_quick");
    queue.flush();
    expect(count()).toBe(0);

    // One that lived past a commit: its rows go when it ends, those committed and those not.
    journal.start("ses_long", new Uint8Array([1]), 1000);
    queue.flush();
    journal.entry("ses_long", { kind: "timer", timerId: 1, clockMs: 1001 });
    expect(count()).toBe(1);
    journal.delete("ses_long");
    queue.flush();
    expect(count()).toBe(0);

    // One resumed from rows an earlier run committed.
    journal.start("ses_resumed", new Uint8Array([1]), 1000);
    queue.flush();
    const resumed = new JournalStore(queue);
    expect(resumed.read("ses_resumed", 0)).not.toBeNull();
    resumed.entry("ses_resumed", { kind: "timer", timerId: 1, clockMs: 1001 });
    resumed.delete("ses_resumed");
    queue.flush();
    expect(count()).toBe(0);
  });

  it("has nothing to replay for a session without a start", () => {
    const journal = journalStore();
    journal.answer("ses_a", 1, { binding: "fetch", argsDigest: "d1" }, yes, null);
    expect(journal.read("ses_a", 0)).toBeNull();
  });
});
