/**
 * Each session's random numbers: a ChaCha20 keystream (`@noble/ciphers`) keyed with 32 bytes
 * of the host's entropy given when the session starts. `crypto.getRandomValues`,
 * `crypto.randomUUID` and `Math.random` all draw from it, so no session can learn or predict
 * another's numbers, and none costs a call to the host.
 */
import { chacha20 } from "@noble/ciphers/chacha.js";

const BLOCK_BYTES = 1024;
const ZEROS = new Uint8Array(BLOCK_BYTES);

export class SessionRandom {
  readonly #key: Uint8Array;
  readonly #nonce = new Uint8Array(12);
  #counter = 0;
  #block = new Uint8Array(0);
  #offset = 0;

  constructor(seed: Uint8Array) {
    if (seed.length < 32) throw new Error("a session needs 32 bytes of entropy");
    this.#key = seed.slice(0, 32);
  }

  fill(target: Uint8Array): void {
    let written = 0;
    while (written < target.length) {
      if (this.#offset === this.#block.length) this.#refill();
      const take = Math.min(target.length - written, this.#block.length - this.#offset);
      target.set(this.#block.subarray(this.#offset, this.#offset + take), written);
      this.#offset += take;
      written += take;
    }
  }

  /** A float in [0, 1) with 53 random bits, as Math.random gives. */
  float(): number {
    const bytes = new Uint8Array(7);
    this.fill(bytes);
    let high = 0;
    for (let i = 0; i < 3; i++) high = high * 256 + bytes[i]!;
    let low = 0;
    for (let i = 3; i < 7; i++) low = low * 256 + bytes[i]!;
    // 21 bits from `high` (of 24), 32 from `low`: 53 bits in all.
    return ((high >>> 3) * 2 ** 32 + low) / 2 ** 53;
  }

  #refill(): void {
    // A fresh nonce per block; the key never repeats a nonce.
    new DataView(this.#nonce.buffer).setUint32(0, this.#counter++, true);
    this.#block = chacha20(this.#key, this.#nonce, ZEROS);
    this.#offset = 0;
  }
}
