/**
 * The server's answers to the calls a session makes to the host: `subscribe`, `next_event`,
 * `crypto.subtle` and `fetch`. Each answer comes with what the session log records of it;
 * bytes are logged by their size only (they may be keys or bodies). When the session ends,
 * whatever is still pending for it is cancelled: fetches are aborted, queued crypto work is
 * dropped, waits for events end.
 */
import type { AsyncCallRecord, HostAnswer, KeyInfo } from "../../sandbox";
import type { JournaledKeyImport } from "../store/journal-store";
import { CryptoQueue, type CryptoSlots } from "../bindings/crypto-queue";
import type { Fetcher, FetchPolicy } from "../bindings/host-fetch";
import { HostWorkCancelledError } from "../bindings/host-work";
import { NetworkRefusedError } from "../bindings/net-policy";
import { SessionKeys } from "../bindings/session-keys";
import { SubscriptionError } from "../subscriptions/check-subscription";
import type { SubscriptionFilter, SubscriptionHub } from "../subscriptions/subscription-hub";

export interface HostCallContext {
  sessionId: string;
  project: string;
  subscriptions: SubscriptionHub;
  fetchPolicy: FetchPolicy;
  fetcher: Fetcher;
  cryptoSlots: CryptoSlots;
  /** The session's CPU budget, which its crypto work counts against too. */
  cpuBudgetMs: number;
}

export interface Answered {
  value: unknown;
  /** The result as the session log shows it. */
  logged: unknown;
}

export class HostCalls {
  readonly #context: HostCallContext;
  /**
   * Aborts when the session ends. Made on first use: most sessions start no host work, and an
   * AbortController with its cancellation error costs more than the rest of a short session.
   */
  #ended: AbortController | null = null;
  #over = false;
  /** Answers being worked on: only then has the session's end anything to cancel. */
  #working = 0;
  #keys: SessionKeys | null = null;
  #crypto: CryptoQueue | null = null;

  constructor(context: HostCallContext) {
    this.#context = context;
  }

  /** The sandbox process accepted `subscribe(source, filter)` as `id`: start queueing. */
  subscribed(id: string, source: string, filter: SubscriptionFilter | null): void {
    const { sessionId, project, subscriptions } = this.#context;
    subscriptions.add({ id: sessionId, project }, id, source, filter);
  }

  async answer(record: AsyncCallRecord): Promise<Answered> {
    this.#working++;
    try {
      return await this.#answer(record);
    } finally {
      this.#working--;
    }
  }

  async #answer(record: AsyncCallRecord): Promise<Answered> {
    switch (record.binding) {
      case "next_event": {
        const [ids, timeoutMs] = record.args;
        const event = await this.#context.subscriptions.next(
          this.#context.sessionId,
          ids,
          timeoutMs,
        );
        if (event === null) return { value: null, logged: null };
        return { value: event.data, logged: { event_id: event.eventId, trigger: event.trigger } };
      }
      case "crypto_digest": {
        const args = record.args;
        return bytes(await this.#cryptoWork((keys) => keys.digest(...args)));
      }
      case "crypto_import_key": {
        const args = record.args;
        const info = await this.#cryptoWork((keys) => keys.importKey(...args));
        return { value: info, logged: info };
      }
      case "crypto_sign": {
        const args = record.args;
        return bytes(await this.#cryptoWork((keys) => keys.sign(...args)));
      }
      case "crypto_verify": {
        const args = record.args;
        const valid = await this.#cryptoWork((keys) => keys.verify(...args));
        return { value: valid, logged: valid };
      }
      case "fetch": {
        const { fetcher, fetchPolicy, sessionId, project } = this.#context;
        const owner = { sessionId, project };
        const response = await fetcher.fetch(
          owner,
          record.args[0],
          fetchPolicy,
          this.#endedSignal(),
        );
        const { status, url, redirected, headers, body } = response;
        return {
          value: response,
          logged: { status, url, redirected, headers, body: forLog(body) },
        };
      }
    }
  }

  /**
   * A durable session resumes: import again the keys it imported before the restart, under the
   * handles it holds. A key that cannot be imported again is left out: using it fails as an
   * unknown key would.
   */
  async restoreKeys(imports: JournaledKeyImport[]): Promise<void> {
    for (const { args, answer } of imports) {
      if (!answer.ok) continue;
      this.#keys ??= new SessionKeys();
      const handle = (answer.value as KeyInfo).handle;
      await this.#keys.importKey(...args, handle).catch(() => null);
    }
  }

  /**
   * CPU time the host spent for the session (its crypto work) since the last call: to be
   * charged to the session, with the answer that leaves next.
   */
  takeCpuMs(): number {
    return this.#crypto?.takeSpentMs() ?? 0;
  }

  /**
   * The session is over: its pending work is cancelled, its subscriptions and keys go.
   * `suspended`: a durable session the server lets go of as it stops; its subscriptions stay
   * open in SQLite, to be restored when it resumes.
   */
  end(suspended = false): void {
    this.#over = true;
    // Aborting makes an error with a stack and wakes every listener: only when there is work.
    if (this.#working > 0) this.#ended?.abort(cancelled());
    this.#context.subscriptions.endSession(this.#context.sessionId, !suspended);
    this.#keys?.clear();
  }

  #endedSignal(): AbortSignal {
    if (this.#over) return AbortSignal.abort(cancelled());
    this.#ended ??= new AbortController();
    return this.#ended.signal;
  }

  /** Crypto work, in the session's queue: one operation at a time, timed, within budget. */
  #cryptoWork<T>(work: (keys: SessionKeys) => Promise<T>): Promise<T> {
    const { cryptoSlots, cpuBudgetMs, sessionId, project } = this.#context;
    this.#keys ??= new SessionKeys();
    this.#crypto ??= new CryptoQueue(
      cryptoSlots,
      { sessionId, project },
      cpuBudgetMs,
      this.#endedSignal(),
    );
    const keys = this.#keys;
    return this.#crypto.run(() => work(keys));
  }
}

/**
 * A failure the session should see, as the exception it gets: the user's mistakes and the
 * web APIs' own errors. Anything else is the server's problem: `null`.
 */
export function userFacing(error: unknown): Extract<HostAnswer, { ok: false }> | null {
  if (error instanceof SubscriptionError || error instanceof HostWorkCancelledError)
    return { ok: false, message: error.message };
  if (error instanceof NetworkRefusedError)
    return { ok: false, name: "TypeError", message: error.message };
  if (
    error instanceof Error &&
    (error.name === "TypeError" || error.name === "RangeError" || isDomException(error))
  ) {
    return { ok: false, name: error.name, message: error.message };
  }
  return null;
}

function isDomException(error: Error): boolean {
  return typeof DOMException === "function" && error instanceof DOMException;
}

function bytes(value: Uint8Array): Answered {
  return { value, logged: forLog(value) };
}

/**
 * A host call's arguments as the log shows them: key material is never shown (a JWK is an
 * object of strings that would otherwise be logged as they are), byte arrays by their size.
 */
export function argsForLog(binding: string, args: unknown[]): unknown {
  if (binding === "crypto_import_key") {
    return forLog(args.map((arg, i) => (i === 1 ? "<key material>" : arg)));
  }
  return forLog(args);
}

/** A value as the log keeps it: byte arrays by their size. */
function forLog(value: unknown): unknown {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (Array.isArray(value)) return value.map(forLog);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, forLog(v)]));
  }
  return value;
}

function cancelled(): HostWorkCancelledError {
  return new HostWorkCancelledError("the session ended");
}
