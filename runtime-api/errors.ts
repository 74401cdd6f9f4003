/**
 * Turning whatever user code threw into a `SandboxError` the host can log.
 *
 * A thrown value may be anything, including an object whose getters throw or a proxy; every
 * read is guarded so that describing an error can never throw in its turn.
 */
import type { SandboxError } from "../sandbox/protocol";

// Generous bounds: the host cuts what it logs to size, after it has redacted secrets (a cut
// made here could leave half a secret that no redaction would recognise).
const MAX_MESSAGE_CHARS = 256 * 1024;
const MAX_STACK_CHARS = 256 * 1024;

export function toSandboxError(thrown: unknown): SandboxError {
  if (thrown !== null && (typeof thrown === "object" || typeof thrown === "function")) {
    const name = safeString(() => (thrown as Error).name, "Error");
    const message = safeString(() => (thrown as Error).message, "");
    const stack = safeString(() => (thrown as Error).stack, "");
    return {
      name: clip(name, 200),
      message: clip(message, MAX_MESSAGE_CHARS),
      stack: stack === "" ? null : clip(stack, MAX_STACK_CHARS),
    };
  }
  return {
    name: "Error",
    message: clip(
      safeString(() => String(thrown), "?"),
      MAX_MESSAGE_CHARS,
    ),
    stack: null,
  };
}

function safeString(read: () => unknown, fallback: string): string {
  try {
    const value = read();
    return typeof value === "string" ? value : value === undefined ? fallback : String(value);
  } catch {
    return fallback;
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) + "…" : text;
}
