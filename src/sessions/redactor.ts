/**
 * Keeping secret vars out of logs. Every string that goes into a session log or the server
 * log passes through `text`, which replaces each secret value with "<secret>" wherever it
 * appears: as it is, and in the escaped forms printing produces (JSON, as `console.log` shows
 * strings in objects, URL-encoded). `bytes` does the same in binary data.
 *
 * This guards against printing a secret by accident. A script that means to leak a secret it
 * can read can always encode it some other way; the README says so.
 */

export const SECRET_PLACEHOLDER = "<secret>";

export class Redactor {
  /** Every form of every secret, longest first, so a form containing another goes whole. */
  readonly #forms: string[];
  readonly #bytes: Buffer[];

  constructor(secretValues: Iterable<string>) {
    const secrets = [...new Set(secretValues)].filter((s) => s.length > 0);
    const forms = new Set<string>();
    for (const secret of secrets) {
      forms.add(secret);
      forms.add(JSON.stringify(secret).slice(1, -1));
      forms.add(inspectEscaped(secret));
      forms.add(encodeURIComponent(secret));
    }
    this.#forms = [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
    this.#bytes = secrets.map((s) => Buffer.from(s, "utf8")).sort((a, b) => b.length - a.length);
  }

  get empty(): boolean {
    return this.#forms.length === 0;
  }

  text(text: string): string {
    let out = text;
    for (const form of this.#forms) {
      if (out.includes(form)) out = out.split(form).join(SECRET_PLACEHOLDER);
    }
    return out;
  }

  /** `bytes` with each secret's UTF-8 bytes replaced by the placeholder's. */
  bytes(bytes: Buffer): Buffer {
    let out = bytes;
    const placeholder = Buffer.from(SECRET_PLACEHOLDER);
    for (const secret of this.#bytes) {
      const parts: Buffer[] = [];
      let from = 0;
      for (let at = out.indexOf(secret); at !== -1; at = out.indexOf(secret, from)) {
        parts.push(out.subarray(from, at), placeholder);
        from = at + secret.length;
      }
      if (parts.length > 0) out = Buffer.concat([...parts, out.subarray(from)]);
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

const CONTROL_NAMES: Record<number, string> = { 8: "b", 9: "t", 10: "n", 12: "f", 13: "r" };

/** A string as `console.log` shows it inside an object (object-inspect's single quotes). */
function inspectEscaped(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  return text.replace(/(['\\])/g, "\\$1").replace(/[\x00-\x1f]/g, (c) => {
    const code = c.charCodeAt(0);
    return "\\" + (CONTROL_NAMES[code] ?? `x${code.toString(16).toUpperCase().padStart(2, "0")}`);
  });
}
