/**
 * The server's side of the bundler process (see `bundler-main.ts`): one at a time, started on
 * first use and again whenever it has gone.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { packageRoot } from "../../sandbox/runtime-script";
import type { BundleResult, HandlerRef, ProjectFiles } from "./bundle";

/** A build that takes longer than this is given up (and its process killed). */
const BUILD_TIMEOUT_MS = 60_000;

export class Bundler {
  #child: ChildProcess | null = null;
  #nextId = 1;
  readonly #pending = new Map<number, (result: BundleResult) => void>();

  bundle(files: ProjectFiles, handlers: HandlerRef[]): Promise<BundleResult> {
    const child = this.#process();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        child.kill("SIGKILL");
        resolve(failure(`bundling took longer than ${BUILD_TIMEOUT_MS / 1000} s and was stopped`));
      }, BUILD_TIMEOUT_MS);
      this.#pending.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      child.send({ id, files: new Map(files), handlers });
    });
  }

  close(): void {
    this.#child?.kill();
    this.#child = null;
  }

  #process(): ChildProcess {
    if (this.#child !== null && this.#child.connected) return this.#child;
    const child = fork(path.join(packageRoot(), "dist", "bundler-main.js"), [], {
      serialization: "advanced",
      // esbuild's own crash report (a Go stack dump) is long and says nothing to a user.
      stdio: ["ignore", "ignore", "ignore", "ipc"],
    });
    child.on("message", (message: { id: number; result: BundleResult; fatal?: boolean }) => {
      if (message.fatal && this.#child === child) this.#child = null;
      this.#pending.get(message.id)?.(message.result);
      this.#pending.delete(message.id);
    });
    child.on("exit", () => {
      if (this.#child === child) this.#child = null;
      // A build in flight when the process goes is what took it down (esbuild, most likely).
      for (const resolve of this.#pending.values()) {
        resolve(failure("esbuild crashed on this project's code"));
      }
      this.#pending.clear();
    });
    this.#child = child;
    return child;
  }
}

function failure(message: string): BundleResult {
  return {
    ok: false,
    problems: [{ file: null, line: null, column: null, message, handler: null }],
  };
}
