import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { projectFilePaths, readProjectFolder } from "../../src/deploy/project-folder";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "isohook-folder-"));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

it("takes every file but hidden ones, installed packages, a server's data folder and links", () => {
  const dir = folder({
    "autokitteh.yaml": "",
    "program.ts": "",
    "data/lookup.json": "{}",
    "dist/d.json": "{}",
    "src/data/x.ts": "",
    ".env": "SECRET=1",
    ".git/config": "",
    "node_modules/pkg/index.js": "",
    "server/isohook.db": "",
    "server/token": "secret",
  });
  symlinkSync("/etc/passwd", path.join(dir, "link.txt"));
  expect(projectFilePaths(dir)).toEqual([
    "autokitteh.yaml",
    "data/lookup.json",
    "dist/d.json",
    "program.ts",
    "src/data/x.ts",
  ]);
  expect([...readProjectFolder(dir, 1024).keys()]).toEqual(projectFilePaths(dir));
});

it("refuses a folder holding more than the upload limit", () => {
  const dir = folder({ "a.ts": "x".repeat(600), "b.ts": "y".repeat(600) });
  expect(() => readProjectFolder(dir, 1000)).toThrow(/holds more than 1000 bytes of files/);
});
