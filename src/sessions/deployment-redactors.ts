/**
 * The redactor of each deployment, for what the API shows of the events and sessions it ran.
 * A deployment's secrets never change, and making a redactor costs a few milliseconds a
 * secret, so each is made once and kept; the least recently used go past a bound, since
 * deployments are kept for ever.
 */
import type { Manifest } from "../deploy/manifest";
import { Redactor } from "./redactor";

/** Redactors kept; a listing shows events of a few deployments, rarely of hundreds. */
const MAX_CACHED_REDACTORS = 256;

/** A redactor for the secret vars of `manifest`. */
export function manifestRedactor(manifest: Manifest): Redactor {
  return new Redactor(manifest.project.vars.filter((v) => v.secret).map((v) => v.value));
}

export class DeploymentRedactors {
  readonly #manifestOf: (deploymentId: string) => Manifest | undefined;
  /** In order of last use, the least recent first. */
  readonly #cache = new Map<string, Redactor>();

  constructor(manifestOf: (deploymentId: string) => Manifest | undefined) {
    this.#manifestOf = manifestOf;
  }

  /** The redactor of a deployment; one that redacts nothing if the deployment is unknown. */
  of(deploymentId: string): Redactor {
    let redactor = this.#cache.get(deploymentId);
    if (redactor === undefined) {
      const manifest = this.#manifestOf(deploymentId);
      redactor = manifest === undefined ? new Redactor([]) : manifestRedactor(manifest);
    }
    this.#cache.delete(deploymentId);
    this.#cache.set(deploymentId, redactor);
    if (this.#cache.size > MAX_CACHED_REDACTORS) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    return redactor;
  }
}
