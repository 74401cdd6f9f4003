/**
 * Readable CLI output: lists as aligned tables, a session log as one line per entry with its
 * time and kind.
 */

export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return "(none)";
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
  return `${entry.time}  ${entry.kind.padEnd(7)}  ${describe(entry)}`;
}

function describe({ kind, data }: LogEntry): string {
  switch (kind) {
    case "state":
      return data.reason ? `${data.state}: ${data.reason}` : String(data.state);
    case "print":
      return data.level === "log" ? String(data.text) : `[${data.level}] ${data.text}`;
    case "outcome": {
      const body =
        data.body_encoding === "base64"
          ? `<${String(data.body).length} base64 chars>`
          : clip(String(data.body));
      return `${data.status_code} ${data.disposition}${data.more ? " (more)" : ""} ${body}`.trimEnd();
    }
    case "call": {
      const args = (data.args as unknown[]).map((a) => JSON.stringify(a)).join(", ");
      return `${data.binding}(${clip(args)}) → ${clip(JSON.stringify(data.result))}`;
    }
    case "error": {
      const stack =
        typeof data.stack === "string"
          ? data.stack
              .split("\n")
              .slice(1)
              .map((l) => "\n    " + l.trim())
              .join("")
          : "";
      return `${data.name}: ${data.message}${stack}`;
    }
    case "note":
      return String(data.message);
    default:
      return JSON.stringify(data);
  }
}

function clip(text: string, max = 200): string {
  return text.length > max ? text.slice(0, max) + "…" : text;
}
