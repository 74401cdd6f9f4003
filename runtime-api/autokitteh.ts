/**
 * The `autokitteh` module user code imports. Types here are the ones published to users in
 * `autokitteh.d.ts`; keep the two in step.
 */
import ms from "ms";
import type { SessionRegistry } from "./sessions";
import { toEventData } from "./event";
import { toOutcome } from "./outcome";

export interface Event {
  event_id: string;
  session_id: string;
  /** Lower-case HTTP method. */
  event_type: string;
  trigger: string;
  data: EventData;
}

export interface EventData {
  method: string;
  raw_url: string;
  url: { path: string; query: Record<string, string>; path_suffix: string };
  headers: Record<string, string>;
  body: {
    bytes: Uint8Array;
    text: string | null;
    json: unknown;
    form: Record<string, string> | null;
  };
}

export interface OutcomeOptions {
  status_code?: number;
  headers?: Record<string, string | number | (string | number)[]> | Iterable<[string, string]>;
  body?: string | ArrayBuffer | ArrayBufferView;
  json?: unknown;
  more?: boolean;
}

export interface AutokittehModule {
  http_outcome(options?: OutcomeOptions): void;
  getenv(name: string): string | undefined;
  subscribe(source: string, filter?: string): string;
  next_event(
    subscription: string | string[],
    options?: { timeout?: number | string },
  ): Promise<EventData | null>;
  unsubscribe(subscription: string): void;
}

/** Longest wait `next_event` takes as a number; beyond it, the session's own limit applies. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function createAutokitteh(
  registry: SessionRegistry,
  vars: Readonly<Record<string, string>>,
): AutokittehModule {
  const hasOwn = Object.prototype.hasOwnProperty;
  return {
    http_outcome(options?: OutcomeOptions): void {
      const session = registry.current("http_outcome");
      const outcome = toOutcome(options);
      registry.recordCall(session, "http_outcome", [outcome], null);
      // The first final outcome is a sync webhook's response: it must not wait for the
      // rest of this turn of the handler.
      if (!outcome.more && !session.finalOutcomeRecorded) {
        session.finalOutcomeRecorded = true;
        registry.flush();
      }
    },

    subscribe(source: string, filter?: string): string {
      const session = registry.current("subscribe");
      if (typeof source !== "string" || source === "") {
        throw new TypeError("subscribe: source must be the name of one of the project's triggers");
      }
      if (filter !== undefined && filter !== null && typeof filter !== "string") {
        throw new TypeError("subscribe: filter must be a CEL expression in a string");
      }
      return registry.callHost(session, "subscribe", [source, filter ?? null]);
    },

    next_event(subscription, options) {
      const session = registry.current("next_event");
      let ids: string[];
      let timeoutMs: number | null;
      try {
        ids = subscriptionIds(subscription);
        timeoutMs = toTimeout(options?.timeout);
      } catch (error) {
        return Promise.reject(error);
      }
      return registry
        .callHostAsync(session, "next_event", [ids, timeoutMs])
        .then((data) => (data === null ? null : toEventData(data)));
    },

    unsubscribe(subscription: string): void {
      const session = registry.current("unsubscribe");
      registry.recordCall(session, "unsubscribe", [String(subscription)], null);
    },

    getenv(name: string): string | undefined {
      const session = registry.current("getenv");
      const key = String(name);
      const value = hasOwn.call(vars, key) ? vars[key]! : null;
      registry.recordCall(session, "getenv", [key], value);
      return value ?? undefined;
    },
  };
}

function subscriptionIds(subscription: unknown): string[] {
  const ids = Array.isArray(subscription) ? [...subscription] : [subscription];
  if (ids.length === 0 || ids.some((id) => typeof id !== "string" || id === "")) {
    throw new TypeError("next_event: give a subscription id from subscribe(), or a list of them");
  }
  return ids as string[];
}

/** Milliseconds, or a duration such as "500ms", "30s", "1m", "2h"; `null` waits as long as the session may. */
function toTimeout(timeout: unknown): number | null {
  if (timeout === undefined || timeout === null) return null;
  const value = typeof timeout === "string" ? ms(timeout as ms.StringValue) : timeout;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `next_event: timeout must be milliseconds or a duration such as "30s", got ${String(timeout)}`,
    );
  }
  return Math.min(Math.round(value), MAX_TIMEOUT_MS);
}
