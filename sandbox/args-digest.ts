/**
 * What tells, in a durable session's replay, whether an async call is the one its journal
 * answered. The server computes it as it journals an answer, the sandbox process as the
 * replay makes the call again; so it depends on the arguments' values only (byte arrays by
 * their bytes, not the buffer they view), and on nothing else either side holds.
 */
import { createHash, type Hash } from "node:crypto";

/** A digest of an async call's arguments. */
export function argsDigest(args: unknown): string {
  const hash = createHash("sha256");
  feed(hash, args, 0);
  return hash.digest("base64url");
}

function feed(hash: Hash, value: unknown, depth: number): void {
  if (depth > 64) return void hash.update("…");
  if (value instanceof Uint8Array) {
    hash.update(`b${value.byteLength}:`);
    return void hash.update(value);
  }
  if (Array.isArray(value)) {
    hash.update(`a${value.length}[`);
    for (const item of value) feed(hash, item, depth + 1);
    return void hash.update("]");
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    hash.update(`o${entries.length}{`);
    for (const [key, item] of entries) {
      hash.update(JSON.stringify(key));
      feed(hash, item, depth + 1);
    }
    return void hash.update("}");
  }
  hash.update(`${typeof value}:${JSON.stringify(value) ?? String(value)};`);
}
