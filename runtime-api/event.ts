/**
 * The `event` a handler receives, built from what the host sent: the request's head and its
 * body's bytes. `body.text`, `body.json` and `body.form` are worked out from the bytes when
 * first read (and kept), inside the session: a large body costs the server nothing, and a
 * handler that never reads it as text, JSON or a form pays nothing for that either.
 */
import type { WireEvent, WireEventData } from "../sandbox/protocol";
import type { Event, EventData } from "./autokitteh";
import { TextDecoder } from "./encoding";
import { URLSearchParams } from "./web/url";

const jsonParse = JSON.parse;
const defineProperty = Object.defineProperty;
const create = Object.create;
const FORM_TYPE = "application/x-www-form-urlencoded";

export function toEvent(wire: WireEvent): Event {
  return {
    event_id: wire.event_id,
    session_id: wire.session_id,
    event_type: wire.event_type,
    trigger: wire.trigger,
    data: toEventData(wire.data),
  };
}

export function toEventData(wire: WireEventData): EventData {
  const { bytes } = wire.body;
  const body = { bytes } as EventData["body"];
  const text = lazy(body, "text", () => decodeUtf8(bytes));
  lazy(body, "json", () => parseJson(text()));
  lazy(body, "form", () => (isForm(wire.headers) ? parseForm(text()) : null));
  return { ...wire, body };
}

/**
 * An enumerable property computed on first read and kept; assigning to it replaces the value,
 * as it would for a plain property. Returns a reader for other properties to build on.
 */
function lazy<T>(target: object, name: string, compute: () => T): () => T {
  let value: T;
  let known = false;
  const read = (): T => {
    if (!known) {
      value = compute();
      known = true;
    }
    return value;
  };
  defineProperty(target, name, {
    enumerable: true,
    configurable: true,
    get: read,
    set(next: T) {
      value = next;
      known = true;
    },
  });
  return read;
}

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return jsonParse(text);
  } catch {
    return null;
  }
}

function isForm(headers: Record<string, string>): boolean {
  const type = headers["content-type"] ?? "";
  return type.split(";")[0]!.trim().toLowerCase() === FORM_TYPE;
}

/** Name → value, repeated names joined with ", " (as headers and the query are). */
function parseForm(text: string | null): Record<string, string> | null {
  if (text === null) return null;
  const fields = create(null) as Record<string, string>;
  for (const [name, value] of new URLSearchParams(text)) {
    fields[name] = name in fields ? `${fields[name]}, ${value}` : value;
  }
  return { ...fields };
}
