/**
 * `Response`, following the Fetch Standard for what a handler needs: a body from a string or
 * bytes (kept as bytes), `status`/`statusText`/`headers`, the body readers (`text`, `json`,
 * `arrayBuffer`, `bytes`), `clone`, and the static `json`, `redirect` and `error`.
 *
 * TODO: `body` as a ReadableStream, and Blob/FormData bodies; add them with the streams
 * polyfill that `fetch` responses will need.
 */
import { TextDecoder, TextEncoder } from "../encoding";
import { Headers, type HeadersInit } from "./headers";

export type BodyInit = string | ArrayBuffer | ArrayBufferView | null;

export interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const encoder = new TextEncoder();

export class Response {
  #status: number;
  readonly #statusText: string;
  readonly #headers: Headers;
  #type: "default" | "error";
  #body: Uint8Array | null;
  #bodyUsed = false;

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
    this.#type = "default";
    this.#body = null;
    if (body === null || body === undefined) return;

    if (NULL_BODY_STATUSES.has(status)) {
      throw new TypeError(`Response: a response with status ${status} cannot have a body`);
    }
    const { bytes, contentType } = extractBody(body);
    this.#body = bytes;
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

  get type(): string {
    return this.#type;
  }

  get url(): string {
    return "";
  }

  get redirected(): boolean {
    return false;
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
    return this.#bodyUsed;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#consume("arrayBuffer");
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return this.#consume("bytes").slice();
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(this.#consume("text"));
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  clone(): Response {
    if (this.#bodyUsed) throw new TypeError("Response.clone: the body was already read");
    const copy = new Response(null, {
      status: this.#status,
      statusText: this.#statusText,
      headers: this.#headers,
    });
    copy.#body = this.#body === null ? null : this.#body.slice();
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
      body: response.#body === null ? new Uint8Array(0) : response.#body.slice(),
    };
  }

  #consume(method: string): Uint8Array {
    if (this.#bodyUsed) throw new TypeError(`Response.${method}: the body was already read`);
    if (this.#body === null) return new Uint8Array(0);
    this.#bodyUsed = true;
    return this.#body;
  }
}

function extractBody(body: unknown): { bytes: Uint8Array; contentType: string | null } {
  if (typeof body === "string") {
    return { bytes: encoder.encode(body), contentType: "text/plain;charset=UTF-8" };
  }
  if (body instanceof ArrayBuffer)
    return { bytes: new Uint8Array(body.slice(0)), contentType: null };
  if (ArrayBuffer.isView(body)) {
    const view = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    return { bytes: view.slice(), contentType: null };
  }
  return { bytes: encoder.encode(String(body)), contentType: "text/plain;charset=UTF-8" };
}
