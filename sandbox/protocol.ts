/**
 * The host/sandbox line.
 *
 * Everything that passes between the server (the host) and the runtime inside an isolate
 * (the sandbox) is declared here, and nowhere else. Values cross as structured-clone copies;
 * no function, reference or host object ever crosses.
 *
 * - The host calls into the sandbox with an `Entry` (start a session, fire a timer, settle a
 *   pending call, forget a session).
 * - The sandbox reports back with records: every call user code makes across the line and the
 *   end of each session. Records travel in numbered batches: at the end of each entry, and
 *   earlier when they must not wait (a final outcome, a full buffer, a call to the host).
 *
 * Bindings come in three kinds, by who answers them and when:
 * - `Bindings`: answered inside the sandbox; the host learns of them from the record.
 * - `HostBindings`: answered by the host at once, through a synchronous callback.
 * - `AsyncBindings`: answered by the host later, with a `settle` entry; the caller awaits.
 */

/** The bindings user code reaches through the `autokitteh` module and the globals. */
export interface Bindings {
  /** `http_outcome(...)`, validated and normalised in the sandbox. */
  http_outcome: { args: [outcome: Outcome]; result: null };
  /** `console.log/info/warn/error/debug(...)`, formatted in the sandbox. */
  print: { args: [level: PrintLevel, text: string]; result: null };
  /** `getenv(name)` and `process.env[name]`. */
  getenv: { args: [name: string]; result: string | null };
  /** `setTimeout`/`setInterval`: the host schedules the timer and fires it back. */
  set_timer: { args: [delay_ms: number, repeat: boolean]; result: number };
  /** `clearTimeout`/`clearInterval`. */
  clear_timer: { args: [timer_id: number]; result: null };
  /** `unsubscribe(id)`; unknown ids are ignored, as `clearTimeout` ignores them. */
  unsubscribe: { args: [subscription: string]; result: null };
}

export type BindingName = keyof Bindings;

/** Bindings the host answers at once; a `HostAnswer` error becomes an `Error` in the caller. */
export interface HostBindings {
  /** `subscribe(source, filter?)`: the host checks the source and compiles the filter. */
  subscribe: { args: [source: string, filter: string | null]; result: string };
}

export type HostBindingName = keyof HostBindings;

/** An answer from the host; an error becomes an exception named `name` (default "Error"). */
export type HostAnswer<T = unknown> =
  { ok: true; value: T } | { ok: false; message: string; name?: string };

/** Bindings the host answers later, with a `settle` entry. */
export interface AsyncBindings {
  /** `next_event(subs, { timeout })`: the next queued event's data, or null at the timeout. */
  next_event: {
    args: [subscriptions: string[], timeout_ms: number | null];
    result: WireEventData | null;
  };
  /** `crypto.subtle.digest`. */
  crypto_digest: { args: [algorithm: AlgorithmSpec, data: Uint8Array]; result: Uint8Array };
  /** `crypto.subtle.importKey`: the key stays in the host; the sandbox gets a handle. */
  crypto_import_key: {
    args: [
      format: string,
      key_data: Uint8Array | Record<string, unknown>,
      algorithm: AlgorithmSpec,
      extractable: boolean,
      usages: string[],
    ];
    result: KeyInfo;
  };
  /** `crypto.subtle.sign`. */
  crypto_sign: {
    args: [algorithm: AlgorithmSpec, key: number, data: Uint8Array];
    result: Uint8Array;
  };
  /** `crypto.subtle.verify`. */
  crypto_verify: {
    args: [algorithm: AlgorithmSpec, key: number, signature: Uint8Array, data: Uint8Array];
    result: boolean;
  };
  /** `fetch`, with the whole body in and out; the host enforces `allow_net`. */
  fetch: { args: [request: WireRequest]; result: WireResponse };
}

/** A Web Crypto algorithm as plain data: a name, or an object with a name and parameters. */
export type AlgorithmSpec = string | Record<string, unknown>;

/** What the sandbox knows of a key the host holds. */
export interface KeyInfo {
  handle: number;
  type: string;
  algorithm: Record<string, unknown>;
  extractable: boolean;
  usages: string[];
}

export interface WireRequest {
  url: string;
  method: string;
  headers: [name: string, value: string][];
  body: Uint8Array | null;
  redirect: "follow" | "manual" | "error";
}

export interface WireResponse {
  /** The final URL, after redirects. */
  url: string;
  redirected: boolean;
  status: number;
  status_text: string;
  headers: [name: string, value: string][];
  body: Uint8Array;
}

export type AsyncBindingName = keyof AsyncBindings;

/** A call the host is to answer later; `call_id` comes back in the `settle` entry. */
export type AsyncCallRecord = {
  [B in AsyncBindingName]: {
    type: "async_call";
    session_id: string;
    call_id: number;
    binding: B;
    args: AsyncBindings[B]["args"];
  };
}[AsyncBindingName];

/** One call across the line, as the sandbox reports it. */
export type CallRecord = {
  [B in BindingName]: {
    type: "call";
    session_id: string;
    binding: B;
    args: Bindings[B]["args"];
    result: Bindings[B]["result"];
  };
}[BindingName];

/** The end of a session: the handler returned (or its promise settled), or it threw. */
export interface EndRecord {
  type: "end";
  session_id: string;
  result: SessionResult;
  /** Timers still pending when the handler finished; they are dropped. */
  dropped_timers: number;
}

export type SandboxRecord = CallRecord | AsyncCallRecord | EndRecord;

export interface RecordBatch {
  /** Batches are numbered per isolate, so the host can apply them in the order they left. */
  seq: number;
  records: SandboxRecord[];
}

export type SessionResult =
  { ok: true; returned: ReturnedValue } | { ok: false; error: SandboxError };

/** What the handler returned, turned into a response for a sync webhook without outcome. */
export type ReturnedValue =
  { kind: "undefined" } | { kind: "value"; json: string } | { kind: "response"; response: Outcome };

export interface SandboxError {
  name: string;
  message: string;
  /** V8 stack of the error, in bundle coordinates; the host maps it to the user's files. */
  stack: string | null;
}

export type PrintLevel = "log" | "info" | "warn" | "error" | "debug";

/** An `http_outcome` after validation. Header names are lower-case; a name may repeat. */
export interface Outcome {
  status_code: number;
  headers: [name: string, value: string][];
  /** Exactly the bytes to send; a string is sent as UTF-8. */
  body: string | Uint8Array;
  more: boolean;
}

/** The `event` a handler receives, as the host sends it (the sandbox adds `body.json`). */
export interface WireEvent {
  event_id: string;
  session_id: string;
  /** Lower-case HTTP method. */
  event_type: string;
  trigger: string;
  data: WireEventData;
}

export interface WireEventData {
  /** As received, upper-case. */
  method: string;
  /** Path and query as received. */
  raw_url: string;
  url: { path: string; query: Record<string, string>; path_suffix: string };
  /** Lower-case name to value; repeated values joined with ", ". */
  headers: Record<string, string>;
  /** Only the bytes cross: text, JSON and form fields are worked out in the session. */
  body: { bytes: Uint8Array };
}

/** Host → sandbox: one call into the isolate. */
export type Entry =
  | {
      kind: "start";
      session_id: string;
      /** Export key in the bundle. */
      handler: string;
      /** The manifest's `call`, for messages. */
      call: string;
      event: WireEvent;
      /** 32 random bytes that seed the session's random numbers (`crypto`, `Math.random`). */
      entropy: Uint8Array;
      /**
       * Durable sessions only: the session's clock while this entry runs, in ms since the epoch.
       * A durable session is decided by its entries alone (event, entropy, then timers and
       * answers in order), so that replaying them does exactly the same; its clock is part of
       * each entry for that reason. `Date.now()` and `new Date()` read it, and it does not move
       * while the entry runs (as in Cloudflare Workers). Other sessions read the real clock.
       */
      clock_ms?: number;
    }
  | { kind: "timer"; session_id: string; timer_id: number; clock_ms?: number }
  | { kind: "settle"; session_id: string; call_id: number; answer: HostAnswer; clock_ms?: number }
  | { kind: "stop"; session_id: string }
  /**
   * Run what an entry stopped at a limit left in V8's microtask queue, in no session's name
   * (so it can call nothing), before any other session's entry runs.
   */
  | { kind: "quiesce" };

/** Fixed for the life of an isolate: one isolate serves one deployment. */
export interface SandboxConfig {
  project: string;
  /** Export keys of the bundle, one per trigger with a `call`. */
  handlers: string[];
  /** What `getenv` and `process.env` read. */
  vars: Record<string, string>;
  /** Pending timers one session may hold. */
  max_timers_per_session: number;
  /** Text a session may print in all; what goes beyond is dropped, once noted. */
  max_print_bytes_per_session: number;
  /** Calls across the line a session may make; beyond them it ends with a limit error. */
  max_calls_per_session: number;
  /** Bytes a session may send across the line in all; beyond them it ends with a limit error. */
  max_output_bytes_per_session: number;
  /** Largest body an outcome or a `fetch` request may have. */
  max_body_bytes: number;
  /** Records buffered before they are sent early, bounding the sandbox's own buffer. */
  max_buffered_records: number;
}
