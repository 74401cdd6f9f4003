// The sandbox's atob/btoa against Node's own, which follow the same HTML Standard.
import { describe, expect, it } from "vitest";
import { atob, btoa } from "../../runtime-api/web/base64";

const outcome = (fn: () => string) => {
  try {
    return fn();
  } catch (error) {
    return `throws ${(error as Error).name}`;
  }
};

describe("btoa and atob", () => {
  it("encode every Latin-1 string like Node, and refuse wider ones", () => {
    for (let length = 0; length < 40; length++) {
      const text = Array.from({ length }, (_, i) =>
        String.fromCharCode((i * 37 + length) % 256),
      ).join("");
      expect(btoa(text)).toBe(globalThis.btoa(text));
    }
    expect(outcome(() => btoa("€"))).toBe("throws InvalidCharacterError");
  });

  it.each([
    "",
    "YQ",
    "YQ=",
    "YQ==",
    "YWI",
    "YWJj",
    " Y W J j ",
    "YQ===",
    "Y",
    "YQ=a",
    "@@@@",
    "YW\tJj\n",
    "YQ=\n=",
    "=",
    "ab=c",
  ])("decodes %j like Node", (input) => {
    expect(outcome(() => atob(input))).toBe(outcome(() => globalThis.atob(input)));
  });
});
