/**
 * The `event` a handler receives, built from what the host sent. `body.json` is parsed on
 * first read (and kept), so a large body that the handler never reads as JSON costs nothing.
 */
import type { WireEvent } from "../sandbox/protocol";
import type { Event } from "./autokitteh";

const jsonParse = JSON.parse;
const defineProperty = Object.defineProperty;

export function toEvent(wire: WireEvent): Event {
  const { bytes, text, form } = wire.data.body;
  const body = { bytes, text, form } as Event["data"]["body"];
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
  return {
    event_id: wire.event_id,
    session_id: wire.session_id,
    event_type: wire.event_type,
    trigger: wire.trigger,
    data: { ...wire.data, body },
  };
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return jsonParse(text);
  } catch {
    return null;
  }
}
