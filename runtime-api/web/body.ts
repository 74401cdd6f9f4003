/**
 * The body of a `Request` or `Response`: extracted from what the caller gave (the Fetch
 * Standard's "extract a body"), kept as bytes, and readable once.
 *
 * TODO: ReadableStream bodies and Blob/FormData; the sandbox has no streams yet.
 */
import { TextDecoder, TextEncoder } from "../encoding";
import { URLSearchParams } from "./url";

export type BodyInit = string | ArrayBuffer | ArrayBufferView | URLSearchParams | null;

const encoder = new TextEncoder();

/** The bytes of a body and the Content-Type it implies, if any. */
export function extractBody(body: unknown): { bytes: Uint8Array; contentType: string | null } {
  if (typeof body === "string") {
    return { bytes: encoder.encode(body), contentType: "text/plain;charset=UTF-8" };
  }
  if (body instanceof ArrayBuffer)
    return { bytes: new Uint8Array(body.slice(0)), contentType: null };
  if (ArrayBuffer.isView(body)) {
    const source = body as ArrayBufferView;
    const view = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return { bytes: view.slice(), contentType: null };
  }
  if (body instanceof URLSearchParams) {
    return {
      bytes: encoder.encode(body.toString()),
      contentType: "application/x-www-form-urlencoded;charset=UTF-8",
    };
  }
  return { bytes: encoder.encode(String(body)), contentType: "text/plain;charset=UTF-8" };
}

/** Bytes that can be read once; `null` is no body at all. */
export class Body {
  #bytes: Uint8Array | null;
  #used = false;

  constructor(bytes: Uint8Array | null) {
    this.#bytes = bytes;
  }

  get used(): boolean {
    return this.#used;
  }

  get isNull(): boolean {
    return this.#bytes === null;
  }

  /** The bytes, without reading them (for sending, copying). */
  peek(): Uint8Array {
    return this.#bytes === null ? new Uint8Array(0) : this.#bytes.slice();
  }

  clone(what: string): Body {
    if (this.#used) throw new TypeError(`${what}.clone: the body was already read`);
    return new Body(this.#bytes === null ? null : this.#bytes.slice());
  }

  consume(what: string): Uint8Array {
    if (this.#used) throw new TypeError(`${what}: the body was already read`);
    if (this.#bytes === null) return new Uint8Array(0);
    this.#used = true;
    const bytes = this.#bytes;
    this.#bytes = new Uint8Array(0);
    return bytes;
  }
}

/** The body readers Request and Response share. */
export const read = {
  async arrayBuffer(body: Body, what: string): Promise<ArrayBuffer> {
    const bytes = body.consume(`${what}.arrayBuffer`);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  },
  async bytes(body: Body, what: string): Promise<Uint8Array> {
    return body.consume(`${what}.bytes`).slice();
  },
  async text(body: Body, what: string): Promise<string> {
    return new TextDecoder().decode(body.consume(`${what}.text`));
  },
  async json(body: Body, what: string): Promise<unknown> {
    return JSON.parse(new TextDecoder().decode(body.consume(`${what}.json`)));
  },
};
