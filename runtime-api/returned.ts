/**
 * What a handler returned, as the session's answer: a `Response` as it is, anything else as
 * JSON, held to the bounds an outcome is held to before it crosses the line.
 */
import type { ReturnedValue, SessionResult } from "../sandbox/protocol";
import { utf8Length, utf8LongerThan } from "./encoding";
import { toSandboxError } from "./errors";
import { checkHeaderBounds } from "./outcome";
import type { Session, SessionRegistry } from "./sessions";
import { Response } from "./web/response";

/**
 * A handler's return value as a response: a `Response` as it is, anything else as JSON. It is
 * held to what an outcome is held to (the body limit, the session's output budget), since it
 * crosses the line the same way: a session cannot send by returning what it could not send
 * with `http_outcome`.
 */
export function returned(
  registry: SessionRegistry,
  session: Session,
  value: unknown,
  maxBodyBytes: number,
): SessionResult {
  try {
    let result: ReturnedValue;
    if (value === undefined) {
      result = { kind: "undefined" };
    } else if (value instanceof Response) {
      if (value.type === "error") throw new TypeError("the handler returned Response.error()");
      const { status, headers, body } = Response.parts(value);
      checkHeaderBounds(headers, "the handler returned a Response");
      result = { kind: "response", response: { status_code: status, headers, body, more: false } };
      if (body.byteLength > maxBodyBytes) throw bodyTooLarge(body.byteLength, maxBodyBytes);
    } else {
      // Refused before it is turned into text: one huge string can be more than the isolate
      // has room for, and running out of memory in one allocation aborts its whole process.
      const atLeast = jsonSizeAtLeast(value, maxBodyBytes);
      if (atLeast > maxBodyBytes) {
        throw new RangeError(
          `the handler returned a value of at least ${atLeast} bytes as JSON, more than the limit of ${maxBodyBytes} bytes`,
        );
      }
      let json: string | undefined;
      try {
        json = JSON.stringify(value);
      } catch (error) {
        // A BigInt, a cycle, a toJSON that throws: say what it was about.
        if (!(error instanceof TypeError)) throw error;
        throw new TypeError(
          `the handler's return value cannot be sent as JSON: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (typeof json !== "string") {
        throw new TypeError(`the handler returned a ${typeof value}, which cannot be sent as JSON`);
      }
      result = { kind: "value", json };
      if (utf8LongerThan(json, maxBodyBytes)) throw bodyTooLarge(utf8Length(json), maxBodyBytes);
    }
    registry.countReturned(session, result);
    return { ok: true, returned: result };
  } catch (error) {
    return { ok: false, error: toSandboxError(error) };
  }
}

function bodyTooLarge(bytes: number, limit: number): RangeError {
  return new RangeError(
    `the handler returned a body of ${bytes} bytes, more than the limit of ${limit} bytes`,
  );
}

/** An array or object being walked by `jsonSizeAtLeast`: its keys (`null`: indices), and where. */
interface WalkFrame {
  target: object;
  keys: string[] | null;
  next: number;
  length: number;
}

/**
 * A lower bound of the size of `value` as JSON, from its own strings, arrays and keys, without
 * calling anything of it (no getters, no `toJSON`). It stops once past `limit`, and at a
 * cycle (JSON.stringify then says what is wrong). Its memory is the depth of `value`, not its
 * size; its time is the session's.
 */
function jsonSizeAtLeast(value: unknown, limit: number): number {
  let total = 0;
  const frames: WalkFrame[] = [];
  const onPath = new Set<object>();
  let cycle = false;
  const visit = (item: unknown) => {
    if (typeof item === "string") total += item.length + 2;
    else if (item === null || typeof item !== "object" || ArrayBuffer.isView(item)) total += 1;
    else if (onPath.has(item)) cycle = true;
    else {
      const keys = Array.isArray(item) ? null : Object.keys(item);
      const length = keys === null ? (item as unknown[]).length : keys.length;
      // Brackets, and a comma (or a value, for holes) per element at least.
      total += 2 + length;
      frames.push({ target: item, keys, next: 0, length });
      onPath.add(item);
    }
  };
  visit(value);
  while (frames.length > 0 && total <= limit && !cycle) {
    const frame = frames[frames.length - 1]!;
    if (frame.next >= frame.length) {
      frames.pop();
      onPath.delete(frame.target);
      continue;
    }
    const key = frame.keys === null ? frame.next : frame.keys[frame.next]!;
    frame.next++;
    const entry = Object.getOwnPropertyDescriptor(frame.target, key);
    if (entry === undefined || !("value" in entry)) continue;
    if (typeof key === "string") total += key.length + 3;
    visit(entry.value);
  }
  return total;
}
