/**
 * The deployments that are live: each project's active deployment with its warm sandbox, and
 * the table from webhook slug to trigger that the webhook route reads on every request.
 *
 * Activating a new deployment swaps the table at once; the old deployment's sandbox takes no
 * new sessions but lets the running ones finish on the code they started with.
 */
import type { Logger } from "pino";
import { DeploymentSandbox } from "../../sandbox";
import type { Limits } from "../config";
import { Redactor } from "../sessions/redactor";
import type { Manifest, Trigger } from "./manifest";
import type { HandlerRef } from "./bundle";
import { compileFilter, type EventFilter } from "../subscriptions/filter";

export interface LiveDeployment {
  id: string;
  project: string;
  manifest: Manifest;
  sandbox: DeploymentSandbox;
  redactor: Redactor;
  /** Export key in the bundle of each trigger with a `call`. */
  handlerKeys: Map<string, string>;
}

export interface LiveTrigger {
  slug: string;
  trigger: Trigger;
  /** The trigger's `filter`, compiled; `null` when it has none. */
  filter: EventFilter | null;
  deployment: LiveDeployment;
}

export interface DeploymentCode {
  id: string;
  manifest: Manifest;
  bundle: string;
  sourceMap: string;
}

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
  /** Old deployments still finishing their sessions. */
  readonly #retiring = new Set<DeploymentSandbox>();
  readonly #limits: Limits;
  readonly #pool: PoolSettings;
  readonly #logger: Logger;
  readonly #webhookUrl: (slug: string) => string;

  constructor(options: {
    limits: Limits;
    pool: PoolSettings;
    logger: Logger;
    webhookUrl: (slug: string) => string;
  }) {
    this.#limits = options.limits;
    this.#pool = options.pool;
    this.#logger = options.logger;
    this.#webhookUrl = options.webhookUrl;
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
    const vars: Record<string, string> = {};
    for (const t of manifest.project.triggers)
      vars[`${t.name}__webhook_url`] = this.#webhookUrl(slugs.get(t.name)!);
    for (const v of manifest.project.vars) vars[v.name] = v.value;

    const sandbox = await DeploymentSandbox.create({
      deploymentId: code.id,
      bundleCode: code.bundle,
      sourceMap: code.sourceMap,
      config: {
        project: manifest.project.name,
        handlers: refs.map((r) => r.key),
        vars,
        max_timers_per_session: 10_000,
        max_buffered_records: 256,
      },
      limits: {
        cpuMs: this.#limits.sessionCpuMs,
        wallMs: this.#limits.sessionTimeoutMs,
        memoryLimitMb: this.#limits.isolateMemoryMb,
        ...this.#pool,
      },
      logger: this.#logger,
    });
    return {
      id: code.id,
      project: manifest.project.name,
      manifest,
      sandbox,
      redactor: new Redactor(manifest.project.vars.filter((v) => v.secret).map((v) => v.value)),
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
      // The deployer compiled each filter already, so this cannot fail here.
      const filter = trigger.filter === null ? null : compileFilter(trigger.filter);
      this.#bySlug.set(slug, { slug, trigger, filter, deployment: live });
    }
    if (previous !== undefined) {
      const old = previous.sandbox;
      this.#retiring.add(old);
      void old.drain().then(() => this.#retiring.delete(old));
    }
  }

  /** Stop every session and free every isolate (server shutdown). */
  closeAll(reason: string): void {
    for (const live of this.#byProject.values()) live.sandbox.close(reason);
    for (const old of this.#retiring) old.close(reason);
    this.#retiring.clear();
    this.#byProject.clear();
    this.#bySlug.clear();
  }
}
