/**
 * The host's side of `crypto.subtle`: Node's Web Crypto does the work, so algorithms behave as
 * the standard says. Keys a session imports stay here, in the session's own table; the
 * sandbox holds only their numbers.
 */
import { webcrypto } from "node:crypto";
import type { AlgorithmSpec, KeyInfo } from "../../sandbox";

type Key = webcrypto.CryptoKey;
type Algorithm = Parameters<typeof webcrypto.subtle.sign>[0];

/** Most keys one session may hold. */
const MAX_KEYS = 1000;

export class SessionKeys {
  readonly #keys = new Map<number, Key>();
  #next = 1;

  async digest(algorithm: AlgorithmSpec, data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await webcrypto.subtle.digest(algorithm as Algorithm, data));
  }

  async importKey(
    format: string,
    keyData: Uint8Array | Record<string, unknown>,
    algorithm: AlgorithmSpec,
    extractable: boolean,
    usages: string[],
    /** The handle a key had before a restart, to give it again (see `HostCalls.restoreKeys`). */
    handle = this.#next,
  ): Promise<KeyInfo> {
    if (this.#keys.size >= MAX_KEYS)
      throw new RangeError(`a session may hold at most ${MAX_KEYS} keys`);
    const key = await webcrypto.subtle.importKey(
      format as "raw",
      keyData as Uint8Array,
      algorithm as Algorithm,
      extractable,
      usages as webcrypto.KeyUsage[],
    );
    this.#next = Math.max(this.#next, handle + 1);
    this.#keys.set(handle, key);
    return {
      handle,
      type: key.type,
      algorithm: plain(key.algorithm),
      extractable: key.extractable,
      usages: [...key.usages],
    };
  }

  async sign(algorithm: AlgorithmSpec, handle: number, data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(
      await webcrypto.subtle.sign(algorithm as Algorithm, this.#key(handle), data),
    );
  }

  async verify(
    algorithm: AlgorithmSpec,
    handle: number,
    signature: Uint8Array,
    data: Uint8Array,
  ): Promise<boolean> {
    return webcrypto.subtle.verify(algorithm as Algorithm, this.#key(handle), signature, data);
  }

  clear(): void {
    this.#keys.clear();
  }

  #key(handle: number): Key {
    const key = this.#keys.get(handle);
    if (key === undefined) throw new TypeError("crypto.subtle: unknown key");
    return key;
  }
}

/** A key's algorithm as plain data (its `hash` is an object with a name). */
function plain(algorithm: webcrypto.KeyAlgorithm): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(algorithm)) {
    out[name] =
      value !== null && typeof value === "object" && !ArrayBuffer.isView(value)
        ? { ...value }
        : value;
  }
  return out;
}
