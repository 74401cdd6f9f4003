/**
 * The runtime (`runtime-api/`) built into one script for the isolates. It is built once per
 * process, from source, so the runtime that runs is always the one in the tree.
 */
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { existsSync } from "node:fs";

export const RUNTIME_FILENAME = "isohook:runtime.js";
const GLOBAL_NAME = "__isohook_runtime";

let cached: Promise<string> | undefined;

/**
 * The runtime as the body of a closure taking `$0` (emit callback), `$1` (host call callback),
 * `$2` (sandbox config) and `$3` (bundle factory), returning the dispatch function.
 */
export function runtimeScript(): Promise<string> {
  cached ??= buildRuntime();
  return cached;
}

async function buildRuntime(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(packageRoot(), "runtime-api", "index.ts")],
    bundle: true,
    write: false,
    format: "iife",
    globalName: GLOBAL_NAME,
    platform: "browser",
    target: "es2022",
    charset: "utf8",
    legalComments: "none",
    logLevel: "silent",
    // Bundled packages that read TextEncoder/TextDecoder as globals get the runtime's.
    inject: [path.join(packageRoot(), "runtime-api", "web", "text-shim.ts")],
  });
  const code = result.outputFiles[0]!.text;
  return `${code}\nreturn ${GLOBAL_NAME}.setup($0, $1, $2, $3);`;
}

/** The folder holding package.json, found from this file whether it runs from src or dist. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("isohook: cannot find the package root");
    dir = parent;
  }
  return dir;
}
