/**
 * The HTTP answer of a sync webhook, built from an outcome or a handler's return value.
 *
 * Framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`, ...) are the server's
 * to set; an outcome's values for them are dropped (and the session log says so). A body with
 * no `Content-Type` gets `text/plain; charset=utf-8` when given as a string and
 * `application/octet-stream` when given as bytes.
 */
import type { ReturnedValue } from "../../sandbox";

export interface HttpAnswer {
  status: number;
  headers: [string, string][];
  body: Buffer;
  /** Header names the outcome set that the server controls; they were not sent. */
  dropped: string[];
}

const SERVER_HEADERS = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-connection",
  "isohook-event-id",
  "isohook-session-id",
]);
const NO_BODY_STATUSES = new Set([204, 205, 304]);

export function toAnswer(returned: ReturnedValue): HttpAnswer {
  switch (returned.kind) {
    case "undefined":
      return { status: 204, headers: [], body: Buffer.alloc(0), dropped: [] };
    case "value":
      return {
        status: 200,
        headers: [["content-type", "application/json"]],
        body: Buffer.from(returned.json, "utf8"),
        dropped: [],
      };
    case "response": {
      const { status_code, headers, body } = returned.response;
      const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
      const kept = headers.filter(([name]) => !SERVER_HEADERS.has(name));
      const dropped = [
        ...new Set(headers.filter(([name]) => SERVER_HEADERS.has(name)).map(([n]) => n)),
      ];
      const hasBody = bytes.length > 0 && !NO_BODY_STATUSES.has(status_code);
      if (hasBody && !kept.some(([name]) => name === "content-type")) {
        kept.push([
          "content-type",
          typeof body === "string" ? "text/plain; charset=utf-8" : "application/octet-stream",
        ]);
      }
      return {
        status: status_code,
        headers: kept,
        body: hasBody ? bytes : Buffer.alloc(0),
        dropped,
      };
    }
  }
}

/** A 503 for a sync caller whose session the server's stop cut short: worth a retry. */
export function stoppingAnswer(error: string, sessionId: string): HttpAnswer {
  const answer = jsonAnswer(503, { error, session_id: sessionId });
  answer.headers.push(["retry-after", "1"]);
  return answer;
}

export function jsonAnswer(status: number, body: unknown): HttpAnswer {
  return {
    status,
    headers: [["content-type", "application/json"]],
    body: Buffer.from(JSON.stringify(body), "utf8"),
    dropped: [],
  };
}
