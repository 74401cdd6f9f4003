/**
 * Readable CLI output: lists as aligned tables, a session log as one line per entry with its
 * time and kind. Everything shown comes through `visible`: a webhook's caller controls much of
 * what a log holds, and must not be able to drive the reader's terminal or forge lines.
 */

export function table(headers: string[], cells: string[][]): string {
  if (cells.length === 0) return "(none)";
  const rows = cells.map((row) => row.map(visible));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join("\n");
}

export interface LogEntry {
  seq: number;
  time: string;
  kind: string;
  data: Record<string, unknown>;
}

export function logLine(entry: LogEntry): string {
  return `${visible(entry.time)}  ${visible(entry.kind).padEnd(7)}  ${describe(entry)}`;
}

/** What calling a trigger's webhook does, in a word or three. */
export function runsLabel(trigger: {
  call: string | null;
  is_sync: boolean;
  is_durable: boolean;
}): string {
  if (trigger.call === null) return "events for subscribers";
  const runs = trigger.is_sync ? "sync" : "async";
  return trigger.is_durable ? `${runs}, durable` : runs;
}

export interface Problem {
  file: string | null;
  line: number | null;
  column: number | null;
  message: string;
}

/** A deploy problem as compilers print one: `file:line:column message`, with what is known. */
export function problemLine({ file, line, column, message }: Problem): string {
  const where = [file, line, line === null ? null : column].filter((part) => part !== null);
  return visible(where.length === 0 ? message : `${where.join(":")} ${message}`);
}

/** Control characters (escape sequences, line breaks, ...) shown as `\xHH`, not obeyed. */
export function visible(text: string): string {
  return text.replace(HIDDEN, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * Control characters, and the Unicode marks that reorder or break what a terminal shows
 * (bidirectional overrides and isolates, line and paragraph separators).
 */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const HIDDEN = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function describe({ kind, data }: LogEntry): string {
  const v = (value: unknown) => visible(String(value));
  switch (kind) {
    case "state":
      return data.reason ? `${v(data.state)}: ${v(data.reason)}` : v(data.state);
    case "print":
      return data.level === "log" ? v(data.text) : `[${v(data.level)}] ${v(data.text)}`;
    case "outcome": {
      const body =
        data.body_encoding === "base64"
          ? `<${String(data.body).length} base64 chars>`
          : clip(v(data.body));
      return `${v(data.status_code)} ${v(data.disposition)}${data.more ? " (more)" : ""} ${body}`.trimEnd();
    }
    case "call": {
      const args = (data.args as unknown[]).map((a) => JSON.stringify(a)).join(", ");
      const result =
        "error" in data
          ? `threw ${JSON.stringify(data.error)}`
          : `→ ${JSON.stringify(data.result)}`;
      return `${v(data.binding)}(${clip(v(args))}) ${clip(v(result))}`;
    }
    case "error": {
      // The stack's own line breaks are kept (the log is ours); anything inside a line is not.
      const frames = typeof data.stack === "string" ? data.stack.split("\n").slice(1) : [];
      return `${v(data.name)}: ${v(data.message)}${frames.map((line) => "\n    " + v(line.trim())).join("")}`;
    }
    case "note":
      return v(data.message);
    default:
      return v(JSON.stringify(data));
  }
}

function clip(text: string, max = 200): string {
  return text.length > max ? text.slice(0, max) + "…" : text;
}
