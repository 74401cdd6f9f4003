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
  const headers = joinPairs(pairsOf(req.rawHeaders));

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
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of pairs) {
    out[name] = name in out ? `${out[name]}, ${value}` : value;
  }
  return { ...out };
}

function* pairsOf(rawHeaders: string[]): Generator<[string, string]> {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    yield [rawHeaders[i]!.toLowerCase(), rawHeaders[i + 1]!];
  }
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
