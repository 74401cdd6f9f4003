/**
 * Deploying a project: validate the manifest, bundle the code, warm a sandbox for it, store
 * it, and make it live. Any failure before the last two steps leaves everything as it was;
 * the store and the live table change together, one project at a time.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { DeployError, type ProblemDetail } from "../errors";
import { newId, newSlug } from "../ids";
import type { ProjectsStore, TriggerSlug } from "../store/projects-store";
import type { BundleProblem, ProjectFiles } from "./bundle";
import type { Bundler } from "./bundler";
import { handlerRefs, type LiveDeployments } from "./live-deployments";
import { checkFilter } from "../subscriptions/filter";
import {
  MANIFEST_FILE,
  callText,
  parseManifest,
  type CallPositions,
  type Manifest,
} from "./manifest";

export interface DeployResult {
  project: string;
  deployment_id: string;
  /** False when the project was already live with exactly these files. */
  changed: boolean;
  triggers: {
    name: string;
    /** `FILE:EXPORT`, or `null` for a trigger that only feeds subscribers. */
    call: string | null;
    is_sync: boolean;
    is_durable: boolean;
    webhook_url: string;
  }[];
  warnings: string[];
}

export class Deployer {
  readonly #projects: ProjectsStore;
  readonly #live: LiveDeployments;
  readonly #bundler: Bundler;
  readonly #logger: Logger;
  readonly #webhookUrl: (slug: string) => string;
  /** Deploys of one project run one after another. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: {
    projects: ProjectsStore;
    live: LiveDeployments;
    bundler: Bundler;
    logger: Logger;
    webhookUrl: (slug: string) => string;
  }) {
    this.#projects = options.projects;
    this.#live = options.live;
    this.#bundler = options.bundler;
    this.#logger = options.logger;
    this.#webhookUrl = options.webhookUrl;
  }

  /**
   * Deploy `files`. With `onlyIfChanged`, a project already live with the same files is left
   * as it is (used when the server deploys its examples at start).
   */
  async deploy(
    files: ProjectFiles,
    options: { onlyIfChanged?: boolean } = {},
  ): Promise<DeployResult> {
    const manifest = this.#manifest(files);
    const name = manifest.project.name;
    const previous = this.#locks.get(name) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.#deploy(files, manifest, options));
    this.#locks.set(name, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(name) === run) this.#locks.delete(name);
    }
  }

  #manifest(files: ProjectFiles): Manifest {
    const text = files.get(MANIFEST_FILE);
    if (text === undefined) {
      throw new DeployError(`the project has no ${MANIFEST_FILE}`, [
        { file: MANIFEST_FILE, line: null, column: null, message: "missing" },
      ]);
    }
    const parsed = parseManifest(text.toString("utf8"));
    const manifest = parsed.ok ? parsed.manifest : parsed.checked;
    const problems = parsed.ok ? [] : parsed.problems;
    if (manifest !== undefined) problems.push(...checkCalls(manifest, files, parsed.positions));
    if (problems.length > 0 || manifest === undefined)
      throw new DeployError(`${MANIFEST_FILE} is not valid`, problems);
    return manifest;
  }

  async #deploy(
    files: ProjectFiles,
    manifest: Manifest,
    options: { onlyIfChanged?: boolean },
  ): Promise<DeployResult> {
    const name = manifest.project.name;
    const sourceHash = hashFiles(files);
    const slugs = this.#projects.slugs(name);
    const newSlugs: TriggerSlug[] = [];
    for (const t of manifest.project.triggers) {
      if (slugs.has(t.name)) continue;
      const slug = newSlug();
      slugs.set(t.name, slug);
      newSlugs.push({ project: name, name: t.name, slug });
    }

    const active = this.#live.deployment(name);
    if (options.onlyIfChanged && active !== undefined) {
      const row = this.#projects.deployment(active.id);
      if (row?.source_hash === sourceHash) return this.#result(manifest, active.id, slugs, false);
    }

    const refs = handlerRefs(manifest);
    const bundled = await this.#bundler.bundle(files, refs);
    if (!bundled.ok) {
      const positions = parseManifest(files.get(MANIFEST_FILE)!.toString("utf8")).positions;
      throw new DeployError(
        "the project's code does not build",
        bundled.problems.map((p) => toDetail(p, positions)),
      );
    }

    const id = newId("dep");
    let live;
    try {
      live = await this.#live.prepare(
        { id, manifest, bundle: bundled.code, sourceMap: bundled.sourceMap },
        slugs,
      );
    } catch (error) {
      this.#logger.warn({ err: error, project: name }, "sandbox did not start for a deployment");
      throw new DeployError(`the project's code cannot be loaded: ${(error as Error).message}`);
    }
    try {
      this.#projects.saveDeployment(
        {
          id,
          project: name,
          created_at: new Date().toISOString(),
          manifest,
          bundle: bundled.code,
          source_map: bundled.sourceMap,
          source_hash: sourceHash,
        },
        newSlugs,
      );
    } catch (error) {
      live.sandbox.close("deployment was not saved");
      throw error;
    }
    this.#live.activate(live, slugs);
    this.#logger.info({ project: name, deployment_id: id }, "deployed");
    return this.#result(manifest, id, slugs, true);
  }

  #result(
    manifest: Manifest,
    id: string,
    slugs: Map<string, string>,
    changed: boolean,
  ): DeployResult {
    // A restart ends the HTTP request of a sync webhook whatever the session does: a durable
    // one resumes, but its caller has gone, and the reference advises against the pair.
    const warnings = manifest.project.triggers.flatMap((t) => {
      const said: string[] = [];
      if (t.is_sync && t.is_durable)
        said.push(
          `trigger ${t.name} is sync and durable: if the server restarts before the session ` +
            "answers, the caller gets no answer (the session resumes, and its outcome is ignored); " +
            "is_durable: false suits sync webhooks better",
        );
      // Without a call, these choose nothing: every request reaches the subscribers.
      const unused = [
        t.filter !== null && "filter",
        t.event_type.length > 0 && "event_type",
        t.timeout_ms !== null && "timeout",
      ].filter((key): key is string => key !== false);
      if (t.call === null && unused.length > 0)
        said.push(
          `trigger ${t.name} has no call, so its ${unused.join(", ")} ${unused.length === 1 ? "has" : "have"} ` +
            "no effect: every request to it reaches its subscribers, who choose theirs with " +
            "subscribe(source, filter)",
        );
      return said;
    });
    return {
      project: manifest.project.name,
      deployment_id: id,
      changed,
      triggers: manifest.project.triggers.map((t) => ({
        name: t.name,
        call: callText(t),
        is_sync: t.is_sync,
        is_durable: t.is_durable,
        webhook_url: this.#webhookUrl(slugs.get(t.name)!),
      })),
      warnings,
    };
  }
}

/**
 * Each `call` must name a file of the project (the export is checked when bundling), and each
 * `filter` must compile.
 */
function checkCalls(
  manifest: Manifest,
  files: ProjectFiles,
  positions: CallPositions,
): ProblemDetail[] {
  const problems: ProblemDetail[] = [];
  for (const [index, t] of manifest.project.triggers.entries()) {
    const at = positions.get(index);
    if (t.filter !== null) {
      try {
        checkFilter(t.filter);
      } catch (error) {
        const where = positions.get(index, "filter");
        problems.push({
          file: MANIFEST_FILE,
          line: where?.line ?? null,
          column: where?.column ?? null,
          message: `trigger "${t.name}": ${(error as Error).message}`,
        });
      }
    }
    if (t.call === null || files.has(t.call.file)) continue;
    problems.push({
      file: MANIFEST_FILE,
      line: at?.line ?? null,
      column: at?.column ?? null,
      message: `trigger "${t.name}": call names ${t.call.file}, which is not in the project`,
    });
  }
  return problems;
}

function toDetail(problem: BundleProblem, positions: CallPositions): ProblemDetail {
  if (problem.handler === null) {
    return {
      file: problem.file,
      line: problem.line,
      column: problem.column,
      message: problem.message,
    };
  }
  const { trigger, file, exportName } = problem.handler;
  const at = positions.get(trigger);
  const missing = /no matching export/i.test(problem.message);
  return {
    file: MANIFEST_FILE,
    line: at?.line ?? null,
    column: at?.column ?? null,
    message: missing
      ? `trigger "${trigger}": ${file} has no export named "${exportName}"${exportsList(problem.exports)}`
      : `trigger "${trigger}": ${problem.message}`,
  };
}

/** How many exports a missing export's message lists. */
const LISTED_EXPORTS = 20;

/** "; its exports are a, b" (or that it has none), when they are known. */
function exportsList(exports: string[] | undefined): string {
  if (exports === undefined) return "";
  if (exports.length === 0) return "; it exports nothing";
  const listed = exports.slice(0, LISTED_EXPORTS).map((name) => JSON.stringify(name));
  const more = exports.length - listed.length;
  return `; its exports are ${listed.join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
}

function hashFiles(files: ProjectFiles): string {
  const hash = createHash("sha256");
  for (const name of [...files.keys()].sort()) {
    hash.update(name).update("\0").update(files.get(name)!).update("\0");
  }
  return hash.digest("hex");
}
