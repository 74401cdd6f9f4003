/**
 * `Headers`, following the Fetch Standard: names are case-insensitive tokens, values are
 * trimmed and may not hold CR, LF or NUL, iteration is sorted by name with repeated values
 * combined (except `set-cookie`, listed one by one; see `getSetCookie`).
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[\0\r\n]/;
const BEYOND_LATIN1 = /[\u0100-\uffff]/;
const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

export type HeadersInit = Headers | Iterable<readonly [string, string]> | Record<string, string>;

export class Headers {
  /** In insertion order, names lower-case. */
  #list: [string, string][] = [];

  constructor(init?: HeadersInit) {
    if (init === undefined || init === null) return;
    if (typeof init !== "object") {
      throw new TypeError("Headers: init must be an object, an iterable of pairs, or Headers");
    }
    if (init instanceof Headers) {
      for (const [name, value] of init.#list) this.#list.push([name, value]);
    } else if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<readonly [string, string]>) {
        const items = Array.from(pair as Iterable<string>);
        if (items.length !== 2)
          throw new TypeError("Headers: each pair must have a name and a value");
        this.append(items[0]!, items[1]!);
      }
    } else {
      for (const name of Object.keys(init))
        this.append(name, (init as Record<string, string>)[name]!);
    }
  }

  append(name: string, value: string): void {
    this.#list.push([checkName(name), normalizeValue(value)]);
  }

  delete(name: string): void {
    const key = checkName(name);
    this.#list = this.#list.filter(([n]) => n !== key);
  }

  get(name: string): string | null {
    const key = checkName(name);
    const values = this.#list.filter(([n]) => n === key).map(([, v]) => v);
    return values.length === 0 ? null : values.join(", ");
  }

  getSetCookie(): string[] {
    return this.#list.filter(([n]) => n === "set-cookie").map(([, v]) => v);
  }

  has(name: string): boolean {
    const key = checkName(name);
    return this.#list.some(([n]) => n === key);
  }

  set(name: string, value: string): void {
    const key = checkName(name);
    const normalized = normalizeValue(value);
    const index = this.#list.findIndex(([n]) => n === key);
    if (index === -1) {
      this.#list.push([key, normalized]);
      return;
    }
    this.#list[index] = [key, normalized];
    this.#list = this.#list.filter(([n], i) => n !== key || i === index);
  }

  forEach(
    callback: (value: string, name: string, headers: Headers) => void,
    thisArg?: unknown,
  ): void {
    for (const [name, value] of this) callback.call(thisArg, value, name, this);
  }

  *entries(): IterableIterator<[string, string]> {
    yield* this.#sorted();
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.#sorted()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.#sorted()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }

  /** The raw list, in insertion order, for sending as they were set. */
  static list(headers: Headers): [string, string][] {
    return headers.#list.map(([n, v]) => [n, v]);
  }

  #sorted(): [string, string][] {
    const names = [...new Set(this.#list.map(([n]) => n))].sort();
    const out: [string, string][] = [];
    for (const name of names) {
      if (name === "set-cookie") {
        for (const value of this.getSetCookie()) out.push([name, value]);
      } else {
        out.push([name, this.get(name)!]);
      }
    }
    return out;
  }
}

function checkName(name: unknown): string {
  const text = String(name);
  if (!TOKEN.test(text))
    throw new TypeError(`Headers: invalid header name ${JSON.stringify(text)}`);
  return text.toLowerCase();
}

function normalizeValue(value: unknown): string {
  const text = String(value).replace(HTTP_WHITESPACE, "");
  if (INVALID_VALUE.test(text) || BEYOND_LATIN1.test(text)) {
    throw new TypeError(`Headers: invalid value for a header: ${JSON.stringify(text)}`);
  }
  return text;
}
