// The digest that tells a replayed call from another: by values only.
import { describe, expect, it } from "vitest";
import { argsDigest } from "../../sandbox/args-digest";

describe("argsDigest", () => {
  it("is the same for the same values, whatever buffer a byte array views", () => {
    const whole = new Uint8Array([9, 1, 2, 3, 9]);
    const view = whole.subarray(1, 4);
    const request = (body: Uint8Array) => [{ url: "https://x/", headers: [["a", "b"]], body }];
    expect(argsDigest(request(view))).toBe(argsDigest(request(new Uint8Array([1, 2, 3]))));
  });

  it("differs when a value, a type or a shape differs", () => {
    const digests = [
      ["fetch", 1],
      ["fetch", "1"],
      ["fetch", 2],
      ["fetch", [1]],
      ["fetch", { 0: 1 }],
      ["fetch", null],
      ["fetch", new Uint8Array([1])],
      ["fetch", new Uint8Array([1, 0])],
      ["fetch"],
    ].map(argsDigest);
    expect(new Set(digests).size).toBe(digests.length);
  });
});
