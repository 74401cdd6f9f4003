/**
 * Random bytes from the system's CSPRNG, drawn in blocks: asking for a few bytes at a time
 * costs a system call each, and ids and session seeds are made on every request.
 */
import { randomFillSync } from "node:crypto";

const BLOCK_BYTES = 16 * 1024;

let block = Buffer.alloc(0);
let offset = 0;

/** `length` random bytes, in a buffer of their own. */
export function randomBytesPooled(length: number): Uint8Array {
  if (length > BLOCK_BYTES) return randomFillSync(new Uint8Array(length));
  if (offset + length > block.length) {
    block = randomFillSync(Buffer.allocUnsafe(BLOCK_BYTES));
    offset = 0;
  }
  const out = new Uint8Array(length);
  out.set(block.subarray(offset, offset + length));
  // Used bytes are never handed out again.
  block.fill(0, offset, offset + length);
  offset += length;
  return out;
}

/** A float in [0, 1) from the pool, for generators that take one (ULID's). */
export function randomFloat(): number {
  const bytes = randomBytesPooled(6);
  let value = 0;
  for (const byte of bytes) value = value * 256 + byte;
  return value / 2 ** 48;
}
