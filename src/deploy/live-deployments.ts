/**
 * The deployments that are live: each project's active deployment with its warm sandbox, and
 * the table from webhook slug to trigger that the webhook route reads on every request.
 *
 * Activating a new deployment swaps the table at once; the old deployment's sandbox takes no
 * new sessions but lets the running ones finish on the code they started with.
 */
import type { Limits } from "../config";
import type { RemoteDeployment, SandboxProcesses } from "../worker/remote-sandbox";
import { manifestRedactor } from "../sessions/deployment-redactors";
import type { Redactor } from "../sessions/redactor";
import type { Manifest, Trigger } from "./manifest";
import type { HandlerRef } from "./bundle";
import type { EqualityTerm } from "../subscriptions/equality-shortcut";
import { storedFilterTerms } from "../subscriptions/filter";

export interface LiveDeployment {
  id: string;
  project: string;
  manifest: Manifest;
  sandbox: RemoteDeployment;
  redactor: Redactor;
  /** Export key in the bundle of each trigger with a `call`. */
  handlerKeys: Map<string, string>;
}

export interface LiveTrigger {
  slug: string;
  trigger: Trigger;
  deployment: LiveDeployment;
  /** Its filter's equality terms, when that is all it is: decided without the filter worker. */
  filterTerms: EqualityTerm[] | null;
}

export interface DeploymentCode {
  id: string;
  manifest: Manifest;
  bundle: string;
  sourceMap: string;
}

/** Pending timers one session may hold at once. */
const MAX_TIMERS_PER_SESSION = 1_000;
/** Characters one session may print, in all; later prints are dropped. */
const MAX_PRINT_CHARS_PER_SESSION = 1024 * 1024;
/** Calls across the sandbox line one session may make; beyond them it ends (a limit). */
const MAX_CALLS_PER_SESSION = 20_000;
/** Bytes one session may send across the sandbox line, in all. */
const MAX_OUTPUT_BYTES_PER_SESSION = 64 * 1024 * 1024;

/** Pool sizing; the README explains why a deployment has more than one isolate. */
export interface PoolSettings {
  minIsolates: number;
  maxIsolates: number;
  maxSessionsPerIsolate: number;
}

/** Handler keys, in manifest order; the bundle and the sandbox both use this mapping. */
export function handlerRefs(manifest: Manifest): HandlerRef[] {
  return manifest.project.triggers
    .filter((t) => t.call !== null)
    .map((t, i) => ({
      key: `h${i}`,
      file: t.call!.file,
      exportName: t.call!.export,
      trigger: t.name,
    }));
}

export class LiveDeployments {
  readonly #bySlug = new Map<string, LiveTrigger>();
  readonly #byProject = new Map<string, LiveDeployment>();
  readonly #processes: SandboxProcesses;
  readonly #limits: Limits;
  readonly #pool: PoolSettings;
  readonly #webhookUrl: (slug: string) => string;
  readonly #onCelFilter: () => void;

  constructor(options: {
    /** A trigger filter that needs the filter worker went live. */
    onCelFilter?: () => void;
    processes: SandboxProcesses;
    limits: Limits;
    pool: PoolSettings;
    webhookUrl: (slug: string) => string;
  }) {
    this.#processes = options.processes;
    this.#limits = options.limits;
    this.#pool = options.pool;
    this.#webhookUrl = options.webhookUrl;
    this.#onCelFilter = options.onCelFilter ?? (() => undefined);
  }

  trigger(slug: string): LiveTrigger | undefined {
    return this.#bySlug.get(slug);
  }

  deployment(project: string): LiveDeployment | undefined {
    return this.#byProject.get(project);
  }

  /** Warm a sandbox for `code`; throws if it cannot start, and then nothing changes. */
  async prepare(code: DeploymentCode, slugs: Map<string, string>): Promise<LiveDeployment> {
    const { manifest } = code;
    const refs = handlerRefs(manifest);
    // A var may be named `__proto__`: fromEntries keeps it a property, as assigning would not.
    const vars: Record<string, string> = Object.fromEntries([
      ...manifest.project.triggers.map((t) => [
        `${t.name}__webhook_url`,
        this.#webhookUrl(slugs.get(t.name)!),
      ]),
      ...manifest.project.vars.map((v) => [v.name, v.value]),
    ]);

    const sandbox = await this.#processes.deploy({
      deploymentId: code.id,
      bundleCode: code.bundle,
      sourceMap: code.sourceMap,
      config: {
        project: manifest.project.name,
        handlers: refs.map((r) => r.key),
        vars,
        max_timers_per_session: MAX_TIMERS_PER_SESSION,
        max_buffered_records: 256,
        max_print_bytes_per_session: MAX_PRINT_CHARS_PER_SESSION,
        max_calls_per_session: MAX_CALLS_PER_SESSION,
        max_output_bytes_per_session: MAX_OUTPUT_BYTES_PER_SESSION,
        max_body_bytes: this.#limits.maxBodyBytes,
      },
      triggers: manifest.project.triggers.map((t) => t.name),
      limits: {
        cpuMs: this.#limits.sessionCpuMs,
        wallMs: this.#limits.sessionTimeoutMs,
        memoryLimitMb: this.#limits.isolateMemoryMb,
        ...this.#pool,
      },
    });
    return {
      id: code.id,
      project: manifest.project.name,
      manifest,
      sandbox,
      redactor: manifestRedactor(manifest),
      handlerKeys: new Map(refs.map((r) => [r.trigger, r.key])),
    };
  }

  /** Make `live` its project's active deployment; the previous one retires. */
  activate(live: LiveDeployment, slugs: Map<string, string>): void {
    const previous = this.#byProject.get(live.project);
    if (previous !== undefined) {
      for (const t of previous.manifest.project.triggers) this.#bySlug.delete(slugs.get(t.name)!);
    }
    this.#byProject.set(live.project, live);
    for (const trigger of live.manifest.project.triggers) {
      const slug = slugs.get(trigger.name)!;
      const filterTerms = trigger.filter === null ? null : storedFilterTerms(trigger.filter);
      this.#bySlug.set(slug, { slug, trigger, deployment: live, filterTerms });
      // A filter that needs CEL: the filter worker starts now rather than at the first request.
      if (trigger.filter !== null && filterTerms === null) this.#onCelFilter();
    }
    // The old deployment finishes its running sessions, then frees its isolates.
    if (previous !== undefined) void previous.sandbox.drain();
  }
}
