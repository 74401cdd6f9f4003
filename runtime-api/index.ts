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
  SessionResult,
  WireEvent,
} from "../sandbox/protocol";
import { createAutokitteh, type AutokittehModule } from "./autokitteh";
import { createDate, createIntl } from "./clock";
import { createConsole } from "./console";
import { TextDecoder, TextEncoder } from "./encoding";
import { toSandboxError } from "./errors";
import { toEvent } from "./event";
import { hardenRuntimeValues } from "./harden-values";
import { returned } from "./returned";
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
    const session = registry.create(entry.session_id, entry.entropy, entry.clock_ms ?? null);
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
      if (entry.kind !== "stop" && entry.clock_ms !== undefined) session.clock = entry.clock_ms;
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
    Date: createDate(registry),
    Intl: createIntl(registry),
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

function end(registry: SessionRegistry, session: Session, result: SessionResult): void {
  if (session.ended) return;
  session.ended = true;
  const droppedTimers = session.timers.size;
  session.timers.clear();
  session.pending.clear();
  registry.push({ type: "end", session_id: session.id, result, dropped_timers: droppedTimers });
  registry.delete(session.id);
}
