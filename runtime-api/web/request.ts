/**
 * `Request`, following the Fetch Standard for what `fetch` needs: an absolute http(s) URL,
 * a method (normalised; CONNECT, TRACE and TRACK refused), headers, a body (none for GET and
 * HEAD) and the redirect mode.
 *
 * TODO: `signal` (AbortController) and `credentials`/`mode`/`cache`, which the sandbox has no
 * use for until it has streams and a cookie jar.
 */
import type { WireRequest } from "../../sandbox/protocol";
import { Body, extractBody, read, type BodyInit } from "./body";
import { Headers, type HeadersInit } from "./headers";
import { URL } from "./url";

export interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit;
  redirect?: "follow" | "manual" | "error";
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"]);
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const REDIRECT_MODES = new Set(["follow", "manual", "error"]);

export class Request {
  readonly #url: string;
  readonly #method: string;
  readonly #headers: Headers;
  readonly #redirect: "follow" | "manual" | "error";
  readonly #body: Body;

  constructor(input: string | URL | Request, init: RequestInit = {}) {
    const from = input instanceof Request ? input : null;
    const url = from !== null ? from.#url : parseUrl(String(input));
    const method = normalizeMethod(init.method ?? (from !== null ? from.#method : "GET"));
    const redirect = init.redirect ?? (from !== null ? from.#redirect : "follow");
    if (!REDIRECT_MODES.has(redirect))
      throw new TypeError(`Request: unknown redirect mode ${String(redirect)}`);
    this.#url = url;
    this.#method = method;
    this.#redirect = redirect;
    this.#headers = new Headers(init.headers ?? (from !== null ? from.#headers : undefined));

    const bodyInit = init.body;
    if (bodyInit !== undefined && bodyInit !== null) {
      if (method === "GET" || method === "HEAD")
        throw new TypeError(`Request: a ${method} request cannot have a body`);
      const { bytes, contentType } = extractBody(bodyInit);
      this.#body = new Body(bytes);
      if (contentType !== null && !this.#headers.has("content-type"))
        this.#headers.set("content-type", contentType);
    } else {
      this.#body =
        from !== null && init.body === undefined ? from.#body.clone("Request") : new Body(null);
    }
  }

  get url(): string {
    return this.#url;
  }

  get method(): string {
    return this.#method;
  }

  get headers(): Headers {
    return this.#headers;
  }

  get redirect(): string {
    return this.#redirect;
  }

  get bodyUsed(): boolean {
    return this.#body.used;
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return read.arrayBuffer(this.#body, "Request");
  }

  bytes(): Promise<Uint8Array> {
    return read.bytes(this.#body, "Request");
  }

  text(): Promise<string> {
    return read.text(this.#body, "Request");
  }

  json(): Promise<unknown> {
    return read.json(this.#body, "Request");
  }

  clone(): Request {
    return new Request(this);
  }

  get [Symbol.toStringTag](): string {
    return "Request";
  }

  /** The request as the host's `fetch` binding takes it; reads the body. */
  static toWire(request: Request): WireRequest {
    if (request.#body.used) throw new TypeError("fetch: the request's body was already read");
    return {
      url: request.#url,
      method: request.#method,
      headers: Headers.list(request.#headers),
      body: request.#body.isNull ? null : request.#body.consume("fetch"),
      redirect: request.#redirect,
    };
  }
}

function parseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`fetch: ${JSON.stringify(text)} is not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`fetch: only http and https URLs can be fetched, not ${url.protocol}`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(
      "fetch: a URL with a user name or password cannot be fetched; use an Authorization header",
    );
  }
  return url.href;
}

function normalizeMethod(method: string): string {
  const text = String(method);
  if (!TOKEN.test(text))
    throw new TypeError(`Request: ${JSON.stringify(text)} is not a valid method`);
  const upper = text.toUpperCase();
  if (FORBIDDEN_METHODS.has(upper))
    throw new TypeError(`Request: the method ${upper} is not allowed`);
  return NORMALIZED_METHODS.has(upper) ? upper : text;
}
