// CLI output never passes a terminal control sequence through.
import { describe, expect, it } from "vitest";
import { logLine, table, visible } from "../../src/cli/format";

const HOSTILE =
  "\x1b[2J\x1b]0;pwned-title\x07\rOVERWRITTEN\n2026-01-01T00:00:00.000Z  state    completed";

describe("CLI output", () => {
  it("shows bidirectional overrides and line separators as escapes", () => {
    expect(visible("a\u202eb\u2066c\u2028d")).toBe("a\\u202eb\\u2066c\\u2028d");
  });

  it("shows control characters as escapes", () => {
    expect(visible("a\x1b[2Jb\nc\x9b")).toBe("a\\x1b[2Jb\\x0ac\\x9b");
  });

  it("keeps a printed line on one line, with no escape left in it", () => {
    const line = logLine({
      seq: 1,
      time: "2026-12-04T00:00:00.000Z",
      kind: "print",
      data: { level: "log", text: HOSTILE },
    });
    expect(line.split("\n")).toHaveLength(1);
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  it("keeps table cells clean", () => {
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    expect(table(["id"], [[HOSTILE]])).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });
});
