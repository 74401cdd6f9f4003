/**
 * Types for isohook projects: the `autokitteh` module and the globals of the sandbox.
 * Point a project's tsconfig at this file (see examples/tsconfig.json) for editor support;
 * isohook itself does not type-check uploads, it only strips types.
 */

declare module "autokitteh" {
  /** What a webhook request delivers to a handler. */
  export interface Event {
    event_id: string;
    session_id: string;
    /** The HTTP method, lower-case: "post". */
    event_type: string;
    /** Name of the trigger that started the session. */
    trigger: string;
    data: EventData;
  }

  export interface EventData {
    /** As received, upper-case: "POST". */
    method: string;
    /** Path and query as received. */
    raw_url: string;
    url: {
      path: string;
      /** Name → value; repeated names joined with ", ". */
      query: Record<string, string>;
      /** What follows /webhooks/<slug>/, without the leading slash; "" when nothing does. */
      path_suffix: string;
    };
    /** Lower-case name → value; repeated values joined with ", ". */
    headers: Record<string, string>;
    body: {
      /** Byte-exact, after any Content-Encoding was removed. */
      bytes: Uint8Array;
      /** The body as UTF-8 text, or null when it is not valid UTF-8. */
      text: string | null;
      /** The body parsed as JSON (whatever the Content-Type), or null when it is not JSON. */
      json: any;
      /** Fields of an application/x-www-form-urlencoded body, else null. */
      form: Record<string, string> | null;
    };
  }

  export interface OutcomeOptions {
    /** 100-599; default 200. */
    status_code?: number;
    /** Name → value (or values); or [name, value] pairs, or a Headers. */
    headers?: Record<string, string | number | (string | number)[]> | Iterable<[string, string]>;
    /** Sent exactly: a string as UTF-8, or bytes. */
    body?: string | ArrayBuffer | ArrayBufferView;
    /** Any JSON value, serialized; adds Content-Type: application/json unless one is given. */
    json?: unknown;
    /** true: an intermediate outcome, logged only. Default false: the response. */
    more?: boolean;
  }

  /**
   * Record an outcome. The first with `more: false` is a sync webhook's HTTP response; later
   * ones are logged as ignored. The session keeps running after it. Throws a TypeError for
   * invalid options (status out of range, both body and json, CR/LF in a header, more than
   * 1,000 headers or 64 KiB of header names and values).
   */
  export function http_outcome(options?: OutcomeOptions): void;

  /** A project var, or `<trigger>__webhook_url`; undefined when not set. */
  export function getenv(name: string): string | undefined;

  /**
   * Queue the events of one of the project's triggers for this session, from now on, in arrival
   * order. `filter` is a CEL expression over `data` (as next_event returns it) and `event_type`;
   * only events for which it is exactly true are queued. Returns a subscription id. Throws for
   * an unknown trigger name or a filter that does not compile.
   */
  export function subscribe(source: string, filter?: string): string;

  /**
   * The data of the next event queued for any of the subscriptions, or null when `timeout`
   * (milliseconds, or a duration: "500ms", "30s", "1m", "2h") passes. Without a timeout it
   * waits as long as the session may run.
   */
  export function next_event(
    subscription: string | string[],
    options?: { timeout?: number | string },
  ): Promise<EventData | null>;

  /** End a subscription; the session's subscriptions also end with it. */
  export function unsubscribe(subscription: string): void;
}

interface IsohookConsole {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
  debug(...data: unknown[]): void;
  trace(...data: unknown[]): void;
}

declare var console: IsohookConsole;
declare var process: { readonly env: Readonly<Record<string, string | undefined>> };
declare function setTimeout(
  callback: (...args: any[]) => void,
  delay?: number,
  ...args: any[]
): number;
declare function setInterval(
  callback: (...args: any[]) => void,
  delay?: number,
  ...args: any[]
): number;
declare function clearTimeout(id: number | undefined): void;
declare function clearInterval(id: number | undefined): void;
declare function queueMicrotask(callback: () => void): void;

declare class TextEncoder {
  readonly encoding: "utf-8";
  encode(input?: string): Uint8Array;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}

declare class TextDecoder {
  constructor(label?: "utf-8" | "utf8", options?: { fatal?: boolean; ignoreBOM?: boolean });
  readonly encoding: "utf-8";
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string;
}

type HeadersInit = Headers | Iterable<readonly [string, string]> | Record<string, string>;

declare class Headers implements Iterable<[string, string]> {
  constructor(init?: HeadersInit);
  append(name: string, value: string): void;
  delete(name: string): void;
  get(name: string): string | null;
  getSetCookie(): string[];
  has(name: string): boolean;
  set(name: string, value: string): void;
  forEach(
    callback: (value: string, name: string, headers: Headers) => void,
    thisArg?: unknown,
  ): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

declare class Response {
  constructor(body?: BodyInit, init?: ResponseInit);
  static json(data: unknown, init?: ResponseInit): Response;
  static redirect(url: string, status?: number): Response;
  static error(): Response;
  readonly type: string;
  readonly url: string;
  readonly redirected: boolean;
  readonly status: number;
  readonly ok: boolean;
  readonly statusText: string;
  readonly headers: Headers;
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<any>;
  clone(): Response;
}

/** Hardened JavaScript's harden: freezes an object and everything reachable from it. */
declare function harden<T>(value: T): T;

declare class URL {
  constructor(url: string | URL, base?: string | URL);
  static canParse(url: string, base?: string): boolean;
  href: string;
  readonly origin: string;
  protocol: string;
  username: string;
  password: string;
  host: string;
  hostname: string;
  port: string;
  pathname: string;
  search: string;
  readonly searchParams: URLSearchParams;
  hash: string;
  toJSON(): string;
  toString(): string;
}

declare class URLSearchParams implements Iterable<[string, string]> {
  constructor(init?: string | Record<string, string> | Iterable<[string, string]>);
  readonly size: number;
  append(name: string, value: string): void;
  delete(name: string, value?: string): void;
  get(name: string): string | null;
  getAll(name: string): string[];
  has(name: string, value?: string): boolean;
  set(name: string, value: string): void;
  sort(): void;
  forEach(callback: (value: string, name: string, params: URLSearchParams) => void): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
  toString(): string;
}

declare function atob(data: string): string;
declare function btoa(data: string): string;
/**
 * The HTML Standard's structured clone, into this realm's own kinds (a `Map` comes back a
 * `Map`). Throws a "DataCloneError" DOMException for functions, symbols, weak collections,
 * promises and the web API classes. `transfer` must be empty: Node 20's V8 cannot detach an
 * ArrayBuffer.
 */
declare function structuredClone<T>(value: T, options?: { transfer?: ArrayBuffer[] }): T;

declare class DOMException extends Error {
  constructor(message?: string, name?: string);
  readonly code: number;
}

type BufferSource = ArrayBuffer | ArrayBufferView;
type AlgorithmIdentifier = string | { name: string; [parameter: string]: unknown };

declare class CryptoKey {
  private constructor();
  readonly type: "secret" | "public" | "private";
  readonly extractable: boolean;
  readonly algorithm: { name: string; [parameter: string]: unknown };
  readonly usages: string[];
}

interface SubtleCrypto {
  /** SHA-1, SHA-256, SHA-384, SHA-512. */
  digest(algorithm: AlgorithmIdentifier, data: BufferSource): Promise<ArrayBuffer>;
  /** As in Web Crypto; tested: HMAC (SHA-1/256/512) "raw" keys and Ed25519 "raw"/"spki"/"jwk" keys. */
  importKey(
    format: "raw" | "spki" | "pkcs8" | "jwk",
    keyData: BufferSource | Record<string, unknown>,
    algorithm: AlgorithmIdentifier,
    extractable: boolean,
    usages: ("sign" | "verify" | "encrypt" | "decrypt" | "deriveBits" | "deriveKey")[],
  ): Promise<CryptoKey>;
  sign(algorithm: AlgorithmIdentifier, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer>;
  verify(
    algorithm: AlgorithmIdentifier,
    key: CryptoKey,
    signature: BufferSource,
    data: BufferSource,
  ): Promise<boolean>;
  /** Compares two buffers of the same length in constant time; throws if the lengths differ. */
  timingSafeEqual(a: BufferSource, b: BufferSource): boolean;
}

declare var crypto: {
  readonly subtle: SubtleCrypto;
  getRandomValues<
    T extends
      | Int8Array
      | Uint8Array
      | Uint8ClampedArray
      | Int16Array
      | Uint16Array
      | Int32Array
      | Uint32Array
      | BigInt64Array
      | BigUint64Array,
  >(
    array: T,
  ): T;
  randomUUID(): string;
};

type BodyInit = string | ArrayBuffer | ArrayBufferView | URLSearchParams | null;

interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit;
  redirect?: "follow" | "manual" | "error";
}

declare class Request {
  constructor(input: string | URL | Request, init?: RequestInit);
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly redirect: string;
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<any>;
  clone(): Request;
}

/**
 * Fetch from a host in the project's `allow_net`; private and loopback addresses are refused.
 * Request and response bodies are whole (no streams), each at most ISOHOOK_MAX_BODY_BYTES.
 */
declare function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
