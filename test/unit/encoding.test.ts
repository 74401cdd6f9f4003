// The sandbox's TextEncoder/TextDecoder against Node's own, on fixed and random inputs.
import { describe, expect, it } from "vitest";
import { TextDecoder, TextEncoder, utf8Length, utf8LongerThan } from "../../runtime-api/encoding";

const nodeEncoder = new globalThis.TextEncoder();

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomString(next: () => number, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    const pick = next();
    if (pick < 0.4) out += String.fromCharCode(32 + Math.floor(next() * 95));
    else if (pick < 0.6) out += String.fromCharCode(0x80 + Math.floor(next() * 0x780));
    else if (pick < 0.75) out += String.fromCharCode(0x800 + Math.floor(next() * 0xf000));
    else if (pick < 0.9) out += String.fromCodePoint(0x10000 + Math.floor(next() * 0xfffff));
    else out += String.fromCharCode(0xd800 + Math.floor(next() * 0x800)); // lone surrogates
  }
  return out;
}

function randomBytes(next: () => number, length: number): Uint8Array {
  const interesting = [
    0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f,
    0x90, 0x8f,
  ];
  return Uint8Array.from({ length }, () =>
    next() < 0.5 ? interesting[Math.floor(next() * interesting.length)]! : Math.floor(next() * 256),
  );
}

describe("TextEncoder", () => {
  it("encodes like Node, lone surrogates included", () => {
    const next = random(1);
    for (let i = 0; i < 2000; i++) {
      const text = randomString(next, Math.floor(next() * 40));
      expect(new TextEncoder().encode(text)).toEqual(nodeEncoder.encode(text));
    }
  });

  it("encodeInto stops at a whole character and reports what it read", () => {
    const next = random(2);
    for (let i = 0; i < 500; i++) {
      const text = randomString(next, 20);
      const size = Math.floor(next() * 60);
      const ours = new Uint8Array(size);
      const theirs = new Uint8Array(size);
      expect(new TextEncoder().encodeInto(text, ours)).toEqual(
        nodeEncoder.encodeInto(text, theirs),
      );
      expect(ours).toEqual(theirs);
    }
  });
});

describe("TextDecoder", () => {
  it("decodes like Node, replacing invalid sequences", () => {
    const next = random(3);
    for (let i = 0; i < 3000; i++) {
      const bytes = randomBytes(next, Math.floor(next() * 24));
      expect(new TextDecoder().decode(bytes)).toBe(new globalThis.TextDecoder().decode(bytes));
    }
  });

  it("throws on invalid input when fatal, like Node", () => {
    const next = random(4);
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(next, Math.floor(next() * 12));
      let expected: string | null;
      try {
        expected = new globalThis.TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        expected = null;
      }
      if (expected === null)
        expect(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes)).toThrow(TypeError);
      else expect(new TextDecoder("utf-8", { fatal: true }).decode(bytes)).toBe(expected);
    }
  });

  it("keeps a split sequence across stream calls and drops the BOM unless told not to", () => {
    const next = random(5);
    for (let i = 0; i < 1000; i++) {
      const bytes = randomBytes(next, 30);
      const cut = Math.floor(next() * 30);
      const ours = new TextDecoder();
      const theirs = new globalThis.TextDecoder();
      const a =
        ours.decode(bytes.subarray(0, cut), { stream: true }) + ours.decode(bytes.subarray(cut));
      const b =
        theirs.decode(bytes.subarray(0, cut), { stream: true }) +
        theirs.decode(bytes.subarray(cut));
      expect(a).toBe(b);
    }
    const bom = Uint8Array.from([0xef, 0xbb, 0xbf, 0x41]);
    expect(new TextDecoder().decode(bom)).toBe("A");
    expect(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bom)).toBe("\ufeffA");
  });

  it("knows only UTF-8", () => {
    expect(new TextDecoder(" UTF8 ").encoding).toBe("utf-8");
    expect(() => new TextDecoder("latin1")).toThrow(RangeError);
  });
});

describe("utf8Length", () => {
  it("counts what TextEncoder writes, lone surrogates included", () => {
    for (const text of ["", "abc", "é", "€uro", "😀", "a\ud800b", "\udc00", "\ud83d", "x😀é€"])
      expect(utf8Length(text), JSON.stringify(text)).toBe(new TextEncoder().encode(text).length);
  });
});

describe("utf8LongerThan", () => {
  it("says whether the UTF-8 is longer than the limit, at every limit around its size", () => {
    const next = random(7);
    for (const text of [
      "",
      "abcd",
      "a".repeat(30),
      "€".repeat(10),
      "😀x\ud800",
      randomString(next, 40),
    ]) {
      const bytes = new TextEncoder().encode(text).length;
      for (let limit = Math.max(0, text.length - 2); limit <= bytes * 3 + 2; limit++)
        expect(utf8LongerThan(text, limit), `${JSON.stringify(text)} at ${limit}`).toBe(
          bytes > limit,
        );
    }
  });
});
