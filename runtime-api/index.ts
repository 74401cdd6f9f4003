/**
 * The runtime inside every isolate: what user code sees (the `autokitteh` module, `console`,
 * timers, web APIs) and the one `dispatch` function the host calls.
 *
 * The host builds this file into one script and runs it once per isolate, passing the emit
 * callback, the sandbox config and the deployment's bundle factory. `setup` then locks the
 * realm down (Hardened JavaScript: every built-in and every global frozen) so that sessions
 * can share one context and still share no state: each session calls the factory, which runs
 * the top level of the user's files anew and returns fresh module state.
 */
import "ses";
import type {
  Entry,
  RecordBatch,
  SandboxConfig,
  ReturnedValue,
  SessionResult,
  WireEvent,
} from "../sandbox/protocol";
import { createAutokitteh, type AutokittehModule } from "./autokitteh";
import { createConsole } from "./console";
import { TextDecoder, TextEncoder } from "./encoding";
import { toSandboxError } from "./errors";
import { toEvent } from "./event";
import { hardenRuntimeValues } from "./harden-values";
import { checkHeaderBounds } from "./outcome";
import { SessionRegistry, type HostCall, type Session } from "./sessions";
import { createTimers, fireTimer } from "./timers";
import { atob, btoa } from "./web/base64";
import { createCrypto, CryptoKey } from "./web/crypto";
import { DOMException } from "./web/dom-exception";
import { createFetch } from "./web/fetch";
import { Headers } from "./web/headers";
import { Request } from "./web/request";
import { Response } from "./web/response";
import { structuredClone } from "./web/structured-clone";
import { URL, URLSearchParams } from "./web/url";

type BundleFactory = (autokitteh: AutokittehModule) => Record<string, unknown>;
type Dispatch = (entry: Entry) => void;

/**
 * The ECMAScript globals user code keeps. Anything else on the global object when the runtime
 * is set up goes: ses's setup functions, and whatever a bundled package left there (a store a
 * package keeps on the global object would be one that sessions could write to). Also gone
 * from the standard: SharedArrayBuffer, Atomics, WeakRef and FinalizationRegistry (they would
 * let code run outside its session's entries, or time other sessions) and WebAssembly (its
 * memories escape the isolate's limit).
 */
const STANDARD_GLOBALS = new Set([
  "globalThis",
  "Infinity",
  "NaN",
  "undefined",
  "eval",
  "isFinite",
  "isNaN",
  "parseFloat",
  "parseInt",
  "decodeURI",
  "decodeURIComponent",
  "encodeURI",
  "encodeURIComponent",
  "escape",
  "unescape",
  "Object",
  "Function",
  "Boolean",
  "Symbol",
  "Error",
  "AggregateError",
  "EvalError",
  "RangeError",
  "ReferenceError",
  "SyntaxError",
  "TypeError",
  "URIError",
  "Number",
  "BigInt",
  "Math",
  "Date",
  "String",
  "RegExp",
  "Array",
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "ArrayBuffer",
  "DataView",
  "Promise",
  "Proxy",
  "Reflect",
  "JSON",
  "Intl",
  "harden",
]);

export function setup(
  emit: (batch: RecordBatch) => void,
  hostCall: HostCall,
  config: SandboxConfig,
  factory: BundleFactory,
): Dispatch {
  const registry = new SessionRegistry(emit, hostCall, {
    maxBuffered: config.max_buffered_records,
    maxPrintChars: config.max_print_bytes_per_session,
    maxCalls: config.max_calls_per_session,
    maxOutputBytes: config.max_output_bytes_per_session,
  });
  // Math.random draws from the running session's own generator (see web/random.ts); set
  // before lockdown freezes Math.
  const nativeRandom = Math.random;
  Math.random = function random() {
    return registry.currentOrNull()?.random.float() ?? nativeRandom();
  };
  lockdown({
    errorTaming: "unsafe",
    stackFiltering: "verbose",
    overrideTaming: "severe",
    consoleTaming: "unsafe",
    evalTaming: "unsafe-eval",
  });

  const env = environment(config.vars);
  const autokitteh = harden(createAutokitteh(registry, env, config.max_body_bytes));
  installGlobals(registry, config, env);
  // What the globals do not lead to but the values they make do (see harden-values.ts).
  hardenRuntimeValues();

  /** Run user code for `session`; whatever it throws ends the session, and goes no further. */
  const run = (session: Session, code: () => void) =>
    registry.enter(session, () => {
      try {
        code();
      } catch (error) {
        end(registry, session, { ok: false, error: toSandboxError(error) });
      }
    });

  const start = (entry: Extract<Entry, { kind: "start" }>) => {
    const session = registry.create(entry.session_id, entry.entropy);
    run(session, () => {
      const exports = factory(autokitteh);
      const handler = exports[entry.handler];
      if (typeof handler !== "function") {
        throw new TypeError(`${entry.call} is not a function (it is ${typeof handler})`);
      }
      settle(registry, session, handler(toEvent(entry.event as WireEvent)), config.max_body_bytes);
    });
  };

  const forget = (session: Session) => {
    session.ended = true;
    session.timers.clear();
    session.pending.clear();
    registry.delete(session.id);
  };

  return function dispatch(entry: Entry): void {
    // Nothing thrown in here may reach isolated-vm: it would read the thrown value's
    // properties outside any time limit. `run` catches user errors; this is the last net.
    try {
      if (entry.kind === "start") return start(entry);
      if (entry.kind === "quiesce") return registry.leave();
      const session = registry.get(entry.session_id);
      if (session === undefined) return registry.flush();
      switch (entry.kind) {
        case "timer":
          return run(session, () => fireTimer(session, entry.timer_id));
        case "settle":
          return run(session, () => registry.settle(session, entry.call_id, entry.answer));
        case "stop":
          forget(session);
          registry.leave();
          // Also sends what an entry cut short by a limit had buffered.
          return registry.flush();
      }
    } catch {
      registry.leave();
    }
  };
}

/**
 * `process.env` and what `getenv` reads: the project's vars, in an object with no prototype
 * (so `process.env.toString` is nothing, and a var named `__proto__` is a var).
 */
function environment(vars: Record<string, string>): Readonly<Record<string, string>> {
  const env = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(vars)) {
    Object.defineProperty(env, name, { value, enumerable: true });
  }
  return Object.freeze(env);
}

function installGlobals(
  registry: SessionRegistry,
  config: SandboxConfig,
  env: Readonly<Record<string, string>>,
): void {
  const global = globalThis as Record<string | symbol, unknown>;
  for (const name of Reflect.ownKeys(global)) {
    if (typeof name !== "string" || !STANDARD_GLOBALS.has(name)) delete global[name];
  }
  const timers = createTimers(registry, config.max_timers_per_session);
  const resolved = Promise.resolve();
  Object.assign(global, {
    console: createConsole(registry),
    setTimeout: timers.setTimeout,
    setInterval: timers.setInterval,
    clearTimeout: timers.clearTimeout,
    clearInterval: timers.clearInterval,
    queueMicrotask(callback: unknown): void {
      if (typeof callback !== "function") {
        throw new TypeError("queueMicrotask: the callback must be a function");
      }
      void resolved.then(() => callback());
    },
    TextEncoder,
    TextDecoder,
    URL,
    URLSearchParams,
    atob,
    btoa,
    structuredClone,
    DOMException,
    crypto: createCrypto(registry),
    CryptoKey,
    fetch: createFetch(registry, config.max_body_bytes),
    Headers,
    Request,
    Response,
    process: { env },
  });
  harden(globalThis);
}

/** Wait for what the handler returned, if it is a promise, then end the session with it. */
function settle(
  registry: SessionRegistry,
  session: Session,
  result: unknown,
  maxBodyBytes: number,
): void {
  const isThenable =
    result !== null &&
    (typeof result === "object" || typeof result === "function") &&
    typeof (result as { then?: unknown }).then === "function";
  const finish = (value: unknown) =>
    end(registry, session, returned(registry, session, value, maxBodyBytes));
  if (!isThenable) {
    finish(result);
    return;
  }
  Promise.resolve(result).then(finish, (error) =>
    end(registry, session, { ok: false, error: toSandboxError(error) }),
  );
}

/**
 * A handler's return value as a response: a `Response` as it is, anything else as JSON. It is
 * held to what an outcome is held to (the body limit, the session's output budget), since it
 * crosses the line the same way: a session cannot send by returning what it could not send
 * with `http_outcome`.
 */
function returned(
  registry: SessionRegistry,
  session: Session,
  value: unknown,
  maxBodyBytes: number,
): SessionResult {
  try {
    let result: ReturnedValue;
    let bodyBytes: number;
    if (value === undefined) {
      result = { kind: "undefined" };
      bodyBytes = 0;
    } else if (value instanceof Response) {
      if (value.type === "error") throw new TypeError("the handler returned Response.error()");
      const { status, headers, body } = Response.parts(value);
      checkHeaderBounds(headers, "the handler returned a Response");
      result = { kind: "response", response: { status_code: status, headers, body, more: false } };
      bodyBytes = body.byteLength;
    } else {
      // Refused before it is turned into text: one huge string can be more than the isolate
      // has room for, and running out of memory in one allocation aborts its whole process.
      const atLeast = jsonSizeAtLeast(value, maxBodyBytes);
      if (atLeast > maxBodyBytes) {
        throw new RangeError(
          `the handler returned a value of at least ${atLeast} bytes as JSON, more than the limit of ${maxBodyBytes} bytes`,
        );
      }
      let json: string | undefined;
      try {
        json = JSON.stringify(value);
      } catch (error) {
        // A BigInt, a cycle, a toJSON that throws: say what it was about.
        if (!(error instanceof TypeError)) throw error;
        throw new TypeError(
          `the handler's return value cannot be sent as JSON: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (typeof json !== "string") {
        throw new TypeError(`the handler returned a ${typeof value}, which cannot be sent as JSON`);
      }
      result = { kind: "value", json };
      bodyBytes = utf8Length(json);
    }
    if (bodyBytes > maxBodyBytes) {
      throw new RangeError(
        `the handler returned a body of ${bodyBytes} bytes, more than the limit of ${maxBodyBytes} bytes`,
      );
    }
    registry.countReturned(session, result);
    return { ok: true, returned: result };
  } catch (error) {
    return { ok: false, error: toSandboxError(error) };
  }
}

/** An array or object being walked by `jsonSizeAtLeast`: its keys (`null`: indices), and where. */
interface WalkFrame {
  target: object;
  keys: string[] | null;
  next: number;
  length: number;
}

/**
 * A lower bound of the size of `value` as JSON, from its own strings, arrays and keys, without
 * calling anything of it (no getters, no `toJSON`). It stops once past `limit`, and at a
 * cycle (JSON.stringify then says what is wrong). Its memory is the depth of `value`, not its
 * size; its time is the session's.
 */
function jsonSizeAtLeast(value: unknown, limit: number): number {
  let total = 0;
  const frames: WalkFrame[] = [];
  const onPath = new Set<object>();
  let cycle = false;
  const visit = (item: unknown) => {
    if (typeof item === "string") total += item.length + 2;
    else if (item === null || typeof item !== "object" || ArrayBuffer.isView(item)) total += 1;
    else if (onPath.has(item)) cycle = true;
    else {
      const keys = Array.isArray(item) ? null : Object.keys(item);
      const length = keys === null ? (item as unknown[]).length : keys.length;
      // Brackets, and a comma (or a value, for holes) per element at least.
      total += 2 + length;
      frames.push({ target: item, keys, next: 0, length });
      onPath.add(item);
    }
  };
  visit(value);
  while (frames.length > 0 && total <= limit && !cycle) {
    const frame = frames[frames.length - 1]!;
    if (frame.next >= frame.length) {
      frames.pop();
      onPath.delete(frame.target);
      continue;
    }
    const key = frame.keys === null ? frame.next : frame.keys[frame.next]!;
    frame.next++;
    const entry = Object.getOwnPropertyDescriptor(frame.target, key);
    if (entry === undefined || !("value" in entry)) continue;
    if (typeof key === "string") total += key.length + 3;
    visit(entry.value);
  }
  return total;
}

/** The size of `text` in UTF-8 (lone surrogates as U+FFFD, as TextEncoder does), unencoded. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

function end(registry: SessionRegistry, session: Session, result: SessionResult): void {
  if (session.ended) return;
  session.ended = true;
  const droppedTimers = session.timers.size;
  session.timers.clear();
  session.pending.clear();
  registry.push({ type: "end", session_id: session.id, result, dropped_timers: droppedTimers });
  registry.delete(session.id);
}
