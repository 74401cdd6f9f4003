/**
 * The HTTP answer a sync webhook's caller waits for: decided once, by whatever decides it
 * first (an outcome, the handler's return, a failure, the sync timeout, the caller leaving).
 */
import type { HttpAnswer } from "./answer";

export class SyncAnswer {
  readonly promise: Promise<HttpAnswer>;
  #resolve: ((answer: HttpAnswer) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor() {
    this.promise = new Promise((resolve) => (this.#resolve = resolve));
  }

  /** Not decided yet: the caller still waits. */
  get open(): boolean {
    return this.#resolve !== null;
  }

  /** Decide it with what `timedOut` gives after `ms`, unless something decides it before. */
  decideAfter(ms: number, timedOut: () => HttpAnswer): void {
    if (this.open) this.#timer = setTimeout(() => this.decide(timedOut()), ms);
  }

  /** The answer, if none was decided yet; later ones are not sent. */
  decide(answer: HttpAnswer): void {
    const resolve = this.#resolve;
    if (resolve === null) return;
    this.#resolve = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    resolve(answer);
  }
}
