/**
 * The `event.data` of a webhook request (SPEC §2): method and URL as received, query and
 * headers as name → value (repeated ones joined with ", "), and the body byte-exact. Only the
 * bytes of the body are sent: its text, JSON and form fields are worked out in the sandbox,
 * on the session's time, when the handler reads them.
 */
import type { IncomingMessage } from "node:http";
import type { WireEventData } from "../../sandbox";

export function toEventData(req: IncomingMessage, body: Buffer, pathSuffix: string): WireEventData {
  const rawUrl = req.url ?? "/";
  const queryStart = rawUrl.indexOf("?");
  const rawPath = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
  const queryText = queryStart === -1 ? "" : rawUrl.slice(queryStart + 1);
  const headers = joinHeaders(req.rawHeaders);

  return {
    method: req.method ?? "GET",
    raw_url: rawUrl,
    url: {
      path: decodePath(rawPath),
      query: joinPairs(new URLSearchParams(queryText)),
      path_suffix: decodePath(pathSuffix),
    },
    headers,
    // A copy with a buffer of its own: a view into Node's shared pool would carry the whole
    // pool (other requests' bytes) across to the sandbox.
    body: { bytes: new Uint8Array(body) },
  };
}

/** Name → value, repeated names joined with ", ", in the order received. */
function joinPairs(pairs: Iterable<[string, string]>): Record<string, string> {
  const joined = new Map<string, string>();
  for (const [name, value] of pairs) join(joined, name, value);
  // fromEntries defines each name as an own property: a `__proto__` header stays a header.
  return Object.fromEntries(joined);
}

/** The request's headers by lower-case name; a plain loop, as this runs for every request. */
function joinHeaders(rawHeaders: string[]): Record<string, string> {
  const joined = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    join(joined, rawHeaders[i]!.toLowerCase(), rawHeaders[i + 1]!);
  }
  return Object.fromEntries(joined);
}

function join(joined: Map<string, string>, name: string, value: string): void {
  const before = joined.get(name);
  joined.set(name, before === undefined ? value : `${before}, ${value}`);
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
