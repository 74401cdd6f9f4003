/**
 * `Response`, following the Fetch Standard for what handlers and `fetch` need: a body from a
 * string, bytes or URLSearchParams (kept as bytes), `status`/`statusText`/`headers`, the body
 * readers (`text`, `json`, `arrayBuffer`, `bytes`), `clone`, and the static `json`,
 * `redirect` and `error`.
 */
import type { WireResponse } from "../../sandbox/protocol";
import { Body, extractBody, read, type BodyInit } from "./body";
import { Headers, type HeadersInit } from "./headers";

export interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

export class Response {
  #status: number;
  readonly #statusText: string;
  readonly #headers: Headers;
  #type: "default" | "basic" | "error" = "default";
  #url = "";
  #redirected = false;
  #body: Body;

  constructor(body: BodyInit | undefined = null, init: ResponseInit = {}) {
    const status = init.status === undefined ? 200 : Number(init.status);
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(
        `Response: status must be an integer from 200 to 599, got ${init.status}`,
      );
    }
    const statusText = init.statusText === undefined ? "" : String(init.statusText);
    if (!REASON_PHRASE.test(statusText)) {
      throw new TypeError("Response: statusText has a character not allowed in a reason phrase");
    }
    this.#status = status;
    this.#statusText = statusText;
    this.#headers = new Headers(init.headers);
    this.#body = new Body(null);
    if (body === null || body === undefined) return;

    if (NULL_BODY_STATUSES.has(status)) {
      throw new TypeError(`Response: a response with status ${status} cannot have a body`);
    }
    const { bytes, contentType } = extractBody(body);
    this.#body = new Body(bytes);
    if (contentType !== null && !this.#headers.has("content-type")) {
      this.#headers.set("content-type", contentType);
    }
  }

  static json(data: unknown, init: ResponseInit = {}): Response {
    const text = JSON.stringify(data);
    if (typeof text !== "string") throw new TypeError("Response.json: data cannot be serialized");
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(text, { ...init, headers });
  }

  static redirect(url: string | { href: string }, status = 302): Response {
    if (!REDIRECT_STATUSES.has(status)) {
      throw new RangeError(`Response.redirect: ${status} is not a redirect status`);
    }
    const location = typeof url === "string" ? url : url.href;
    return new Response(null, { status, headers: { location } });
  }

  /** A network error: status 0, which a handler cannot send as a response. */
  static error(): Response {
    const response = new Response();
    response.#type = "error";
    response.#status = 0;
    return response;
  }

  /** What `fetch` resolves with, built from the host's answer. */
  static fromWire(wire: WireResponse): Response {
    const hasBody = !NULL_BODY_STATUSES.has(wire.status);
    const response = new Response(null, {
      status: wire.status < 200 ? 200 : wire.status,
      statusText: wire.status_text,
      headers: wire.headers,
    });
    response.#status = wire.status;
    response.#body = new Body(hasBody ? wire.body : null);
    response.#type = "basic";
    response.#url = wire.url;
    response.#redirected = wire.redirected;
    return response;
  }

  get type(): string {
    return this.#type;
  }

  get url(): string {
    return this.#url;
  }

  get redirected(): boolean {
    return this.#redirected;
  }

  get status(): number {
    return this.#status;
  }

  get ok(): boolean {
    return this.#status >= 200 && this.#status <= 299;
  }

  get statusText(): string {
    return this.#statusText;
  }

  get headers(): Headers {
    return this.#headers;
  }

  get bodyUsed(): boolean {
    return this.#body.used;
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return read.arrayBuffer(this.#body, "Response");
  }

  bytes(): Promise<Uint8Array> {
    return read.bytes(this.#body, "Response");
  }

  text(): Promise<string> {
    return read.text(this.#body, "Response");
  }

  json(): Promise<unknown> {
    return read.json(this.#body, "Response");
  }

  clone(): Response {
    const copy = new Response(null, {
      status: 200,
      statusText: this.#statusText,
      headers: this.#headers,
    });
    copy.#status = this.#status;
    copy.#type = this.#type;
    copy.#url = this.#url;
    copy.#redirected = this.#redirected;
    copy.#body = this.#body.clone("Response");
    return copy;
  }

  get [Symbol.toStringTag](): string {
    return "Response";
  }

  /** Status, headers in the order set, and the body bytes, without consuming the body. */
  static parts(response: Response): {
    status: number;
    headers: [string, string][];
    body: Uint8Array;
  } {
    return {
      status: response.#status,
      headers: Headers.list(response.#headers),
      body: response.#body.peek(),
    };
  }
}
