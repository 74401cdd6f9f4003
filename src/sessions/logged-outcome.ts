/** An `http_outcome` as the session log keeps it: redacted, then cut to its share of an entry. */
import type { Outcome } from "../../sandbox";
import { strictUtf8 } from "../utf8";
import { cut } from "./log-entry";
import type { Redactor } from "./redactor";

/** Outcome bodies: characters of text, or bytes (shown as base64). */
const MAX_LOGGED_BODY_CHARS = 32 * 1024;
/** Outcome headers, in all: names and values, and 8 characters of JSON for each. */
const MAX_LOGGED_HEADERS_CHARS = 16 * 1024;
const LOGGED_HEADER_OVERHEAD_CHARS = 8;

/**
 * An outcome as the log keeps it: secrets redacted first, then the body and the headers cut to
 * a size; a body that is not UTF-8 text as base64.
 */
export function loggedOutcome(outcome: Outcome, redactor: Redactor) {
  const headers = keptHeaders(redactor.value(outcome.headers));
  const raw =
    typeof outcome.body === "string"
      ? Buffer.from(outcome.body, "utf8")
      : Buffer.from(outcome.body);
  const text = strictUtf8(raw);
  const body =
    text !== null
      ? cut(redactor.text(text), MAX_LOGGED_BODY_CHARS)
      : redactor.bytes(raw).subarray(0, MAX_LOGGED_BODY_CHARS).toString("base64");
  return {
    status_code: outcome.status_code,
    headers,
    ...(headers.length < outcome.headers.length
      ? { headers_cut: outcome.headers.length - headers.length }
      : {}),
    body,
    ...(text === null ? { body_encoding: "base64" } : {}),
    ...(raw.length > MAX_LOGGED_BODY_CHARS ? { body_bytes: raw.length, body_truncated: true } : {}),
    more: outcome.more,
  };
}

/** The first headers, as many as fit in the log's share for them; a longer first one is cut. */
function keptHeaders(headers: [string, string][]): [string, string][] {
  const kept: [string, string][] = [];
  let room = MAX_LOGGED_HEADERS_CHARS;
  for (const [name, value] of headers) {
    const size = name.length + value.length + LOGGED_HEADER_OVERHEAD_CHARS;
    if (size > room) {
      if (kept.length === 0) kept.push([cut(name, room / 2), cut(value, room / 2)]);
      break;
    }
    kept.push([name, value]);
    room -= size;
  }
  return kept;
}
