/**
 * Keeping secret vars out of logs. Every string that goes into a session log or the server
 * log passes through `text`, which replaces each secret with "<secret>" wherever it appears:
 * as it is, lower-cased or upper-cased, and in the forms printing produces (see
 * `secretForms`), as the list of its UTF-8 bytes a printed byte array shows, and cut short
 * where a printer marked the cut with an ellipsis. `bytes` does the same in binary data.
 *
 * This guards against printing a secret by accident. A script that means to leak a secret it
 * can read can always encode it some other way; the README says so.
 */
import { byteLists } from "./byte-lists";
import { cutShort, headStart, type Span } from "./cut-forms";
import { secretForms } from "./secret-forms";

export const SECRET_PLACEHOLDER = "<secret>";

/** A form of a secret, as the redactor looks for it; anchors by their place in its list. */
interface Form {
  text: string;
  anchor: number;
  head: { chars: number; anchor: number; bytes: number } | null;
  tail: { chars: number; anchor: number } | null;
  /** The form's UTF-8 bytes, and the same as a latin1 string to look for in byte lists. */
  bytes: Buffer;
  latin1: string;
}

/**
 * A form shorter than this (other than a secret itself) would match too much that is not the
 * secret; so would a shorter list of byte values.
 */
const MIN_FORM_CHARS = 4;

export class Redactor {
  /** Every form of every secret, longest first, so a form containing another goes whole. */
  readonly #forms: Form[];
  /** What the forms contain, each once; a text without an anchor holds none of its forms. */
  readonly #anchors: string[];
  /** The same as the latin1 text of their UTF-8, to look for in bytes and byte lists. */
  readonly #byteAnchors: string[];
  /** The forms that can be recognised cut short. */
  readonly #cuttable: Form[];
  /** The forms long enough to look for in a list of byte values. */
  readonly #byteForms: Form[];
  /** The fewest values a list must hold to hold one of those forms, whole or cut. */
  readonly #minByteValues: { whole: number; cut: number };

  constructor(secretValues: Iterable<string>) {
    const secrets = [...new Set(secretValues)].filter((s) => s.length > 0);
    const forms = new Map<string, Form>();
    const anchors = new Map<string, number>();
    const anchor = (text: string) => {
      if (!anchors.has(text)) anchors.set(text, anchors.size);
      return anchors.get(text)!;
    };
    for (const secret of secrets) {
      for (const { text, head, tail, ...form } of secretForms(secret)) {
        if (forms.has(text)) continue;
        if (text.length < MIN_FORM_CHARS && text !== secret) continue;
        const bytes = Buffer.from(text, "utf8");
        forms.set(text, {
          text,
          anchor: anchor(form.anchor),
          head:
            head === null
              ? null
              : {
                  chars: head.chars,
                  anchor: anchor(head.anchor),
                  bytes: Buffer.byteLength(text.slice(0, head.chars)),
                },
          tail: tail === null ? null : { chars: tail.chars, anchor: anchor(tail.anchor) },
          bytes,
          latin1: bytes.toString("latin1"),
        });
      }
    }
    this.#forms = [...forms.values()].sort((a, b) => b.text.length - a.text.length);
    this.#anchors = [...anchors.keys()];
    this.#byteAnchors = this.#anchors.map((a) => Buffer.from(a, "utf8").toString("latin1"));
    this.#cuttable = this.#forms.filter((f) => f.head !== null || f.tail !== null);
    this.#byteForms = this.#forms.filter((f) => f.bytes.length >= MIN_FORM_CHARS);
    this.#minByteValues = {
      whole: Math.min(...this.#byteForms.map((f) => f.bytes.length)),
      cut: Math.min(...this.#byteForms.map((f) => f.head?.bytes ?? Infinity)),
    };
  }

  get empty(): boolean {
    return this.#forms.length === 0;
  }

  text(text: string): string {
    if (this.empty) return text;
    let out = text;

    // a text without an anchor holds none of the forms that contain it
    const anchors = new AnchorsIn(this.#anchors, (anchor) => text.includes(anchor));
    for (const form of this.#forms) {
      if (anchors.has(form.anchor) && out.includes(form.text)) {
        out = out.split(form.text).join(SECRET_PLACEHOLDER);
      }
    }

    out = replaceSpans(out, this.#inByteLists(out));
    if (out.includes("...") || out.includes("…")) {
      const forms = this.#cuttable.filter(
        (f) =>
          (f.head !== null && anchors.has(f.head.anchor)) ||
          (f.tail !== null && anchors.has(f.tail.anchor)),
      );
      if (forms.length > 0) out = replaceSpans(out, cutShort(out, forms));
    }
    return out;
  }

  /** `bytes` with the UTF-8 bytes of each form of each secret replaced by the placeholder's. */
  bytes(bytes: Buffer): Buffer {
    let out = bytes;
    const placeholder = Buffer.from(SECRET_PLACEHOLDER);
    const anchors = new AnchorsIn(this.#byteAnchors, (anchor) =>
      bytes.includes(anchor, 0, "latin1"),
    );
    for (const { bytes: secret, anchor } of this.#forms) {
      if (!anchors.has(anchor)) continue;
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

  /**
   * A copy of `value` with every string in it redacted, keys included: a caller or a script
   * chooses the names of headers, query parameters and fields as freely as their values.
   */
  value<T>(value: T): T {
    if (this.empty) return value;
    return this.#walk(value) as T;
  }

  #walk(value: unknown): unknown {
    if (typeof value === "string") return this.text(value);
    if (Array.isArray(value)) return value.map((v) => this.#walk(v));
    if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
      // fromEntries defines each key as an own property, `__proto__` too
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [this.text(k), this.#walk(v)]),
      );
    }
    return value;
  }

  /** The spans of `text` where a printed list of byte values holds a form's bytes. */
  #inByteLists(text: string): Span[] {
    const spans: Span[] = [];
    for (const list of byteLists(text, this.#minByteValues)) {
      const { bytes, cut } = list;
      const anchors = new AnchorsIn(this.#byteAnchors, (anchor) => bytes.includes(anchor));
      for (const { latin1, anchor, head } of this.#byteForms) {
        if (latin1.length <= bytes.length && anchors.has(anchor)) {
          for (let at = bytes.indexOf(latin1); at !== -1; at = bytes.indexOf(latin1, at + 1)) {
            spans.push(list.span(at, at + latin1.length));
          }
        }
        if (cut && head !== null && anchors.has(head.anchor)) {
          const at = headStart(bytes, bytes.length, latin1, head.bytes);
          if (at !== -1) spans.push(list.span(at, bytes.length));
        }
      }
    }
    return spans;
  }
}

/** Which anchors a text (or bytes) holds, each looked for once, when first asked about. */
class AnchorsIn {
  readonly #anchors: string[];
  readonly #holds: (anchor: string) => boolean;
  /** 0: not looked for yet, 1: there, 2: not there. */
  readonly #found: Uint8Array;

  constructor(anchors: string[], holds: (anchor: string) => boolean) {
    this.#anchors = anchors;
    this.#holds = holds;
    this.#found = new Uint8Array(anchors.length);
  }

  has(anchor: number): boolean {
    if (this.#found[anchor] === 0)
      this.#found[anchor] = this.#holds(this.#anchors[anchor]!) ? 1 : 2;
    return this.#found[anchor] === 1;
  }
}

/** `text` with each span, merged where they overlap, replaced by the placeholder. */
function replaceSpans(text: string, spans: Span[]): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = "";
  let from = 0;
  for (const [start, end] of spans) {
    if (end <= from) continue;
    if (start >= from) out += text.slice(from, start) + SECRET_PLACEHOLDER;
    from = end;
  }
  return out + text.slice(from);
}
