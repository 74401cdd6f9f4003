/**
 * The `autokitteh` module user code imports. Types here are the ones published to users in
 * `autokitteh.d.ts`; keep the two in step.
 */
import type { SessionRegistry } from "./sessions";
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
}

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

    getenv(name: string): string | undefined {
      const session = registry.current("getenv");
      const key = String(name);
      const value = hasOwn.call(vars, key) ? vars[key]! : null;
      registry.recordCall(session, "getenv", [key], value);
      return value ?? undefined;
    },
  };
}
