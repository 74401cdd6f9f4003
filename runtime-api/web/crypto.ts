/**
 * `crypto`: `getRandomValues` and `randomUUID` from the session's own random numbers, and
 * `crypto.subtle` carried across to the host's Web Crypto (Node's `crypto.webcrypto`), so the
 * algorithms behave exactly as the standard says. Keys stay in the host; a `CryptoKey` here
 * holds only a handle that is good for its own session.
 *
 * `crypto.subtle.timingSafeEqual(a, b)` compares two buffers in time that depends only on
 * their length, as in Cloudflare Workers.
 */
import type { AlgorithmSpec, KeyInfo } from "../../sandbox/protocol";
import type { SessionRegistry } from "../sessions";
import { DOMException } from "./dom-exception";

const { entries, fromEntries } = Object;
const MAX_RANDOM_BYTES = 65536;
const INTEGER_ARRAYS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  BigInt64Array,
  BigUint64Array,
];
const ILLEGAL = Symbol("isohook.crypto-key");
const handles = new WeakMap<CryptoKey, number>();

export class CryptoKey {
  readonly #info: KeyInfo;

  constructor(token: symbol, info: KeyInfo) {
    if (token !== ILLEGAL) throw new TypeError("Illegal constructor");
    this.#info = info;
    handles.set(this, info.handle);
  }

  get type(): string {
    return this.#info.type;
  }

  get extractable(): boolean {
    return this.#info.extractable;
  }

  get algorithm(): Record<string, unknown> {
    return { ...this.#info.algorithm };
  }

  get usages(): string[] {
    return [...this.#info.usages];
  }

  get [Symbol.toStringTag](): string {
    return "CryptoKey";
  }
}

export function createCrypto(registry: SessionRegistry) {
  const call = registry.callHostAsync.bind(registry);

  const subtle = {
    async digest(algorithm: unknown, data: unknown): Promise<ArrayBuffer> {
      const session = registry.current("crypto.subtle.digest");
      return toArrayBuffer(
        await call(session, "crypto_digest", [toAlgorithm(algorithm), bytesOf(data, "data")]),
      );
    },

    async importKey(
      format: unknown,
      keyData: unknown,
      algorithm: unknown,
      extractable: unknown,
      usages: unknown,
    ): Promise<CryptoKey> {
      const session = registry.current("crypto.subtle.importKey");
      const data = format === "jwk" ? plainCopy(keyData) : bytesOf(keyData, "keyData");
      const info = await call(session, "crypto_import_key", [
        String(format),
        data as Uint8Array | Record<string, unknown>,
        toAlgorithm(algorithm),
        Boolean(extractable),
        Array.from(usages as Iterable<unknown>, String),
      ]);
      return new CryptoKey(ILLEGAL, info);
    },

    async sign(algorithm: unknown, key: unknown, data: unknown): Promise<ArrayBuffer> {
      const session = registry.current("crypto.subtle.sign");
      return toArrayBuffer(
        await call(session, "crypto_sign", [
          toAlgorithm(algorithm),
          handleOf(key),
          bytesOf(data, "data"),
        ]),
      );
    },

    async verify(
      algorithm: unknown,
      key: unknown,
      signature: unknown,
      data: unknown,
    ): Promise<boolean> {
      const session = registry.current("crypto.subtle.verify");
      return call(session, "crypto_verify", [
        toAlgorithm(algorithm),
        handleOf(key),
        bytesOf(signature, "signature"),
        bytesOf(data, "data"),
      ]);
    },

    timingSafeEqual(a: unknown, b: unknown): boolean {
      const left = bytesOf(a, "a");
      const right = bytesOf(b, "b");
      if (left.length !== right.length) {
        throw new TypeError(
          "crypto.subtle.timingSafeEqual: the two buffers must have the same length",
        );
      }
      let difference = 0;
      for (let i = 0; i < left.length; i++) difference |= left[i]! ^ right[i]!;
      return difference === 0;
    },
  };

  return {
    subtle,

    getRandomValues<T extends ArrayBufferView>(array: T): T {
      const session = registry.current("crypto.getRandomValues");
      if (!INTEGER_ARRAYS.some((type) => array instanceof type)) {
        throw new DOMException(
          "crypto.getRandomValues: the array must be an integer typed array",
          "TypeMismatchError",
        );
      }
      if (array.byteLength > MAX_RANDOM_BYTES) {
        throw new DOMException(
          `crypto.getRandomValues: at most ${MAX_RANDOM_BYTES} bytes at once`,
          "QuotaExceededError",
        );
      }
      session.random.fill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
      return array;
    },

    randomUUID(): string {
      const session = registry.current("crypto.randomUUID");
      const bytes = new Uint8Array(16);
      session.random.fill(bytes);
      bytes[6] = (bytes[6]! & 0x0f) | 0x40;
      bytes[8] = (bytes[8]! & 0x3f) | 0x80;
      const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  };
}

function handleOf(key: unknown): number {
  const handle = key instanceof CryptoKey ? handles.get(key) : undefined;
  if (handle === undefined)
    throw new TypeError("crypto.subtle: key must be a CryptoKey from crypto.subtle.importKey");
  return handle;
}

/** A copy of a BufferSource's bytes. */
function bytesOf(value: unknown, what: string): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value))
    return new Uint8Array(
      value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength),
    );
  throw new TypeError(`crypto.subtle: ${what} must be an ArrayBuffer or a view of one`);
}

/** An algorithm as plain data, its buffers copied to bytes, ready to cross to the host. */
function toAlgorithm(algorithm: unknown): AlgorithmSpec {
  if (typeof algorithm === "string") return algorithm;
  if (algorithm === null || typeof algorithm !== "object") {
    throw new TypeError("crypto.subtle: algorithm must be a name or an object with a name");
  }
  return plainCopy(algorithm) as Record<string, unknown>;
}

/** A copy made only of what can cross to the host: plain data and bytes. */
function plainCopy(value: unknown, depth = 0): unknown {
  if (depth > 8) throw new TypeError("crypto.subtle: a parameter is nested too deeply");
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value))
    return bytesOf(value, "a parameter");
  if (Array.isArray(value)) return value.map((item) => plainCopy(item, depth + 1));
  if (value !== null && typeof value === "object") {
    // own properties, whatever their names: assigning `__proto__` would set the prototype
    return fromEntries(
      entries(value).map(([key, entry]) => [key, plainCopy(entry, depth + 1)] as const),
    );
  }
  const type = typeof value;
  if (
    value === null ||
    value === undefined ||
    type === "string" ||
    type === "number" ||
    type === "boolean"
  ) {
    return value;
  }
  throw new TypeError(`crypto.subtle: a parameter cannot be a ${type}`);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
