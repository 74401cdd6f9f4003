// Bounding session log entries (src/sessions/log-entry.ts): every entry fits, whatever it holds.
import { describe, expect, it } from "vitest";
import { cut, cutValue, logJson, MAX_LOG_ENTRY_BYTES } from "../../src/sessions/log-entry";

const bytes = (json: string) => Buffer.byteLength(json);

describe("cut", () => {
  it("keeps short text and marks text it cut", () => {
    expect(cut("abc", 3)).toBe("abc");
    expect(cut("abcd", 3)).toBe("abc… (cut)");
  });
});

describe("cutValue", () => {
  it("cuts strings, keys, lists, objects and nesting, saying what went", () => {
    const value = {
      text: "x".repeat(20),
      ["k".repeat(20)]: 1,
      list: [1, 2, 3, 4, 5],
      deep: { a: { b: { c: 1 } } },
    };
    expect(cutValue(value, { chars: 5, items: 3, depth: 3 })).toEqual({
      text: "xxxxx… (cut)",
      "kkkkk… (cut)": 1,
      list: [1, 2, 3, "… (2 more)"],
      "…": "1 more",
    });
    expect(cutValue({ deep: { a: { b: 1 } } }, { chars: 5, items: 3, depth: 2 })).toEqual({
      deep: { a: "… (cut)" },
    });
  });
});

describe("logJson", () => {
  it("writes small entries as they are", () => {
    const data = { level: "log", text: "hello" };
    expect(logJson(data)).toBe(JSON.stringify(data));
  });

  it.each([
    ["one huge string", { text: "J".repeat(5_000_000) }],
    ["text that JSON escapes", { text: '"\\\n\u0001'.repeat(100_000) }],
    ["characters of three UTF-8 bytes", { text: "字".repeat(60_000) }],
    ["a huge key", { ["k".repeat(3_000_000)]: 1 }],
    ["20,000 headers", { headers: Array.from({ length: 20_000 }, (_, i) => [`x-h-${i}`, "v"]) }],
    [
      "many large fields",
      Object.fromEntries(Array.from({ length: 50 }, (_, i) => [i, "y".repeat(60_000)])),
    ],
    [
      "nested lists",
      { a: Array.from({ length: 300 }, () => Array.from({ length: 300 }, () => "zz")) },
    ],
  ])("keeps %s within the bound, as valid JSON", (_, data) => {
    const json = logJson(data);
    expect(bytes(json)).toBeLessThanOrEqual(MAX_LOG_ENTRY_BYTES);
    expect(() => JSON.parse(json) as unknown).not.toThrow();
    expect(/\(cut\)|more/.test(json), "says what it cut").toBe(true);
  });

  it("keeps as much as fits: a print just over the bound loses only its end", () => {
    const text = "p".repeat(MAX_LOG_ENTRY_BYTES);
    const kept = JSON.parse(logJson({ level: "log", text })) as { text: string };
    expect(kept.text.startsWith("p".repeat(16 * 1024))).toBe(true);
    expect(kept.text.endsWith("… (cut)")).toBe(true);
  });
});
