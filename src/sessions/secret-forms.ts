/**
 * The forms a secret takes when a program prints it by accident. Printing escapes a string in
 * a few ways (for JSON, inside quotes the way `console.log` and `util.inspect` show strings,
 * for a URL), and accidents stack two of them: the JSON of a JSON string, a JSON body shown
 * inside a logged object, a URL carried in another URL's query. So each form here is the
 * secret after at most two escapes, plus the base64 of the plainer ones. The redactor looks
 * for every form whole, and for its start or end where a printer cut it and wrote an ellipsis.
 *
 * The runtime changes a secret's case itself: header names are lower-cased, and so is a URL's
 * host. So all of this is done for the secret in lower case and in upper case too. Other
 * mixes of case are left alone; a script that means to show a secret can always change it.
 */

/** One way a secret can appear in printed text. */
export interface SecretForm {
  text: string;
  /**
   * A piece of `text` that other forms share, for a redactor to look for first: the longest run
   * of letters and digits in the secret (escapes leave them as they are) or in a base64 form
   * (base64 and base64url differ in other characters).
   */
  anchor: string;
  /** How a start of the form shows where a printer cut its end away; null: it is not looked for. */
  head: Cut | null;
  /** How an end of the form shows where a printer cut its start away. */
  tail: Cut | null;
}

export interface Cut {
  /** The fewest characters of the form that count as the secret. */
  chars: number;
  /** A piece of those characters that other forms share, as `anchor` is for the whole. */
  anchor: string;
}

type Escape = (text: string) => string;

/**
 * A cut secret is redacted when at least this many of its characters show. V8 shows about ten
 * characters after the point where `JSON.parse` failed, and a prefix of eight followed by an
 * ellipsis hardly ever occurs by chance; fewer would redact common words before "...", such as
 * a secret's `sk_live_`-style prefix that documentation prints.
 */
const MIN_CUT_CHARS = 8;
/**
 * The same for base64 (60 bits): V8 shows ten characters from the point where `JSON.parse`
 * failed, and that is the first character of most base64.
 */
const MIN_CUT_BASE64_CHARS = 10;
const CONTROL_NAMES: Record<number, string> = { 8: "b", 9: "t", 10: "n", 12: "f", 13: "r" };

/**
 * Each escape keeps letters and digits as they are and escapes characters one by one, so the
 * escape of a secret's start is, but for rare cases that `secretForms` checks, the start of
 * the escaped secret.
 */
const ESCAPES: Escape[] = [
  jsonEscaped,
  // JSON as writers that keep to ASCII produce it (Python's default, among others)
  (text) => jsonEscaped(text).replace(/[^\0-\x7f]/g, unicodeEscape),
  // strings as object-inspect and util.inspect show them, in each kind of quotes
  (text) => inspectEscaped(text, null),
  (text) => inspectEscaped(text, "'"),
  (text) => inspectEscaped(text, '"'),
  (text) => inspectEscaped(text, "`"),
  encodeURIComponent,
  encodeURI,
  (text) => new URLSearchParams({ s: text }).toString().slice(2),
  // as a URL made by pasting the secret in shows it, with the rest of it after the secret
  queryPasted,
  (text) => urlTail(text, "http://x/"),
  (text) => urlTail(text, "http://x/#"),
];

/** The escapes applied for forms of two layers: the escape of an escape. */
const TWO_LAYERS: Escape[] = ESCAPES.flatMap((inner) =>
  ESCAPES.map((outer) => (text: string) => outer(inner(text))),
);

/** The forms whose base64 is plausible too: `Basic` headers, JSON and URLs in base64. */
const BASE64_SOURCES: Escape[] = [(text) => text, jsonEscaped, queryPasted];

/** Every form of `secret` and of its case variants, each once, the secret itself first. */
export function secretForms(secret: string): SecretForm[] {
  const forms = new Map<string, SecretForm>();
  for (const variant of new Set([secret, secret.toLowerCase(), secret.toUpperCase()])) {
    addForms(variant, forms);
  }
  return [...forms.values()];
}

/** The forms of one spelling of a secret, added to `forms` unless they are there already. */
function addForms(secret: string, forms: Map<string, SecretForm>): void {
  const points = [...secret];
  const canCut = points.length > MIN_CUT_CHARS;
  const head = points.slice(0, MIN_CUT_CHARS).join("");
  const tail = points.slice(-MIN_CUT_CHARS).join("");

  for (const escape of [(text: string) => text, ...ESCAPES, ...TWO_LAYERS]) {
    const text = attempt(escape, secret);
    if (text === null || forms.has(text)) continue;
    const escapedHead = canCut ? attempt(escape, head) : null;
    const escapedTail = canCut ? attempt(escape, tail) : null;
    forms.set(text, {
      text,
      anchor: anchorIn(text, secret),
      head: escapedHead !== null && text.startsWith(escapedHead) ? cut(escapedHead, head) : null,
      tail: escapedTail !== null && text.endsWith(escapedTail) ? cut(escapedTail, tail) : null,
    });
  }

  for (const source of BASE64_SOURCES) {
    const text = attempt(source, secret);
    for (const core of text === null ? [] : base64Cores(text)) {
      if (forms.has(core)) continue;
      const canCutCore = canCut && core.length > MIN_CUT_BASE64_CHARS;
      const head = core.slice(0, MIN_CUT_BASE64_CHARS);
      forms.set(core, {
        text: core,
        anchor: anchorIn(core, core),
        head: canCutCore ? cut(head, head) : null,
        // base64 is cut at its end (V8 shows the start of what it could not parse), not before
        tail: null,
      });
    }
  }
}

function cut(shown: string, plain: string): Cut {
  return { chars: shown.length, anchor: anchorIn(shown, plain) };
}

/** The longest run of letters and digits in `plain` if `escaped` holds it, else all of it. */
function anchorIn(escaped: string, plain: string): string {
  const runs = plain.match(/[A-Za-z0-9]+/g) ?? [];
  const run = runs.reduce((longest, next) => (next.length > longest.length ? next : longest), "");
  return run !== "" && escaped.includes(run) ? run : escaped;
}

function attempt(escape: Escape, text: string): string | null {
  try {
    return escape(text);
  } catch {
    // encodeURI and its kin refuse lone surrogates; such a form cannot be printed either
    return null;
  }
}

function jsonEscaped(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

function queryPasted(text: string): string {
  return urlTail(text, "http://x/?");
}

/**
 * A string as object-inspect and util.inspect escape it between `quote`s; util.inspect picks
 * quotes the string does not hold, and then escapes none.
 */
function inspectEscaped(text: string, quote: string | null): string {
  const special = quote === null ? /\\/g : new RegExp(`[\\\\${quote}]`, "g");
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  return text.replace(special, "\\$&").replace(/[\x00-\x1f]/g, (c) => {
    const code = c.charCodeAt(0);
    return "\\" + (CONTROL_NAMES[code] ?? `x${code.toString(16).toUpperCase().padStart(2, "0")}`);
  });
}

function unicodeEscape(c: string): string {
  return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
}

/** What a URL starting with `start`, with `text` pasted after it, shows after `start`. */
function urlTail(text: string, start: string): string {
  const href = new URL(start + text).href;
  if (!href.startsWith(start)) throw new Error("the URL moved the text");
  return href.slice(start.length);
}

/**
 * The part of the text's base64 (and base64url) that is the same wherever the text sits in
 * what was encoded: for each of the three alignments, the groups made of its bytes alone.
 * This catches a secret inside an encoded whole, such as `Basic base64(user:secret)`.
 */
function base64Cores(text: string): string[] {
  const bytes = Buffer.from(text, "utf8");
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
