/**
 * Keeping secret vars out of logs. Every string that goes into a session log or the server
 * log passes through `redact`, which replaces each secret value with "<secret>", wherever it
 * appears, including inside longer text such as a printed line.
 */

export const SECRET_PLACEHOLDER = "<secret>";

export class Redactor {
  /** Longest first, so a secret containing another is replaced whole. */
  readonly #secrets: string[];

  constructor(secretValues: Iterable<string>) {
    this.#secrets = [...new Set(secretValues)]
      .filter((s) => s.length > 0)
      .sort((a, b) => b.length - a.length);
  }

  get empty(): boolean {
    return this.#secrets.length === 0;
  }

  text(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (out.includes(secret)) out = out.split(secret).join(SECRET_PLACEHOLDER);
    }
    return out;
  }

  /** A copy of `value` with every string in it redacted. */
  value<T>(value: T): T {
    if (this.empty) return value;
    return this.#walk(value) as T;
  }

  #walk(value: unknown): unknown {
    if (typeof value === "string") return this.text(value);
    if (Array.isArray(value)) return value.map((v) => this.#walk(v));
    if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.#walk(v)]));
    }
    return value;
  }
}
