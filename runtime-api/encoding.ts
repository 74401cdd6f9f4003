/**
 * `TextEncoder` and `TextDecoder` for UTF-8, following the WHATWG Encoding Standard:
 * lone surrogates encode as U+FFFD, invalid input decodes to U+FFFD (or throws when
 * `fatal`), a leading BOM is dropped unless `ignoreBOM`, and `stream: true` keeps a split
 * sequence for the next call. Tested against Node's own implementation.
 *
 * Only UTF-8 is offered; other labels throw a RangeError, as Deno does for labels it lacks.
 */

const UTF8_LABELS = new Set([
  "unicode-1-1-utf-8",
  "unicode11utf8",
  "unicode20utf8",
  "utf-8",
  "utf8",
  "x-unicode20utf8",
]);

const REPLACEMENT = 0xfffd;
const CHUNK = 0x2000;
const fromCharCode = String.fromCharCode;

export class TextEncoder {
  get encoding(): string {
    return "utf-8";
  }

  encode(input: string = ""): Uint8Array {
    const text = String(input);
    const out = new Uint8Array(text.length * 3);
    return out.subarray(0, encodeInto(text, out).written);
  }

  encodeInto(source: string, destination: Uint8Array): { read: number; written: number } {
    if (!(destination instanceof Uint8Array)) {
      throw new TypeError("TextEncoder.encodeInto: destination must be a Uint8Array");
    }
    return encodeInto(String(source), destination);
  }
}

function encodeInto(text: string, out: Uint8Array): { read: number; written: number } {
  let read = 0;
  let written = 0;
  const length = text.length;
  while (read < length) {
    let code = text.charCodeAt(read);
    let units = 1;
    if (code >= 0xd800 && code <= 0xdbff && read + 1 < length) {
      const next = text.charCodeAt(read + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        units = 2;
      }
    }
    if (code >= 0xd800 && code <= 0xdfff) code = REPLACEMENT;

    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (written + size > out.length) break;
    if (size === 1) {
      out[written] = code;
    } else if (size === 2) {
      out[written] = 0xc0 | (code >> 6);
      out[written + 1] = 0x80 | (code & 0x3f);
    } else if (size === 3) {
      out[written] = 0xe0 | (code >> 12);
      out[written + 1] = 0x80 | ((code >> 6) & 0x3f);
      out[written + 2] = 0x80 | (code & 0x3f);
    } else {
      out[written] = 0xf0 | (code >> 18);
      out[written + 1] = 0x80 | ((code >> 12) & 0x3f);
      out[written + 2] = 0x80 | ((code >> 6) & 0x3f);
      out[written + 3] = 0x80 | (code & 0x3f);
    }
    written += size;
    read += units;
  }
  return { read, written };
}

/**
 * The size of `text` in UTF-8 without encoding it, by `encodeInto`'s rules: a surrogate pair
 * is 4 bytes, a lone surrogate 3 (it becomes U+FFFD).
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Any UTF-16 code unit past ASCII (surrogates included). */
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Whether `text` takes more than `limit` bytes in UTF-8. A character takes one to three bytes
 * (a surrogate pair four, for its two), so the text is counted only when its length leaves
 * the answer open, and not at all when it is ASCII: a native scan says so far faster than
 * counting (about 10 ms for 10 MiB, against 70).
 */
export function utf8LongerThan(text: string, limit: number): boolean {
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false;
  return NON_ASCII.test(text) && utf8Length(text) > limit;
}

export class TextDecoder {
  readonly #fatal: boolean;
  readonly #ignoreBOM: boolean;
  // Decoder state, kept between calls with `stream: true`.
  #codePoint = 0;
  #bytesSeen = 0;
  #bytesNeeded = 0;
  #lower = 0x80;
  #upper = 0xbf;
  #bomChecked = false;
  /** Set when the last error came from a byte that may start a new sequence. */
  #isContinuationError = false;

  constructor(label: string = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    const normalized = String(label).trim().toLowerCase();
    if (!UTF8_LABELS.has(normalized)) {
      throw new RangeError(`TextDecoder: encoding "${label}" is not supported; only utf-8 is`);
    }
    this.#fatal = Boolean(options?.fatal);
    this.#ignoreBOM = Boolean(options?.ignoreBOM);
  }

  get encoding(): string {
    return "utf-8";
  }

  get fatal(): boolean {
    return this.#fatal;
  }

  get ignoreBOM(): boolean {
    return this.#ignoreBOM;
  }

  decode(input?: ArrayBuffer | ArrayBufferView, options: { stream?: boolean } = {}): string {
    const bytes = toBytes(input);
    const stream = Boolean(options?.stream);
    const units: number[] = [];
    let text = "";

    for (let i = 0; i < bytes.length; i++) {
      const result = this.#step(bytes[i]!);
      if (result === ERROR) {
        this.#emitError(units);
        // The byte that broke a sequence starts over as the first of a new one.
        if (this.#isContinuationError) i--;
      } else if (result !== CONTINUE) {
        this.#emit(units, result);
      }
      if (units.length >= CHUNK) {
        text += fromCharCode(...units);
        units.length = 0;
      }
    }
    if (!stream) {
      if (this.#bytesNeeded !== 0) {
        this.#reset();
        this.#emitError(units);
      }
      this.#bomChecked = false;
    }
    return text + fromCharCode(...units);
  }

  #step(byte: number): number {
    this.#isContinuationError = false;
    if (this.#bytesNeeded === 0) {
      if (byte <= 0x7f) return byte;
      if (byte >= 0xc2 && byte <= 0xdf) {
        this.#bytesNeeded = 1;
        this.#codePoint = byte & 0x1f;
      } else if (byte >= 0xe0 && byte <= 0xef) {
        if (byte === 0xe0) this.#lower = 0xa0;
        if (byte === 0xed) this.#upper = 0x9f;
        this.#bytesNeeded = 2;
        this.#codePoint = byte & 0x0f;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        if (byte === 0xf0) this.#lower = 0x90;
        if (byte === 0xf4) this.#upper = 0x8f;
        this.#bytesNeeded = 3;
        this.#codePoint = byte & 0x07;
      } else {
        return ERROR;
      }
      return CONTINUE;
    }
    if (byte < this.#lower || byte > this.#upper) {
      this.#reset();
      this.#isContinuationError = true;
      return ERROR;
    }
    this.#lower = 0x80;
    this.#upper = 0xbf;
    this.#codePoint = (this.#codePoint << 6) | (byte & 0x3f);
    this.#bytesSeen++;
    if (this.#bytesSeen !== this.#bytesNeeded) return CONTINUE;
    const codePoint = this.#codePoint;
    this.#reset();
    return codePoint;
  }

  #reset(): void {
    this.#codePoint = 0;
    this.#bytesSeen = 0;
    this.#bytesNeeded = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }

  #emitError(units: number[]): void {
    if (this.#fatal) {
      this.#reset();
      this.#bomChecked = false;
      throw new TypeError("TextDecoder: the encoded data is not valid utf-8");
    }
    this.#emit(units, REPLACEMENT);
  }

  #emit(units: number[], codePoint: number): void {
    if (!this.#bomChecked) {
      this.#bomChecked = true;
      if (codePoint === 0xfeff && !this.#ignoreBOM) return;
    }
    if (codePoint > 0xffff) {
      const offset = codePoint - 0x10000;
      units.push(0xd800 + (offset >> 10), 0xdc00 + (offset & 0x3ff));
    } else {
      units.push(codePoint);
    }
  }
}

const ERROR = -1;
const CONTINUE = -2;

function toBytes(input: ArrayBuffer | ArrayBufferView | undefined): Uint8Array {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  }
  throw new TypeError("TextDecoder.decode: input must be an ArrayBuffer or a view of one");
}
