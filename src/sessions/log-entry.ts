/**
 * Bounding what a session log entry holds. Much of what a session logs comes from its code or
 * its callers (prints, call arguments, outcome headers), so every entry is cut to a size:
 * fields first, each to what it sensibly needs, then the whole entry, as its JSON is written,
 * to `MAX_LOG_ENTRY_BYTES`. Cutting comes after redaction, so no cut can leave half a secret
 * that the redactor would no longer recognise.
 */

/** The most a session log entry's `data` (its JSON, in UTF-8 bytes) may hold. */
export const MAX_LOG_ENTRY_BYTES = 64 * 1024;

/** How far `cutValue` keeps a value: characters of a string, entries of a list, nesting. */
export interface CutLimits {
  chars: number;
  items: number;
  depth: number;
}

const CUT_MARK = "… (cut)";
/** The first shape an entry too large for the bound is cut to; halved until it fits. */
const FIRST_FIT: CutLimits = { chars: MAX_LOG_ENTRY_BYTES / 2, items: 1000, depth: 16 };
const FIT_ATTEMPTS = 12;

/** Text cut to `max` characters, marked as cut. */
export function cut(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) + CUT_MARK : text;
}

/**
 * A copy of plain data (what JSON can hold) with each string, key, list and object cut to
 * `limits`. What goes is said where it went: a cut string ends in "… (cut)", a cut list ends
 * with a note of how many items went, a cut object has a "…" key.
 */
export function cutValue(value: unknown, limits: CutLimits, depth = 0): unknown {
  if (typeof value === "string") return cut(value, limits.chars);
  if (value === null || typeof value !== "object") return value;
  if (depth >= limits.depth) return CUT_MARK;
  if (Array.isArray(value)) {
    const kept: unknown[] = value
      .slice(0, limits.items)
      .map((item: unknown) => cutValue(item, limits, depth + 1));
    if (value.length > limits.items) kept.push(`… (${value.length - limits.items} more)`);
    return kept;
  }
  const entries = Object.entries(value);
  const kept = entries
    .slice(0, limits.items)
    .map(([key, item]) => [cut(key, limits.chars), cutValue(item, limits, depth + 1)]);
  if (entries.length > limits.items) kept.push(["…", `${entries.length - limits.items} more`]);
  // own properties, whatever their names: assigning `__proto__` would drop it
  return Object.fromEntries(kept);
}

/**
 * `data` as the JSON a log row keeps: at most `maxBytes` of UTF-8. Data over the bound is cut
 * with `cutValue`, ever shorter, until it fits; data that still does not fit (there is no
 * such shape in practice) is replaced by a note of its size.
 */
export function logJson(data: unknown, maxBytes = MAX_LOG_ENTRY_BYTES): string {
  const json = JSON.stringify(data);
  if (fits(json, maxBytes)) return json;
  let limits = FIRST_FIT;
  for (let attempt = 0; attempt < FIT_ATTEMPTS; attempt++) {
    const smaller = JSON.stringify(cutValue(data, limits));
    if (fits(smaller, maxBytes)) return smaller;
    limits = {
      chars: Math.floor(limits.chars / 2),
      items: Math.floor(limits.items / 2),
      depth: Math.max(1, Math.floor(limits.depth / 2)),
    };
  }
  return JSON.stringify({ cut: true, bytes: Buffer.byteLength(json) });
}

/** A UTF-16 unit takes at most 3 bytes of UTF-8 (a surrogate pair, 4 for its two). */
function fits(json: string, maxBytes: number): boolean {
  if (json.length * 3 <= maxBytes) return true;
  return json.length <= maxBytes && Buffer.byteLength(json) <= maxBytes;
}
