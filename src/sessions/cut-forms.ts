/**
 * Finding the forms of a secret that a printer cut short and marked the cut with an ellipsis.
 * V8 shows ten characters either side of where `JSON.parse` failed (`"tok_live_01"... is not
 * valid JSON`, `..."89abcdef",x]"`), inspect shows the start of a long string or array
 * (`'tok_live_0'... 15 more characters`, `116, 111, ... 9 more items`), and isohook's own cuts
 * end in `…`.
 */

/** A part of a text to replace by the placeholder: [start, end). */
export type Span = [number, number];

/** A form and the fewest of its characters that count as the secret when cut (null: never). */
export interface CuttableForm {
  text: string;
  head: { chars: number } | null;
  tail: { chars: number } | null;
}

const ELLIPSIS = /\.\.\.|…/g;
/** What may stand between a cut secret and its ellipsis: quotes, escaped up to two times. */
const QUOTING = "'\"`\\";
const MAX_QUOTING = 4;

/** The spans of `text` that are the start of a form cut before an ellipsis, or its end. */
export function cutShort(text: string, forms: CuttableForm[]): Span[] {
  const spans: Span[] = [];
  for (const ellipsis of text.matchAll(ELLIPSIS)) {
    const before = ellipsis.index;
    const after = before + ellipsis[0].length;
    // between the secret and the ellipsis there may be quotes the printer wrote, escaped or not
    const ends = [before];
    while (ends.length <= MAX_QUOTING && QUOTING.includes(text[ends.at(-1)! - 1] ?? "x")) {
      ends.push(ends.at(-1)! - 1);
    }
    const starts = [after];
    while (starts.length <= MAX_QUOTING && QUOTING.includes(text[starts.at(-1)!] ?? "x")) {
      starts.push(starts.at(-1)! + 1);
    }
    for (const { text: form, head, tail } of forms) {
      const min = { head: head?.chars ?? Infinity, tail: tail?.chars ?? Infinity };
      for (const end of ends) {
        const start = headStart(text, end, form, min.head);
        if (start !== -1) spans.push([start, end]);
      }
      for (const start of starts) {
        const end = tailEnd(text, start, form, min.tail);
        if (end !== -1) spans.push([start, end]);
      }
    }
  }
  return spans;
}

/**
 * Where a start of `form`, at least `min` long, begins in `text` and runs to `end`; -1 if
 * none does. The earliest such start, so that the most of the form goes.
 */
export function headStart(text: string, end: number, form: string, min: number): number {
  const from = Math.max(0, end - form.length + 1);
  if (end - from < min) return -1;
  const window = text.slice(from, end);
  const head = form.slice(0, min);
  for (let at = window.indexOf(head); at !== -1; at = window.indexOf(head, at + 1)) {
    if (form.startsWith(window.slice(at))) return from + at;
  }
  return -1;
}

/** Where an end of `form`, at least `min` long, that begins at `start` in `text` ends; or -1. */
function tailEnd(text: string, start: number, form: string, min: number): number {
  const window = text.slice(start, start + form.length - 1);
  if (window.length < min) return -1;
  const tail = form.slice(-min);
  let end = -1;
  for (let at = window.indexOf(tail); at !== -1; at = window.indexOf(tail, at + 1)) {
    if (form.endsWith(window.slice(0, at + min))) end = start + at + min;
  }
  return end;
}
