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
      for (const encoded of urlEncodings(secret)) forms.add(encoded);
      for (const encoded of base64Cores(secret)) forms.add(encoded);
    }
    // A form shorter than this would match too much that is not the secret.
    this.#forms = [...forms]
      .filter((f) => f.length >= MIN_FORM_CHARS || secrets.includes(f))
      .sort((a, b) => b.length - a.length);
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
const MIN_FORM_CHARS = 4;

/** The secret as URLs carry it: in a query (as `URL` writes it), a form, and a path. */
function urlEncodings(secret: string): string[] {
  const forms: string[] = [];
  try {
    forms.push(new URL(`http://x/?${secret}`).search.slice(1));
    forms.push(new URL(`http://x/${secret}`).pathname.slice(1));
  } catch {
    // Not every string survives a URL; the other forms still apply.
  }
  forms.push(new URLSearchParams({ s: secret }).toString().slice(2));
  return forms;
}

/**
 * The part of the secret's base64 (and base64url) that is the same wherever the secret sits
 * in what was encoded: for each of the three alignments, the groups made of its bytes alone.
 * This catches a secret inside an encoded whole, such as `Basic base64(user:secret)`.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const cores: string[] = [];
  for (let pad = 0; pad < 3; pad++) {
    const encoded = Buffer.concat([Buffer.alloc(pad), bytes])
      .toString("base64")
      .replace(/=+$/, "");
    const start = pad === 0 ? 0 : 4;
    const whole = Math.floor((pad + bytes.length) / 3) * 4;
    const core = encoded.slice(start, whole);
    if (core.length > 0) cores.push(core, core.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return cores;
}

/** A string as `console.log` shows it inside an object (object-inspect's single quotes). */
function inspectEscaped(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  return text.replace(/(['\\])/g, "\\$1").replace(/[\x00-\x1f]/g, (c) => {
    const code = c.charCodeAt(0);
    return "\\" + (CONTROL_NAMES[code] ?? `x${code.toString(16).toUpperCase().padStart(2, "0")}`);
  });
}
