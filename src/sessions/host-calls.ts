/**
 * The server's answers to the calls a session makes to the host: `subscribe`, `next_event`,
 * `crypto.subtle` and `fetch`. Each answer comes with what the session log records of it;
 * bytes are logged by their size only (they may be keys or bodies).
 */
import type { AsyncCallRecord, HostAnswer } from "../../sandbox";
import type { Fetcher, FetchPolicy } from "../bindings/host-fetch";
import { NetworkRefusedError } from "../bindings/net-policy";
import { SessionKeys } from "../bindings/session-keys";
import { SubscriptionError, type SubscriptionHub } from "../subscriptions/subscription-hub";

export interface HostCallContext {
  sessionId: string;
  project: string;
  subscriptions: SubscriptionHub;
  fetchPolicy: FetchPolicy;
  fetcher: Fetcher;
}

export interface Answered {
  value: unknown;
  /** The result as the session log shows it. */
  logged: unknown;
}

export class HostCalls {
  readonly #context: HostCallContext;
  #keys: SessionKeys | null = null;

  constructor(context: HostCallContext) {
    this.#context = context;
  }

  /** The sandbox process accepted `subscribe(source, filter)` as `id`: start queueing. */
  subscribed(
    id: string,
    source: string,
    filter: string | null,
    recordedFilter: string | null,
  ): void {
    const { sessionId, project, subscriptions } = this.#context;
    subscriptions.add({ id: sessionId, project }, id, source, filter, recordedFilter);
  }

  async answer(record: AsyncCallRecord): Promise<Answered> {
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
      case "crypto_digest":
        return bytes(await this.#cryptoKeys().digest(...record.args));
      case "crypto_import_key": {
        const info = await this.#cryptoKeys().importKey(...record.args);
        return { value: info, logged: info };
      }
      case "crypto_sign":
        return bytes(await this.#cryptoKeys().sign(...record.args));
      case "crypto_verify": {
        const valid = await this.#cryptoKeys().verify(...record.args);
        return { value: valid, logged: valid };
      }
      case "fetch": {
        const { fetcher, fetchPolicy, sessionId } = this.#context;
        const response = await fetcher.fetch(sessionId, record.args[0], fetchPolicy);
        const { status, url, redirected, headers, body } = response;
        return {
          value: response,
          logged: { status, url, redirected, headers, body: forLog(body) },
        };
      }
    }
  }

  /** The session is over: its subscriptions and keys go. */
  end(): void {
    this.#context.subscriptions.endSession(this.#context.sessionId);
    this.#keys?.clear();
  }

  #cryptoKeys(): SessionKeys {
    this.#keys ??= new SessionKeys();
    return this.#keys;
  }
}

/**
 * A failure the session should see, as the exception it gets: the user's mistakes and the
 * web APIs' own errors. Anything else is the server's problem: `null`.
 */
export function userFacing(error: unknown): Extract<HostAnswer, { ok: false }> | null {
  if (error instanceof SubscriptionError) return { ok: false, message: error.message };
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

/** A value as the log keeps it: byte arrays by their size. */
export function forLog(value: unknown): unknown {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (Array.isArray(value)) return value.map(forLog);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, forLog(v)]));
  }
  return value;
}
