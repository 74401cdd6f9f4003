// The data folder's lock holds while its server runs, even when someone removes or replaces
// its file: the server locks the new one, or says once that it could not.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { DataFolderInUseError, lockDataFolder } from "../../src/store/data-folder-lock";

const CHECK_MS = 20;
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "isohook-lock-"));
  folders.push(dir);
  return dir;
}

function capturedLogger() {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write: (chunk, _encoding, done) => {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: "warn" }, sink), lines };
}

const checks = (n: number) => new Promise((r) => setTimeout(r, CHECK_MS * n));

describe("the data folder lock", () => {
  it("refuses a second holder, and is free once released", () => {
    const dir = folder();
    const lock = lockDataFolder(dir, undefined, CHECK_MS);
    expect(() => lockDataFolder(dir)).toThrow(DataFolderInUseError);
    lock.release();
    lockDataFolder(dir).release();
  });

  it("locks its file again when it is removed or replaced while held", async () => {
    const dir = folder();
    const file = path.join(dir, "server.lock");
    const { logger, lines } = capturedLogger();
    const lock = lockDataFolder(dir, logger, CHECK_MS);
    try {
      rmSync(file);
      await checks(3);
      expect(() => lockDataFolder(dir)).toThrow(DataFolderInUseError);
      writeFileSync(`${file}.new`, "");
      renameSync(`${file}.new`, file);
      await checks(3);
      expect(() => lockDataFolder(dir)).toThrow(DataFolderInUseError);
      expect(lines.filter((l) => l.msg.includes("locked again"))).toHaveLength(2);
    } finally {
      lock.release();
    }
  });

  /** What the lock's holder logs within six checks after `change` is made to its folder. */
  async function loggedAfter(change: (dir: string, file: string) => void) {
    const dir = folder();
    const { logger, lines } = capturedLogger();
    const lock = lockDataFolder(dir, logger, CHECK_MS);
    try {
      change(dir, path.join(dir, "server.lock"));
      await checks(6);
      return lines.map((l) => l.msg);
    } finally {
      lock.release();
    }
  }

  it("says once when its folder is gone", async () => {
    const said = await loggedAfter((dir) => rmSync(dir, { recursive: true }));
    expect(said.filter((msg) => msg.includes("cannot lock"))).toHaveLength(1);
  });

  it("says once when the file in its place cannot be locked", async () => {
    const said = await loggedAfter((_dir, file) => {
      rmSync(file);
      mkdirSync(file);
    });
    expect(said.filter((msg) => msg.includes("cannot lock"))).toHaveLength(1);
  });
});
