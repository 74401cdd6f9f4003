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
/** An idle bundler process is let go after this long: deploys are rare, its memory is not. */
const DEFAULT_IDLE_MS = 30_000;

interface BundlerProcess {
  child: ChildProcess;
  /** Builds sent to this process and not answered yet. */
  pending: Map<number, (result: BundleResult) => void>;
}

export class Bundler {
  #current: BundlerProcess | null = null;
  #nextId = 1;
  #idleTimer: NodeJS.Timeout | null = null;
  readonly #idleMs: number;

  constructor(options: { idleMs?: number } = {}) {
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  }

  /** Whether a bundler process is up (it is started by a build and exits when idle). */
  get running(): boolean {
    return this.#current !== null;
  }

  bundle(files: ProjectFiles, handlers: HandlerRef[]): Promise<BundleResult> {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    const bundler = this.#process();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        bundler.pending.delete(id);
        killGroup(bundler.child);
        resolve(failure(`bundling took longer than ${BUILD_TIMEOUT_MS / 1000} s and was stopped`));
      }, BUILD_TIMEOUT_MS);
      bundler.pending.set(id, (result) => {
        clearTimeout(timer);
        if (bundler.pending.size <= 1) this.#idleSoon();
        resolve(result);
      });
      bundler.child.send({ id, files: new Map(files), handlers });
    });
  }

  #idleSoon(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.close(), this.#idleMs);
    this.#idleTimer.unref();
  }

  close(): void {
    if (this.#current !== null) killGroup(this.#current.child);
    this.#current = null;
  }

  #process(): BundlerProcess {
    if (this.#current !== null && this.#current.child.connected) return this.#current;
    const child = fork(path.join(packageRoot(), "dist", "bundler-main.js"), [], {
      serialization: "advanced",
      // A process group of its own, so that esbuild's process goes with it when it is killed.
      detached: true,
      // esbuild's own crash report (a Go stack dump) is long and says nothing to a user.
      stdio: ["ignore", "ignore", "ignore", "ipc"],
    });
    const bundler: BundlerProcess = { child, pending: new Map() };
    const retire = () => {
      if (this.#current === bundler) this.#current = null;
    };
    child.on("message", (message: { id: number; result: BundleResult; fatal?: boolean }) => {
      if (message.fatal) retire();
      bundler.pending.get(message.id)?.(message.result);
      bundler.pending.delete(message.id);
    });
    child.on("exit", () => {
      retire();
      for (const resolve of bundler.pending.values()) {
        resolve(failure("esbuild crashed on this project's code"));
      }
      bundler.pending.clear();
    });
    this.#current = bundler;
    return bundler;
  }
}

function failure(message: string): BundleResult {
  return {
    ok: false,
    problems: [{ file: null, line: null, column: null, message, handler: null }],
  };
}

/** Kill the bundler process and everything it started (esbuild's own process). */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}
