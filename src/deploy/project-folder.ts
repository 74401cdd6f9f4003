/**
 * Reading a project from a folder on disk (for `isohook deploy DIR` and the examples deployed
 * at start). Hidden files, `node_modules`, an isohook data folder and links are skipped; the
 * manifest's folder is the project's root. Both ways of deploying a folder take the same files.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ProjectFiles } from "./bundle";
import { DATABASE_FILE } from "../store/database-file";

/** The project's files, as paths relative to `dir` with `/` separators, in a stable order. */
export function projectFilePaths(dir: string): string[] {
  const paths: string[] = [];
  const walk = (relative: string) => {
    for (const name of readdirSync(path.join(dir, relative)).sort()) {
      const rel = relative === "" ? name : `${relative}/${name}`;
      const full = path.join(dir, rel);
      if (skipped(name, full)) continue;
      const stat = lstatSync(full);
      if (stat.isDirectory()) walk(rel);
      else if (stat.isFile()) paths.push(rel);
    }
  };
  walk("");
  return paths;
}

export function readProjectFolder(dir: string, maxBytes: number): ProjectFiles {
  const files = new Map<string, Buffer>();
  let total = 0;
  for (const rel of projectFilePaths(dir)) {
    const full = path.join(dir, rel);
    total += lstatSync(full).size;
    if (total > maxBytes) throw new Error(`${dir} holds more than ${maxBytes} bytes of files`);
    files.set(rel, readFileSync(full));
  }
  return files;
}

/**
 * Hidden entries (`.git`, `.env`), installed packages, and a server's data folder (its
 * database and token must never be uploaded, should the server run in the project's folder).
 */
function skipped(name: string, full: string): boolean {
  return (
    name.startsWith(".") || name === "node_modules" || existsSync(path.join(full, DATABASE_FILE))
  );
}
