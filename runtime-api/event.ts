/**
 * The `event` a handler receives, built from what the host sent. `body.json` is parsed on
 * first read (and kept), so a large body that the handler never reads as JSON costs nothing.
 */
import type { WireEvent, WireEventData } from "../sandbox/protocol";
import type { Event, EventData } from "./autokitteh";

const jsonParse = JSON.parse;
const defineProperty = Object.defineProperty;

export function toEvent(wire: WireEvent): Event {
  return {
    event_id: wire.event_id,
    session_id: wire.session_id,
    event_type: wire.event_type,
    trigger: wire.trigger,
    data: toEventData(wire.data),
  };
}

/** Event data with `body.json` added, parsed when first read. */
export function toEventData(wire: WireEventData): EventData {
  const { bytes, text, form } = wire.body;
  const body = { bytes, text, form } as EventData["body"];
  let parsed: unknown;
  let done = false;
  defineProperty(body, "json", {
    enumerable: true,
    configurable: true,
    get() {
      if (!done) {
        parsed = parseJson(text);
        done = true;
      }
      return parsed;
    },
    set(value: unknown) {
      parsed = value;
      done = true;
    },
  });
  return { ...wire, body };
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return jsonParse(text);
  } catch {
    return null;
  }
}
