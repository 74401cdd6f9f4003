/**
 * Lists of byte values in printed text, as printers show a `Uint8Array` or an array of bytes:
 * `116,111` (`String(bytes)`, `bytes.join()`), `[116,111]` (JSON), `[ 116, 111 ]` and
 * node's `Uint8Array(2) [ 116, 111 ]` (over lines or not), `{ 0: 116, 1: 111 }` (the
 * sandbox's `console.log`), `{"0":116,"1":111}` (`JSON.stringify(bytes)`); and the same with
 * each value a string, as an array mapped through `String` prints (`[ '116', '111' ]`,
 * `["116","111"]`). The redactor reads the bytes back to find a secret's UTF-8 in them.
 */

/** A number from 0 to 255, as printers write numbers. */
const DECIMAL = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;
/** A byte value: the number, or a string of it in either quotes. */
const BYTE = String.raw`(?:${DECIMAL}(?![\w.])|'${DECIMAL}'|"${DECIMAL}")`;
/** At least MIN_BYTE_LIST_VALUES bytes, each after a comma and maybe an index key. */
const MIN_BYTE_LIST_VALUES = 4;
const BYTE_LIST = new RegExp(
  String.raw`(?<![\w.])${BYTE}(?:\s*,\s*(?:['"]?\d{1,10}['"]?\s*:\s*)?${BYTE}){${MIN_BYTE_LIST_VALUES - 1},}`,
  "g",
);
const CUT_AFTER = /\s*,?\s*(?:\.\.\.|…)/y;

/**
 * The lists of byte values in `text` that may hold `min.whole` values or more, or `min.cut`
 * or more if an ellipsis follows them.
 */
export function byteLists(text: string, min: { whole: number; cut: number }): ByteList[] {
  const lists: ByteList[] = [];
  for (const match of text.matchAll(BYTE_LIST)) {
    const end = match.index + match[0].length;
    CUT_AFTER.lastIndex = end;
    const cut = CUT_AFTER.test(text);
    // each value but the last takes a digit and a comma at least
    if (match[0].length < 2 * Math.min(min.whole, cut ? min.cut : Infinity) - 1) continue;
    lists.push(new ByteList(text, match.index, end, cut));
  }
  return lists;
}

/** One list of byte values in a text. */
export class ByteList {
  /** The values, one latin1 character each. */
  readonly bytes: string;
  /** Whether an ellipsis follows the list, as node's inspect writes `... 9 more items`. */
  readonly cut: boolean;
  readonly #text: string;
  readonly #start: number;
  readonly #end: number;
  /** Where each value is in the text; found only when asked for, as few lists hold a secret. */
  #places: { starts: Int32Array; ends: Int32Array } | null = null;

  constructor(text: string, start: number, end: number, cut: boolean) {
    this.#text = text;
    this.#start = start;
    this.#end = end;
    this.cut = cut;
    this.bytes = Buffer.from(this.#read(null)).toString("latin1");
  }

  /** Where in the text the values from `first` to `last` (not included) are. */
  span(first: number, last: number): [number, number] {
    if (this.#places === null) {
      const count = this.bytes.length;
      this.#places = { starts: new Int32Array(count), ends: new Int32Array(count) };
      this.#read(this.#places);
    }
    return [this.#places.starts[first]!, this.#places.ends[last - 1]!];
  }

  /** The values, and where they are if `places` is given. */
  #read(places: { starts: Int32Array; ends: Int32Array } | null): Uint8Array {
    const text = this.#text;
    const values = new Uint8Array((this.#end - this.#start + 1) >> 1);
    let count = 0;
    for (let at = this.#start; at < this.#end; at++) {
      let code = text.charCodeAt(at);
      if (!isDigit(code)) continue;
      const start = at;
      let value = 0;
      for (; isDigit(code); code = text.charCodeAt(++at)) value = value * 10 + code - 48;
      if (isKey(text, at)) continue;
      if (places !== null) {
        places.starts[count] = start;
        places.ends[count] = at;
      }
      values[count++] = value;
    }
    return values.subarray(0, count);
  }
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** Whether the number that ends at `at` is an index key (`0:`, `"0":`, `'0':`), not a value. */
function isKey(text: string, at: number): boolean {
  const quote = text.charCodeAt(at);
  let next = quote === 34 || quote === 39 ? at + 1 : at;
  while (isSpace(text.charCodeAt(next))) next++;
  return text.charCodeAt(next) === 58;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}
