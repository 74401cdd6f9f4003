/**
 * `http_outcome` options: validation and normalisation into an `Outcome`.
 *
 * Every field is read exactly once, so a getter or proxy cannot show one value to the check
 * and another to the copy. Mistakes throw a `TypeError` in the caller's session.
 */
import type { Outcome } from "../sandbox/protocol";
import { describeValue } from "./describe-value";

const KNOWN_OPTIONS = new Set(["status_code", "headers", "body", "json", "more"]);

/** Headers an answer may have, and characters of names and values in all. */
export const MAX_OUTCOME_HEADERS = 1000;
export const MAX_OUTCOME_HEADER_CHARS = 64 * 1024;
const HEADER_BOUNDS =
  `at most ${MAX_OUTCOME_HEADERS} headers, ` +
  `with at most ${MAX_OUTCOME_HEADER_CHARS} characters of names and values in all`;

// RFC 9110 token, and field value: visible ASCII, obs-text, space and tab; no CR, LF or NUL.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const jsonStringify = JSON.stringify;
const isArray = Array.isArray;
const isView = ArrayBuffer.isView;
const ownKeys = Reflect.ownKeys;

export function toOutcome(options: unknown): Outcome {
  if (options === undefined) options = {};
  if (options === null || typeof options !== "object") {
    throw new TypeError("http_outcome: expected an options object");
  }
  const source = options as Record<string, unknown>;
  for (const key of ownKeys(source)) {
    if (typeof key !== "string" || !KNOWN_OPTIONS.has(key)) {
      throw new TypeError(
        `http_outcome: unknown option ${String(key)}; expected status_code, headers, body, json or more`,
      );
    }
  }

  const statusCode = source.status_code ?? 200;
  const headers = source.headers;
  const body = source.body;
  const json = source.json;
  const more = source.more ?? false;

  if (typeof statusCode !== "number" || !Number.isInteger(statusCode)) {
    throw new TypeError(
      `http_outcome: status_code must be an integer, got ${describeValue(statusCode)}`,
    );
  }
  if (statusCode < 100 || statusCode > 599) {
    throw new TypeError(`http_outcome: status_code must be between 100 and 599, got ${statusCode}`);
  }
  if (typeof more !== "boolean") {
    throw new TypeError(`http_outcome: more must be a boolean, got ${describeValue(more)}`);
  }
  if (body !== undefined && body !== null && json !== undefined) {
    throw new TypeError("http_outcome: give body or json, not both");
  }

  const headerList = toHeaderList(headers);
  let payload: string | Uint8Array;
  if (json !== undefined) {
    const text = jsonStringify(json);
    if (typeof text !== "string") {
      throw new TypeError(`http_outcome: json cannot be serialized (${describeValue(json)})`);
    }
    payload = text;
    if (!headerList.some(([name]) => name === "content-type")) {
      headerList.push(["content-type", "application/json"]);
    }
  } else {
    payload = toBody(body);
  }
  return { status_code: statusCode, headers: headerList, body: payload, more };
}

/** A body given as a string or bytes, copied so later writes by the caller cannot change it. */
export function toBody(body: unknown): string | Uint8Array {
  if (body === undefined || body === null) return "";
  if (typeof body === "string") return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
  if (isView(body)) {
    const view = body as ArrayBufferView;
    return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
  }
  throw new TypeError(`http_outcome: body must be a string or bytes, got ${describeValue(body)}`);
}

/** Headers as a plain object (value: string, number or array of them) or a list of pairs. */
export function toHeaderList(headers: unknown): [string, string][] {
  const list: [string, string][] = [];
  if (headers === undefined || headers === null) return list;
  if (typeof headers !== "object") {
    throw new TypeError(`http_outcome: headers must be an object, got ${describeValue(headers)}`);
  }
  // Arrays of pairs, and iterables of pairs such as `Headers` or `Map`, keep their order.
  const iterable =
    isArray(headers) || typeof (headers as Iterable<unknown>)[Symbol.iterator] === "function";
  const entries: [unknown, unknown][] = iterable
    ? Array.from(headers as Iterable<unknown>, toPair)
    : Object.entries(headers);
  let chars = 0;
  for (const [rawName, rawValue] of entries) {
    const name = checkName(rawName);
    const values = isArray(rawValue) ? rawValue : [rawValue];
    for (const value of values) {
      const checked = checkValue(name, value);
      list.push([name, checked]);
      chars += name.length + checked.length;
      if (list.length > MAX_OUTCOME_HEADERS || chars > MAX_OUTCOME_HEADER_CHARS) {
        throw new TypeError(`http_outcome: ${HEADER_BOUNDS}`);
      }
    }
  }
  return list;
}

/**
 * Throws a `TypeError` for an answer (a returned `Response`) with more headers than an outcome
 * may have: the server sends them, and the log keeps them.
 */
export function checkHeaderBounds(headers: readonly [string, string][], what: string): void {
  let chars = 0;
  for (const [name, value] of headers) chars += name.length + value.length;
  if (headers.length > MAX_OUTCOME_HEADERS || chars > MAX_OUTCOME_HEADER_CHARS) {
    throw new TypeError(`${what}: ${HEADER_BOUNDS}`);
  }
}

function toPair(pair: unknown): [unknown, unknown] {
  if (!isArray(pair) || pair.length !== 2) {
    throw new TypeError("http_outcome: a header list must hold [name, value] pairs");
  }
  return [pair[0], pair[1]];
}

function checkName(name: unknown): string {
  if (typeof name !== "string" || !TOKEN.test(name)) {
    throw new TypeError(`http_outcome: invalid header name ${jsonStringify(String(name))}`);
  }
  return name.toLowerCase();
}

function checkValue(name: string, value: unknown): string {
  if (typeof value === "number" && Number.isFinite(value)) value = String(value);
  if (typeof value !== "string") {
    throw new TypeError(
      `http_outcome: header ${name} must be a string, got ${describeValue(value)}`,
    );
  }
  if (!FIELD_VALUE.test(value)) {
    throw new TypeError(
      `http_outcome: header ${name} has a character not allowed in a header value ` +
        "(CR, LF, NUL, another control character, or one above U+00FF)",
    );
  }
  return value.trim();
}
