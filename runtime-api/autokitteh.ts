/**
 * The `autokitteh` module user code imports. Its types are the ones published to users, in
 * `types/autokitteh.d.ts`: the implementation is checked against them.
 */
import type * as Autokitteh from "autokitteh";
import ms from "ms";
import type { SessionRegistry } from "./sessions";
import { describeValue } from "./describe-value";
import { utf8LongerThan } from "./encoding";
import { toEventData } from "./event";
import { toOutcome } from "./outcome";

export type Event = Autokitteh.Event;
export type EventData = Autokitteh.EventData;
export type OutcomeOptions = Autokitteh.OutcomeOptions;
export type AutokittehModule = typeof Autokitteh;

/**
 * What of an outcome that is not the answer crosses to the host: twice the 32 KiB the log
 * keeps, so that the cut that shows is the log's, made after secrets are redacted (a cut
 * here could leave the start of a secret that no redaction would know).
 */
const CROSSING_BODY_LENGTH = 64 * 1024;
/** Names (vars, triggers, subscription ids) longer than this are no name the host knows. */
const MAX_NAME_CHARS = 256;
const MAX_FILTER_CHARS = 1000;
const MAX_SUBSCRIPTIONS = 100;
/** Most subscriptions one `next_event` may wait on. */
const MAX_WAIT_ON = 100;

/** Longest wait `next_event` takes as a number; beyond it, the session's own limit applies. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function createAutokitteh(
  registry: SessionRegistry,
  vars: Readonly<Record<string, string>>,
  maxBodyBytes: number,
): AutokittehModule {
  const hasOwn = Object.prototype.hasOwnProperty;
  return {
    http_outcome(options?: OutcomeOptions): void {
      const session = registry.current("http_outcome");
      const outcome = toOutcome(options);
      const body = outcome.body;
      const tooLarge =
        typeof body === "string"
          ? utf8LongerThan(body, maxBodyBytes)
          : body.byteLength > maxBodyBytes;
      if (tooLarge) {
        throw new RangeError(
          `http_outcome: the body is larger than the limit of ${maxBodyBytes} bytes`,
        );
      }
      // Only the answer is sent whole; other outcomes are only logged, and the log keeps the
      // start of a body.
      if (outcome.more || session.finalOutcomeRecorded)
        outcome.body = outcome.body.slice(0, CROSSING_BODY_LENGTH);
      registry.recordCall(session, "http_outcome", [outcome], null);
      // The answer leaves with the records of this run of the handler, when it returns or
      // awaits: a handler that goes on computing without a pause after its answer delays it.
      if (!outcome.more) session.finalOutcomeRecorded = true;
    },

    subscribe(source: string, filter?: string): string {
      const session = registry.current("subscribe");
      if (typeof source !== "string" || source === "" || source.length > MAX_NAME_CHARS) {
        throw new TypeError("subscribe: source must be the name of one of the project's triggers");
      }
      if (
        filter !== undefined &&
        filter !== null &&
        (typeof filter !== "string" || filter.length > MAX_FILTER_CHARS)
      ) {
        throw new TypeError(
          `subscribe: filter must be a CEL expression of at most ${MAX_FILTER_CHARS} characters`,
        );
      }
      if (session.subscriptions >= MAX_SUBSCRIPTIONS) {
        throw new RangeError(
          `subscribe: a session may hold at most ${MAX_SUBSCRIPTIONS} subscriptions`,
        );
      }
      const id = registry.callHost(session, "subscribe", [source, filter ?? null]);
      session.subscriptions += 1;
      return id;
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
      const id = String(subscription);
      if (id.length > MAX_NAME_CHARS) return;
      registry.recordCall(session, "unsubscribe", [id], null);
      session.subscriptions = Math.max(0, session.subscriptions - 1);
    },

    getenv(name: string): string | undefined {
      const session = registry.current("getenv");
      const key = String(name);
      if (key.length > MAX_NAME_CHARS) return undefined;
      const value = hasOwn.call(vars, key) ? vars[key]! : null;
      registry.recordCall(session, "getenv", [key], value);
      return value ?? undefined;
    },
  };
}

function subscriptionIds(subscription: unknown): string[] {
  const ids = Array.isArray(subscription) ? [...subscription] : [subscription];
  if (ids.length > MAX_WAIT_ON)
    throw new RangeError(`next_event: wait on at most ${MAX_WAIT_ON} subscriptions`);
  if (
    ids.length === 0 ||
    ids.some((id) => typeof id !== "string" || id === "" || id.length > MAX_NAME_CHARS)
  ) {
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
      `next_event: timeout must be milliseconds or a duration such as "30s", got ${describeValue(timeout)}`,
    );
  }
  return Math.min(Math.round(value), MAX_TIMEOUT_MS);
}
