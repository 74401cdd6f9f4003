/**
 * Reading a project from a folder on disk (for `isohook deploy DIR` and the examples deployed
 * at start). Hidden files, `node_modules` and links are skipped; the manifest's folder is the
 * project's root.
 */
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ProjectFiles } from "./bundle";

const SKIPPED = new Set(["node_modules", "data", "dist"]);

export function readProjectFolder(dir: string, maxBytes: number): ProjectFiles {
  const files = new Map<string, Buffer>();
  let total = 0;
  const walk = (relative: string) => {
    for (const name of readdirSync(path.join(dir, relative)).sort()) {
      if (name.startsWith(".") || SKIPPED.has(name)) continue;
      const rel = relative === "" ? name : `${relative}/${name}`;
      const stat = lstatSync(path.join(dir, rel));
      if (stat.isDirectory()) walk(rel);
      else if (stat.isFile()) {
        total += stat.size;
        if (total > maxBytes) throw new Error(`${dir} holds more than ${maxBytes} bytes of files`);
        files.set(rel, readFileSync(path.join(dir, rel)));
      }
    }
  };
  walk("");
  return files;
}
