/**
 * `atob` and `btoa`, as the HTML Standard defines them: `btoa` takes a string of code units
 * up to U+00FF, `atob` is forgiving (whitespace, missing padding) and throws an
 * "InvalidCharacterError" for anything else. Tested against Node's own.
 */
import { DOMException } from "./dom-exception";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));
const ASCII_WHITESPACE = /[\t\n\f\r ]/g;

export function btoa(data: unknown): string {
  if (arguments.length === 0) throw new TypeError("btoa: 1 argument required, but only 0 present");
  const text = String(data);
  let out = "";
  for (let i = 0; i < text.length; i += 3) {
    const a = byteAt(text, i);
    const b = i + 1 < text.length ? byteAt(text, i + 1) : -1;
    const c = i + 2 < text.length ? byteAt(text, i + 2) : -1;
    out += ALPHABET[a >> 2]!;
    out += ALPHABET[((a & 3) << 4) | (b === -1 ? 0 : b >> 4)]!;
    out += b === -1 ? "=" : ALPHABET[((b & 15) << 2) | (c === -1 ? 0 : c >> 6)]!;
    out += c === -1 ? "=" : ALPHABET[c & 63]!;
  }
  return out;
}

export function atob(data: unknown): string {
  if (arguments.length === 0) throw new TypeError("atob: 1 argument required, but only 0 present");
  let text = String(data).replace(ASCII_WHITESPACE, "");
  if (text.length % 4 === 0) text = text.replace(/==?$/, "");
  if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) {
    throw new DOMException(
      "atob: the string to be decoded is not correctly encoded",
      "InvalidCharacterError",
    );
  }
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const char of text) {
    buffer = (buffer << 6) | VALUES.get(char)!;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}

function byteAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  if (code > 0xff) {
    throw new DOMException(
      "btoa: the string contains characters outside of the Latin1 range",
      "InvalidCharacterError",
    );
  }
  return code;
}
