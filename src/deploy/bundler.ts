/**
 * The server's side of the bundler process (see `bundler-main.ts`): started on first use, and
 * again whenever it has gone. Each build is answered by the process it was sent to; if that
 * process dies with the build in flight, the build is what killed it.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { packageRoot } from "../../sandbox/runtime-script";
import type { BundleResult, HandlerRef, ProjectFiles } from "./bundle";

/** A build that takes longer than this is given up (and its process killed). */
const BUILD_TIMEOUT_MS = 60_000;

interface BundlerProcess {
  child: ChildProcess;
  /** Builds sent to this process and not answered yet. */
  pending: Map<number, (result: BundleResult) => void>;
}

export class Bundler {
  #current: BundlerProcess | null = null;
  #nextId = 1;

  bundle(files: ProjectFiles, handlers: HandlerRef[]): Promise<BundleResult> {
    const process = this.#process();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        process.pending.delete(id);
        process.child.kill("SIGKILL");
        resolve(failure(`bundling took longer than ${BUILD_TIMEOUT_MS / 1000} s and was stopped`));
      }, BUILD_TIMEOUT_MS);
      process.pending.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      process.child.send({ id, files: new Map(files), handlers });
    });
  }

  close(): void {
    this.#current?.child.kill();
    this.#current = null;
  }

  #process(): BundlerProcess {
    if (this.#current !== null && this.#current.child.connected) return this.#current;
    const child = fork(path.join(packageRoot(), "dist", "bundler-main.js"), [], {
      serialization: "advanced",
      // esbuild's own crash report (a Go stack dump) is long and says nothing to a user.
      stdio: ["ignore", "ignore", "ignore", "ipc"],
    });
    const process: BundlerProcess = { child, pending: new Map() };
    const retire = () => {
      if (this.#current === process) this.#current = null;
    };
    child.on("message", (message: { id: number; result: BundleResult; fatal?: boolean }) => {
      if (message.fatal) retire();
      process.pending.get(message.id)?.(message.result);
      process.pending.delete(message.id);
    });
    child.on("exit", () => {
      retire();
      for (const resolve of process.pending.values()) {
        resolve(failure("esbuild crashed on this project's code"));
      }
      process.pending.clear();
    });
    this.#current = process;
    return process;
  }
}

function failure(message: string): BundleResult {
  return {
    ok: false,
    problems: [{ file: null, line: null, column: null, message, handler: null }],
  };
}
